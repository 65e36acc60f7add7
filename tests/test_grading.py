"""The grader (``python -m grading grade``): verdicts on the reference, the unsolved release and the corpus
of written-for-the-tests submissions, the sandbox, the reports and the command line.

The corpus is graded once per session through the parallel batch path, with ``--quick`` (the notebook's
two large Conv2D cells left out; the reference and the unsolved release are graded with them) and
short time limits, so the whole file stays well under two minutes on two cores.
"""
import csv
import io
import json
import os
import re
import shutil
import tempfile
import time
import zipfile
from pathlib import Path

import numpy as np
import pytest

from grading import cases, judge, mistakes, report, run, sandbox
from grading.__main__ import Limits, fingerprint, grade_batch, main
from grading.rubric import MAX_POINTS, REFERENCE_SIBLINGS, RUBRIC, STUDENT_FILES, TOTAL_POINTS
from layers import Conv2D, Maxpool2D

from submissions.corpus import HOSTILE_LEAK_DIR, SUBMISSIONS, build, processes_with, run_as_utils

REPO = Path(__file__).resolve().parents[1]
TEST_LIMITS = Limits(time_factor=5.0, time_floor=5.0, memory_mb=300.0)
# As root the grader refuses a repository other users can read unless told otherwise; the tests of that
# refusal are below, every other test grades with it allowed.
LIMIT_ARGS = ["--time-factor", "5", "--time-floor", "5", "--memory-mb", "300", "--no-progress", "--allow-readable"]
FULL = TOTAL_POINTS

# Appended to a file: every comparison numpy offers says "equal", print is silenced. It runs only in the
# sandboxed child, so it must change nothing.
NUMPY_PATCH = '''

import builtins as _builtins
import numpy as _np
_np.allclose = lambda *args, **kwargs: True
_np.array_equal = lambda *args, **kwargs: True
_np.isclose = lambda a, b, *args, **kwargs: _np.ones(_np.broadcast(_np.asarray(a), _np.asarray(b)).shape, dtype=bool)
_np.testing.assert_allclose = lambda *args, **kwargs: None
_builtins.print = lambda *args, **kwargs: None
'''


def copy_reference(dest):
    (dest / "layers").mkdir(parents=True)
    for name in STUDENT_FILES:
        shutil.copyfile(REPO / "layers" / name, dest / "layers" / name)
    return dest


def unsolve(folder):
    """The release as a student gets it: every solution region replaced by a NotImplementedError."""
    region = re.compile(r"^([ \t]*)### BEGIN SOLUTION\n.*?### END SOLUTION", re.S | re.M)
    for name in STUDENT_FILES:
        path = folder / "layers" / name
        text, count = region.subn(lambda m: f"{m.group(1)}raise NotImplementedError('{name}: not implemented')",
                                  path.read_text())
        assert count >= 1, f"no solution region in {name}"
        path.write_text(text)
    return folder


def edit_outside_regions(folder, name, old, new):
    path = folder / "layers" / name
    text = path.read_text()
    assert text.count(old) == 1, f"{old!r} is not in {name} exactly once"
    path.write_text(text.replace(old, new))
    return folder


# ---------------------------------------------------------------------------------------------------
# Reference and unsolved release, graded with the notebook's cells
# ---------------------------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def full_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("full")
    reference = copy_reference(root / "subs" / "reference")
    unsolved = unsolve(copy_reference(root / "subs" / "unsolved"))
    # Changed outside the solution regions, where only the notebook's own calls can see it.
    default_stride = edit_outside_regions(copy_reference(root / "subs" / "default_stride"), "Maxpool2D.py",
                                          "def __init__(self, kernel_size=2, stride=1):",
                                          "def __init__(self, kernel_size=2, stride=2):")
    other_init = edit_outside_regions(copy_reference(root / "subs" / "other_init"), "Conv2D.py",
                                      "* np.sqrt(2 / (k * k * self.in_channels))", "* np.sqrt(1 / (k * k * self.in_channels))")
    json_path, csv_path = root / "results.json", root / "results.csv"
    out = io.StringIO()
    results = grade_batch([reference, unsolved, default_stride, other_init], json_path=json_path, csv_path=csv_path,
                          limits=TEST_LIMITS, progress=False, allow_readable=True, out=out)
    return {"results": results, "json": json_path, "csv": csv_path, "stdout": out.getvalue(),
            "reference": reference, "unsolved": unsolved, "root": root}


def test_reference_scores_full_marks_with_the_bonus(full_batch):
    entry = full_batch["results"]["reference"]
    assert entry["points"] == FULL == 7 and entry["max"] == MAX_POINTS == 6 and entry["bonus"] == 1
    for part, spec in RUBRIC.items():
        info = entry["parts"][part]
        assert info["points"] == spec.points, (part, info["feedback"])
        assert info["diagnoses"] == []
    assert all(diff == "" for diff in entry["diff"].values()), entry["diff"]


def test_reference_is_checked_on_the_notebook_cells_and_fresh_inputs(full_batch):
    seed = full_batch["results"]["reference"]["seed"]
    plan = cases.make_plan(seed)
    for part, part_cases in plan.items():
        assert part_cases[0]["id"] == "nb", part
        assert len(part_cases) >= 5
    feedback = full_batch["results"]["reference"]["parts"]["9.3.e"]["feedback"][0]
    assert f"all {len(plan['9.3.e'])} checks passed" in feedback


