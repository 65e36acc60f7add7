"""The Gradescope bundle (``python -m grading gradescope``), run as Gradescope runs it, and what a batch
returns: feedback files and the class report (``grading/feedback.py``).

The bundle's own ``run_autograder`` runs in a temporary folder laid out as ``/autograder``; its
``venv/bin/python`` is a two-line stand-in for the interpreter running these tests (``setup.sh`` would
create a virtual environment from PyPI: too slow for the suite). Grading is ``--quick`` with short limits.
"""
import json
import os
import shutil
import subprocess
import sys
import zipfile
from html.parser import HTMLParser
from pathlib import Path

import pytest

from grading import gradescope
from grading.__main__ import main
from grading.release import solution_lines, stub_source
from grading.rubric import MAX_POINTS, RUBRIC, STUDENT_FILES, TOTAL_POINTS

from submissions.corpus import build

REPO = Path(__file__).resolve().parents[1]
FULL = TOTAL_POINTS
QUICK = ["--quick", "--time-factor", "5", "--time-floor", "5", "--memory-mb", "300"]
REFERENCE = {name: (REPO / "layers" / name).read_text() for name in STUDENT_FILES}
SOLUTION = solution_lines({f"layers/{name}": text for name, text in REFERENCE.items()})


def strings(data):
    """Every string in a JSON value."""
    if isinstance(data, str):
        yield data
    elif isinstance(data, dict):
        for key, value in data.items():
            yield key
            yield from strings(value)
    elif isinstance(data, list):
        for value in data:
            yield from strings(value)


def leaked(texts):
    """The lines of the reference's solution regions found in ``texts``."""
    texts = list(texts)
    return sorted(line for line in SOLUTION if any(line in text for text in texts))


@pytest.fixture(scope="module")
def bundle(tmp_path_factory):
    out = tmp_path_factory.mktemp("bundle") / "autograder.zip"
    assert main(["gradescope", str(out)]) == 0
    return out


def test_the_solution_check_finds_reference_code(tmp_path):
    """The leak check below is a real check: it finds the reference's lines in a diff, as the
    instructor's JSON holds them."""
    from grading.report import function_diffs
    sub = tmp_path / "sub"
    (sub / "layers").mkdir(parents=True)
    for name in STUDENT_FILES:
        (sub / "layers" / name).write_text(stub_source(REFERENCE[name], f"layers/{name}")[0])
    assert len(SOLUTION) > 20
    assert len(leaked(function_diffs(sub, REPO).values())) > 10


def test_the_bundle_follows_gradescopes_layout(bundle, tmp_path):
    with zipfile.ZipFile(bundle) as z:
        names = set(z.namelist())
        modes = {info.filename: info.external_attr >> 16 for info in z.infolist()}
        requirements = z.read("requirements.txt").decode()
    assert {"setup.sh", "run_autograder", "requirements.txt", "model.py", "grading/__main__.py",
            "grading/gradescope.py", "grading/harness.py"} <= names
    assert {f"layers/{name}" for name in STUDENT_FILES} <= names
    assert modes["setup.sh"] & 0o111 and modes["run_autograder"] & 0o111
    # the instructor-only answer, tests, the release's templates and caches stay home
    assert not [n for n in names if n.startswith(("tests/", "grading/student/")) or "vectorized" in n
                or "__pycache__" in n or n.endswith(".pyc")]
    import numpy
    import tqdm
    pins = [line for line in requirements.splitlines() if not line.startswith("#")]
    assert sorted(pins) == sorted([f"numpy=={numpy.__version__}", f"tqdm=={tqdm.__version__}"])
    with zipfile.ZipFile(bundle) as z:
        z.extractall(tmp_path)
    for script in ("setup.sh", "run_autograder"):
        subprocess.run(["bash", "-n", str(tmp_path / script)], check=True)
    setup = (tmp_path / "setup.sh").read_text()
    run = (tmp_path / "run_autograder").read_text()
    assert "bubblewrap" in setup and '-m venv "$ROOT/venv"' in setup and 'requirements.txt' in setup
    assert 'chmod -R go-rwx "$ROOT/source"' in setup and 'chmod -R go-rwx "$ROOT/source"' in run
    assert '"$ROOT/venv/bin/python" -m grading autograde --root "$ROOT"' in run
    assert 'ROOT="${AUTOGRADER_ROOT:-/autograder}"' in run


