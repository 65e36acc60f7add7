"""Gradescope: ``python -m grading gradescope OUT.zip`` writes the autograder bundle; ``python -m grading
autograde`` is what the bundle's ``run_autograder`` runs for each submission.

Gradescope's autograder specification: the zip holds ``setup.sh`` (run once, as root, on Gradescope's
Ubuntu image when the assignment's image is built) and ``run_autograder`` (run for every submission in a
fresh container, from ``/autograder``) at its root; Gradescope unpacks the zip into ``/autograder/source``,
puts the student's upload in ``/autograder/submission`` and reads ``/autograder/results/results.json``.
What ``run_autograder`` prints lands in ``results/stdout``, for the instructor only.

The bundle is this repository's grader and reference, run by the same ``grade_batch`` as ``python -m
grading grade`` with one submission: the same checks, a fresh seed, the same limits. The reference is
made unreadable to other users (``chmod -R go-rwx``) in ``setup.sh`` and again in ``run_autograder``:
where the container refuses namespaces (a Docker container with its default settings does), the
grader as root falls back to a uid of its own per part, and refuses solutions those uids could read.
"""
import argparse
import ast
import importlib.metadata
import json
import math
import os
import re
import shutil
import sys
import tempfile
import time
import zipfile
from pathlib import Path

from .rubric import MAX_POINTS, RUBRIC, STUDENT_FILES
from .sandbox import LEFT_OUT as LEFT_OUT_OF_WORKSPACES, PACKAGES, REPO

# The oldest Python this package supports; the pinned packages may ask for a newer one (numpy does).
PYTHON_FLOOR = (3, 11)
NEWEST_MINOR = 14  # setup.sh looks for python3.14 down to the oldest one the pins accept
# The container grades; it does not regenerate the public checks or draw class reports (matplotlib).
LEFT_OUT = {"grading/make_expected.py", "grading/feedback.py"}
SCRIPTS = ("setup.sh", "run_autograder")
KEY = "submission"  # the one submission's key in grade_batch's results
ROOT_VARIABLE = "AUTOGRADER_ROOT"

SETUP_SH = """\
#!/usr/bin/env bash
# Gradescope runs this once, as root, when it builds the autograder image (Ubuntu): bubblewrap for the
# grader's sandbox, a Python >= {python} and the grader's pinned requirements in {root}/venv.
# Everything comes from the distribution's archive (the deadsnakes archive where it has no Python
# >= {python}) and from PyPI.
set -euo pipefail
ROOT="${{{variable}:-/autograder}}"
export DEBIAN_FRONTEND=noninteractive

good_python() {{
  "$1" -c 'import sys; sys.exit(sys.version_info[:2] < ({major}, {minor}))' 2>/dev/null
}}
find_python() {{
  for candidate in {candidates} python3; do
    if command -v "$candidate" >/dev/null && good_python "$candidate"; then echo "$candidate"; return 0; fi
  done
  return 1
}}

packages=()
command -v bwrap >/dev/null || packages+=(bubblewrap)
PYTHON=$(find_python) || PYTHON=""
if [ -z "$PYTHON" ] || [ ${{#packages[@]}} -gt 0 ]; then apt-get update; fi
if [ -z "$PYTHON" ]; then
  for version in {versions}; do
    if apt-cache show "python$version-venv" >/dev/null 2>&1; then packages+=("python$version" "python$version-venv"); break; fi
  done
fi
if [ ${{#packages[@]}} -gt 0 ]; then apt-get install -y --no-install-recommends "${{packages[@]}}"; fi
if ! PYTHON=$(find_python); then
  apt-get install -y --no-install-recommends software-properties-common
  add-apt-repository -y ppa:deadsnakes/ppa
  apt-get update
  apt-get install -y --no-install-recommends "python{python}" "python{python}-venv"
  PYTHON=$(find_python)
fi

# Debian and Ubuntu ship the venv module's pip separately, as pythonX.Y-venv.
if ! "$PYTHON" -m venv "$ROOT/venv"; then
  rm -rf "$ROOT/venv"
  apt-get update
  apt-get install -y --no-install-recommends "python$("$PYTHON" -c 'import sys; print("%d.%d" % sys.version_info[:2])')-venv"
  "$PYTHON" -m venv "$ROOT/venv"
fi
"$ROOT/venv/bin/python" -m pip install --no-cache-dir --disable-pip-version-check -r "$ROOT/source/requirements.txt"
chmod -R go-rwx "$ROOT/source"
"""

