"""Running a submission's code in a separate, limited process and reading back only arrays of numbers.

Isolation policy, per submission and part:

* A fresh workspace in a temporary directory holds a copy of the repository's packages (``layers/``
  without ``vectorized.py``, ``activations/``, ``losses/``, ``model.py``) in which, of the three student
  files, **only the graded part's file is the student's**; the other two are their *stubbed* versions
  (every solution region replaced by the release's ``NotImplementedError`` stub), except the reference
  ``utils.py`` for 9.3.d/e (``rubric.REFERENCE_SIBLINGS``: Conv2D calls ``zero_padding``). So a wrong
  ``zero_padding`` costs 9.3.a only, a hostile ``Maxpool2D.py`` cannot touch the Conv2D parts, and code
  run for one part finds no solution of another to copy (to ``/tmp``, say) for a later part to load.
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
  (dtype, size) before anything is allocated. It, the output and the progress file are opened without
  following links or blocking on a FIFO: the child owns its workspace and may have replaced them.
* Run as root (``os.geteuid() == 0``), the grader gives each running child a uid of its own, equal to its
  gid, from ``CHILD_UID_BASE`` up, with no supplementary groups, held through a lock file for as long as
  the child and anything it left behind may run. The workspace sits in a directory of its own (``0o711``,
  root's: other uids can pass through but not list or write it) and is chowned to that uid with mode
  ``0o700``, so no child can read, write or find another's workspace; the grader, root, still reads the
  results and removes it. A child cannot signal the grader or another child, and ``RLIMIT_NPROC``
  (``CHILD_PROCESSES``, counted per uid) stops a fork bomb.
* As root, the child runs from a mirror of the interpreter, its standard library and numpy only (hard links,
  or copies across file systems), built once as ``<tmp>/grading-runtime-<key>`` and reused (removing it is
  safe): the install itself may sit where other uids cannot reach it (pyenv in root's home, mode
  ``0o700``). Its ``sys.path`` then offers numpy alone of the installed packages.

Not isolated (known gaps): not run as root, the child runs as the grader's user, so it could read or write
that user's files (other workspaces included) or signal its processes, and isolation between parts then
relies on running the grader as root or in a container. As root, the child can still read whatever is
readable by every user: the grader refuses to run while the repository or a submission is
(``readable_by_others``; ``--allow-readable`` overrides, with a warning). It can also write to ``/tmp`` and
``/dev/shm``, see ``/proc``, and use the network. For a real course, run the grader as root inside a
container or VM without network.
"""
import contextlib
import ctypes
import fcntl
import grp
import hashlib
import json
import os
import pwd
import resource
import shutil
import signal
import stat
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from .release import stub_source
from .rubric import STUDENT_FILES

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
CHILD_UID_BASE = 61000        # as root, child uids (and gids) are CHILD_UID_BASE + slot ...
CHILD_UID_SLOTS = 184         # ... below 61184, where systemd's dynamic users start
CHILD_PROCESSES = 16          # RLIMIT_NPROC of a child's uid: the child, its threads and its forks


class ChildResult:
    """What came back from one child: arrays (or None) and how the process ended."""

    def __init__(self, arrays, status, wall, output_tail, last_case, problem):
        self.arrays = arrays          # dict name -> ndarray, or None when no usable results file
        self.status = status          # "ok", "timeout", "crashed", "no results"
        self.wall = wall              # seconds
        self.output_tail = output_tail  # stdout and stderr, interleaved
        self.last_case = last_case    # id of the case running when the child stopped, if known
        self.problem = problem        # one line for the feedback when status != "ok"


