"""``python -m grading grade ...`` grades submissions; ``python -m grading release OUTDIR`` writes the
student version (``grading/release.py``); ``report`` turns a ``--json`` into feedback files and a class
report (``grading/feedback.py``); ``gradescope`` and ``autograde`` are the Gradescope bundle and what it
runs (``grading/gradescope.py``).

A batch: draw a fresh seed, run the reference in the sandbox on that seed's cases (its outputs are
the expected ones, its time and memory set the limits), then grade every (submission, part) in a
process pool, one sandboxed child each. A part's file that is byte-identical to one already graded in
the batch (an untouched starter file, a shared reference sibling) reuses that verdict: same inputs,
same siblings, same limits. Each submission's result is written to ``--json`` as soon as its last part
is done, so an interrupted batch resumes where it stopped; a rerun skips a submission already in the
JSON only when its files, the ``--quick`` flag and the fingerprint of the rubric and the reference
(``fingerprint``) are all those of the current run, unless ``--redo``.
"""
import argparse
import contextlib
import errno
import hashlib
import importlib
import os
import secrets
import stat
import sys
import tempfile
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass, field
from multiprocessing import get_context
from pathlib import Path

import numpy as np

from . import cases, judge, report, run, sandbox
from .rubric import MAX_POINTS, REFERENCE_SIBLINGS, RUBRIC, STUDENT_FILES

REFERENCE_TIMEOUT = 600.0


class UsageError(Exception):
    """Bad input on the command line: reported as one line, exit code 2."""


class GradingError(Exception):
    """The grader cannot grade at all (the reference itself fails): exit code 1."""


@dataclass
class Limits:
    """Per-part limits: ``max(time_floor, time_factor * reference seconds)``, and the reference's peak
    address space plus ``memory_mb``."""
    time_factor: float = 10.0
    time_floor: float = 10.0
    memory_mb: float = 400.0


def check_submissions(paths):
    """Resolve the SUBMISSION arguments or raise UsageError saying what is wrong with them: each must be a
    folder, and their names, the keys of the reports, distinct. What a folder holds is ``take``'s."""
    found, names = [], {}
    for raw in paths:
        path = Path(raw)
        if not os.path.lexists(path):
            raise UsageError(f"submission {raw!r} does not exist")
        if not path.is_dir():
            raise UsageError(f"submission {raw!r} is not a folder (expected a folder holding layers/)")
        name = key(path)
        if name in names:
            raise UsageError(f"two submissions are named {name!r} ({names[name]} and {raw}): results are keyed by folder name")
        names[name] = raw
        found.append(path)
    return found


def key(submission):
    """A submission's name in the reports: its folder's name (not the name a link points to)."""
    return Path(os.path.abspath(submission)).name


def take(submission, into):
    """Copy the graded files of ``submission`` into ``into``/layers; return why the submission is refused
    whole, or None.

    Each step opens the next name relative to the last without following a link (the folder, ``layers/``,
    each file): a link would have the grader read what is not the submission's, the reference or another
    student's folder, and the batch grades these copies, so a folder changed while it runs changes
    nothing. A name that is not a regular file is left out (graded as missing); a file larger than the
    limit is copied one byte past it, to be reported as too large."""
    (Path(into) / "layers").mkdir(parents=True)
    no_follow = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK
    with contextlib.ExitStack() as opened:
        folders = []
        for name, what in ((submission, "the submission folder"), ("layers", "layers/")):
            try:  # not O_DIRECTORY: with it, a link gives ENOTDIR, indistinguishable from a file
                fd = os.open(name, no_follow, dir_fd=folders[-1] if folders else None)
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return f"{what} is a symbolic link"
                return None  # no layers/ folder: every file is missing
            opened.callback(os.close, fd)
            if not stat.S_ISDIR(os.fstat(fd).st_mode):
                return None
            folders.append(fd)
        for name in STUDENT_FILES:
            try:
                fd = os.open(name, no_follow, dir_fd=folders[-1])
            except OSError as exc:
                if exc.errno == errno.ELOOP:
                    return f"layers/{name} is a symbolic link"
                continue
            with os.fdopen(fd, "rb") as source:
                if stat.S_ISREG(os.fstat(source.fileno()).st_mode):
                    (Path(into) / "layers" / name).write_bytes(source.read(run.MAX_FILE_BYTES + 1))
    return None