RUN_AUTOGRADER = """\
#!/usr/bin/env bash
# Gradescope runs this, as root, for every submission: grade {root}/submission into
# {root}/results/results.json. As root the grader runs each part as a uid of its own and refuses a
# reference (or an upload) those uids could read.
set -euo pipefail
ROOT="${{{variable}:-/autograder}}"
mkdir -p "$ROOT/results"
chmod -R go-rwx "$ROOT/source" "$ROOT/submission" "$ROOT/results"
cd "$ROOT/source"
# options (--quick, --seed, limits) are for trying the bundle out; Gradescope passes none
exec "$ROOT/venv/bin/python" -m grading autograde --root "$ROOT" "$@"
"""


# ---------------------------------------------------------------------------------------------------
# The bundle
# ---------------------------------------------------------------------------------------------------

def bundle_files():
    """{path in the zip: path here}: the grader and what its workspaces copy (``sandbox.PACKAGES``,
    ``model.py``), without the instructor-only answer (``sandbox.LEFT_OUT``) and caches."""
    files = {}
    for package in ("grading", *PACKAGES):
        # grading/'s own files only: grading/student/ is the student release's
        paths = (REPO / package).glob("*.py") if package == "grading" else (REPO / package).rglob("*.py")
        for path in sorted(paths):
            relpath = path.relative_to(REPO).as_posix()
            if relpath not in LEFT_OUT and not set(path.parts) & LEFT_OUT_OF_WORKSPACES:
                files[relpath] = path
    files["model.py"] = REPO / "model.py"
    return files


def third_party_imports(sources):
    """The top-level names of the modules ``sources`` ({relpath: text}) import from outside the
    standard library and outside the bundle itself."""
    own = {relpath.split("/")[0].removesuffix(".py") for relpath in sources}
    names = set()
    for relpath, text in sources.items():
        for node in ast.walk(ast.parse(text, filename=relpath)):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                names.add(node.module.split(".")[0])
    return sorted(names - set(sys.stdlib_module_names) - own)


def pinned_requirements(modules):
    """``name==version`` for the distributions providing ``modules``, as installed here, and the oldest
    Python they all accept (their ``Requires-Python`` lower bounds, and ``PYTHON_FLOOR``).

    Exact pins of the building environment, not requirements.txt's lower bounds: the bundle then grades
    with the numpy the grader was run and tested with here, rather than whatever is newest on PyPI the
    day Gradescope builds the image. Rebuild the bundle after upgrading."""
    providers = importlib.metadata.packages_distributions()
    pins, python = [], PYTHON_FLOOR
    for module in modules:
        if module not in providers:
            raise ValueError(f"the bundle imports {module!r}, which no installed distribution provides: install it "
                             "or leave the importing module out of the bundle (gradescope.LEFT_OUT)")
        for dist in providers[module]:
            pins.append(f"{dist}=={importlib.metadata.version(dist)}")
            requires = importlib.metadata.metadata(dist).get("Requires-Python") or ""
            for major, minor in re.findall(r">=\s*(\d+)\.(\d+)", requires):
                python = max(python, (int(major), int(minor)))
    return sorted(set(pins)), python


def render_scripts(python):
    """(setup.sh, run_autograder) for a Python of at least ``python`` ((major, minor))."""
    major, minor = python
    versions = " ".join(f"{major}.{m}" for m in range(NEWEST_MINOR, minor - 1, -1))  # newest first
    values = dict(variable=ROOT_VARIABLE, root="/autograder", python=f"{major}.{minor}", major=major, minor=minor,
                  versions=versions, candidates=" ".join(f"python{v}" for v in versions.split()))
    return SETUP_SH.format(**values), RUN_AUTOGRADER.format(**values)


def build_bundle(out):
    """Write the autograder zip to ``out``; return {name in the zip: size}."""
    out = Path(out)
    if out.suffix != ".zip":
        raise ValueError(f"the bundle is a zip file: expected OUT ending in .zip, got {str(out)!r}")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: folder {out.parent} does not exist")
    files = bundle_files()
    sources = {relpath: path.read_text(encoding="utf-8") for relpath, path in files.items()}
    pins, python = pinned_requirements(third_party_imports(sources))
    setup, run = render_scripts(python)
    generated = {"setup.sh": setup, "run_autograder": run,
                 "requirements.txt": "# exact versions of the machine that built this bundle\n" + "\n".join(pins) + "\n"}
    fd, tmp = tempfile.mkstemp(prefix=f".{out.name}.", dir=out.parent)
    os.close(fd)
    try:
        with zipfile.ZipFile(tmp, "w", zipfile.ZIP_DEFLATED) as bundle:
            for name, text in {**generated, **sources}.items():
                info = zipfile.ZipInfo(name, date_time=time.localtime()[:6])
                info.external_attr = (0o755 if name in SCRIPTS else 0o644) << 16  # the scripts executable
                info.compress_type = zipfile.ZIP_DEFLATED
                bundle.writestr(info, text)
        os.replace(tmp, out)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    with zipfile.ZipFile(out) as bundle:
        return {info.filename: info.file_size for info in bundle.infolist()}