def make_workspace(student_files=None, source=REPO, reference=()):
    """A temp dir with the packages of ``source`` in which each of ``layers/``'s student files is, by
    name: the student's (``student_files``, {name: path}), the reference's (named in ``reference``), or
    else stubbed (``stubbed_source``), so that the workspace holds no solution it was not given.
    Returns its path; the caller removes it with ``remove_workspace``. It sits alone in a directory of
    its own (``0o711``), so that other children can reach their own workspace through the temporary
    directory but cannot list this one's name."""
    own = Path(tempfile.mkdtemp(prefix="grading-"))
    own.chmod(0o711)
    ws = Path(tempfile.mkdtemp(prefix="ws-", dir=own))
    for package in PACKAGES:
        shutil.copytree(source / package, ws / package, ignore=lambda d, names: [n for n in names if n in LEFT_OUT])
    shutil.copy2(source / "model.py", ws / "model.py")
    student_files = student_files or {}
    for name in STUDENT_FILES:
        if name in student_files:
            shutil.copyfile(student_files[name], ws / "layers" / name)
        elif name not in reference:
            (ws / "layers" / name).write_text(stubbed_source(source / "layers" / name), encoding="utf-8")
    shutil.copyfile(HARNESS, ws / "_harness.py")
    return ws


def stubbed_source(path):
    """The text of a reference file with every solution region stubbed, as the release has it."""
    path = Path(path)
    return stub_source(path.read_text(encoding="utf-8"), f"layers/{path.name}")[0]


def readable_by_others(path):
    """True when a user who is neither ``path``'s owner nor in its group can read it (a file) or enter it
    (a folder): it allows that to others, and so does every folder above it (search permission)."""
    path = Path(os.path.realpath(path))
    try:
        mode = os.stat(path).st_mode
        need = stat.S_IXOTH if stat.S_ISDIR(mode) else stat.S_IROTH
        return bool(mode & need) and all(os.stat(folder).st_mode & stat.S_IXOTH for folder in path.parents)
    except OSError:
        return False


def write_job(ws, part, cases):
    """Hand the child its cases: parameters in job.json, arrays in inputs.npz (a private copy)."""
    job = {"part": part, "cases": [{"id": c["id"], "op": c["op"], "params": c["params"],
                                    "inputs": sorted(c["inputs"])} for c in cases]}
    (ws / "job.json").write_text(json.dumps(job))
    np.savez(ws / "inputs.npz", **{f"{c['id']}.{k}": v for c in cases for k, v in c["inputs"].items()})


def _limits(memory_bytes, cpu_seconds, processes=None):
    def apply():
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if processes:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
    return apply


def drops_privileges():
    """True when children run as uids of their own: only root can give them one."""
    return hasattr(os, "geteuid") and os.geteuid() == 0


def _taken(uid):
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


@contextlib.contextmanager
def child_user():
    """A uid (also the gid) that no other running child of any grader on this machine holds, for as
    long as the ``with`` block runs. A slot is held through an exclusive lock on its file in the
    runtime's root-only ``locks`` folder; uids the system knows by name are skipped."""
    locks = runtime()["locks"]
    for slot in range(CHILD_UID_SLOTS):
        uid = CHILD_UID_BASE + slot
        if _taken(uid):
            continue
        fd = os.open(locks / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            continue
        try:
            yield uid
        finally:
            os.close(fd)
        return
    raise RuntimeError(f"all {CHILD_UID_SLOTS} child uids from {CHILD_UID_BASE} are in use: too many children at once")


def give_workspace(ws, uid):
    """Make ``ws`` the private property of ``uid``: owner of everything in it, mode 0o700 on top."""
    for folder, dirs, files in os.walk(ws):
        for name in [*dirs, *files]:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)
    os.chown(ws, uid, uid)
    os.chmod(ws, 0o700)


_RUNTIME = {}