def file_hashes(submission):
    hashes = {}
    for name in STUDENT_FILES:
        path = Path(submission) / "layers" / name
        # None sends the part to run_part's own message (missing, too large)
        hashes[name] = None if run.student_file_problem(path) else hashlib.sha256(path.read_bytes()).hexdigest()
    return hashes


def fingerprint():
    """A digest of what a verdict depends on besides the submission: the rubric, every file of the
    reference that goes into a workspace, and the grader's own code (a fixed check must not leave the
    verdicts of the old one standing). A result stored under another fingerprint is graded again."""
    digest = hashlib.sha256(repr((sorted(RUBRIC.items()), MAX_POINTS, sorted(REFERENCE_SIBLINGS.items())))
                            .encode())
    files = [sandbox.REPO / "model.py"] + sorted(path for package in sandbox.PACKAGES
                                                 for path in (sandbox.REPO / package).rglob("*.py")
                                                 if not set(path.parts) & sandbox.LEFT_OUT)
    files += sorted((sandbox.REPO / "grading").glob("*.py"))
    for path in files:
        digest.update(path.relative_to(sandbox.REPO).as_posix().encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()[:16]


def exposed_solutions(submissions):
    """Up to a few paths other users could read that hold a solution: anything in the repository (the
    reference, the judge's variants, the tests' corpus, its history) or in a submission."""
    found = sandbox.readable_files(sandbox.REPO)
    for submission in submissions:
        found += sandbox.readable_files(submission, limit=1)
    return found


def choose_isolation(allow_readable, submissions):
    """The containment this batch runs under (``sandbox.isolation``), with its refusal or warning.

    Spawned workers read ``GRADING_ISOLATION``, so it is set to the choice: they all agree with the report.
    Only the uid fallback needs the permission audit: under namespaces the child sees nothing of the
    repository or the submissions, and with no containment it runs as the grader's user anyway."""
    try:
        mode = sandbox.isolation()
    except RuntimeError as exc:
        raise UsageError(str(exc)) from None
    os.environ["GRADING_ISOLATION"] = mode
    os.environ["GRADING_OWNER"] = str(os.getpid())  # names the temporary folders of this grader's workers
    sandbox.sweep_orphaned_folders()
    if sandbox.is_root() and mode != "none":
        sandbox.sweep_child_uids()
    if mode == "none":
        print(f"WARNING: isolation {sandbox.describe(mode)}", file=sys.stderr)
    if mode == "uid":
        exposed = exposed_solutions(submissions)
        if exposed:
            what = f"other users can read {', '.join(map(str, exposed[:4]))}" + (" and more" if len(exposed) > 4 else "")
            if not allow_readable:
                raise UsageError(f"{what}: under the uid fallback the children run as other users and could read "
                                 "the reference or another submission; remove the others' permissions (chmod -R "
                                 "o-rwx on the repository and on the submissions, or on a folder above them) or "
                                 "pass --allow-readable")
            print(f"WARNING: {what}, and so can the students' code while it is graded (--allow-readable)",
                  file=sys.stderr)
    return mode


def _pool(jobs):
    # spawn, not fork: the workers start clean, whatever the grading process has loaded or started
    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))


class Broken:
    """What a task gave instead of its result: its worker died, or the grader failed while running it."""

    def __init__(self, why):
        self.why = why


def run_tasks(tasks, jobs, on_result):
    """Run ``tasks`` ({key: (function, args)}) in a process pool, calling ``on_result(key, result)`` as
    each finishes. A child could kill the worker that waits for it (same user); the pool then breaks,
    and what is left runs again one task per pool, so the culprit alone gets a ``Broken``. A task that
    raises gets one too: a failure of the grader's costs that task, not the batch."""
    remaining, solo = dict(tasks), False
    while remaining:
        pending = list(remaining.items())[:1] if solo else list(remaining.items())
        with _pool(1 if solo else min(jobs, len(pending))) as pool:
            futures = {pool.submit(function, *args): key for key, (function, args) in pending}
            try:
                for future in as_completed(futures):
                    key = futures[future]
                    try:
                        result = future.result()
                    except BrokenProcessPool:
                        raise
                    except Exception as exc:  # noqa: BLE001 - reported with the task's result
                        result = Broken(f"the grader failed ({type(exc).__name__}: {str(exc)[:200]})")
                    del remaining[key]
                    on_result(key, result)
            except BrokenProcessPool:
                if solo:
                    key = pending[0][0]
                    del remaining[key]
                    on_result(key, Broken("the grader's worker process died while your code ran (was it killed?)"))
                solo = True