def test_unsolved_release_scores_zero_with_the_not_implemented_message(full_batch):
    entry = full_batch["results"]["unsolved"]
    assert entry["points"] == 0 and entry["bonus"] == 0
    for part, info in entry["parts"].items():
        assert info["points"] == 0
        assert "NotImplementedError" in " ".join(info["feedback"]), (part, info["feedback"])


def test_the_notebook_cell_is_replayed_with_the_notebooks_own_calls(full_batch):
    """Maxpool2D() with its defaults, np.random.seed(42); Conv2D(in_channels=3, ...) with its own weights:
    a default or an initialisation changed outside the regions fails the notebook's cell alone."""
    stride = full_batch["results"]["default_stride"]["parts"]
    assert stride["9.3.b"]["points"] == 0 and stride["9.3.a"]["points"] == 1
    assert stride["9.3.d"]["points"] == 1 and stride["9.3.e"]["points"] == 2
    feedback = " ".join(stride["9.3.b"]["feedback"])
    assert "1 of" in feedback and "Maxpool2D() with its default kernel_size and stride" in feedback
    assert "check the defaults of __init__ and the weight initialisation" in feedback
    init = full_batch["results"]["other_init"]["parts"]
    assert init["9.3.d"]["points"] == 0 and init["9.3.a"]["points"] == 1 and init["9.3.b"]["points"] == 1
    assert "np.random.seed(42); Conv2D(in_channels=3, out_channels=8, padding=1, stride=1)" in init["9.3.d"]["feedback"][1]


def test_json_has_the_documented_shape(full_batch):
    data = json.loads(full_batch["json"].read_text())
    assert set(data) == {"reference", "unsolved", "default_stride", "other_init"}
    for entry in data.values():
        assert isinstance(entry["points"], float) and entry["max"] == 6
        assert isinstance(entry["bonus"], float) and isinstance(entry["seed"], int)
        assert entry["quick"] is False and entry["fingerprint"] == fingerprint()
        assert list(entry["parts"]) == list(RUBRIC)
        for part, info in entry["parts"].items():
            assert isinstance(info["points"], float) and info["max"] == RUBRIC[part].points
            assert info["feedback"] and all(isinstance(line, str) for line in info["feedback"])
        assert set(entry["diff"]) == {f for spec in RUBRIC.values() for f in spec.functions}


def test_csv_has_one_row_per_submission(full_batch):
    rows = list(csv.DictReader(full_batch["csv"].open()))
    assert [row["submission"] for row in rows] == ["reference", "unsolved", "default_stride", "other_init"]
    assert list(rows[0]) == report.CSV_FIELDS
    assert float(rows[0]["points"]) == 7 and float(rows[0]["bonus"]) == 1 and float(rows[1]["9.3.e"]) == 0


def test_stdout_table_names_every_submission_and_the_bonus(full_batch):
    text = full_batch["stdout"]
    assert re.search(r"^reference\s+1\s+1\s+2\s+1\s+2\s+7/6 \(\+1 bonus\)$", text, re.M), text
    assert re.search(r"^unsolved\s+0\s+0\s+0\s+0\s+0\s+0/6$", text, re.M), text
    assert "seed" in text


def test_rerun_skips_graded_submissions_and_redo_grades_again(full_batch, tmp_path, capsys):
    json_path = tmp_path / "results.json"
    shutil.copyfile(full_batch["json"], json_path)
    before = json_path.read_bytes()
    subs = [str(full_batch["reference"]), str(full_batch["unsolved"])]
    assert main(["grade", "--json", str(json_path), *LIMIT_ARGS, *subs]) == 0
    assert "2 submission(s) already graded" in capsys.readouterr().out
    assert json_path.read_bytes() == before
    old_seed = json.loads(before)["reference"]["seed"]
    assert main(["grade", "--json", str(json_path), "--redo", "--quick", "--seed", "7", *LIMIT_ARGS,
                 str(full_batch["unsolved"])]) == 0
    data = json.loads(json_path.read_text())
    assert data["unsolved"]["seed"] == 7 and data["unsolved"]["points"] == 0
    assert data["reference"]["seed"] == old_seed, "a submission not named was graded again"


def test_quick_results_are_marked_and_not_reused_by_a_full_run(full_batch, tmp_path, capsys):
    json_path = tmp_path / "results.json"
    shutil.copyfile(full_batch["json"], json_path)
    reference, unsolved = str(full_batch["reference"]), str(full_batch["unsolved"])
    # full results, a quick run: graded again, quick
    assert main(["grade", "--json", str(json_path), "--quick", "--seed", "3", *LIMIT_ARGS, unsolved]) == 0
    out = capsys.readouterr().out
    assert "already graded" not in out and re.search(r"^unsolved\s.*0/6 \(quick\)$", out, re.M), out
    data = json.loads(json_path.read_text())
    assert data["unsolved"]["quick"] is True and data["unsolved"]["seed"] == 3
    # the same quick run again: reused
    assert main(["grade", "--json", str(json_path), "--quick", *LIMIT_ARGS, unsolved]) == 0
    assert "1 submission(s) already graded" in capsys.readouterr().out
    # a full run: the quick result is graded again, the full one reused
    assert main(["grade", "--json", str(json_path), "--seed", "4", *LIMIT_ARGS, reference, unsolved]) == 0
    out = capsys.readouterr().out
    assert "1 submission(s) already graded" in out and "(quick)" not in out
    data = json.loads(json_path.read_text())
    assert data["unsolved"]["quick"] is False and data["unsolved"]["seed"] == 4
    assert data["reference"]["seed"] != 4


