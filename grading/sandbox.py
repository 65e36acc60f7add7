"""Running a submission's code in a separate, contained process and reading back only arrays of numbers.

Policy, per submission and part. The grader grades its own copy of each submission, taken once without
following a link (``__main__.take``). The workspace is a fresh folder holding the packages the harness
imports (``layers/`` without ``vectorized.py``, ``activations/``, ``losses/``, ``model.py``) in which, of the
three student files, only the graded part's is the student's; the others are stubbed as in the release,
except the reference ``utils.py`` for 9.3.d/e (``rubric.REFERENCE_SIBLINGS``). The child is ``python -I -S
_harness.py`` (no environment, no site), under ``RLIMIT_AS``, ``RLIMIT_CPU``, ``RLIMIT_FSIZE`` and a
wall-clock timeout and, under either containment below, ``RLIMIT_NPROC`` and a seccomp filter
(``SECCOMP``) that refuses sockets, kernel keys, POSIX and System V IPC and new namespaces; its output goes to
one file of which the tail is read, and whatever of it reaches the feedback is scrubbed of the
reference's solution lines (``judge.scrub``); its results are read without pickle. Around that, one of three containments, chosen once
per batch (``isolation()``; ``GRADING_ISOLATION`` forces one):

``namespaces`` (bubblewrap on PATH and allowed to create namespaces): the child runs under ``bwrap`` in
    its own PID, network, IPC, UTS and mount namespaces. It sees ``/usr`` and the interpreter read-only
    (its ``site-packages`` hidden), numpy read-only, its workspace, a private ``/proc`` and small private
    ``/tmp``, ``/var/tmp`` and ``/dev/shm``: nothing of the repository, of other workspaces or
    submissions. When the part ends, everything it started dies with its PID namespace
    (``--die-with-parent``), and its files with the tmpfs mounts. As root, ``setpriv`` (util-linux)
    drops it to a uid of its own (``child_user``) so that ``RLIMIT_NPROC`` bounds its forks.

``uid`` (root without namespaces, an unprivileged container say): each child runs as a uid of its own from
    one machine-wide, root-only lock folder (``UID_LOCKS``), in a private ``0o700`` workspace, from a mirror
    of the interpreter, its standard library and numpy (``runtime``). Before a uid is handed out and before
    its lock is released, every process of that uid is killed and whatever it left in ``LITTER_ROOTS`` is
    removed (``clear_uid``); at a batch's start, so is what a grader that was killed left running
    (``sweep_child_uids``). The grader refuses to run while the repository or a submission is readable by
    others (``readable_files``).

``none`` (not root and no namespaces): the child runs as the grader's user and could read or change that
    user's files and signal its processes; isolation then relies on an outer container or VM, and the
    grader says so.

Known gaps. Both: the workspace is on the grader's disk, and only each file's size is limited, so a part
may fill the disk within its time limit; a part may hold ``CHILD_PROCESSES`` times its memory limit and
slow a part that runs beside it (measured: about 5 times, so a correct part within half the time
factor of the reference's speed still passes); file locks on the shared
read-only files are a slow channel between parts running at the same time; the code graded for 9.3.d/e
can read the reference zero_padding beside it, by design, and smuggle it out encoded past the scrub
(worth 9.3.a's one point at most). ``uid``: the child can read whatever every user can read on the
machine, so another readable copy of the reference (another clone, a shared ``.git``) is within its
reach: grade where the only copy is closed (a container); it sees other processes in ``/proc``; two
parts running at the same time can share a file in a folder every user may write to; ``/dev/shm`` is
the machine's, bounded by its memory. A course is safest graded in a container or VM without network.
"""
import contextlib
import ctypes
import fcntl
import functools
import grp
import hashlib
import json
import os
import pwd
import resource
import shutil
import signal
import stat
import struct
import subprocess
import sys
import sysconfig
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np

from .release import INSTRUCTOR_ONLY, REPO, stub_source
from .rubric import STUDENT_FILES

HARNESS = Path(__file__).resolve().parent / "harness.py"
NUMPY_DIR = Path(np.__file__).resolve().parent
PACKAGES = ("layers", "activations", "losses")
LEFT_OUT = {Path(path).name for path in INSTRUCTOR_ONLY} | {"__pycache__"}  # never copied into a workspace