# ---------------------------------------------------------------------------------------------------
# One submission, inside the container
# ---------------------------------------------------------------------------------------------------

def locate(upload):
    """({name: path} of the student files found in ``upload``, {name: why it is not graded}).

    A file counts where it lies directly in the upload or in a folder named ``layers`` at any depth (the
    files uploaded flat, ``layers/`` uploaded, the release folder zipped whole); macOS's ``__MACOSX``
    copies and links are not followed. A name found twice or as a link is not graded: its parts score
    0 with a message saying why."""
    upload = Path(upload)
    found = {name: [] for name in STUDENT_FILES}
    links = {}
    folders = [upload]
    while folders:  # a stack, not os.walk's recursion: an upload may nest folders thousands deep
        folder = folders.pop()
        try:
            entries = sorted(os.scandir(folder), key=lambda entry: entry.name, reverse=True)
        except OSError:
            continue
        folders += [Path(e.path) for e in entries if e.is_dir(follow_symlinks=False) and e.name != "__MACOSX"]
        if folder != upload and folder.name != "layers":
            continue
        for entry in entries:
            if entry.name in STUDENT_FILES:
                if entry.is_symlink():
                    links[entry.name] = Path(entry.path)
                elif entry.is_file(follow_symlinks=False):
                    found[entry.name].append(Path(entry.path))
    located, problems = {}, {}
    for name, paths in found.items():
        shown = [p.relative_to(upload).as_posix() for p in paths]
        if len(paths) == 1:
            located[name] = paths[0]
        elif paths:
            problems[name] = (f"{name} was uploaded {len(paths)} times ({', '.join(shown)}): upload exactly one; "
                              "its parts score 0")
        elif name in links:
            problems[name] = (f"{links[name].relative_to(upload).as_posix()} is a symbolic link, not a file: "
                              "its parts score 0")
        else:
            problems[name] = (f"{name} was not found (upload it alone, in layers/, or in the folder holding "
                              "layers/): its parts score 0")
    return located, problems


def test_name(part):
    """The part and its functions, the class named once: ``9.3.c Maxpool2D.create_mask and grad``."""
    names, owner = [], None
    for qualname in RUBRIC[part].functions:
        cls, _, function = qualname.rpartition(".")
        names.append(function if cls and cls == owner else qualname)
        owner = cls
    return f"{part} {' and '.join(names)}"


def results_json(entry, problems, numpy_version, seconds):
    """Gradescope's results.json for one graded entry of ``grade_batch`` and ``locate``'s problems: one
    test per part, the total (bonus included) as the score. Only the feedback goes in, never ``entry["diff"]`` (reference code)."""
    tests = []
    for part, spec in RUBRIC.items():
        info = entry["parts"][part]
        mine = [problems[spec.file]] if spec.file in problems else []
        tests.append({
            "name": test_name(part),
            "score": info["points"],
            "max_score": spec.points,
            "status": "passed" if info["points"] >= spec.points else "failed",
            "output": "\n".join(mine + info["feedback"]),
            "visibility": "visible",
        })
    total = entry["points"]
    bonus = max(0.0, total - MAX_POINTS)
    lines = [f"Exercise 9.3: {total:g}/{MAX_POINTS}" + (f" (+{bonus:g} bonus)" if bonus else "")
             + (" (quick: graded without the notebook's Conv2D cells, not for marks)" if entry.get("quick") else "")]
    lines += problems.values()
    if entry.get("seed") is not None:
        lines.append(f"random checks drawn with seed {entry['seed']}; numpy {numpy_version}; "
                     f"isolation {entry.get('isolation', 'unknown')}")
    else:
        lines.append(f"nothing to run; numpy {numpy_version}")
    return {"score": total, "execution_time": round(seconds), "output": "\n".join(lines),
            "visibility": "visible", "stdout_visibility": "hidden", "tests": tests}


def container_cpus():
    """The CPUs this container may use: its cgroup's quota when it has one (Docker's ``--cpus``, which
    ``os.cpu_count()`` does not see), else the CPUs the process may run on. The grader runs that many
    parts at once, so memory needs grow with it (README, *On Gradescope*)."""
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    for path, parse in (("/sys/fs/cgroup/cpu.max", lambda text: text.split()),  # cgroup v2: "quota period"
                        ("/sys/fs/cgroup/cpu/cpu.cfs_quota_us", lambda text: [text.strip(), Path(
                            "/sys/fs/cgroup/cpu/cpu.cfs_period_us").read_text().strip()])):
        try:
            quota, period = parse(Path(path).read_text())
            if quota not in ("max", "-1"):
                return max(1, min(cpus, math.ceil(int(quota) / int(period))))
        except (OSError, ValueError):
            continue
    return cpus