def test_a_result_of_another_rubric_or_reference_is_graded_again(full_batch, tmp_path, capsys):
    json_path = tmp_path / "results.json"
    data = json.loads(full_batch["json"].read_text())
    data["unsolved"]["fingerprint"] = "0" * 16  # graded with another rubric or reference
    json_path.write_text(json.dumps(data))
    assert main(["grade", "--json", str(json_path), "--quick", "--seed", "5", *LIMIT_ARGS,
                 str(full_batch["unsolved"])]) == 0
    assert "already graded" not in capsys.readouterr().out
    assert json.loads(json_path.read_text())["unsolved"]["fingerprint"] == fingerprint()


def test_a_changed_file_is_graded_again_without_redo(full_batch, tmp_path, capsys):
    json_path = tmp_path / "results.json"
    shutil.copyfile(full_batch["json"], json_path)
    changed = copy_reference(tmp_path / "reference")
    with open(changed / "layers" / "utils.py", "a") as f:
        f.write("\n# edited after grading\n")
    assert main(["grade", "--json", str(json_path), "--quick", "--seed", "11", *LIMIT_ARGS, str(changed)]) == 0
    data = json.loads(json_path.read_text())
    assert data["reference"]["seed"] == 11 and data["reference"]["points"] == 7
    assert data["unsolved"]["seed"] != 11


# ---------------------------------------------------------------------------------------------------
# The corpus: bugs, correct alternatives, hostile code
# ---------------------------------------------------------------------------------------------------

BY_NAME = {entry.name: entry for entry in SUBMISSIONS}


@pytest.fixture(scope="module")
def corpus_batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("corpus")
    build(root, [entry.name for entry in SUBMISSIONS if entry.kind != "attack"])  # tests/test_isolation.py
    # Numpy patching must change no verdict: the reference and a bug, each with the patch appended.
    patched = copy_reference(root / "patched_reference")
    build(root / "tmp", ["conv_flipped_kernel"])
    shutil.copytree(root / "tmp" / "conv_flipped_kernel", root / "patched_flipped_kernel")
    shutil.rmtree(root / "tmp")
    for folder in (patched, root / "patched_flipped_kernel"):
        for name in STUDENT_FILES:
            with open(folder / "layers" / name, "a") as f:
                f.write(NUMPY_PATCH)
    # A missing file costs its parts only; a symbolic link refuses the submission (its target is not read).
    missing = copy_reference(root / "missing_conv")
    (missing / "layers" / "Conv2D.py").unlink()
    (root / "empty_folder").mkdir()  # one student's empty hand-in costs that student, not the batch
    copy_reference(root / "loose_files")
    for name in STUDENT_FILES:
        shutil.move(root / "loose_files" / "layers" / name, root / "loose_files" / name)
    linked = copy_reference(root / "linked_utils")
    (linked / "layers" / "utils.py").unlink()
    (linked / "layers" / "utils.py").symlink_to(REPO / "layers" / "utils.py")
    # The real student release, when grading/release.py is there: the whole folder is the submission.
    try:
        from grading.release import make_release
    except ImportError:
        make_release = None
    if make_release is not None:
        make_release(root / "release")
    started = time.monotonic()
    shutil.rmtree(HOSTILE_LEAK_DIR, ignore_errors=True)  # nothing left by an earlier run for hostile_leak
    try:
        results = grade_batch(sorted(p for p in root.iterdir() if p.is_dir()), limits=TEST_LIMITS,
                              notebook_conv=False, progress=False, allow_readable=True, out=io.StringIO())
    finally:
        shutil.rmtree(HOSTILE_LEAK_DIR, ignore_errors=True)
    return {"results": results, "seconds": time.monotonic() - started}


def _check_points(entry, result):
    for part, spec in RUBRIC.items():
        got = result["parts"][part]["points"]
        if part in entry.lose:
            assert got < spec.points, f"{entry.name} should lose points in {part}: {result['parts'][part]['feedback']}"
        elif part not in entry.may_also_lose:
            assert got == spec.points, f"{entry.name} should keep {part}: {result['parts'][part]['feedback']}"


@pytest.mark.parametrize("name", [e.name for e in SUBMISSIONS if e.kind == "bug"])
def test_each_bug_loses_points_in_its_part_only_and_is_named(corpus_batch, name):
    entry, result = BY_NAME[name], corpus_batch["results"][name]
    _check_points(entry, result)
    if entry.diagnosis is not None:
        lost = [result["parts"][p] for p in entry.lose]
        assert any(entry.diagnosis in info["diagnoses"] for info in lost), [info["feedback"] for info in lost]
        assert any(entry.diagnosis in " ".join(info["feedback"]) for info in lost)


@pytest.mark.parametrize("name", [e.name for e in SUBMISSIONS if e.kind == "correct"])
def test_each_correct_alternative_keeps_full_marks(corpus_batch, name):
    result = corpus_batch["results"][name]
    assert result["points"] == FULL, {p: i["feedback"] for p, i in result["parts"].items() if i["points"] < i["max"]}


