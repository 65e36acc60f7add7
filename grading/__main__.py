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
import hashlib
import importlib
import os
import secrets
import sys
import time
from concurrent.futures import ProcessPoolExecutor, as_completed
from concurrent.futures.process import BrokenProcessPool
from dataclasses import dataclass
from multiprocessing import get_context
from pathlib import Path

from . import checks, report, sandbox
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
    """Resolve the SUBMISSION arguments or raise UsageError saying what is wrong with them."""
    found, names = [], {}
    for raw in paths:
        path = Path(raw)
        if not path.exists():
            raise UsageError(f"submission {raw!r} does not exist")
        if not path.is_dir():
            raise UsageError(f"submission {raw!r} is not a folder (expected a folder holding layers/)")
        layers = path / "layers"
        if not layers.is_dir() or not any((layers / name).is_file() for name in STUDENT_FILES):
            loose = [name for name in STUDENT_FILES if (path / name).is_file()]
            hint = f" (it holds {', '.join(loose)} directly: move them into {raw}/layers/)" if loose else ""
            raise UsageError(f"submission {raw!r} has none of layers/{', layers/'.join(STUDENT_FILES)}{hint}")
        name = path.resolve().name
        if name in names:
            raise UsageError(f"two submissions are named {name!r} ({names[name]} and {raw}): results are keyed by folder name")
        names[name] = raw
        found.append(path)
    return found


def file_hashes(submission):
    hashes = {}
    for name in STUDENT_FILES:
        path = Path(submission) / "layers" / name
        # None sends the part to run_part's own message, without reading a link's target or a huge file
        hashes[name] = None if checks.student_file_problem(path) else hashlib.sha256(path.read_bytes()).hexdigest()
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
    """The paths other users could read that hold a solution: the repository (its reference files,
    answers and history) and the submissions' files."""
    repo = sandbox.REPO
    candidates = [repo / "layers" / name for name in STUDENT_FILES]
    candidates += [repo / "layers" / "vectorized.py", repo / "tests" / "oracle.py", repo / ".git"]
    candidates += [Path(sub) / "layers" / name for sub in submissions for name in STUDENT_FILES]
    return [path for path in candidates if sandbox.readable_by_others(path)]


def _pool(jobs):
    # spawn, not fork: the workers start clean, whatever the grading process has loaded or started
    return ProcessPoolExecutor(max_workers=jobs, mp_context=get_context("spawn"))


BROKEN = object()


def run_tasks(tasks, jobs, on_result):
    """Run ``tasks`` ({key: (function, args)}) in a process pool, calling ``on_result(key, result)`` as
    each finishes. A child could kill the worker that waits for it (same user); the pool then breaks,
    and what is left runs again one task per pool, so the culprit alone gets ``BROKEN``."""
    remaining, solo = dict(tasks), False
    while remaining:
        batch = list(remaining.items())[:1] if solo else list(remaining.items())
        with _pool(1 if solo else min(jobs, len(batch))) as pool:
            futures = {pool.submit(function, *args): key for key, (function, args) in batch}
            try:
                for future in as_completed(futures):
                    key = futures[future]
                    result = future.result()
                    del remaining[key]
                    on_result(key, result)
            except BrokenProcessPool:
                if solo:
                    key = batch[0][0]
                    del remaining[key]
                    on_result(key, BROKEN)
                solo = True


def reference_run(plan, jobs):
    """({part: expected arrays}, {part: (seconds, peak bytes)}) from the reference run in the sandbox."""
    runs = {}
    tasks = {part: (checks.run_reference, (part, cases, REFERENCE_TIMEOUT)) for part, cases in plan.items()}
    run_tasks(tasks, jobs, runs.__setitem__)
    failed = [f"{part}: the grading worker died" if run is BROKEN else run["problem"]
              for part, run in runs.items() if run is BROKEN or run["problem"]]
    if failed:
        raise GradingError("the reference failed in the sandbox: " + "; ".join(failed))
    expected = {part: run["arrays"] for part, run in runs.items()}
    problems = checks.reference_problems(plan, expected)
    if problems:
        raise GradingError("the reference does not reproduce the notebook: " + "; ".join(problems))
    return expected, {part: (run["seconds"], run["peak_bytes"]) for part, run in runs.items()}