FILE_LIMIT = 32 * 2**20       # bytes, per file the child writes (results, output)
RESULT_ARRAY_LIMIT = 32 * 2**20  # bytes, per array read back
RESULT_MEMBERS_LIMIT = 5000
OUTPUT_TAIL = 600             # characters of the child's output shown in feedback
ALLOWED_DTYPES = {np.dtype(np.float64), np.dtype(np.uint8)}
CHILD_UID_BASE = 61000        # as root, child uids (and gids) are CHILD_UID_BASE + slot ...
CHILD_UID_SLOTS = 184         # ... below 61184, where systemd's dynamic users start
# RLIMIT_NPROC of a child's uid: the child, its threads and its forks. RLIMIT_AS holds per process, so a
# part may hold this many times its memory limit at most.
CHILD_PROCESSES = 8
# Machine-wide, so that graders with different TMPDIRs never share a uid; root-only, so no child can
# take or hold a lock.
UID_LOCKS = Path("/run/grading-child-uids")
LITTER_ROOTS = ("/tmp", "/var/tmp", "/dev/shm", "/run/lock")  # where every uid may write
SANDBOX_NUMPY = "/numpy"      # where numpy appears inside the bubblewrap sandbox
SANDBOX_WORKSPACE = "/ws"     # and the workspace
TMPFS_BYTES = 64 * 2**20      # each of the sandbox's private /tmp, /var/tmp and /dev/shm
ISOLATIONS = ("namespaces", "uid", "none")


class ChildResult:
    """What came back from one child: arrays (or None) and how the process ended."""

    def __init__(self, arrays, status, wall, output_tail, last_case, problem):
        self.arrays = arrays          # dict name -> ndarray, or None when no usable results file
        self.status = status          # "ok", "timeout", "flood", "crashed", "no results"
        self.wall = wall              # seconds
        self.output_tail = output_tail  # stdout and stderr, interleaved
        self.last_case = last_case    # id of the case running when the child stopped, if known
        self.problem = problem        # one line for the feedback when status != "ok"


# ---------------------------------------------------------------------------------------------------
# Which containment
# ---------------------------------------------------------------------------------------------------

def is_root():
    return hasattr(os, "geteuid") and os.geteuid() == 0


_CHOSEN = {}


def isolation():
    """``"namespaces"``, ``"uid"`` or ``"none"``: ``GRADING_ISOLATION`` if set (``auto`` or unset: the best
    this machine allows). Raises RuntimeError when the forced one cannot run here, saying why."""
    wanted = os.environ.get("GRADING_ISOLATION", "auto") or "auto"
    if wanted in _CHOSEN:
        return _CHOSEN[wanted]
    if wanted not in ("auto", *ISOLATIONS):
        raise RuntimeError(f"GRADING_ISOLATION must be auto, {', '.join(ISOLATIONS)}; got {wanted!r}")
    why_not = namespaces_problem()
    if wanted == "namespaces" and why_not:
        raise RuntimeError(f"namespaces were asked for but cannot be used here: {why_not}")
    if wanted == "uid" and not is_root():
        raise RuntimeError("the uid fallback was asked for, but it needs the grader to run as root")
    if wanted == "none" and is_root():
        raise RuntimeError("no isolation was asked for, but as root that would run the students' code as root")
    chosen = wanted if wanted != "auto" else "namespaces" if not why_not else "uid" if is_root() else "none"
    _CHOSEN[wanted] = chosen
    return chosen


def describe(mode):
    """One line for reports: which containment ran, and what it means."""
    return {"namespaces": "namespaces (bubblewrap): each part in its own PID, network, IPC and mount namespaces",
            "uid": "uid fallback: each part as its own uid, no sockets, its processes and files removed after it",
            "none": "NONE: not root and no namespaces; the students' code runs as the grader's user, so "
                    "isolation relies on an outer container or VM"}[mode]


@functools.lru_cache(maxsize=None)
def namespaces_problem():
    """None when a bubblewrap sandbox starts here, else why not (probed once per process)."""
    if not shutil.which("bwrap"):
        return "bwrap is not on PATH (Debian/Ubuntu: apt-get install bubblewrap)"
    if is_root() and not shutil.which("setpriv"):
        return "setpriv (util-linux) is not on PATH"
    python = os.path.realpath(sys.executable)
    # the interpreter and numpy as the child will import them: as root, as an unprivileged uid
    with contextlib.ExitStack() as stack:
        ws = stack.enter_context(tempfile.TemporaryDirectory(prefix="grading-probe-"))
        uid = stack.enter_context(child_user()) if is_root() else None
        os.chmod(ws, 0o777)
        seccomp_fd = stack.enter_context(_readable(SECCOMP)) if SECCOMP is not None else None
        command = bwrap_command(ws, uid, seccomp_fd) + [python, "-I", "-S", "-c",
                                                        f"import sys; sys.path.append({SANDBOX_NUMPY!r}); import numpy"]
        try:
            done = subprocess.run(command, capture_output=True, timeout=30, stdin=subprocess.DEVNULL,
                                  pass_fds=[seccomp_fd] if seccomp_fd is not None else [])
        except (OSError, subprocess.TimeoutExpired) as exc:
            return f"bwrap did not start ({exc})"
    if done.returncode != 0:
        return "bwrap could not create the sandbox: " + done.stderr.decode(errors="replace").strip()[-200:]
    return None