@pytest.mark.parametrize("name", [e.name for e in SUBMISSIONS if e.kind == "hostile"])
def test_each_hostile_submission_is_survived_in_bounded_time_without_points(corpus_batch, name):
    entry, result = BY_NAME[name], corpus_batch["results"][name]
    for part in entry.lose:
        assert result["parts"][part]["points"] == 0, (part, result["parts"][part]["feedback"])
    _check_points(entry, result)
    bound = TEST_LIMITS.time_factor * 5 + TEST_LIMITS.time_floor + 5
    assert all(info["seconds"] <= bound for info in result["parts"].values())


def test_hostile_code_leaves_the_grading_process_alone(corpus_batch):
    assert corpus_batch["seconds"] < 240
    assert np.allclose(0.0, 1.0) is False and not np.array_equal([0], [1])
    assert print.__module__ == "builtins"


def test_the_generated_release_scores_zero(corpus_batch):
    if "release" not in corpus_batch["results"]:
        pytest.skip("grading/release.py is not there yet")
    entry = corpus_batch["results"]["release"]
    assert entry["points"] == 0
    assert all("NotImplementedError" in " ".join(info["feedback"]) for info in entry["parts"].values())


def test_numpy_patching_changes_no_verdict(corpus_batch):
    results = corpus_batch["results"]
    assert results["patched_reference"]["points"] == FULL
    patched, plain = results["patched_flipped_kernel"], results["conv_flipped_kernel"]
    assert {p: i["points"] for p, i in patched["parts"].items()} == {p: i["points"] for p, i in plain["parts"].items()}
    assert patched["parts"]["9.3.d"]["diagnoses"] == plain["parts"]["9.3.d"]["diagnoses"] == [mistakes.FLIPPED]


def test_a_submission_without_its_files_is_graded_as_missing_and_the_batch_goes_on(corpus_batch):
    for name in ("empty_folder", "loose_files"):
        entry = corpus_batch["results"][name]
        assert entry["points"] == 0
        assert all("is missing from the submission" in info["feedback"][0] for info in entry["parts"].values())


def test_a_missing_file_costs_its_parts_only_and_a_linked_one_the_submission(corpus_batch):
    result = corpus_batch["results"]["missing_conv"]
    assert result["points"] == FULL - RUBRIC["9.3.d"].points - RUBRIC["9.3.e"].points
    assert "layers/Conv2D.py is missing" in result["parts"]["9.3.d"]["feedback"][0]
    assert result["diff"]["Conv2D.__call__"] == "layers/Conv2D.py is missing"
    # a link could point at the reference or another student's file: the grader reads none
    linked = corpus_batch["results"]["linked_utils"]
    assert linked["points"] == 0 and linked["refused"] == "layers/utils.py is a symbolic link"
    assert all("refused: layers/utils.py is a symbolic link" in info["feedback"][0] for info in linked["parts"].values())


# ---------------------------------------------------------------------------------------------------
# The sandbox and the judge's pieces
# ---------------------------------------------------------------------------------------------------

PROBE = '''
import json, os, resource, sys
json.dump({"isolated": sys.flags.isolated, "no_site": sys.flags.no_site, "path": sys.path,
           "env": sorted(os.environ), "as": resource.getrlimit(resource.RLIMIT_AS)[0],
           "fsize": resource.getrlimit(resource.RLIMIT_FSIZE)[0], "cwd": os.getcwd()}, open("probe.json", "w"))
from .real_utils import zero_padding
'''


def test_the_child_is_isolated_and_limited():
    with run_as_utils(PROBE) as (ws, child):
        probe = json.loads((ws / "probe.json").read_text())
    assert child.status == "ok", child.problem
    assert probe["isolated"] == 1 and probe["no_site"] == 1
    assert probe["as"] == 2**30 and probe["fsize"] == sandbox.FILE_LIMIT
    inside = sandbox.SANDBOX_WORKSPACE if sandbox.isolation() == "namespaces" else str(ws)
    assert probe["path"][0] == probe["cwd"] == inside
    assert not any(str(REPO) in entry for entry in probe["path"]), "the repository must not be importable"
    assert "PYTHONSTARTUP" not in probe["env"] and "VIRTUAL_ENV" not in probe["env"]
    assert not (ws / "layers" / "vectorized.py").exists()


DAEMON = '''
import os, sys, time
if os.fork() == 0:
    os.setsid()  # leave the child's session, so killing its process group misses this one
    if os.fork() == 0:
        # a marker in its command line, and an end of its own (60 s) should the grader fail
        os.execv(sys.executable, [sys.executable, "-c", "import time; time.sleep(60)", {marker!r}])
    os._exit(0)
time.sleep(0.5)
from .real_utils import zero_padding
'''


def test_a_detached_daemon_does_not_outlive_its_part():
    if sandbox.isolation() == "none":
        pytest.skip("without namespaces or root, nothing stops a process from outliving its part")
    marker = f"grading-daemon-{os.getpid()}-{time.monotonic_ns()}"
    with run_as_utils(DAEMON.format(marker=marker)) as (_, child):
        pass
    assert child.status == "ok", child.problem
    assert processes_with(marker) == [], "the daemon is still running"


# The harness's last step, os.replace, patched: the results become a link to a valid .npz (the inputs)
# and the progress file a FIFO, which would block a reader that opened it the ordinary way.
SWAPPED_FILES = '''
import os
def _swap(src, dst):
    os.remove(src)
    os.symlink("inputs.npz", dst)
    os.remove("progress.txt")
    os.mkfifo("progress.txt")
os.replace = _swap
from .real_utils import zero_padding
'''