def grade_batch(submissions, json_path=None, csv_path=None, jobs=None, redo=False, seed=None,
                limits=None, notebook_conv=True, progress=True, out=None, allow_readable=False):
    """Grade ``submissions`` (folders); return {name: entry} for all of them (reused ones included).

    As root, refuses (UsageError) while other users could read a solution (``exposed_solutions``): the
    children run as other users. ``allow_readable`` grades anyway, with a warning on stderr."""
    submissions = check_submissions(submissions)
    limits = limits or Limits()
    out = out or sys.stdout
    try:
        previous = report.read_json(json_path) if json_path else {}
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if sandbox.drops_privileges():
        exposed = exposed_solutions(submissions)
        if exposed:
            what = (f"other users can read {', '.join(map(str, exposed[:4]))}"
                    + (f" and {len(exposed) - 4} more" if len(exposed) > 4 else ""))
            if not allow_readable:
                raise UsageError(f"{what}: as root, the children run as other users and could read the reference "
                                 "or another submission; remove the others' permissions (chmod -R o-rwx on the "
                                 "repository and on the submissions, or on a folder above them) or pass "
                                 "--allow-readable")
            print(f"WARNING: {what}, and so can the students' code while it is graded (--allow-readable)",
                  file=sys.stderr)
    results = dict(previous)
    hashes = {path.resolve().name: file_hashes(path) for path in submissions}
    run = {"quick": not notebook_conv, "fingerprint": fingerprint()}

    def up_to_date(name):
        entry = previous.get(name)
        return (entry is not None and entry.get("files") == hashes[name]
                and all(entry.get(key) == value for key, value in run.items()))

    todo = [path for path in submissions if redo or not up_to_date(path.resolve().name)]
    skipped = len(submissions) - len(todo)
    if skipped:
        print(f"{skipped} submission(s) already graded in {json_path}: skipped (--redo grades them again)", file=out)
    seed = secrets.randbits(32) if seed is None else seed
    if todo:
        _grade(todo, hashes, results, json_path, jobs or os.cpu_count() or 1, seed, limits, notebook_conv, progress,
               run)
    graded = {path.resolve().name: results[path.resolve().name] for path in submissions}
    if csv_path:
        report.write_csv(csv_path, graded)
    print(report.table(graded, seed=seed if todo else None), file=out)
    return graded


def _grade(todo, hashes, results, json_path, jobs, seed, limits, notebook_conv, progress, run):
    from tqdm import tqdm

    plan = checks.make_plan(seed, notebook_conv=notebook_conv)
    started = time.monotonic()
    expected, measured = reference_run(plan, jobs)
    part_limits = {part: (max(limits.time_floor, limits.time_factor * seconds), int(peak + limits.memory_mb * 2**20))
                   for part, (seconds, peak) in measured.items()}
    # One task per distinct (part, file content); every submission sharing it waits on that task.
    tasks, waiting = {}, {}
    parts_done = {path.resolve().name: {} for path in todo}
    for path in todo:
        name = path.resolve().name
        for part, spec in RUBRIC.items():
            digest = hashes[name][spec.file]
            if digest is None:
                parts_done[name][part] = checks.run_part(path, part, [], {}, 0, 0)
                continue
            key = (part, digest)
            if key not in tasks:
                timeout, memory = part_limits[part]
                tasks[key] = (checks.run_part, (path, part, plan[part], expected[part], timeout, memory))
            waiting.setdefault(key, []).append(name)
    bar = tqdm(total=len(todo), desc="grading", unit="submission", disable=not progress, file=sys.stderr)

    def store_if_complete(name):
        if len(parts_done[name]) == len(RUBRIC):
            _store(name, parts_done[name], hashes[name], seed, run, todo, results, json_path)
            bar.update(1)

    def on_result(key, result):
        part = key[0]
        if result is BROKEN:
            result = {"points": 0.0, "max": RUBRIC[part].points, "title": RUBRIC[part].title, "diagnoses": [],
                      "feedback": ["the grader's worker process died while your code ran (was it killed?)"],
                      "seconds": 0.0, "status": "broken"}
        for name in waiting[key]:
            parts_done[name][part] = dict(result)
            store_if_complete(name)

    for name in parts_done:
        store_if_complete(name)  # submissions whose every file is missing
    run_tasks(tasks, jobs, on_result)
    bar.close()
    print(f"graded {len(todo)} submission(s) in {time.monotonic() - started:.1f} s; limits per part: "
          + ", ".join(f"{p} {t:.1f} s" for p, (t, _) in part_limits.items())
          + f", {limits.memory_mb:g} MB above the reference's peak", file=sys.stderr)


def _store(name, parts, hashes, seed, run, todo, results, json_path):
    path = next(p for p in todo if p.resolve().name == name)
    points = sum(parts[p]["points"] for p in RUBRIC)
    results[name] = {
        "points": points,
        "max": MAX_POINTS,
        "bonus": max(0.0, points - MAX_POINTS),
        "parts": {p: parts[p] for p in RUBRIC},
        "seed": seed,
        "quick": run["quick"],  # graded without the notebook's Conv2D cells: not for marks
        "fingerprint": run["fingerprint"],
        "files": hashes,
        "diff": report.function_diffs(path, sandbox.REPO),
    }
    if json_path:
        report.write_json(json_path, results)


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
                       help="as root, grade even though other users can read the repository or a submission. "
                            "Without it the grader refuses to: the children run as other users, so a submission "
                            "could read the reference solution or another student's files. With it, a warning")
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
        write_outputs(graded, feedback=args.feedback, report=args.report)
    return 0


if __name__ == "__main__":
    sys.exit(main())