# ---------------------------------------------------------------------------------------------------
# Workspaces
# ---------------------------------------------------------------------------------------------------

def make_workspace(student_files=None, source=REPO, reference=()):
    """A temp dir with the packages of ``source`` in which each of ``layers/``'s student files is, by
    name: the student's (``student_files``, {name: path}), the reference's (named in ``reference``), or
    else stubbed (``stubbed_source``), so that the workspace holds no solution it was not given.
    Returns its path; the caller removes it with ``remove_workspace``. It sits alone in a directory of
    its own (``0o711``), so that under the uid fallback other children can reach their own workspace
    through the temporary directory but cannot list this one's name."""
    own = Path(tempfile.mkdtemp(prefix=f"grading-{owner()}-"))
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


def owner():
    """The pid of the grader a temporary folder belongs to (its workers inherit ``GRADING_OWNER``)."""
    return os.environ.get("GRADING_OWNER") or str(os.getpid())


def sweep_orphaned_folders():
    """Remove the temporary folders of graders that died without removing them (killed mid-batch): their
    workspaces hold the reference's utils.py for 9.3.d/e and are owned by a child uid, which a later
    child may be handed, and their copies of the submissions are students' work."""
    tmp = Path(tempfile.gettempdir())
    for path in tmp.glob("grading-*"):
        pid = path.name.removeprefix("grading-").removeprefix("batch-").split("-")[0]
        if pid.isdigit() and path.is_dir() and not path.is_symlink() and not Path(f"/proc/{pid}").exists():
            remove_tree(path)


def stubbed_source(path):
    """The text of a reference file with every solution region stubbed, as the release has it."""
    path = Path(path)
    return stub_source(path.read_text(encoding="utf-8"), f"layers/{path.name}")[0]


def write_job(ws, part, cases):
    """Hand the child its cases: parameters in job.json, arrays in inputs.npz (a private copy)."""
    job = {"part": part, "cases": [{"id": c["id"], "op": c["op"], "params": c["params"],
                                    "inputs": sorted(c["inputs"])} for c in cases]}
    (ws / "job.json").write_text(json.dumps(job))
    np.savez(ws / "inputs.npz", **{f"{c['id']}.{k}": v for c in cases for k, v in c["inputs"].items()})


def give_workspace(ws, uid):
    """Make ``ws`` the private property of ``uid``: owner of everything in it, mode 0o700 on top."""
    for folder, dirs, files in os.walk(ws):
        for name in [*dirs, *files]:
            os.chown(os.path.join(folder, name), uid, uid, follow_symlinks=False)
    os.chown(ws, uid, uid)
    os.chmod(ws, 0o700)


def remove_workspace(ws):
    """Remove ``ws`` and the directory of its own it sits in (root removes the child's files too)."""
    own = Path(ws).parent
    remove_tree(own if own.name.startswith("grading-") else ws)


def remove_tree(path):
    """Remove ``path`` whatever the child made of it: ``rm -rf`` walks any depth (shutil.rmtree recurses
    in Python, and a tree a few thousand folders deep would raise RecursionError) and stays on its file
    system; what it cannot remove is left, never raised."""
    subprocess.run(["rm", "-rf", "--one-file-system", "--", str(path)], stdin=subprocess.DEVNULL,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=False)


def readable_files(root, limit=5):
    """Up to ``limit`` files under ``root`` (or ``root`` itself, a file) that a user who is neither their
    owner nor in their group can read: readable by others, and every folder above searchable by others.
    Links are not followed (a link's target is checked where it lies, if it lies under ``root``)."""
    root = Path(os.path.realpath(root))
    if not all(os.stat(folder).st_mode & stat.S_IXOTH for folder in root.parents):
        return []
    found, folders = [], [root]
    while folders and len(found) < limit:  # a stack, not recursion: a submission may nest folders deeply
        path = folders.pop()
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if stat.S_ISLNK(info.st_mode):
            continue
        if not stat.S_ISDIR(info.st_mode):
            if info.st_mode & stat.S_IROTH:
                found.append(path)
            continue
        if not info.st_mode & stat.S_IXOTH:
            continue  # closed: nothing below it is reachable by others
        try:
            folders += [path / name for name in sorted(os.listdir(path), reverse=True)]
        except OSError:
            continue
    return found


# ---------------------------------------------------------------------------------------------------
# Child uids (root): one machine-wide lock per uid, and nothing of a uid left when it is released
# ---------------------------------------------------------------------------------------------------

def _taken(uid):
    for lookup in (pwd.getpwuid, grp.getgrgid):
        try:
            lookup(uid)
            return True
        except KeyError:
            pass
    return False