def reference_run(plan, jobs):
    """({part: expected arrays}, {part: (seconds, peak bytes)}) from the reference run in the sandbox."""
    outcomes = {}
    tasks = {part: (run.run_reference, (part, part_cases, REFERENCE_TIMEOUT)) for part, part_cases in plan.items()}
    run_tasks(tasks, jobs, outcomes.__setitem__)
    failed = [f"{part}: {outcome.why}" if isinstance(outcome, Broken) else outcome["problem"]
              for part, outcome in outcomes.items() if isinstance(outcome, Broken) or outcome["problem"]]
    if failed:
        raise GradingError("the reference failed in the sandbox: " + "; ".join(failed))
    expected = {part: outcome["arrays"] for part, outcome in outcomes.items()}
    problems = judge.reference_problems(plan, expected)
    if problems:
        raise GradingError("the reference does not reproduce the notebook: " + "; ".join(problems))
    return expected, {part: (outcome["seconds"], outcome["peak_bytes"]) for part, outcome in outcomes.items()}


@dataclass
class Batch:
    """One run of the grader: what every verdict shares (stored with each entry) and how it runs."""
    seed: int
    quick: bool           # graded without the notebook's Conv2D cells: not for marks
    fingerprint: str
    isolation: str
    limits: Limits
    jobs: int
    progress: bool
    json_path: Path | None
    results: dict         # name -> entry, the previous run's included
    copies: dict = field(default_factory=dict)  # name -> the grader's own copy of the submission (``take``)
    hashes: dict = field(default_factory=dict)  # name -> {file: sha256, or None when it cannot be graded}

    def fields(self):
        return {"seed": self.seed, "quick": self.quick, "fingerprint": self.fingerprint,
                "isolation": self.isolation, "numpy": np.__version__}

    def store(self, name, entry):
        """Keep ``entry`` and write every result so far to ``--json``: an interrupted batch resumes."""
        self.results[name] = {**entry, **self.fields()}
        if self.json_path:
            report.write_json(self.json_path, self.results)


def grade_batch(submissions, json_path=None, csv_path=None, jobs=None, redo=False, seed=None,
                limits=None, notebook_conv=True, progress=True, out=None, allow_readable=False):
    """Grade ``submissions`` (folders); return {name: entry} for all of them (reused ones included).

    Under the uid fallback, refuses (UsageError) while other users could read a solution
    (``exposed_solutions``): the children run as other users. ``allow_readable`` grades anyway, with a
    warning on stderr."""
    submissions = check_submissions(submissions)
    out = out or sys.stdout
    try:
        previous = report.read_json(json_path) if json_path else {}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    mode = choose_isolation(allow_readable, submissions)
    batch = Batch(seed=secrets.randbits(32) if seed is None else seed, quick=not notebook_conv,
                  fingerprint=fingerprint(), isolation=mode, limits=limits or Limits(),
                  jobs=jobs or os.cpu_count() or 1, progress=progress, json_path=json_path, results=dict(previous))
    copies = Path(tempfile.mkdtemp(prefix=f"grading-batch-{os.getpid()}-"))  # 0o700: the grader's alone
    try:
        refused = {}
        for number, path in enumerate(submissions):
            name = key(path)
            batch.copies[name] = copies / str(number)
            refused[name] = take(path, batch.copies[name])
            batch.hashes[name] = None if refused[name] else file_hashes(batch.copies[name])
            if batch.hashes[name] and not any(batch.hashes[name].values()):
                loose = [file for file in STUDENT_FILES if (path / file).is_file()]
                hint = f" (it holds {', '.join(loose)} directly: move them into {path}/layers/)" if loose else ""
                print(f"WARNING: submission {path} holds none of layers/{', layers/'.join(STUDENT_FILES)}: "
                      f"graded as missing{hint}", file=sys.stderr)

        def up_to_date(name):
            entry = previous.get(name)
            return (entry is not None and entry.get("files") == batch.hashes[name]
                    and entry.get("quick") == batch.quick and entry.get("fingerprint") == batch.fingerprint)

        todo = [key(path) for path in submissions if redo or not up_to_date(key(path))]
        if len(todo) < len(submissions):
            print(f"{len(submissions) - len(todo)} submission(s) already graded in {json_path}: skipped (--redo "
                  "grades them again)", file=out)
        for name in [name for name in todo if refused[name]]:
            todo.remove(name)
            batch.store(name, refused_entry(refused[name]))
        if todo:
            _grade(batch, todo)
    finally:
        sandbox.remove_tree(copies)
    graded = {key(path): batch.results[key(path)] for path in submissions}
    if csv_path:
        report.write_csv(csv_path, graded)
    print(report.table(graded, seed=batch.seed if todo else None, isolation=sandbox.describe(mode)), file=out)
    return graded