FAKE_APT_GET = """#!/bin/sh
echo "apt-get $*" >> "$LOG"
if [ "$1" = install ]; then
  for package in "$@"; do
    case "$package" in
      python3.*-venv) ;;
      python3.*) printf '#!/bin/sh\nexec "$GOOD_PYTHON" "$@"\n' > "$FAKE/$package"; chmod +x "$FAKE/$package" ;;
    esac
  done
fi
"""
# A Python good enough for setup.sh: passes its version check, and "creates" a venv whose python logs
# what it is asked to do (pip install), so that nothing is downloaded.
GOOD_PYTHON = """#!/bin/sh
case "$1" in
  -c) exit 0 ;;
  -m) mkdir -p "$3/bin"; printf '#!/bin/sh\necho "venv-python $*" >> "$LOG"\n' > "$3/bin/python"; chmod +x "$3/bin/python" ;;
esac
"""


def fake_system(tmp_path, apt_has, python_ok, bwrap):
    """A PATH of stand-ins: apt-get and apt-cache that log, a python3 that is too old unless
    ``python_ok``, bwrap if ``bwrap``; and the bundle's setup.sh unpacked in ROOT/source."""
    fake = tmp_path / "bin"
    fake.mkdir()
    scripts = {"apt-get": FAKE_APT_GET, "good-python": GOOD_PYTHON,
               "apt-cache": f'#!/bin/sh\n[ "$2" = "{apt_has}" ]\n',
               "python3": GOOD_PYTHON if python_ok else "#!/bin/sh\nexit 1\n"}
    if bwrap:
        scripts["bwrap"] = "#!/bin/sh\n"
    for name, text in scripts.items():
        (fake / name).write_text(text)
        (fake / name).chmod(0o755)
    for tool in ("chmod", "rm", "mkdir"):
        (fake / tool).symlink_to(shutil.which(tool))
    env = {"PATH": str(fake), "LOG": str(tmp_path / "log"), "FAKE": str(fake),
           "GOOD_PYTHON": str(fake / "good-python"), gradescope.ROOT_VARIABLE: str(tmp_path / "root")}
    return env