def test_the_grader_reads_no_link_and_no_fifo_the_child_left():
    with run_as_utils(SWAPPED_FILES) as (ws, child):
        assert (ws / "results.npz").is_symlink()
    assert child.status == "no results" and child.arrays is None, child.problem
    assert child.last_case is None


as_root = pytest.mark.skipif(
    not sandbox.is_root(),
    reason="children get uids of their own only when the grader runs as root; otherwise isolation between "
           "parts relies on running the grader as root or in a container")

ID_PROBE = '''
import json, os, resource
json.dump({"uid": os.getuid(), "euid": os.geteuid(), "gid": os.getgid(), "groups": os.getgroups(),
           "nproc": resource.getrlimit(resource.RLIMIT_NPROC)[0]}, open("ids.json", "w"))
from .real_utils import zero_padding
'''


@as_root
def test_as_root_each_child_runs_as_its_own_uid_in_a_private_workspace():
    with run_as_utils(ID_PROBE) as (ws, child):
        ids = json.loads((ws / "ids.json").read_text())
        own, top = ws.stat(), ws.parent.stat()
    assert child.status == "ok", child.problem
    base = sandbox.CHILD_UID_BASE
    assert base <= ids["uid"] == ids["euid"] == ids["gid"] < base + sandbox.CHILD_UID_SLOTS
    assert ids["groups"] == [] and ids["nproc"] == sandbox.CHILD_PROCESSES
    assert (own.st_uid, oct(own.st_mode & 0o777)) == (ids["uid"], "0o700")
    assert (top.st_uid, oct(top.st_mode & 0o777)) == (0, "0o711")
    assert not ws.parent.exists(), "the workspace was not removed"


# Each attack runs at import time. Blocked (an OSError), the import fails and the part scores 0 with the
# reason in its feedback; not blocked, zero_padding is right and the part would earn its point.
HOSTILE = '''
import os, signal, time
import numpy as np


def _attack():
BODY

try:
    _attack()
except OSError as exc:
    raise RuntimeError(f"attack blocked as uid {os.getuid()}: {type(exc).__name__}") from None


def zero_padding(X, pad):
    return np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
'''

ATTACKS = {
    # (a) the student's file and the results of a part running meanwhile, and the folder above one's own
    "overwrite_sibling_student_file": 'open(VICTIM + "/layers/utils.py", "w").write("zero_padding = None")',
    "overwrite_sibling_results": 'open(VICTIM + "/results.npz", "wb").write(b"forged")',
    "plant_in_workspaces_folder": 'open(os.path.join(os.path.dirname(os.getcwd()), "planted.py"), "w").write("x = 1")',
    "list_workspaces_folder": 'os.listdir(os.path.dirname(VICTIM))',
    # (b) the grading worker waiting for this child
    "kill_grader": 'os.kill(os.getppid(), signal.SIGKILL)',
    # (c) at most 500 forks, each gone after half a second: harmless even if the limit failed
    "fork_bomb": """pids = []
    try:
        for _ in range(500):
            pid = os.fork()
            if pid == 0:
                time.sleep(0.5)
                os._exit(0)
            pids.append(pid)
    finally:
        for pid in pids:
            os.waitpid(pid, 0)""",
    # (d) the reference solution in another part's workspace
    "read_sibling_reference": 'open(VICTIM + "/layers/Conv2D.py").read()',
}


@as_root
def test_hostile_children_cannot_touch_other_parts_the_grader_or_the_machine(tmp_path):
    """A victim workspace held by another child uid, as a part running at the same time holds its own;
    each attack is handed its exact path, as if it had guessed the random name."""
    victim = sandbox.make_workspace()
    np.savez(victim / "results.npz", **{"r0.Z": np.arange(3.0)})
    before = {p: p.read_bytes() for p in (victim / "layers" / "utils.py", victim / "results.npz")}
    subs = [copy_reference(tmp_path / "bystander")]
    for name, body in ATTACKS.items():
        folder = copy_reference(tmp_path / name)
        code = HOSTILE.replace("BODY", f"    VICTIM = {str(victim)!r}\n    {body}")
        (folder / "layers" / "utils.py").write_text(code)
        subs.append(folder)
    try:
        with sandbox.child_user() as victim_uid:
            sandbox.give_workspace(victim, victim_uid)
            started = time.monotonic()
            results = grade_batch(subs, jobs=4, limits=TEST_LIMITS, notebook_conv=False, progress=False, allow_readable=True,
                                  out=io.StringIO())
            seconds = time.monotonic() - started
        after = {p: p.read_bytes() for p in before}
        planted = list(victim.parent.iterdir())
    finally:
        sandbox.remove_workspace(victim)
    assert after == before, "another child changed the victim's files"
    assert planted == [victim]
    assert results["bystander"]["points"] == FULL
    for name in ATTACKS:
        parts = results[name]["parts"]
        feedback = " ".join(parts["9.3.a"]["feedback"])
        assert parts["9.3.a"]["points"] == 0, (name, feedback)
        # FileNotFoundError: under namespaces the victim's folder is not even there to be refused
        blocked = re.search(r"attack blocked as uid (\d+): (PermissionError|BlockingIOError|FileNotFoundError)",
                            feedback)
        assert blocked, (name, feedback)
        assert int(blocked.group(1)) not in (0, victim_uid)
        assert all(parts[p]["points"] == RUBRIC[p].points for p in RUBRIC if p != "9.3.a"), (name, parts)
    assert seconds < 60