def _lock_folder():
    try:
        UID_LOCKS.mkdir(mode=0o700, exist_ok=True)
    except OSError as exc:
        raise RuntimeError(f"cannot create the uid lock folder {UID_LOCKS}: {exc}") from None
    info = os.lstat(UID_LOCKS)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or stat.S_IMODE(info.st_mode) != 0o700:
        raise RuntimeError(f"{UID_LOCKS} must be a folder of root's with mode 0700: remove it and grade again")
    return UID_LOCKS


def _lock(uid):
    """A descriptor holding the exclusive lock of ``uid`` in ``UID_LOCKS``, or None if a grader holds it."""
    fd = os.open(_lock_folder() / str(uid), os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        return None
    return fd


def _release(uid, fd):
    """Release ``uid``'s lock once nothing of it is left; else keep it locked while this grader runs, so
    that no child is handed a uid whose processes are stuck in the kernel."""
    if clear_uid(uid):
        os.close(fd)
        return True
    _QUARANTINED[uid] = fd
    print(f"grading: processes of uid {uid} survive SIGKILL; the uid stays locked", file=sys.stderr)
    return False


_QUARANTINED = {}  # uid -> the descriptor holding its lock, never closed


@contextlib.contextmanager
def child_user():
    """A uid (also the gid) that no other running child of any grader on this machine holds, for as
    long as the ``with`` block runs, with no process and no file of it around on entry or on exit. A
    slot is held through an exclusive lock on its file in ``UID_LOCKS``; uids the system knows by name
    are skipped."""
    for uid in range(CHILD_UID_BASE, CHILD_UID_BASE + CHILD_UID_SLOTS):
        if uid in _QUARANTINED or _taken(uid):
            continue
        fd = _lock(uid)
        if fd is None:
            continue
        if not clear_uid(uid):  # a grader that died may have left some
            _QUARANTINED[uid] = fd
            continue
        try:
            yield uid
        finally:
            _release(uid, fd)
        return
    raise RuntimeError(f"all {CHILD_UID_SLOTS} child uids from {CHILD_UID_BASE} are in use: too many children at once")


def sweep_child_uids():
    """Kill what a grader that was itself killed left running as a child uid, and remove its files: every
    child uid with a live process whose lock no running grader holds. (Its lock went with the dead
    grader, so the uid would otherwise wait, busy, for the next grader to take it.)"""
    busy = {uid for _, uid, _, _ in _processes() if CHILD_UID_BASE <= uid < CHILD_UID_BASE + CHILD_UID_SLOTS}
    for uid in sorted(busy - set(_QUARANTINED)):
        if _taken(uid):
            continue  # a user the system knows by name, never handed out
        fd = _lock(uid)
        if fd is not None:
            _release(uid, fd)


def _processes():
    """(pid, real uid, state letter, parent pid) of every process in /proc."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/status") as f:
                    fields = dict(line.split(":", 1) for line in f if line[:4] in ("Stat", "Uid:", "PPid"))
                found.append((int(entry), int(fields["Uid"].split()[0]), fields["State"].split()[0],
                              int(fields["PPid"])))
            except (OSError, ValueError, KeyError, IndexError):
                continue
    return found


def processes_of(uid):
    """Pids of live processes whose real uid is ``uid`` (a zombie runs nothing: it only waits for its
    parent to collect it)."""
    return [pid for pid, owner, state, _ in _processes() if owner == uid and state not in ("Z", "X")]


PR_SET_CHILD_SUBREAPER = 36


def _become_subreaper():
    """Have what a child leaves behind re-parented to this process rather than to PID 1, so that
    ``clear_uid`` collects its zombies itself: a container's PID 1 may reap slowly or never, and until
    then they count against the next part's process limit under the same uid."""
    with contextlib.suppress(OSError, AttributeError):
        ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)


def clear_uid(uid, seconds=10.0):
    """Kill every process of ``uid``, collect those that are this process's children, and remove what it
    left in ``LITTER_ROOTS``; False if some process of it, a zombie included, is still there after
    ``seconds`` (a zombie still counts against the uid's process limit).

    The kill is the kernel's: a helper becomes ``uid`` and calls ``kill(-1, SIGKILL)``, which signals every
    process of that uid but itself at once, so a chain that forks can only lose; it is repeated until
    /proc shows none (a process may be half-created during one sweep, or in the kernel until it dies)."""
    deadline = time.monotonic() + seconds
    me = os.getpid()
    while True:
        left = [(pid, state, parent) for pid, owner, state, parent in _processes() if owner == uid]
        for pid, state, parent in left:
            if state in ("Z", "X") and parent == me:
                with contextlib.suppress(ChildProcessError):
                    os.waitpid(pid, os.WNOHANG)
        if not left:
            break
        if time.monotonic() > deadline:
            return False
        if any(state not in ("Z", "X") for _, state, _ in left):
            pid = os.fork()
            if pid == 0:  # only async-signal-safe calls here: this process may have had threads
                try:
                    os.setgroups([])
                    os.setresgid(uid, uid, uid)
                    os.setresuid(uid, uid, uid)
                    os.kill(-1, signal.SIGKILL)
                finally:
                    os._exit(0)
            os.waitpid(pid, 0)
        time.sleep(0.005)
    for root in LITTER_ROOTS:
        _remove_owned(Path(root), uid)
    return True