def refused_entry(reason):
    parts = {part: {"points": 0.0, "max": spec.points, "title": spec.title, "diagnoses": [], "seconds": 0.0,
                    "status": "refused", "feedback": [f"submission refused: {reason}; hand in the files themselves"]}
             for part, spec in RUBRIC.items()}
    return {"points": 0.0, "max": MAX_POINTS, "bonus": 0.0, "refused": reason, "parts": parts, "files": None,
            "diff": {}}


def _grade(batch, names):
    """Grade the submissions ``names`` of ``batch``, storing each as soon as its last part is done."""
    from tqdm import tqdm

    plan = cases.make_plan(batch.seed, notebook_conv=not batch.quick)
    started = time.monotonic()
    expected, measured = reference_run(plan, batch.jobs)
    limits = batch.limits
    part_limits = {part: (max(limits.time_floor, limits.time_factor * seconds), int(peak + limits.memory_mb * 2**20))
                   for part, (seconds, peak) in measured.items()}
    # One task per distinct (part, file content); every submission sharing it waits on that task.
    tasks, waiting = {}, {}
    parts_done = {name: {} for name in names}
    for name in names:
        copy = batch.copies[name]
        for part, spec in RUBRIC.items():
            digest = batch.hashes[name][spec.file]
            if digest is None:
                parts_done[name][part] = run.run_part(copy, part, [], {}, 0, 0)
                continue
            task = (part, digest)
            if task not in tasks:
                timeout, memory = part_limits[part]
                tasks[task] = (run.run_part, (copy, part, plan[part], expected[part], timeout, memory))
            waiting.setdefault(task, []).append(name)
    bar = tqdm(total=len(names), desc="grading", unit="submission", disable=not batch.progress, file=sys.stderr)

    def store_if_complete(name):
        if len(parts_done[name]) == len(RUBRIC):
            parts = {p: parts_done[name][p] for p in RUBRIC}
            points = sum(info["points"] for info in parts.values())
            batch.store(name, {"points": points, "max": MAX_POINTS, "bonus": max(0.0, points - MAX_POINTS),
                               "parts": parts, "files": batch.hashes[name],
                               # reference code: for instructors only, never for students
                               "diff": report.function_diffs(batch.copies[name], sandbox.REPO)})
            bar.update(1)

    def on_result(task, result):
        part = task[0]
        if isinstance(result, Broken):  # its reason may quote what the student's code wrote: scrubbed
            result = {"points": 0.0, "max": RUBRIC[part].points, "title": RUBRIC[part].title, "diagnoses": [],
                      "feedback": [judge.scrub(result.why)], "seconds": 0.0, "status": "broken"}
        for name in waiting[task]:
            parts_done[name][part] = dict(result)
            store_if_complete(name)

    for name in parts_done:
        store_if_complete(name)  # submissions whose every file is missing
    run_tasks(tasks, batch.jobs, on_result)
    bar.close()
    print(f"graded {len(names)} submission(s) in {time.monotonic() - started:.1f} s; limits per part: "
          + ", ".join(f"{p} {t:.1f} s" for p, (t, _) in part_limits.items())
          + f", {limits.memory_mb:g} MB above the reference's peak", file=sys.stderr)


SEED_LIMIT = 2**32


