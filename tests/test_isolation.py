"""The grader's containment, attacked as a determined student would (``grading/sandbox.py``).

The ``attack_*`` submissions of ``tests/submissions/corpus.py`` are graded in two batches beside a correct
submission, by ``python -m grading grade`` run from a copy of the repository in a folder closed to other
users (as the uid fallback requires), under each containment this machine can run: namespaces, and the uid
fallback forced. The first batch starts a process chain, reads the grader's repository, litters and calls
a listener of this test's, and hands in a linked ``layers/``; the second loads whatever the chain copied.
Every attack process ends itself within 45 s, so a failing test leaves the machine busy for no longer.
"""
import json
import os
import select
import shutil
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from grading import sandbox
from grading.rubric import STUDENT_FILES, TOTAL_POINTS

from submissions.corpus import SUBMISSIONS, build, files_with, processes_with, run_as_utils

REPO = Path(__file__).resolve().parents[1]
FULL = TOTAL_POINTS
ATTACKS = [entry.name for entry in SUBMISSIONS if entry.kind == "attack"]
FIRST = [name for name in ATTACKS if name != "attack_load_stolen"]
GRADER_FILES = ("grading", "layers", "activations", "losses", "model.py")
LIMIT_ARGS = ["--quick", "--no-progress", "--time-factor", "5", "--time-floor", "5", "--memory-mb", "300"]


def unavailable(mode):
    if mode == "uid" and not sandbox.is_root():
        return "the uid fallback needs the grader to run as root"
    if mode == "namespaces":
        return sandbox.namespaces_problem()
    return None


class Listener:
    """A TCP listener on 127.0.0.1 (and ::1, same port, where the machine has IPv6) that records what
    reaches it until ``stop``."""

    def __init__(self):
        self.sockets = [socket.create_server(("127.0.0.1", 0))]
        self.port = self.sockets[0].getsockname()[1]
        try:
            self.sockets.append(socket.create_server(("::1", self.port), family=socket.AF_INET6))
        except OSError:
            pass
        self.received, self.done = [], threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.done.is_set():
            ready, _, _ = select.select(self.sockets, [], [], 0.1)
            for server in ready:
                connection, _ = server.accept()
                with connection:
                    connection.settimeout(1)
                    try:
                        self.received.append(connection.recv(1000) or b"(connected)")
                    except OSError:
                        self.received.append(b"(connected)")

    def stop(self):
        self.done.set()
        self.thread.join()
        for server in self.sockets:
            server.close()
        return self.received


def copy_reference(dest):
    (dest / "layers").mkdir(parents=True)
    for name in STUDENT_FILES:
        shutil.copyfile(REPO / "layers" / name, dest / "layers" / name)