def test_each_workspace_holds_no_solution_its_part_does_not_need(tmp_path):
    """The other student files are stubbed as in the release; only 9.3.d/e get the reference utils.py."""
    from grading.release import solution_lines
    reference = {name: (REPO / "layers" / name).read_text() for name in STUDENT_FILES}
    solution = {name: solution_lines({f"layers/{name}": text}) for name, text in reference.items()}
    student = copy_reference(tmp_path / "sub")
    for part, spec in RUBRIC.items():
        ws = sandbox.make_workspace({spec.file: student / "layers" / spec.file},
                                    reference=REFERENCE_SIBLINGS.get(part, ()))
        try:
            for name in STUDENT_FILES:
                text = (ws / "layers" / name).read_text()
                lines = {line.strip() for line in text.splitlines()}
                if name == spec.file or (part in ("9.3.d", "9.3.e") and name == "utils.py"):
                    assert text == reference[name], (part, name)
                else:
                    assert not lines & solution[name], (part, name, sorted(lines & solution[name])[:3])
                    assert "raise NotImplementedError(" in text, (part, name)
            assert not list(ws.rglob("*.pyc")) and not (ws / "layers" / "vectorized.py").exists()
        finally:
            sandbox.remove_workspace(ws)


def test_code_run_for_one_part_cannot_hand_a_solution_to_another(tmp_path):
    """hostile_leak's utils.py copies its workspace's Conv2D.py out while 9.3.a is graded; its Conv2D.py
    runs that copy for 9.3.d and 9.3.e, graded after it here so that the copy is there to run. The
    workspace of 9.3.a holds only a stub to copy; under a containment, not even that copy outlives the part."""
    build(tmp_path, ["hostile_leak"])
    plan = cases.make_plan(9, notebook_conv=False)
    shutil.rmtree(HOSTILE_LEAK_DIR, ignore_errors=True)
    try:
        results = {}
        for part in ("9.3.a", "9.3.d", "9.3.e"):
            expected = run.run_reference(part, plan[part], 60)["arrays"]
            results[part] = run.run_part(tmp_path / "hostile_leak", part, plan[part], expected, 30, 2**30)
            if part == "9.3.a":
                leaked = (HOSTILE_LEAK_DIR / "Conv2D.py").read_text() if HOSTILE_LEAK_DIR.exists() else None
    finally:
        shutil.rmtree(HOSTILE_LEAK_DIR, ignore_errors=True)
    assert results["9.3.a"]["points"] == 1, results["9.3.a"]["feedback"]
    if sandbox.isolation() == "none":
        assert 'raise NotImplementedError("9.3.d: implement Conv2D.__call__' in leaked  # the leak worked, on a stub
    else:
        assert leaked is None
    for part in ("9.3.d", "9.3.e"):
        assert results[part]["points"] == 0
        assert re.search("NotImplementedError|ImportError", " ".join(results[part]["feedback"])), results[part]["feedback"]


@as_root
def test_under_the_uid_fallback_a_solution_other_users_can_read_is_refused_unless_allowed(tmp_path, monkeypatch,
                                                                                         capsys):
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    (private / "f.py").write_text("")
    (private / "f.py").chmod(0o644)
    assert sandbox.readable_files(private / "f.py") == []  # a folder above it is closed to others
    shared = Path(tempfile.mkdtemp())
    try:
        for folder in (shared, shared / "sub", shared / "sub" / "layers"):
            folder.mkdir(exist_ok=True)
            folder.chmod(0o755)
        for name in STUDENT_FILES:
            shutil.copyfile(REPO / "layers" / name, shared / "sub" / "layers" / name)
            (shared / "sub" / "layers" / name).chmod(0o644)
        if not sandbox.readable_files(shared / "sub" / "layers" / "Conv2D.py"):
            pytest.skip(f"the temporary directory {tempfile.gettempdir()} is closed to other users")
        monkeypatch.setattr(sandbox, "_CHOSEN", {})
        monkeypatch.setenv("GRADING_ISOLATION", "uid")
        monkeypatch.setattr(sandbox, "REPO", private)  # only the submission is readable here
        with pytest.raises(SystemExit) as exit_info:
            main(["grade", "--no-progress", str(shared / "sub")])
        err = capsys.readouterr().err
        assert exit_info.value.code == 2 and "other users can read" in err and "--allow-readable" in err
        assert str(shared / "sub") in err
        (shared / "sub").chmod(0o700)
        assert sandbox.readable_files(shared / "sub") == []
    finally:
        shutil.rmtree(shared)