@pytest.mark.parametrize("python_ok, bwrap", [(False, False), (True, True)])
def test_setup_sh_installs_what_is_missing_and_only_that(bundle, tmp_path, python_ok, bwrap):
    with zipfile.ZipFile(bundle) as z:
        z.extractall(tmp_path / "root" / "source")
    env = fake_system(tmp_path, "python3.12-venv", python_ok, bwrap)
    done = subprocess.run(["/bin/bash", str(tmp_path / "root" / "source" / "setup.sh")], env=env,
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    log = (tmp_path / "log").read_text().splitlines()
    pip = (f"venv-python -m pip install --no-cache-dir --disable-pip-version-check "
           f"-r {tmp_path}/root/source/requirements.txt")
    if python_ok:  # nothing missing: no apt at all
        assert log == [pip]
    else:  # the newest Python the archive has, its venv module, and bubblewrap, in one install
        assert log == ["apt-get update",
                       "apt-get install -y --no-install-recommends bubblewrap python3.12 python3.12-venv", pip]
    assert not (tmp_path / "root" / "source").stat().st_mode & 0o077


def test_pins_cover_every_third_party_import_of_the_bundle():
    sources = {relpath: path.read_text() for relpath, path in gradescope.bundle_files().items()}
    assert gradescope.third_party_imports(sources) == ["numpy", "tqdm"]
    # feedback.py draws with matplotlib: it stays out of the bundle rather than growing the image
    assert "matplotlib" in gradescope.third_party_imports({"grading/feedback.py": (REPO / "grading/feedback.py").read_text()})


def test_test_names_start_with_the_part_and_name_its_functions():
    assert gradescope.test_name("9.3.c") == "9.3.c Maxpool2D.create_mask and grad"
    assert gradescope.test_name("9.3.a") == "9.3.a zero_padding"
    assert gradescope.test_name("9.3.e") == "9.3.e Conv2D.grad"


# ---------------------------------------------------------------------------------------------------
# run_autograder on uploads
# ---------------------------------------------------------------------------------------------------

def reference_files(dest):
    dest.mkdir(parents=True, exist_ok=True)
    for name in STUDENT_FILES:
        (dest / name).write_text(REFERENCE[name])


def run_bundle(bundle, root, make_upload, *args):
    """Lay out ``root`` as /autograder, let ``make_upload(root / "submission")`` fill the upload, run the
    bundle's run_autograder; return (results.json, stdout)."""
    with zipfile.ZipFile(bundle) as z:
        z.extractall(root / "source")
    (root / "source" / "run_autograder").chmod(0o755)
    venv = root / "venv" / "bin"
    venv.mkdir(parents=True)
    (venv / "python").write_text(f'#!/bin/sh\nexec "{sys.executable}" "$@"\n')
    (venv / "python").chmod(0o755)
    (root / "submission").mkdir()
    make_upload(root / "submission")
    env = {**os.environ, gradescope.ROOT_VARIABLE: str(root)}
    done = subprocess.run([str(root / "source" / "run_autograder"), *QUICK, *args], env=env, cwd=root,
                          capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    return json.loads((root / "results" / "results.json").read_text()), done.stdout


def check_shape(results):
    assert set(results) >= {"score", "output", "tests", "stdout_visibility"}
    assert results["stdout_visibility"] == "hidden"
    assert [t["name"] for t in results["tests"]] == [gradescope.test_name(part) for part in RUBRIC]
    for test, (part, spec) in zip(results["tests"], RUBRIC.items()):
        assert test["name"].startswith(part + " ")
        assert test["max_score"] == spec.points and 0 <= test["score"] <= spec.points
        assert test["visibility"] == "visible" and test["output"]
    assert results["score"] == sum(t["score"] for t in results["tests"])
    assert not leaked(strings(results)), leaked(strings(results))[:3]


@pytest.mark.parametrize("layout", ["flat", "layers"])
def test_a_correct_upload_scores_7_of_6(bundle, tmp_path, layout):
    results, stdout = run_bundle(bundle, tmp_path, lambda sub: reference_files(sub if layout == "flat" else sub / "layers"),
                                 "--seed", "12345")
    check_shape(results)
    assert results["score"] == FULL == 7 and MAX_POINTS == 6
    assert all(t["status"] == "passed" for t in results["tests"])
    assert "seed 12345" in results["output"] and "numpy " in results["output"]
    assert "7/6 (+1 bonus)" in results["output"]
    assert "submission" in stdout and "7/6" in stdout  # the grader's table, for the instructor


def test_the_files_are_found_where_students_put_them(tmp_path):
    # the whole release folder zipped, with macOS's shadow copies beside it and other layers in it
    release = tmp_path / "release"
    reference_files(release / "exercise_9_3" / "layers")
    (release / "exercise_9_3" / "layers" / "Linear.py").write_text("# another layer\n")
    (release / "exercise_9_3" / "checks").mkdir()
    (release / "exercise_9_3" / "checks" / "utils.py").write_text("# not in layers/: ignored\n")
    reference_files(release / "__MACOSX" / "exercise_9_3" / "layers")
    located, problems = gradescope.locate(release)
    assert problems == {}
    assert {name: path.relative_to(release).as_posix() for name, path in located.items()} == {
        name: f"exercise_9_3/layers/{name}" for name in STUDENT_FILES}
    # a link is not followed, not even to a real file; a file twice is graded neither time
    mixed = tmp_path / "mixed"
    reference_files(mixed / "layers")
    (mixed / "layers" / "utils.py").unlink()
    (mixed / "layers" / "utils.py").symlink_to(REPO / "layers" / "utils.py")
    (mixed / "Conv2D.py").write_text(REFERENCE["Conv2D.py"])
    located, problems = gradescope.locate(mixed)
    assert set(located) == {"Maxpool2D.py"}
    assert problems["utils.py"].startswith("layers/utils.py is a symbolic link")
    assert problems["Conv2D.py"].startswith("Conv2D.py was uploaded 2 times (Conv2D.py, layers/Conv2D.py)")


def test_an_upload_nested_thousands_of_folders_deep_is_searched_without_recursion(tmp_path):
    reference_files(tmp_path / "upload")
    fd = os.open(tmp_path / "upload", os.O_RDONLY)
    for _ in range(3000):  # past Python's recursion limit, which os.walk would meet
        os.mkdir("d", dir_fd=fd)
        fd, parent = os.open("d", os.O_RDONLY, dir_fd=fd), fd
        os.close(parent)
    os.close(fd)
    located, problems = gradescope.locate(tmp_path / "upload")
    assert problems == {} and sorted(located) == sorted(STUDENT_FILES)
    subprocess.run(["rm", "-rf", str(tmp_path / "upload" / "d")], check=True)


def test_when_the_grader_fails_the_student_reads_a_fixed_message_and_the_instructor_the_reason(
        tmp_path, monkeypatch, capsys):
    """The reason may quote the reference run's output: it goes to stdout, which students do not see."""
    import grading.__main__ as grader

    def fail(*args, **kwargs):
        raise grader.GradingError("the reference failed in the sandbox: X_pad = np.pad(...)")

    monkeypatch.setattr(grader, "grade_batch", fail)
    root = tmp_path / "autograder"
    reference_files(root / "submission")
    assert gradescope.autograde_main(["--root", str(root), "--allow-readable"]) == 1
    results = json.loads((root / "results" / "results.json").read_text())
    assert results["score"] == 0 and results["tests"] == [] and "tell your instructor" in results["output"]
    assert "np.pad" not in json.dumps(results) and "np.pad" in capsys.readouterr().out


def test_the_stub_scores_zero_with_the_not_implemented_message(bundle, tmp_path):
    def upload(sub):
        for name in STUDENT_FILES:
            (sub / name).write_text(stub_source(REFERENCE[name], f"layers/{name}")[0])
    results, _ = run_bundle(bundle, tmp_path, upload)
    check_shape(results)
    assert results["score"] == 0
    for test in results["tests"]:
        assert test["score"] == 0 and test["status"] == "failed"
        assert "NotImplementedError" in test["output"], test


def test_a_bug_costs_its_part_and_is_named(bundle, tmp_path):
    build(tmp_path / "corpus", ["mask_every_tied_maximum"])
    results, _ = run_bundle(bundle, tmp_path / "root",
                            lambda sub: shutil.copytree(tmp_path / "corpus" / "mask_every_tied_maximum" / "layers",
                                                        sub / "layers"))
    check_shape(results)
    tests = {t["name"].split()[0]: t for t in results["tests"]}
    assert tests["9.3.c"]["score"] == 0
    assert "gradient sent to every tied maximum" in tests["9.3.c"]["output"]
    assert results["score"] == FULL - RUBRIC["9.3.c"].points


def test_a_missing_or_doubled_file_costs_its_parts_only(bundle, tmp_path):
    def upload(sub):
        reference_files(sub / "layers")
        (sub / "layers" / "Conv2D.py").unlink()
        (sub / "Maxpool2D.py").write_text(REFERENCE["Maxpool2D.py"])  # a second copy
    results, _ = run_bundle(bundle, tmp_path, upload)
    check_shape(results)
    tests = {t["name"].split()[0]: t for t in results["tests"]}
    assert tests["9.3.a"]["score"] == 1
    for part in ("9.3.b", "9.3.c", "9.3.d", "9.3.e"):
        assert tests[part]["score"] == 0
    assert "Maxpool2D.py was uploaded 2 times (Maxpool2D.py, layers/Maxpool2D.py)" in tests["9.3.b"]["output"]
    assert "Conv2D.py was not found" in tests["9.3.d"]["output"]
    assert "Conv2D.py was not found" in results["output"]


def test_an_empty_upload_gets_a_message_per_part(bundle, tmp_path):
    results, _ = run_bundle(bundle, tmp_path, lambda sub: (sub / "notes.txt").write_text("hello"))
    check_shape(results)
    assert results["score"] == 0
    assert all("was not found" in t["output"] for t in results["tests"])


@pytest.mark.skipif(not hasattr(os, "geteuid") or os.geteuid() != 0,
                    reason="as another user the children share the grader's uid (sandbox.py's known gap)")
def test_a_hostile_upload_cannot_read_the_reference(bundle, tmp_path):
    """Each file, at import, prints the bundle's reference files and raises with their text: the reference
    lies under ROOT/source, which no child's uid can read, so every read fails, every part passes, and
    no line of it reaches results.json."""
    root = tmp_path / "autograder"
    targets = [str(root / "source" / "layers" / name) for name in STUDENT_FILES]
    hostile = f'''
for _path in {targets!r}:
    try:
        _text = open(_path).read()
    except OSError as exc:
        print("could not read", _path, exc)
        continue
    print(_text)
    raise RuntimeError(_text)
'''
    def upload(sub):
        for name in STUDENT_FILES:
            (sub / name).write_text(hostile + REFERENCE[name])
    results, _ = run_bundle(bundle, root, upload)
    check_shape(results)  # no line of the solution anywhere in results.json
    assert results["score"] == FULL, [t["output"] for t in results["tests"]]


def test_the_reference_beside_a_part_never_reaches_its_feedback(bundle, tmp_path):
    """9.3.d and 9.3.e run beside the reference's utils.py (REFERENCE_SIBLINGS): an upload whose Conv2D.py
    prints that file and raises with its text loses those parts, and no line of it reaches results.json."""
    hostile = """
_text = open("layers/utils.py").read().split("### BEGIN SOLUTION")[1].split("### END SOLUTION")[0]
print(_text)
raise RuntimeError(_text)
"""
    def upload(sub):
        reference_files(sub)
        (sub / "Conv2D.py").write_text(hostile + REFERENCE["Conv2D.py"])
    results, _ = run_bundle(bundle, tmp_path / "autograder", upload)
    check_shape(results)  # no line of the solution anywhere in results.json
    outputs = {t["name"][:5]: t["output"] for t in results["tests"]}
    assert "a line of the reference solution, removed" in outputs["9.3.d"], outputs["9.3.d"]
    assert results["score"] == FULL - RUBRIC["9.3.d"].points - RUBRIC["9.3.e"].points


# ---------------------------------------------------------------------------------------------------
# A batch: feedback files and the class report
# ---------------------------------------------------------------------------------------------------

class Tables(HTMLParser):
    """The rows of every <table id=...>, and every src/href."""

    def __init__(self):
        super().__init__()
        self.tables, self.links, self.current, self.cell = {}, [], None, None

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.links += [attrs[a] for a in ("src", "href") if a in attrs]
        if tag == "table":
            self.current = self.tables.setdefault(attrs.get("id"), [])
        elif tag == "tr" and self.current is not None:
            self.current.append([])
        elif tag in ("td", "th") and self.current is not None:
            self.cell = ""

    def handle_endtag(self, tag):
        if tag in ("td", "th") and self.cell is not None:
            self.current[-1].append(self.cell)
            self.cell = None
        elif tag == "table":
            self.current = None

    def handle_data(self, data):
        if self.cell is not None:
            self.cell += data


@pytest.fixture(scope="module")
def batch(tmp_path_factory):
    root = tmp_path_factory.mktemp("batch")
    names = ["mask_every_tied_maximum", "conv_flipped_kernel", "conv_dW_averaged", "zero_padding_batch_axis"]
    build(root / "subs", names)
    reference_files(root / "subs" / "reference" / "layers")
    stub = root / "subs" / "stub" / "layers"
    stub.mkdir(parents=True)
    for name in STUDENT_FILES:
        (stub / name).write_text(stub_source(REFERENCE[name], f"layers/{name}")[0])
    subs = sorted(str(p) for p in (root / "subs").iterdir())
    json_path, feedback, report = root / "results.json", root / "feedback", root / "report.html"
    assert main(["grade", "--json", str(json_path), "--feedback", str(feedback), "--report", str(report),
                 *QUICK, "--no-progress", "--allow-readable", *subs]) == 0
    return {"root": root, "json": json_path, "results": json.loads(json_path.read_text()), "feedback": feedback,
            "report": report}


def test_one_feedback_file_per_submission_without_reference_code(batch):
    results = batch["results"]
    files = {path.stem: path.read_text() for path in batch["feedback"].iterdir()}
    assert set(files) == set(results)
    for name, text in files.items():
        entry = results[name]
        for part, spec in RUBRIC.items():
            assert f"| {part} |" in text and f"{entry['parts'][part]['points']:g}/{spec.points}" in text
            for line in entry["parts"][part]["feedback"]:
                assert line in text
        assert not leaked([text]), (name, leaked([text])[:3])
    # the instructor's JSON does hold reference code (the diffs): the feedback files leave it out
    assert leaked(strings(results["stub"]["diff"]))
    assert "likely mistake: gradient sent to every tied maximum" in files["mask_every_tied_maximum"]
    assert "**7/6 (+1 bonus) (quick)**" in files["reference"]


def test_the_class_report_shows_the_counts_of_the_json_and_opens_offline(batch):
    results = batch["results"]
    page = Tables()
    page.feed(batch["report"].read_text())
    n = len(results)
    # score distribution: points -> submissions
    scores = {row[0]: int(row[1]) for row in page.tables["scores"][1:]}
    expected = {}
    for entry in results.values():
        expected[f"{entry['points']:g}"] = expected.get(f"{entry['points']:g}", 0) + 1
    assert {points: count for points, count in scores.items() if count} == expected
    assert sum(scores.values()) == n and set(map(str, range(FULL + 1))) <= set(scores)  # empty bins shown
    # pass rate per part
    rows = {row[0]: row for row in page.tables["parts"][1:]}
    assert list(rows) == list(RUBRIC)
    for part, spec in RUBRIC.items():
        passed = sum(entry["parts"][part]["points"] == spec.points for entry in results.values())
        assert int(rows[part][2]) == passed and int(rows[part][3]) == n
    # likely mistakes per part, with how many submissions made each
    mistakes = {(row[0], row[1]): int(row[2]) for row in page.tables["mistakes"][1:]}
    assert mistakes[("9.3.c", "gradient sent to every tied maximum")] == 1
    assert mistakes[("9.3.d", "flipped kernel")] == 1
    assert mistakes[("9.3.e", "averaged instead of summed")] == 1
    for (part, mistake), count in mistakes.items():
        lost = [e["parts"][part] for e in results.values() if e["parts"][part]["points"] < RUBRIC[part].points]
        made = sum(mistake in (info["diagnoses"] or ["no known mistake matched"]) for info in lost)
        assert count == made, (part, mistake)
    # the stub lost every part with no known mistake; 9.3.a also lost by zero_padding_batch_axis
    assert mistakes[("9.3.a", "no known mistake matched")] == 2
    # offline: two embedded plots, nothing fetched
    assert len([link for link in page.links if link.startswith("data:image/png;base64,")]) == 2
    assert not [link for link in page.links if not link.startswith("data:")]
    assert "http://" not in batch["report"].read_text() and "https://" not in batch["report"].read_text()


def test_the_report_command_rewrites_both_from_the_json(batch, tmp_path):
    feedback, report = tmp_path / "fb", tmp_path / "r.html"
    assert main(["report", str(batch["json"]), "--feedback", str(feedback), "--report", str(report)]) == 0
    for path in batch["feedback"].iterdir():
        assert (feedback / path.name).read_text() == path.read_text()
    first, again = Tables(), Tables()
    first.feed(batch["report"].read_text())
    again.feed(report.read_text())
    assert again.tables == first.tables


def test_the_report_command_says_what_is_wrong(tmp_path, capsys):
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "nothing.json"), "--report", str(tmp_path / "r.html")])
    assert exc.value.code == 2 and "does not exist" in capsys.readouterr().err
    (tmp_path / "r.json").write_text("{}")
    with pytest.raises(SystemExit) as exc:
        main(["report", str(tmp_path / "r.json")])
    assert exc.value.code == 2 and "nothing to write" in capsys.readouterr().err