@pytest.fixture(scope="module", params=["namespaces", "uid"])
def attacked(request, tmp_path_factory):
    mode = request.param
    why = unavailable(mode)
    if why:
        pytest.skip(f"{mode}: {why}")
    root = tmp_path_factory.mktemp(f"attacked-{mode}")  # pytest's base folder is closed to other users
    grader = root / "grader"
    for name in GRADER_FILES:
        if (REPO / name).is_dir():
            shutil.copytree(REPO / name, grader / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy2(REPO / name, grader / name)
    marker = f"grading-attack-{mode}-{os.getpid()}"
    listener = Listener()
    fill = {"@@MARKER@@": marker, "@@LISTENER_PORT@@": str(listener.port), "@@GRADER_REPO@@": str(grader)}
    build(root / "first", FIRST, fill)
    copy_reference(root / "first" / "correct")
    build(root / "second", ["attack_load_stolen"], fill)
    copy_reference(root / "second" / "correct")
    runs = {}
    started = time.monotonic()
    try:
        for batch in ("first", "second"):
            done = subprocess.run([sys.executable, "-m", "grading", "grade", *LIMIT_ARGS, "--isolation", mode,
                                   "--json", str(root / f"{batch}.json"), *sorted(map(str, (root / batch).iterdir()))],
                                  cwd=grader, capture_output=True, text=True, timeout=300)
            assert done.returncode == 0, done.stderr[-3000:]
            runs[batch] = {"results": json.loads((root / f"{batch}.json").read_text()), "stdout": done.stdout}
        seconds = time.monotonic() - started
        alive, litter = processes_with(marker), files_with(marker)
    finally:
        received = listener.stop()
        for pid in processes_with(marker):  # a failed containment must not leave the chain running
            try:
                os.kill(pid, 9)
            except OSError:
                pass
        for path in files_with(marker):
            shutil.rmtree(path, ignore_errors=True) if os.path.isdir(path) else os.unlink(path)
    return {"mode": mode, "runs": runs, "alive": alive, "litter": litter, "received": received, "seconds": seconds}


def test_the_report_says_which_containment_ran(attacked):
    for run in attacked["runs"].values():
        assert run["stdout"].startswith(f"isolation: {sandbox.describe(attacked['mode'])}")
        assert {entry["isolation"] for entry in run["results"].values()} == {attacked["mode"]}


def test_the_correct_submission_keeps_every_point(attacked):
    for batch, run in attacked["runs"].items():
        correct = run["results"]["correct"]
        assert correct["points"] == FULL, (batch, {p: i["feedback"] for p, i in correct["parts"].items()})


@pytest.mark.parametrize("name", ATTACKS)
def test_no_attack_gains_a_point(attacked, name):
    run = attacked["runs"]["second" if name == "attack_load_stolen" else "first"]
    entry = run["results"][name]
    assert entry["points"] == 0, {p: i["feedback"] for p, i in entry["parts"].items() if i["points"]}


def test_a_linked_layers_folder_is_refused_and_the_batch_goes_on(attacked):
    entry = attacked["runs"]["first"]["results"]["attack_linked_layers"]
    assert entry["refused"] == "layers/ is a symbolic link"
    assert "refused: layers/ is a symbolic link" in entry["parts"]["9.3.a"]["feedback"][0]


def test_no_process_an_attack_started_is_alive_when_the_grader_returns(attacked):
    assert attacked["alive"] == []


def test_no_file_an_attack_wrote_remains_in_the_temporary_folders(attacked):
    assert attacked["litter"] == []


def test_no_side_channel_opens(attacked):
    feedback = attacked["runs"]["first"]["results"]["attack_side_channels"]["parts"]["9.3.a"]["feedback"]
    assert "side channels opened: none" in " ".join(feedback), feedback


def test_the_listener_on_loopback_receives_nothing(attacked):
    assert attacked["received"] == []


def test_the_attacks_cost_bounded_time(attacked):
    assert attacked["seconds"] < 240  # two small batches: seconds on a quiet machine, limits, not speed


@pytest.mark.skipif(not sandbox.is_root(), reason="child uids are handed out only by a grader running as root")
def test_graders_with_different_temporary_folders_never_share_a_child_uid(tmp_path):
    """The attack: two graders at once, each with its own TMPDIR; were the uid locks per TMPDIR, a child of
    one would run as the same uid as a child of the other, and could read or kill it."""
    hold = ("import sys, time\nfrom grading import sandbox\nwith sandbox.child_user() as uid:\n"
            "    print(uid, flush=True)\n    sys.stdin.readline()\n")
    graders = []
    try:
        for name in ("a", "b"):
            (tmp_path / name).mkdir()
            env = {**os.environ, "TMPDIR": str(tmp_path / name)}
            graders.append(subprocess.Popen([sys.executable, "-c", hold], cwd=REPO, env=env, text=True,
                                            stdin=subprocess.PIPE, stdout=subprocess.PIPE))
        uids = [int(grader.stdout.readline()) for grader in graders]
    finally:
        for grader in graders:
            grader.communicate("\n", timeout=30)
    assert uids[0] != uids[1]


def test_a_tree_thousands_of_folders_deep_breaks_neither_the_audit_nor_the_cleanup(tmp_path):
    """Python's own tree walks recurse; a submission or a child can nest folders past the recursion limit."""
    fd = os.open(tmp_path, os.O_RDONLY)
    for _ in range(3000):
        os.mkdir("d", dir_fd=fd)
        fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    os.close(fd)
    assert sandbox.readable_files(tmp_path / "d") == []  # pytest's folders are closed to others
    sandbox.remove_tree(tmp_path / "d")
    assert not (tmp_path / "d").exists()


def test_a_zombie_is_no_process_to_kill():
    """A dead process waits for its parent (perhaps another grader, or a container's PID 1 that reaps
    nothing) to collect it; counting it as alive would make clearing its uid fail."""
    pid = os.fork()
    if pid == 0:
        os._exit(0)
    try:
        deadline = time.monotonic() + 10
        while "Z" not in Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]:
            assert time.monotonic() < deadline
            time.sleep(0.01)
        assert pid not in sandbox.processes_of(os.getuid())
    finally:
        os.waitpid(pid, 0)


