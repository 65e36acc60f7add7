"""Running a submission's code in a separate, limited process and reading back only arrays of numbers.

Isolation policy, per submission and part:

* A fresh workspace in a temporary directory holds a copy of the repository's packages (``layers/``
  without ``vectorized.py``, ``activations/``, ``losses/``, ``model.py``) with **only the graded part's
  file** replaced by the student's: grading 9.3.d/e uses the reference ``utils.py`` and ``Maxpool2D.py``, so
  a wrong ``zero_padding`` costs 9.3.a only and a hostile ``Maxpool2D.py`` cannot touch the Conv2D parts.
  The judge's inputs are copied into it; the judge's expected outputs never are.
* The child is ``python -I -S``: no environment variables, user site or ``.pth`` files; its ``sys.path`` is
  the standard library, the workspace and numpy's own directory. The working directory is the workspace,
  stdin is ``/dev/null``, stdout and stderr go to one file of which only the tail is read.
* Limits, set before ``exec``: ``RLIMIT_AS`` (memory), ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` (no file grows
  past ``FILE_LIMIT``), ``RLIMIT_CORE`` 0; a wall-clock timeout kills the child's whole process group (it
  runs in its own session).
* The grading process is made a child subreaper (Linux ``prctl``), so a process the child forks and
  detaches into a session of its own is still re-parented to the grader, which kills every such
  leftover once the child has ended: nothing the submission starts outlives its part.
* Output that reaches ``FILE_LIMIT`` fails the part even when the results are right: code that floods
  its output is broken in a notebook, and the cap keeps a flood from filling the disk. Ordinary debug
  prints, even one per loop iteration on the notebook's inputs, stay far below it.
* The results file is parsed without pickle, member by member, with every array's header checked
  (dtype, size) before anything is allocated.

Not isolated (known gaps): the child runs as the grader's user, so it could read or write that user's
files or signal its processes, and it has the network. For a real course, run the grader as a dedicated
user inside a container or VM without network.
"""
import ctypes
import json
import os
import resource
import shutil
import signal
import subprocess
import sys
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
HARNESS = Path(__file__).resolve().parent / "harness.py"
NUMPY_SITE = str(Path(np.__file__).resolve().parent.parent)
PACKAGES = ("layers", "activations", "losses")
LEFT_OUT = {"vectorized.py", "__pycache__"}

FILE_LIMIT = 32 * 2**20       # bytes, per file the child writes (results, output)
RESULT_ARRAY_LIMIT = 32 * 2**20  # bytes, per array read back
RESULT_MEMBERS_LIMIT = 5000
OUTPUT_TAIL = 600             # characters of the child's output shown in feedback
PR_SET_CHILD_SUBREAPER = 36
ALLOWED_DTYPES = {np.dtype(np.float64), np.dtype(np.uint8)}


class ChildResult:
    """What came back from one child: arrays (or None) and how the process ended."""

    def __init__(self, arrays, status, wall, output_tail, last_case, problem):
        self.arrays = arrays          # dict name -> ndarray, or None when no usable results file
        self.status = status          # "ok", "timeout", "crashed", "no results"
        self.wall = wall              # seconds
        self.output_tail = output_tail  # stdout and stderr, interleaved
        self.last_case = last_case    # id of the case running when the child stopped, if known
        self.problem = problem        # one line for the feedback when status != "ok"


def make_workspace(student_files=None, source=REPO):
    """A temp dir with the packages of ``source`` and, from ``student_files`` ({name: path}), the
    student's version of some of ``layers/``'s files. Returns its path; the caller removes it."""
    ws = Path(tempfile.mkdtemp(prefix="grading-ws-"))
    for package in PACKAGES:
        shutil.copytree(source / package, ws / package, ignore=lambda d, names: [n for n in names if n in LEFT_OUT])
    shutil.copy2(source / "model.py", ws / "model.py")
    for name, path in (student_files or {}).items():
        shutil.copyfile(path, ws / "layers" / name)
    shutil.copyfile(HARNESS, ws / "_harness.py")
    return ws


def write_job(ws, part, cases):
    """Hand the child its cases: parameters in job.json, arrays in inputs.npz (a private copy)."""
    job = {"part": part, "cases": [{"id": c["id"], "op": c["op"], "params": c["params"],
                                    "inputs": sorted(c["inputs"])} for c in cases]}
    (ws / "job.json").write_text(json.dumps(job))
    np.savez(ws / "inputs.npz", **{f"{c['id']}.{k}": v for c in cases for k, v in c["inputs"].items()})


def _limits(memory_bytes, cpu_seconds):
    def apply():
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
    return apply