def seed_type(text):
    """argparse type of --seed: an integer in [0, 2**32), what numpy's generators accept."""
    try:
        seed = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected an integer, got {text!r}") from None
    if not 0 <= seed < SEED_LIMIT:
        raise argparse.ArgumentTypeError(f"expected 0 <= seed < 2**32 = {SEED_LIMIT}, got {seed}")
    return seed


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m grading", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="{grade," + ",".join(OTHER_COMMANDS) + "}")
    grade = commands.add_parser("grade", help="grade submissions (folders holding layers/utils.py, Maxpool2D.py, Conv2D.py)")
    grade.add_argument("submissions", nargs="+", metavar="SUBMISSION", help="a folder holding layers/")
    grade.add_argument("--json", type=Path, help="write (and resume from) full results here")
    grade.add_argument("--csv", type=Path, help="write one row per submission here")
    grade.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="parallel workers (default: all cores)")
    grade.add_argument("--redo", action="store_true", help="grade again submissions already in --json")
    grade.add_argument("--seed", type=seed_type, help="seed of the random checks, 0 <= SEED < 2**32 (default: "
                       "fresh, recorded in the report)")
    grade.add_argument("--time-factor", type=float, default=Limits.time_factor,
                       help="time limit per part as a multiple of the reference's (default %(default)g)")
    grade.add_argument("--time-floor", type=float, default=Limits.time_floor,
                       help="minimum time limit per part in seconds (default %(default)g)")
    grade.add_argument("--memory-mb", type=float, default=Limits.memory_mb,
                       help="memory allowed above the reference's peak, MB (default %(default)g)")
    grade.add_argument("--quick", action="store_true",
                       help="leave out the notebook's two large Conv2D cells (smoke runs; not for marks). Marked "
                            "(quick) in the table and \"quick\": true in --json; a run without --quick grades "
                            "such results again")
    grade.add_argument("--allow-readable", action="store_true",
                       help="under the uid fallback, grade even though other users can read the repository or a "
                            "submission. Without it the grader refuses to: the children run as other users, so a "
                            "submission could read the reference solution or another student's files. With it, a "
                            "warning")
    grade.add_argument("--isolation", choices=("auto", *sandbox.ISOLATIONS[:2]), default=None,
                       help="containment of the students' code: namespaces (bubblewrap), uid (the fallback, as "
                            "root) or auto, the best this machine allows (default: $GRADING_ISOLATION, else auto)")
    grade.add_argument("--no-progress", action="store_true", help="no progress bar")
    grade.add_argument("--feedback", type=Path, metavar="DIR",
                       help="write one Markdown file per submission here, named by its key (no reference code)")
    grade.add_argument("--report", type=Path, metavar="FILE", help="write the class report (HTML) here")
    parser.grade = grade  # its usage line goes with the errors found after parsing
    for name, (_, _, text) in OTHER_COMMANDS.items():
        commands.add_parser(name, help=text, add_help=False).add_argument("rest", nargs=argparse.REMAINDER)
    return parser


# Subcommands that live in modules of their own: name -> (module, its main(argv), help)
OTHER_COMMANDS = {
    "release": ("release", "main", "write the student version to OUTDIR"),
    "report": ("feedback", "main", "write feedback files and the class report from an existing --json"),
    "gradescope": ("gradescope", "bundle_main", "write the Gradescope autograder bundle (a zip)"),
    "autograde": ("gradescope", "autograde_main",
                  "grade one submission laid out as Gradescope's /autograder (what the bundle runs)"),
}


def main(argv=None):
    argv = sys.argv[1:] if argv is None else list(argv)
    if argv[:1] and argv[0] in OTHER_COMMANDS:
        module, function, _ = OTHER_COMMANDS[argv[0]]
        return getattr(importlib.import_module(f".{module}", __package__), function)(argv[1:])
    parser = build_parser()
    args = parser.parse_args(argv)
    parser = parser.grade
    if args.jobs < 1:
        parser.error(f"--jobs must be at least 1, got {args.jobs}")
    if args.time_factor <= 0 or args.time_floor <= 0 or args.memory_mb <= 0:
        parser.error("--time-factor, --time-floor and --memory-mb must be positive")
    for option in (args.json, args.csv, args.report, args.feedback):
        if option is not None and not option.parent.is_dir():
            parser.error(f"cannot write {option}: folder {option.parent} does not exist")
    if args.isolation:
        os.environ["GRADING_ISOLATION"] = args.isolation
    try:
        graded = grade_batch(args.submissions, json_path=args.json, csv_path=args.csv, jobs=args.jobs,
                             redo=args.redo, seed=args.seed, limits=Limits(args.time_factor, args.time_floor, args.memory_mb),
                             notebook_conv=not args.quick, progress=not args.no_progress,
                             allow_readable=args.allow_readable)
    except UsageError as exc:
        parser.error(str(exc))
    except GradingError as exc:
        print(f"python -m grading: {exc}", file=sys.stderr)
        return 1
    if args.feedback or args.report:
        from .feedback import write_outputs
        try:
            write_outputs(graded, feedback=args.feedback, report=args.report)
        except ValueError as exc:  # two keys that make one file name: the grades are saved, say so
            print(f"python -m grading: {exc}" + (f" (the results are in {args.json})" if args.json else ""),
                  file=sys.stderr)
            return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