def _remove_owned(folder, uid):
    """Remove everything of ``uid``'s under ``folder``, looking only where it could have written: folders
    it owns (removed whole) and folders writable by all."""
    try:
        names = os.listdir(folder)
    except OSError:
        return
    for name in names:
        path = folder / name
        try:
            info = os.lstat(path)
        except OSError:
            continue
        if info.st_uid == uid:
            remove_tree(path)
        elif stat.S_ISDIR(info.st_mode) and info.st_mode & stat.S_IWOTH:
            _remove_owned(path, uid)  # as deep as folders writable by all go (/tmp/.X11-unix, say)


# ---------------------------------------------------------------------------------------------------
# The namespace path: one bubblewrap argument list
# ---------------------------------------------------------------------------------------------------

def bwrap_command(ws, uid, seccomp_fd=None):
    """The ``bwrap`` (and, as root, ``setpriv``) words that run a command in ``ws`` as described above;
    ``seccomp_fd`` a descriptor to read ``SECCOMP`` from, which the command then runs under."""
    ws = os.path.realpath(ws)
    python = Path(os.path.realpath(sys.executable))
    prefix = os.path.realpath(sys.base_prefix)
    # As root, no user namespace: the child must become a real, unprivileged uid for RLIMIT_NPROC to
    # count its processes (a user namespace of root's would map it to root, whom the limit spares).
    # Not root, bwrap makes a user namespace, and a limit set inside it counts its processes alone.
    words = ["bwrap", "--unshare-pid", "--unshare-net", "--unshare-ipc", "--unshare-uts", "--unshare-cgroup-try",
             "--die-with-parent", "--new-session"]
    for top in ("usr", "bin", "sbin", "lib", "lib32", "lib64", "libx32"):
        path = Path("/") / top
        if path.is_symlink():
            words += ["--symlink", os.readlink(path), str(path)]
        elif path.is_dir():
            words += ["--ro-bind", str(path), str(path)]
    if Path("/etc/ld.so.cache").is_file():
        words += ["--ro-bind", "/etc/ld.so.cache", "/etc/ld.so.cache"]
    if not prefix.startswith("/usr/"):
        words += ["--ro-bind", prefix, prefix]
    if str(python.parent.parent) != prefix and not str(python).startswith("/usr/"):
        words += ["--ro-bind", str(python), str(python)]
    # Every installed package but numpy is hidden; numpy is bound where only it lies.
    sites = {os.path.realpath(sysconfig.get_path(key, vars={"base": prefix, "platbase": prefix}))
             for key in ("purelib", "platlib")}
    for site in sorted(sites):
        if os.path.isdir(site):
            words += ["--tmpfs", site]
    words += ["--perms", "0755", "--dir", SANDBOX_NUMPY]
    for name in (NUMPY_DIR.name, NUMPY_DIR.name + ".libs"):  # numpy.libs: the wheel's bundled BLAS
        if (NUMPY_DIR.parent / name).is_dir():
            words += ["--ro-bind", str(NUMPY_DIR.parent / name), f"{SANDBOX_NUMPY}/{name}"]
    words += ["--proc", "/proc", "--dev", "/dev"]
    for private in ("/tmp", "/var/tmp", "/dev/shm"):  # writable by the child, and small: tmpfs is memory
        words += ["--perms", "1777", "--size", str(TMPFS_BYTES), "--tmpfs", private]
    words += ["--bind", ws, SANDBOX_WORKSPACE, "--chdir", SANDBOX_WORKSPACE]
    if seccomp_fd is not None:
        words += ["--seccomp", str(seccomp_fd)]
    if uid is not None:
        words += ["--cap-add", "CAP_SETUID", "--cap-add", "CAP_SETGID", "--",
                  shutil.which("setpriv"), f"--reuid={uid}", f"--regid={uid}", "--clear-groups",
                  "--inh-caps=-all", "--bounding-set=-all", "--no-new-privs", "--"]
    else:
        words += ["--"]
    return words


# ---------------------------------------------------------------------------------------------------
# The uid fallback: a mirror of the runtime every uid can read, and no sockets
# ---------------------------------------------------------------------------------------------------

_RUNTIME = {}