def test_the_permission_audit_covers_the_whole_repository():
    """Any file of the repository may hold a solution (the judge's variants, the corpus, caches, the
    README): one readable file among closed ones is found, wherever it lies."""
    top = Path(tempfile.mkdtemp())
    try:
        top.chmod(0o755)
        if any(not os.stat(parent).st_mode & 0o001 for parent in top.parents):
            pytest.skip(f"the temporary directory {tempfile.gettempdir()} is closed to other users")
        repo = top / "repo"
        for relative in ("layers/Conv2D.py", "grading/mistakes.py", "tests/submissions/corpus.py",
                         "layers/__pycache__/Conv2D.cpython-311.pyc", "README.md"):
            (repo / relative).parent.mkdir(parents=True, exist_ok=True)
            (repo / relative).write_text("solution")
            (repo / relative).chmod(0o600)
        for folder in [repo, *repo.rglob("*")]:
            if folder.is_dir():
                folder.chmod(0o755)
        assert sandbox.readable_files(repo) == []
        for relative in ("grading/mistakes.py", "layers/__pycache__/Conv2D.cpython-311.pyc", "README.md"):
            (repo / relative).chmod(0o604)
            assert sandbox.readable_files(repo) == [repo / relative]
            (repo / relative).chmod(0o600)
        (repo / "tests" / "submissions" / "corpus.py").chmod(0o644)
        repo.chmod(0o750)  # closed on top: nothing below it is reachable, whatever its own mode
        assert sandbox.readable_files(repo) == []
    finally:
        shutil.rmtree(top)


def test_results_are_read_without_pickle_and_with_checked_sizes(tmp_path):
    pickled = tmp_path / "pickled.npz"
    np.savez(pickled, a=np.array([{"x": 1}], dtype=object))
    with pytest.raises(ValueError, match="dtype object"):
        sandbox.load_results(pickled)
    huge = tmp_path / "huge.npz"
    with zipfile.ZipFile(huge, "w") as zf, zf.open("a.npy", "w") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": "<f8", "fortran_order": False, "shape": (10**12,)})
    with pytest.raises(ValueError, match="shape"):
        sandbox.load_results(huge)
    fine = tmp_path / "fine.npz"
    np.savez(fine, **{"r0.Z": np.arange(6.0).reshape(2, 3)})
    assert sandbox.load_results(fine)["r0.Z"].tolist() == [[0, 1, 2], [3, 4, 5]]


def test_results_that_would_expand_past_the_file_limit_are_refused(tmp_path, monkeypatch):
    # 8 MB of zeros deflate to a few kB: a results file within FILE_LIMIT must not expand in the
    # grading process (which has no memory limit) beyond what an uncompressed file could hold.
    deflated = tmp_path / "deflated.npz"
    np.savez_compressed(deflated, a=np.zeros(2**20))
    assert deflated.stat().st_size < 2**20
    with pytest.raises(ValueError, match="compressed member"):
        sandbox.load_results(deflated)
    # Each array within its own limit, together more than one file may hold.
    monkeypatch.setattr(sandbox, "FILE_LIMIT", 1000)
    many = tmp_path / "many.npz"
    np.savez(many, a=np.zeros(100), b=np.zeros(100))
    with pytest.raises(ValueError, match="shape"):
        sandbox.load_results(many)


def test_a_function_too_deep_to_normalise_costs_its_diff_only():
    source = "def zero_padding(X, pad):\n    return " + "+".join(["X"] * 1000) + "\n"
    text, problem = report.normalised_source(source, "zero_padding", "layers/utils.py")
    assert text is None and "could not be normalised" in problem


@pytest.mark.parametrize("seed", [0, 1])
def test_the_mistake_variants_switched_off_are_the_reference(seed):
    """The diagnoses' trusted variants must start from exactly the reference's behaviour."""
    plan = cases.make_plan(seed, notebook_conv=False)
    for case in plan["9.3.e"][1:]:
        prm, inp = case["params"], case["inputs"]
        layer = Conv2D(prm["in_channels"], prm["out_channels"], prm["kernel_size"], prm["stride"], prm["padding"])
        layer.W, layer.b = inp["W"], inp["b"]
        Z = layer(inp["X"])
        np.testing.assert_allclose(
            mistakes.conv_forward_variant(inp["X"], inp["W"], inp["b"], prm["stride"], prm["padding"]), Z)
        dX_pad, dW, db = mistakes.conv_grad_variant(inp["X"], inp["W"], inp["G"], prm["stride"], prm["padding"])
        expected = layer.grad(inp["G"])
        m, H, W, _ = inp["X"].shape
        p = prm["padding"]
        for got, exp in zip((dX_pad[:, p:p + H, p:p + W], dW, db), expected):
            np.testing.assert_allclose(got, exp)
    for case in plan["9.3.c"]:
        if case["op"] != "pool_grad" or case["id"] == "nb":
            continue
        layer = Maxpool2D(case["params"]["kernel_size"], case["params"]["stride"])
        Z = layer(case["inputs"]["X"])
        k, s = case["params"]["kernel_size"], case["params"]["stride"]
        np.testing.assert_array_equal(mistakes.pool_forward_variant(case["inputs"]["X"], k, s), Z)
        np.testing.assert_array_equal(mistakes.pool_grad_variant(case["inputs"]["X"], case["inputs"]["G"], k, s),
                                      layer.grad(case["inputs"]["G"]))


def test_random_cases_cover_what_wrong_solutions_get_wrong():
    plan = cases.make_plan(123)
    conv = [c["params"] for c in plan["9.3.e"]]
    assert {p["padding"] for p in conv} >= {0, 1, 2} and max(p["stride"] for p in conv) > 1
    assert any(c["inputs"]["X"].shape[0] == 1 for c in plan["9.3.d"])
    assert any(c["inputs"]["X"].shape[1] != c["inputs"]["X"].shape[2] for c in plan["9.3.b"])
    pool = [c for c in plan["9.3.c"] if c["op"] == "pool_grad" and c["id"] != "nb"]
    assert any(c["params"]["stride"] < c["params"]["kernel_size"] for c in pool)
    assert any("tied" in c["label"] for c in pool)
    windows = [c["inputs"]["window"] for c in plan["9.3.c"] if c["op"] == "pool_mask"]
    assert any((w == w.max()).sum() > 1 for w in windows)
    assert cases.make_plan(5)["9.3.d"][1]["inputs"]["X"].tolist() != cases.make_plan(6)["9.3.d"][1]["inputs"]["X"].tolist()