@pytest.mark.skipif(not sandbox.is_root(), reason="child uids are handed out only by a grader running as root")
def test_what_a_killed_grader_left_running_as_a_child_uid_is_swept_at_the_next_start():
    """A grader killed outright releases its locks with its death, and its children live on as their uid."""
    uid = sandbox.CHILD_UID_BASE + sandbox.CHILD_UID_SLOTS - 1  # the last slot: no running test holds it
    marker = f"grading-orphan-{os.getpid()}"
    # /bin/sh and sleep: the interpreter may lie where other uids cannot reach it
    orphan = subprocess.Popen(["/bin/sh", "-c", "sleep 60", marker], user=uid, group=uid, extra_groups=[],
                              start_new_session=True, cwd="/")
    try:
        deadline = time.monotonic() + 10
        while not processes_with(marker):  # until the child has exec'd
            assert time.monotonic() < deadline
            time.sleep(0.01)
        sandbox.sweep_child_uids()  # it also collects the zombie, this test being its parent
        assert processes_with(marker) == []
    finally:
        orphan.kill()
        orphan.wait()


def test_the_batch_grades_its_own_copy_taken_without_following_a_link(tmp_path):
    """A link anywhere on the way to a graded file refuses the submission; what is graded is the copy
    ``take`` made, so a folder swapped for a link to the reference while the batch runs changes nothing."""
    from grading.__main__ import take
    from grading.run import MAX_FILE_BYTES

    def submission(name):
        copy_reference(tmp_path / name)
        return tmp_path / name

    linked_folder = tmp_path / "linked_folder"
    linked_folder.symlink_to(submission("real"), target_is_directory=True)
    linked_layers = tmp_path / "linked_layers"
    (linked_layers).mkdir()
    (linked_layers / "layers").symlink_to(REPO / "layers", target_is_directory=True)
    linked_file = submission("linked_file")
    (linked_file / "layers" / "Conv2D.py").unlink()
    (linked_file / "layers" / "Conv2D.py").symlink_to(REPO / "layers" / "Conv2D.py")
    for folder, reason in ((linked_folder, "the submission folder is a symbolic link"),
                           (linked_layers, "layers/ is a symbolic link"),
                           (linked_file, "layers/Conv2D.py is a symbolic link")):
        assert take(folder, tmp_path / "copies" / folder.name) == reason

    odd = submission("odd")
    (odd / "layers" / "utils.py").unlink()
    os.mkfifo(odd / "layers" / "utils.py")  # opened the ordinary way, a FIFO would block the grader
    (odd / "layers" / "Maxpool2D.py").write_bytes(b"#" * (2 * MAX_FILE_BYTES))
    assert take(odd, tmp_path / "copies" / "odd") is None
    copied = tmp_path / "copies" / "odd" / "layers"
    assert sorted(p.name for p in copied.iterdir()) == ["Conv2D.py", "Maxpool2D.py"]
    assert (copied / "Maxpool2D.py").stat().st_size == MAX_FILE_BYTES + 1  # reported as too large
    (odd / "layers" / "Conv2D.py").write_text("changed after the copy")
    assert (copied / "Conv2D.py").read_bytes() == (REPO / "layers" / "Conv2D.py").read_bytes()


@pytest.mark.skipif(not sandbox.is_root() or not shutil.which("bwrap"),
                    reason="needs root to start processes as another user, and bubblewrap")