def runtime():
    """Where the fallback's child takes its interpreter and numpy: ``{"python", "numpy_site", "env"}``.

    Not root: this very interpreter and numpy's site-packages. Root: a mirror of the interpreter, its
    standard library (without ``site-packages`` and ``test``), ``libpython`` if shared, and numpy,
    readable by every uid, in ``<tmp>/grading-runtime-<key>``; the key changes with the interpreter or
    numpy, so a stale mirror is never used. The install itself may sit where other uids cannot reach it
    (pyenv in root's home, mode ``0o700``)."""
    if _RUNTIME:
        return _RUNTIME
    if not is_root():
        _RUNTIME.update(python=sys.executable, numpy_site=str(NUMPY_DIR.parent), env={})
        return _RUNTIME
    tmp = Path(tempfile.gettempdir()).resolve()
    for folder in (tmp, *tmp.parents):
        if not folder.stat().st_mode & stat.S_IXOTH:
            raise RuntimeError(f"children cannot reach the temporary directory {tmp}: {folder} is not "
                               "searchable by other users; set TMPDIR to a directory that is (such as /tmp)")
    python = Path(os.path.realpath(sys.executable))
    key = hashlib.sha256(f"{python}|{python.stat().st_mtime_ns}|{sys.version}|{NUMPY_DIR}|{np.__version__}"
                         .encode()).hexdigest()[:16]
    root = tmp / f"grading-runtime-{key}"
    if not root.exists():
        _build_runtime(root, python)
    info = os.lstat(root)
    if not stat.S_ISDIR(info.st_mode) or info.st_uid != 0 or info.st_mode & 0o022:
        raise RuntimeError(f"{root} is not a directory only root can write: remove it and grade again")
    lib = f"python{sys.version_info.major}.{sys.version_info.minor}"
    if not (root / "lib" / lib / "os.py").is_file():
        raise RuntimeError(f"{root} holds no standard library: remove it and grade again")
    _RUNTIME.update(python=str(root / "bin" / python.name), numpy_site=str(root / "site"),
                    env={"LD_LIBRARY_PATH": str(root / "lib")})
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


def _build_runtime(root, python):
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
        for name in (NUMPY_DIR.name, NUMPY_DIR.name + ".libs"):
            if (NUMPY_DIR.parent / name).is_dir():
                shutil.copytree(NUMPY_DIR.parent / name, build / "site" / name, copy_function=_link_or_copy)
        for folder, _, _ in os.walk(build):
            os.chmod(folder, 0o755)
        os.rename(build, root)
    except OSError:
        shutil.rmtree(build, ignore_errors=True)
        if not root.is_dir():  # another grader may have built it meanwhile
            raise


# seccomp: what the students' code has no use for, refused with EPERM in both containments. A classic-BPF
# program over ``struct seccomp_data`` (nr at offset 0, arch at 4, the first argument at 16):
# - sockets of any kind (``socket``, ``socketpair``; io_uring, whose requests open sockets too): no
#   network, no abstract unix socket between two children, no vsock past the network namespace;
# - kernel keyrings (``add_key``, ``request_key``, ``keyctl``), POSIX message queues and System V IPC:
#   objects other uids can reach and that outlive the part;
# - new namespaces (``unshare``, ``setns``, ``clone`` with a CLONE_NEW* flag; ``clone3`` answers ENOSYS,
#   so that libc falls back to ``clone``, whose flags the filter can read): less kernel to attack.
# A call of another architecture (32-bit entry points, x32) kills the process: its numbers mean other calls.
SECCOMP_DENIED = ("socket", "socketpair", "io_uring_setup", "add_key", "request_key", "keyctl", "mq_open",
                  "msgget", "semget", "shmget", "unshare", "setns")
_SYSCALLS = {
    "x86_64": dict(audit=0xC000003E, socket=41, socketpair=53, io_uring_setup=425, add_key=248, request_key=249,
                   keyctl=250, mq_open=240, msgget=68, semget=64, shmget=29, unshare=272, setns=308, clone=56,
                   clone3=435),
    "aarch64": dict(audit=0xC00000B7, socket=198, socketpair=199, io_uring_setup=425, add_key=217, request_key=218,
                    keyctl=219, mq_open=180, msgget=186, semget=190, shmget=194, unshare=97, setns=268, clone=220,
                    clone3=435),
}
CLONE_NEW_FLAGS = 0x7E020080  # CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
_LD, _JEQ, _JGE, _JSET, _RET = 0x20, 0x15, 0x35, 0x45, 0x06
_RET_ALLOW, _RET_KILL_PROCESS, _RET_ERRNO = 0x7FFF0000, 0x80000000, 0x00050000
_EPERM, _ENOSYS = 1, 38
PR_SET_NO_NEW_PRIVS, PR_SET_SECCOMP, SECCOMP_MODE_FILTER = 38, 22, 2