def runtime():
    """Where the child's interpreter and numpy come from: ``{"python", "numpy_site", "env", "locks"}``.

    Not root: this very interpreter and numpy's site-packages, as ever. Root: a mirror of the
    interpreter, its standard library (without ``site-packages`` and ``test``), ``libpython`` if shared,
    and numpy, readable by every uid, in ``<tmp>/grading-runtime-<key>``; the key changes with the
    interpreter or numpy, so a stale mirror is never used."""
    if _RUNTIME:
        return _RUNTIME
    if not drops_privileges():
        _RUNTIME.update(python=sys.executable, numpy_site=NUMPY_SITE, env={}, locks=None)
        return _RUNTIME
    tmp = Path(tempfile.gettempdir()).resolve()
    for folder in (tmp, *tmp.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(f"children cannot reach the temporary directory {tmp}: {folder} is not "
                               "searchable by other users; set TMPDIR to a directory that is (such as /tmp)")
    python = Path(os.path.realpath(sys.executable))
    numpy_dir = Path(np.__file__).resolve().parent
    key = hashlib.sha256(f"{python}|{python.stat().st_mtime_ns}|{sys.version}|{numpy_dir}|{np.__version__}"
                         .encode()).hexdigest()[:16]
    root = tmp / f"grading-runtime-{key}"
    if not root.exists():
        _build_runtime(root, python, numpy_dir)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(f"{root} is not a directory only root can write: remove it and grade again")
    lib = f"python{sys.version_info.major}.{sys.version_info.minor}"
    _RUNTIME.update(python=str(root / "bin" / python.name), numpy_site=str(root / "site"),
                    env={"LD_LIBRARY_PATH": str(root / "lib")}, locks=root / "locks")
    if not (root / "lib" / lib / "os.py").is_file():
        raise RuntimeError(f"{root} holds no standard library: remove it and grade again")
    return _RUNTIME


def _link_or_copy(src, dst):
    """A hard link when the file is readable by all and on the same file system, else a readable copy."""
    mode = os.stat(src).st_mode
    if mode & stat.S_IROTH:
        try:
            os.link(src, dst)
            return dst
        except OSError:
            pass
    shutil.copy2(src, dst)
    os.chmod(dst, stat.S_IMODE(mode) | 0o444 | (0o111 if mode & stat.S_IXUSR else 0))
    return dst


def _build_runtime(root, python, numpy_dir):
    build = Path(tempfile.mkdtemp(prefix="grading-runtime-build-", dir=root.parent))
    try:
        lib = f"python{sys.version_info.major}.{sys.version_info.minor}"
        stdlib, platstdlib = Path(sysconfig.get_path("stdlib")), Path(sysconfig.get_path("platstdlib"))
        skip = shutil.ignore_patterns("site-packages", "dist-packages", "test", "tests")
        (build / "bin").mkdir()
        _link_or_copy(python, build / "bin" / python.name)
        shutil.copytree(stdlib, build / "lib" / lib, ignore=skip, copy_function=_link_or_copy)
        dynload = platstdlib / "lib-dynload"
        if dynload.is_dir() and not (build / "lib" / lib / "lib-dynload").exists():
            shutil.copytree(dynload, build / "lib" / lib / "lib-dynload", copy_function=_link_or_copy)
        libpython = Path(sysconfig.get_config_var("LIBDIR") or "") / (sysconfig.get_config_var("INSTSONAME") or "")
        if sysconfig.get_config_var("Py_ENABLE_SHARED") and libpython.is_file():
            _link_or_copy(libpython, build / "lib" / libpython.name)
        for name in (numpy_dir.name, numpy_dir.name + ".libs"):  # numpy.libs: the wheel's bundled BLAS
            if (numpy_dir.parent / name).is_dir():
                shutil.copytree(numpy_dir.parent / name, build / "site" / name, copy_function=_link_or_copy)
        for folder, _, _ in os.walk(build):
            os.chmod(folder, 0o755)
        (build / "locks").mkdir(mode=0o700)
        os.chmod(build / "locks", 0o700)
        os.rename(build, root)
    except OSError:
        shutil.rmtree(build, ignore_errors=True)
        if not root.is_dir():  # another grader may have built it meanwhile
            raise


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
    """Run the harness in ``ws`` under the limits; never raises for anything the child does. As root,
    the child runs as a uid of its own and ``ws`` becomes that uid's (see ``give_workspace``)."""
    _become_subreaper()
    run = runtime()
    env = {
        "PATH": os.defpath,
        "HOME": str(ws),
        "LC_ALL": "C.UTF-8",
        # One BLAS thread: a pool of them would reserve address space the memory limit is counted on.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
        **run["env"],
    }
    cpu = int(timeout) + 2
    with contextlib.ExitStack() as held:
        uid = held.enter_context(child_user()) if drops_privileges() else None
        with open(ws / "output.txt", "wb+") as output:
            if uid is not None:
                give_workspace(ws, uid)
            proc, timed_out, wall = _run(ws, run, env, output, timeout, memory_bytes, cpu, uid)
            # Read through our own descriptor: the child may have replaced output.txt by anything.
            flooded = os.fstat(output.fileno()).st_size >= FILE_LIMIT
            tail = _tail(output)
    last_case = _read_small(ws / "progress.txt")
    arrays, load_problem = None, None
    if not timed_out and os.path.lexists(ws / "results.npz"):
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


def _run(ws, run, env, output, timeout, memory_bytes, cpu, uid):
    """Start the child, wait for it up to ``timeout``, kill its group and whatever it left behind."""
    before = _own_children()
    start = time.monotonic()
    proc = subprocess.Popen(
        [run["python"], "-I", "-S", "_harness.py", run["numpy_site"]],
        cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=output, stderr=subprocess.STDOUT,
        start_new_session=True, close_fds=True,
        # set in the child before exec: groups, then gid, then uid, then the limits (lowering needs no root)
        user=uid, group=uid, extra_groups=[] if uid is not None else None,
        preexec_fn=_limits(memory_bytes, cpu, CHILD_PROCESSES if uid is not None else None),
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
    return proc, timed_out, time.monotonic() - start


def _open_regular(path):
    """A file the child may have left (or replaced by a link, a FIFO, a device) opened for reading, or
    an OSError: never follows a link, never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{os.path.basename(path)} is not a regular file")
    return os.fdopen(fd, "rb")


def load_results(path):
    """Read an .npz written by an untrusted process: .npy members only, checked headers, no pickle."""
    arrays = {}
    with _open_regular(path) as raw, zipfile.ZipFile(raw) as zf:
        members = zf.infolist()
        if len(members) > RESULT_MEMBERS_LIMIT:
            raise ValueError(f"{len(members)} arrays")
        total = 0
        for info in members:
            if not info.filename.endswith(".npy"):
                raise ValueError(f"unexpected member {info.filename[:60]!r}")
            # np.savez stores members uncompressed; a deflated one could expand a file within
            # FILE_LIMIT to gigabytes in this process, which has no memory limit
            if info.compress_type != zipfile.ZIP_STORED:
                raise ValueError(f"compressed member {info.filename[:60]!r}")
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
                total += nbytes
                if not 0 <= nbytes <= RESULT_ARRAY_LIMIT or total > FILE_LIMIT:
                    raise ValueError(f"array of shape {shape}")
                data = f.read(nbytes)
                if len(data) != nbytes:
                    raise ValueError("truncated array")
                arr = np.frombuffer(data, dtype=dtype).reshape(shape, order="F" if fortran else "C").copy()
            arrays[info.filename[:-4]] = arr
    return arrays


def _tail(output):
    try:
        output.seek(max(0, os.fstat(output.fileno()).st_size - OUTPUT_TAIL))
        text = output.read().decode("utf-8", "replace")
    except OSError:
        return ""
    return "".join(ch if ch.isprintable() or ch == "\n" else "?" for ch in text).strip()


def _read_small(path):
    try:
        with _open_regular(path) as f:
            text = f.read(64).decode("ascii", "replace")
    except OSError:
        return None
    return text if text.isprintable() else None


def remove_workspace(ws):
    """Remove ``ws`` and the directory of its own it sits in (root removes the child's files too)."""
    own = Path(ws).parent
    shutil.rmtree(own if own.name.startswith("grading-") else ws, ignore_errors=True)