def test_not_root_bwrap_starts_for_a_busy_user_and_the_limit_inside_bounds_the_forks(tmp_path):
    """Not root, the process limit must not be set on bwrap: it would count every process of the grader's
    user (an instructor's desktop has dozens) and bwrap could not start. Set inside the user namespace, as
    the harness does (GRADING_NPROC), it counts the sandbox's own. Shown with the system's interpreter as
    a plain user with more processes than the limit: this repository's interpreter may lie where such a
    user cannot reach it, so run_child itself runs as root here."""
    nobody = 65534
    harness_lines = (REPO / "grading" / "harness.py").read_text().split("WORKSPACE = os.getcwd()")[0]
    forks = harness_lines + (
        "\npids = []\nfor _ in range(20):\n    try:\n        pid = os.fork()\n    except OSError:\n        break\n"
        "    if pid == 0:\n        import time\n        time.sleep(2)\n        os._exit(0)\n    pids.append(pid)\n"
        "print(len(pids))\n")
    words = ["bwrap", "--unshare-pid", "--unshare-net", "--die-with-parent", "--ro-bind", "/usr", "/usr"]
    for top in ("bin", "lib", "lib64", "sbin"):
        path = Path("/") / top
        words += ["--symlink", os.readlink(path), str(path)] if path.is_symlink() else \
            (["--ro-bind", str(path), str(path)] if path.is_dir() else [])
    words += ["--proc", "/proc", "--dev", "/dev", "--", "/usr/bin/python3", "-I", "-S", "-c", forks]
    busy = [subprocess.Popen(["sleep", "30"], user=nobody, group=nobody, extra_groups=[], cwd="/")
            for _ in range(sandbox.CHILD_PROCESSES + 4)]
    try:
        done = subprocess.run(words, user=nobody, group=nobody, extra_groups=[], cwd="/", capture_output=True,
                              text=True, timeout=60, env={"PATH": os.defpath,
                                                         "GRADING_NPROC": str(sandbox.CHILD_PROCESSES)},
                              preexec_fn=sandbox._limits(2**30, 30))
    finally:
        for process in busy:
            process.kill()
            process.wait()
    assert done.returncode == 0, done.stderr
    assert 0 < int(done.stdout) < sandbox.CHILD_PROCESSES


# --- positive controls: each attack does what it says where nothing contains it ----------------------
# (Not the chain: loose, it would kill every grading child on the machine. Its effect without a
# containment, measured by hand, is in the README.)

def attack_source(name, marker, grader=REPO, port=9):
    text = (REPO / "tests" / "submissions" / "files" / name / "layers" / "utils.py").read_text()
    return text.replace("@@MARKER@@", marker).replace("@@GRADER_REPO@@", str(grader)) \
        .replace("@@LISTENER_PORT@@", str(port))


def run_python(code, cwd, *wrapper):
    return subprocess.run([*wrapper, sys.executable, "-c", code], cwd=cwd, capture_output=True, text=True,
                          timeout=120)


def test_control_the_side_channels_open_where_no_filter_refuses_them(tmp_path):
    # in a user and IPC namespace of its own, so that its key, queue and segment vanish with it
    done = run_python(attack_source("attack_side_channels", f"grading-control-{os.getpid()}"), tmp_path,
                      "unshare", "--user", "--map-root-user", "--ipc", "--")
    opened = done.stderr.strip().splitlines()[-1]
    for channel in ("a TCP socket", "an abstract unix socket", "a kernel key", "a POSIX message queue",
                    "a System V shared memory segment"):
        assert channel in opened, opened


def test_control_the_litter_stays_where_nothing_removes_it(tmp_path):
    marker = f"grading-control-{os.getpid()}"
    listener = Listener()
    try:
        run_python(attack_source("attack_litter_network", marker, port=listener.port), tmp_path)
    finally:
        received = listener.stop()
        left = files_with(marker)
        for path in left:
            sandbox.remove_tree(path)
    assert len(left) >= 300 and (tmp_path / f"{marker}-deep").is_dir()
    assert received and marker.encode() in received[0]
    sandbox.remove_tree(tmp_path / f"{marker}-deep")


def test_control_the_grader_s_repository_loads_where_it_is_readable(tmp_path):
    code = attack_source("attack_read_grader", "unused") + "\nimport numpy as np\nprint(zero_padding(np.ones((1, 1, 1, 1)), 1).shape)\n"
    done = run_python(code, tmp_path)
    assert done.stdout.strip() == "(1, 3, 3, 1)", done.stderr