def seccomp_filter(machine=None):
    """The program as bytes of ``struct sock_filter``, or None on an architecture not listed."""
    numbers = _SYSCALLS.get(machine or os.uname().machine)
    if numbers is None:
        return None
    # (code, jump if true, jump if false, k): jumps name labels, "next" the following instruction
    code = [(_LD, "next", "next", 4), (_JEQ, "next", "kill", numbers["audit"]), (_LD, "next", "next", 0),
            (_JGE, "kill", "next", 0x40000000)]
    code += [(_JEQ, "deny", "next", numbers[name]) for name in SECCOMP_DENIED]
    code += [(_JEQ, "nosys", "next", numbers["clone3"]), (_JEQ, "clone", "allow", numbers["clone"])]
    labels = {}  # every jump goes forward, as BPF requires
    for label, tail in (("clone", [(_LD, "next", "next", 16), (_JSET, "deny", "allow", CLONE_NEW_FLAGS)]),
                        ("allow", [(_RET, "next", "next", _RET_ALLOW)]),
                        ("kill", [(_RET, "next", "next", _RET_KILL_PROCESS)]),
                        ("deny", [(_RET, "next", "next", _RET_ERRNO | _EPERM)]),
                        ("nosys", [(_RET, "next", "next", _RET_ERRNO | _ENOSYS)])):
        labels[label] = len(code)
        code += tail

    def offset(target, at):
        return 0 if target == "next" else labels[target] - at - 1

    return b"".join(struct.pack("=HBBI", op, offset(true, at), offset(false, at), k)
                    for at, (op, true, false, k) in enumerate(code))


SECCOMP = seccomp_filter()


def _install_seccomp():
    """In the child before exec: no_new_privs, then the filter (inherited by everything it starts)."""
    libc = ctypes.CDLL(None, use_errno=True)
    program = ctypes.create_string_buffer(SECCOMP)

    class SockFprog(ctypes.Structure):
        _fields_ = [("len", ctypes.c_ushort), ("filter", ctypes.c_void_p)]

    fprog = SockFprog(len(SECCOMP) // 8, ctypes.addressof(program))
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0 or \
            libc.prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, ctypes.byref(fprog), 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "seccomp filter refused")


# ---------------------------------------------------------------------------------------------------
# Running the child
# ---------------------------------------------------------------------------------------------------

def _limits(memory_bytes, cpu_seconds, processes=None, seccomp=False):
    def apply():
        if memory_bytes:
            resource.setrlimit(resource.RLIMIT_AS, (memory_bytes, memory_bytes))
        if cpu_seconds:
            resource.setrlimit(resource.RLIMIT_CPU, (cpu_seconds, cpu_seconds + 1))
        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_LIMIT, FILE_LIMIT))
        resource.setrlimit(resource.RLIMIT_CORE, (0, 0))
        if processes:
            resource.setrlimit(resource.RLIMIT_NPROC, (processes, processes))
        if seccomp:
            _install_seccomp()
    return apply


def run_child(ws, timeout, memory_bytes=None):
    """Run the harness in ``ws`` under the limits and the containment of ``isolation()``; never raises for
    anything the child does."""
    mode = isolation()
    env = {
        "PATH": os.defpath,
        "HOME": SANDBOX_WORKSPACE if mode == "namespaces" else str(ws),
        "LC_ALL": "C.UTF-8",
        # One BLAS thread: a pool of them would reserve address space the memory limit is counted on.
        "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1",
    }
    cpu = int(timeout) + 2
    if is_root():  # a uid of its own: its leftovers must be collected before the uid is handed out again
        _become_subreaper()
    with contextlib.ExitStack() as held:
        uid = held.enter_context(child_user()) if is_root() else None
        if mode == "namespaces":
            seccomp_fd = held.enter_context(_readable(SECCOMP)) if SECCOMP is not None else None
            command = bwrap_command(ws, uid, seccomp_fd) + [os.path.realpath(sys.executable), "-I", "-S",
                                                            "_harness.py", SANDBOX_NUMPY]
            # bwrap itself starts as the grader, so the process limit waits for the harness (see there)
            env["GRADING_NPROC"] = str(CHILD_PROCESSES)
            preexec = _limits(memory_bytes, cpu)
            popen = {"pass_fds": [seccomp_fd] if seccomp_fd is not None else []}
        else:
            run = runtime()
            command = [run["python"], "-I", "-S", "_harness.py", run["numpy_site"]]
            env.update(run["env"])
            preexec = _limits(memory_bytes, cpu, CHILD_PROCESSES if uid is not None else None,
                              seccomp=uid is not None and SECCOMP is not None)
            # set in the child before exec: groups, then gid, then uid, then the limits (lowering needs no root)
            popen = {"user": uid, "group": uid, "extra_groups": []} if uid is not None else {}
        with open(ws / "output.txt", "wb+") as output:
            if uid is not None:
                give_workspace(ws, uid)
            proc, timed_out, wall = _run(command, ws, env, output, timeout, preexec, popen)
            # Read through our own descriptor: the child may have replaced output.txt by anything.
            flooded = os.fstat(output.fileno()).st_size >= FILE_LIMIT
            tail = _tail(output)
    # bwrap reports a child killed by a signal as 128 + the signal's number
    code = proc.returncode
    if mode == "namespaces" and code > 128:
        code = -(code - 128)
    last_case = _read_small(ws / "progress.txt")
    arrays, load_problem = None, None
    if not timed_out and os.path.lexists(ws / "results.npz"):
        try:
            arrays = load_results(ws / "results.npz")
        except Exception as exc:  # noqa: BLE001 - any file the child wrote is its failure, never the grader's
            # our own words say what was wrong; others' messages may quote what the child put in the file
            why = str(exc) if isinstance(exc, ResultsError) else type(exc).__name__
            load_problem = f"its results file could not be read as arrays of numbers ({why})"
    if timed_out:
        status, problem = "timeout", f"did not finish within the time limit of {timeout:.1f} s"
    elif flooded:
        status, problem = "flood", (f"printed {FILE_LIMIT // 2**20} MB or more, the output limit: remove the "
                                    "prints from your code")
    elif arrays is not None:
        status, problem = "ok", None
    elif load_problem:
        status, problem = "no results", load_problem
    elif code < 0:
        name = signal.Signals(-code).name if -code in signal.valid_signals() else "?"
        hint = {"SIGXCPU": " (CPU time limit)", "SIGKILL": " (probably the memory limit)",
                "SIGXFSZ": " (file size limit)", "SIGSEGV": " (segmentation fault)",
                "SIGSYS": " (a forbidden system call)"}.get(name, "")
        status, problem = "crashed", f"was killed by signal {name}{hint}"
    else:
        status, problem = "no results", f"exited with code {code} before writing any results"
    return ChildResult(arrays, status, wall, tail, last_case, problem)