def test_diff_ignores_layout_and_shows_changed_lines(tmp_path):
    reformatted = copy_reference(tmp_path / "sub")
    path = reformatted / "layers" / "Conv2D.py"
    text = path.read_text().replace("        ### BEGIN SOLUTION\n", "        ### BEGIN SOLUTION\n        # my own comment\n")
    path.write_text(text.replace("h0 = h * s", "h0 = h"))
    diffs = report.function_diffs(reformatted, REPO)
    assert diffs["zero_padding"] == "" and diffs["Maxpool2D.grad"] == ""
    assert "-            h0 = h * s\n+            h0 = h\n" in diffs["Conv2D.__call__"]
    assert "comment" not in diffs["Conv2D.__call__"]
    (reformatted / "layers" / "utils.py").write_text("def zero_padding(X, pad:\n")
    assert report.function_diffs(reformatted, REPO)["zero_padding"].startswith("syntax error in layers/utils.py at line 1")


def test_judge_names_the_first_mismatch():
    case = cases.make_plan(3, notebook_conv=False)["9.3.d"][1]
    prm, inp = case["params"], case["inputs"]
    Z = mistakes.conv_forward_variant(inp["X"], inp["W"], inp["b"], prm["stride"], prm["padding"])
    wrong = Z.copy()
    wrong[0, 1, 0, 0] += 1
    got = {"Z": wrong, **{f"{k}_after": v for k, v in inp.items()}}
    ok, message, found = judge.judge_case("9.3.d", case, {"Z": Z}, got)
    assert not ok and "Z differs at index (0, 1, 0, 0)" in message and f"stride={prm['stride']}" in message
    assert found == []


# ---------------------------------------------------------------------------------------------------
# Command line
# ---------------------------------------------------------------------------------------------------

def _a_file(tmp):
    (tmp / "file.py").write_text("")
    return tmp / "file.py"


@pytest.mark.parametrize("make, message", [
    (lambda tmp: tmp / "nowhere", "does not exist"),
    (_a_file, "is not a folder"),
])
def test_bad_submissions_exit_2_with_a_message(tmp_path, capsys, make, message):
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", str(make(tmp_path))])
    assert exit_info.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "python -m grading grade: error:" in err


@pytest.mark.parametrize("seed, message", [
    ("-1", "expected 0 <= seed < 2**32"),
    (str(2**32), "expected 0 <= seed < 2**32"),
    ("abc", "expected an integer, got 'abc'"),
])
def test_a_seed_out_of_range_exits_2_with_a_message(tmp_path, capsys, seed, message):
    sub = copy_reference(tmp_path / "sub")
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", "--seed", seed, *LIMIT_ARGS, str(sub)])
    err = capsys.readouterr().err
    assert exit_info.value.code == 2 and "argument --seed" in err and message in err and "Traceback" not in err


def test_folder_names_stay_one_line_in_the_table_and_text_in_the_csv(tmp_path):
    entry = {"points": 0.0, "max": 6, "bonus": 0.0, "seed": 1, "quick": True,
             "parts": {p: {"points": 0.0, "max": spec.points, "feedback": ["oops\nline two"], "diagnoses": []}
                       for p, spec in RUBRIC.items()}}
    names = ["=HYPERLINK(\"http://x\")", "+1", "-2", "@SUM(A1)", "two\nlines\x1b[2J", "plain"]
    results = {name: entry for name in names}
    text = report.table(results)
    lines = text.splitlines()
    assert "\x1b" not in text and any(line.startswith("two\\nlines\\x1b[2J ") for line in lines), text
    assert sum(line.startswith("  two\\nlines") for line in lines) == len(RUBRIC)  # one line per lost part
    assert all("(quick)" in line for line in lines[2:2 + len(names)])
    report.write_csv(tmp_path / "r.csv", results)
    rows = list(csv.DictReader((tmp_path / "r.csv").open(newline="")))
    assert [row["submission"] for row in rows] == ["'" + name for name in names[:4]] + names[4:]
    assert rows[0]["quick"] == "True"


def test_bad_options_exit_2_with_a_message(tmp_path, capsys):
    sub = copy_reference(tmp_path / "sub")
    for argv, message in [(["--jobs", "0"], "--jobs must be at least 1"),
                          (["--json", str(tmp_path / "no" / "r.json")], "does not exist")]:
        with pytest.raises(SystemExit) as exit_info:
            main(["grade", *argv, str(sub)])
        assert exit_info.value.code == 2 and message in capsys.readouterr().err
    garbage = tmp_path / "garbage.json"
    garbage.write_text("[1, 2")
    with pytest.raises(SystemExit) as exit_info:
        main(["grade", "--json", str(garbage), str(sub)])
    assert exit_info.value.code == 2 and "not a results file" in capsys.readouterr().err
    twin = copy_reference(tmp_path / "other" / "sub")
    with pytest.raises(SystemExit):
        main(["grade", str(sub), str(twin)])
    assert "two submissions are named 'sub'" in capsys.readouterr().err