ORPHANS = '''
import json, os, time
for _ in range(4):  # detached, so that they outlive the harness and are re-parented (within RLIMIT_NPROC)
    pid = os.fork()
    if pid == 0:
        try:  # whatever happens, this copy of the harness must not go on to write results
            os.setsid()
            if os.fork() == 0:
                time.sleep(30)
        finally:
            os._exit(0)
    os.waitpid(pid, 0)
json.dump(os.getuid(), open("uid.json", "w"))
from .real_utils import zero_padding
'''


@pytest.mark.skipif(not sandbox.is_root(), reason="child uids are handed out only by a grader running as root")
@pytest.mark.parametrize("mode", ["namespaces", "uid"])
def test_nothing_of_a_uid_is_left_when_it_is_handed_out_again_not_even_zombies(monkeypatch, mode):
    """Killed orphans are zombies until someone collects them, and count against the uid's process limit
    meanwhile: a slow PID 1 (a container's may never) let one part cost the next its threads."""
    why = unavailable(mode)
    if why:
        pytest.skip(why)
    monkeypatch.setenv("GRADING_ISOLATION", mode)
    monkeypatch.setattr(sandbox, "_CHOSEN", {})
    with run_as_utils(ORPHANS) as (ws, child):
        uid = json.loads((ws / "uid.json").read_text())
    assert child.status == "ok", child.problem
    assert [p for p in sandbox._processes() if p[1] == uid] == []


def test_the_folders_of_a_grader_that_was_killed_are_removed_at_the_next_start():
    """A killed grader leaves its workspaces (one may hold the reference's utils.py, owned by a child uid a
    later child may be handed) and its copies of the submissions."""
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True,
                          text=True).stdout.strip()
    tmp = Path(tempfile.gettempdir())
    left = [Path(tempfile.mkdtemp(prefix=f"grading-{dead}-", dir=tmp)),
            Path(tempfile.mkdtemp(prefix=f"grading-batch-{dead}-", dir=tmp))]
    alive = Path(tempfile.mkdtemp(prefix=f"grading-{os.getpid()}-", dir=tmp))
    try:
        for folder in left:
            (folder / "ws-x" / "layers").mkdir(parents=True)
            (folder / "ws-x" / "layers" / "utils.py").write_text("the reference")
        sandbox.sweep_orphaned_folders()
        assert [folder for folder in left if folder.exists()] == []
        assert alive.is_dir(), "a running grader's folder was removed"
    finally:
        for folder in [*left, alive]:
            sandbox.remove_tree(folder)


FORGED_RESULTS = '''
import os, zipfile
line = open("layers/utils.py").read().split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0].strip()
with zipfile.ZipFile("results.npz", "w") as z:
    z.writestr(line + ".npy", b"\\x93NUMPY\\x01\\x00\\x10\\x00" + line.encode()[:16])  # a header numpy quotes
    z.writestr(line, b"")  # a member the grader refuses
os._exit(0)  # before the harness writes its own results
'''


def test_a_results_file_that_breaks_the_reader_costs_its_part_and_quotes_nothing(tmp_path):
    """The results file is the child's text: any exception reading it is the part's failure, and no name
    it holds (a line of the reference, read from the workspace of 9.3.d/e) reaches the feedback."""
    from grading import cases, judge
    student = tmp_path / "Conv2D.py"
    student.write_text(FORGED_RESULTS)
    ws = sandbox.make_workspace({"Conv2D.py": student}, reference=("utils.py",))
    try:
        plan = cases.make_plan(1, parts=["9.3.d"], notebook_conv=False)["9.3.d"]
        sandbox.write_job(ws, "9.3.d", plan)
        child = sandbox.run_child(ws, timeout=30, memory_bytes=2**30)
    finally:
        sandbox.remove_workspace(ws)
    assert child.status == "no results" and "np.pad" not in child.problem, child.problem
    points, feedback, _ = judge.judge_part("9.3.d", plan, {}, child)
    assert points == 0 and "np.pad" not in " ".join(feedback), feedback