@contextlib.contextmanager
def _readable(data):
    """A descriptor from which ``data`` (at most a pipe's buffer) can be read, for a child to inherit."""
    read, write = os.pipe()
    try:
        os.write(write, data)
        os.close(write)
        yield read
    finally:
        os.close(read)


def _run(command, ws, env, output, timeout, preexec, popen):
    """Start the child, wait for it up to ``timeout``, kill its session. What it left behind dies with its
    PID namespace, or with its uid (``child_user``)."""
    start = time.monotonic()
    proc = subprocess.Popen(command, cwd=ws, env=env, stdin=subprocess.DEVNULL, stdout=output,
                            stderr=subprocess.STDOUT, start_new_session=True, close_fds=True,
                            preexec_fn=preexec, **popen)
    timed_out = False
    try:
        proc.wait(timeout=timeout)
    except subprocess.TimeoutExpired:
        timed_out = True
    finally:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    return proc, timed_out, time.monotonic() - start


# ---------------------------------------------------------------------------------------------------
# Reading what the child left
# ---------------------------------------------------------------------------------------------------

def _open_regular(path):
    """A file the child may have left (or replaced by a link, a FIFO, a device) opened for reading, or
    an OSError: never follows a link, never blocks."""
    fd = os.open(path, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK)
    if not stat.S_ISREG(os.fstat(fd).st_mode):
        os.close(fd)
        raise OSError(f"{os.path.basename(path)} is not a regular file")
    return os.fdopen(fd, "rb")


class ResultsError(ValueError):
    """What is wrong with a results file, in the grader's own words (never the file's text)."""


def load_results(path):
    """Read an .npz written by an untrusted process: .npy members only, checked headers, no pickle."""
    arrays = {}
    with _open_regular(path) as raw, zipfile.ZipFile(raw) as zf:
        members = zf.infolist()
        if len(members) > RESULT_MEMBERS_LIMIT:
            raise ResultsError(f"{len(members)} arrays")
        total = 0
        for info in members:
            if not info.filename.endswith(".npy"):
                raise ResultsError("a member that is not an .npy array")  # its name is the child's text: not echoed
            # np.savez stores members uncompressed; a deflated one could expand a file within
            # FILE_LIMIT to gigabytes in this process, which has no memory limit
            if info.compress_type != zipfile.ZIP_STORED:
                raise ResultsError("a compressed member")
            with zf.open(info) as f:
                version = np.lib.format.read_magic(f)
                if version == (1, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_1_0(f)
                elif version == (2, 0):
                    shape, fortran, dtype = np.lib.format.read_array_header_2_0(f)
                else:
                    raise ResultsError(f"unsupported .npy version {version}")
                if dtype not in ALLOWED_DTYPES:
                    raise ResultsError(f"array of dtype {dtype}")
                count = int(np.prod(shape, dtype=np.int64)) if shape else 1
                nbytes = count * dtype.itemsize
                total += nbytes
                if not 0 <= nbytes <= RESULT_ARRAY_LIMIT or total > FILE_LIMIT:
                    raise ResultsError(f"array of shape {shape}")
                data = f.read(nbytes)
                if len(data) != nbytes:
                    raise ResultsError("truncated array")
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