def _become_subreaper():
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass  # not Linux: detached grandchildren are then not cleaned up (a known gap)


def _own_children():
    """Pids whose parent is this process, read from /proc (empty where there is no /proc)."""
    me, found = str(os.getpid()), set()
    try:
        entries = os.listdir("/proc")
    except OSError:
        return found
    for entry in entries:
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except (OSError, IndexError):
                continue
            if len(fields) > 1 and fields[1] == me:
                found.add(int(entry))
    return found


def _kill_leftovers(before):
    """Kill and reap what the child left behind; each kill may re-parent that process's own children."""
    for _ in range(20):
        leftovers = _own_children() - before
        if not leftovers:
            return
        for pid in leftovers:
            try:
                os.kill(pid, signal.SIGKILL)
                os.waitpid(pid, 0)
            except (ProcessLookupError, ChildProcessError, PermissionError):
                pass


def run_child(ws, timeout, memory_bytes=None):
    """Run the harness in ``ws`` under the limits; never raises for anything the child does."""
    _become_subreaper()
    before = _own_children()
    env = {
        "PATH": os.defpath,
        "HOME": str(ws),
        "PYTHONPATH": str(ws),  # documentation only: -I ignores it, the harness puts ws on sys.path
        "LC_ALL": "C.UTF-8",
        # One BLAS thread: a pool of them would reserve address space the memory limit is counted on.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    cpu = int(timeout) + 2
    start = time.monotonic()
    with open(ws / "output.txt", "wb") as output:
        proc = subprocess.Popen(
            [sys.executable, "-I", "-S", "_harness.py", NUMPY_SITE],
            cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
            start_new_session=True, close_fds=True, preexec_fn=_limits(memory_bytes, cpu),
        )
        timed_out = False
        try:
            proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            timed_out = True
        finally:
            # The session may hold grandchildren even after a clean exit: kill the whole group.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
            proc.wait()
            _kill_leftovers(before)
    wall = time.monotonic() - start
    tail = _tail(ws / "output.txt")
    flooded = (ws / "output.txt").stat().st_size >= FILE_LIMIT
    last_case = _read_small(ws / "progress.txt")
    arrays, load_problem = None, None
    if not timed_out and (ws / "results.npz").is_file():
        try:
            arrays = load_results(ws / "results.npz")
        except (ValueError, OSError, zipfile.BadZipFile, EOFError) as exc:
            load_problem = f"its results file could not be read as arrays of numbers ({exc})"
    if timed_out:
        status, problem = "timeout", f"did not finish within the time limit of {timeout:.1f} s"
    elif flooded:
        status, problem = "flood", (f"printed {FILE_LIMIT // 2**20} MB or more, the output limit: remove the "
                                    "prints from your code")
    elif arrays is not None:
        status, problem = "ok", None
    elif load_problem:
        status, problem = "no results", load_problem
    elif proc.returncode < 0:
        name = signal.Signals(-proc.returncode).name if -proc.returncode in signal.valid_signals() else "?"
        hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (probably the memory limit)",
                "SIGXFSZ": " (file size limit)", "SIGSEGV": " (segmentation fault)"}.get(name, "")
        status, problem = "crashed", f"was killed by signal {name}{hint}"
    else:
        status, problem = "no results", f"exited with code {proc.returncode} before writing any results"
    return ChildResult(arrays, status, wall, tail, last_case, problem)


def load_results(path):
    """Read an .npz written by an untrusted process: .npy members only, checked headers, no pickle."""
    arrays = {}
    with zipfile.ZipFile(path) as zf:
        members = zf.infolist()
        if len(members) > RESULT_MEMBERS_LIMIT:
            raise ValueError(f"{len(members)} arrays")
        for info in members:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename[:60]!r}")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ValueError(f"unsupported .npy version {version}")
                if dtype not in ALLOWED_DTYPES:
                    raise ValueError(f"array of dtype {dtype}")
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                nbytes = count * dtype.itemsize
                if not 0 <= nbytes <= RESULT_ARRAY_LIMIT:
                    raise ValueError(f"array of shape {shape}")
                data = f.read(nbytes)
                if len(data) != nbytes:
                    raise ValueError("truncated array")
                arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
            arrays[info.filename[:-4]] = arr
    return arrays


def _tail(path):
    try:
        with open(path, "rb") as f:
            f.seek(max(0, os.path.getsize(path) - OUTPUT_TAIL))
            text = f.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text).strip()


def _read_small(path):
    try:
        with open(path, "rb") as f:
            text = f.read(64).decode("ascii", "replace")
    except OSError:
        return None
    return text if text.isprintable() else None


def remove_workspace(ws):
    shutil.rmtree(ws, ignore_errors=True)