def autograde(root, seed=None, limits=None, notebook_conv=True, jobs=None, out=None, allow_readable=False):
    """Grade ``root``/submission into ``root``/results/results.json; return what was written."""
    from . import run
    from .__main__ import grade_batch
    import numpy

    root = Path(root)
    out = out or sys.stdout
    upload, results = root / "submission", root / "results"
    if not upload.is_dir():
        raise ValueError(f"no submission folder: expected {upload}")
    results.mkdir(exist_ok=True)
    started = time.monotonic()
    located, problems = locate(upload)
    for message in problems.values():
        print(message, file=out)
    # mkdtemp is 0o700: the copy is no more readable to other uids than the upload should be
    with tempfile.TemporaryDirectory(prefix="autograde-") as tmp:
        submission = Path(tmp) / KEY
        (submission / "layers").mkdir(parents=True)
        for name, path in located.items():
            shutil.copyfile(path, submission / "layers" / name)
        if located:
            entry = grade_batch([submission], jobs=jobs or container_cpus(), seed=seed, limits=limits, notebook_conv=notebook_conv,
                                progress=False, out=out, allow_readable=allow_readable)[KEY]
        else:  # grade_batch refuses a folder without any file; every part then gets run_part's message
            parts = {part: run.run_part(submission, part, [], {}, 0, 0) for part in RUBRIC}
            entry = {"points": 0.0, "parts": parts, "seed": None}
    data = results_json(entry, problems, numpy.__version__, time.monotonic() - started)
    (results / "results.json").write_text(json.dumps(data, indent=2) + "\n")
    return data


def failure_json():
    """results.json when the grader itself could not grade: no score, and a message saying so. What went
    wrong goes to stdout, the instructor's: it may quote the reference run's output."""
    return {"score": 0, "output": "The autograder could not grade this submission. This is not about your code: "
            "please tell your instructor.", "visibility": "visible", "stdout_visibility": "hidden", "tests": []}


# ---------------------------------------------------------------------------------------------------
# Command lines
# ---------------------------------------------------------------------------------------------------

def bundle_main(argv):
    parser = argparse.ArgumentParser(prog="python -m grading gradescope",
                                     description="Write the Gradescope autograder bundle (a zip) to OUT.")
    parser.add_argument("out", metavar="OUT.zip", type=Path)
    args = parser.parse_args(argv)
    try:
        files = build_bundle(args.out)
    except ValueError as exc:
        parser.error(str(exc))
    print(f"wrote {args.out}: {len(files)} files, {sum(files.values()) / 1024:.0f} kB unpacked")
    return 0


def autograde_main(argv):
    from .__main__ import GradingError, Limits, UsageError, seed_type

    parser = argparse.ArgumentParser(prog="python -m grading autograde",
                                     description="Grade one Gradescope submission: ROOT/submission into "
                                                 "ROOT/results/results.json.")
    parser.add_argument("--root", type=Path, default=Path(os.environ.get(ROOT_VARIABLE, "/autograder")),
                        help=f"the folder laid out as /autograder (default: ${ROOT_VARIABLE}, else /autograder)")
    parser.add_argument("--seed", type=seed_type, help="seed of the random checks (default: fresh)")
    parser.add_argument("--quick", action="store_true", help="leave out the notebook's two large Conv2D cells "
                        "(for trying the bundle out; not for marks)")
    parser.add_argument("--time-factor", type=float, default=Limits.time_factor)
    parser.add_argument("--time-floor", type=float, default=Limits.time_floor)
    parser.add_argument("--memory-mb", type=float, default=Limits.memory_mb)
    parser.add_argument("--jobs", type=int, default=None, help="parallel workers (default: the container's CPUs)")
    parser.add_argument("--allow-readable", action="store_true",
                        help="as root, grade even though other users can read the reference (a checkout tried "
                             "out locally); run_autograder makes it unreadable instead")
    args = parser.parse_args(argv)
    limits = Limits(args.time_factor, args.time_floor, args.memory_mb)
    try:
        autograde(args.root, seed=args.seed, limits=limits, notebook_conv=not args.quick, jobs=args.jobs,
                  allow_readable=args.allow_readable)
    except Exception as exc:  # noqa: BLE001 - whatever failed, Gradescope must get a results.json
        kind = "" if isinstance(exc, (ValueError, UsageError, GradingError)) else f"{type(exc).__name__}: "
        print(f"python -m grading autograde: {kind}{exc}")
        results = args.root / "results"
        if results.is_dir() or args.root.is_dir():
            results.mkdir(exist_ok=True)
            (results / "results.json").write_text(json.dumps(failure_json(), indent=2) + "\n")
        return 1
    return 0
