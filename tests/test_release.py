"""The student release (``python -m grading release OUTDIR``): it holds no solution, every region is
stubbed with its part and file, it imports, its public checks fail as handed out and pass on the
reference, they catch common mistakes, and its notebook stops at 9.3.a.

What a region is and which part it belongs to is worked out here again, line by line, rather than
taken from ``grading.release``: a wrong table or parser there must fail here.
"""
import ast
import importlib.metadata
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from packaging.requirements import Requirement
from packaging.version import Version

from grading import make_expected
from grading import rubric
from grading.release import ANSWER_FILES, PARTS as REGIONS, RELEASED_AS, ReleaseError, find_regions, main, make_release
from grading.rubric import MAX_POINTS, REFERENCE_SIBLINGS, RUBRIC, TOTAL_POINTS

REPO = Path(__file__).resolve().parent.parent
SHARED = REPO.parent / "shared"
STUDENT_FILES = tuple(f"layers/{name}" for name in rubric.STUDENT_FILES)
PARTS = tuple(RUBRIC)
STUBS = {relpath: [(part, qualname) for (file, qualname), part in REGIONS.items() if file == relpath]
         for relpath in STUDENT_FILES}
# The backward parts' gradient checks run the student's forward pass too.
NEEDS = {"9.3.a": {"9.3.a"}, "9.3.b": {"9.3.b"}, "9.3.c": {"9.3.c", "9.3.b"}, "9.3.d": {"9.3.d"},
         "9.3.e": {"9.3.e", "9.3.d"}}
# Child processes must not write caches into the folders they check, nor see the repository.
CHILD_ENV = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"} | {"PYTHONDONTWRITEBYTECODE": "1"}


def regions(text):
    """``[(begin index, end index, body lines)]`` of the marker pairs in a file's lines."""
    lines, found, begin = text.splitlines(), [], None
    for index, line in enumerate(lines):
        if line.strip() == "### BEGIN SOLUTION":
            assert begin is None, f"nested BEGIN at line {index + 1}"
            begin = index
        elif line.strip() == "### END SOLUTION":
            assert begin is not None, f"END without BEGIN at line {index + 1}"
            found.append((begin, index, lines[begin + 1:index]))
            begin = None
    assert begin is None, "BEGIN without END"
    return found


def outside_regions(text):
    lines = text.splitlines()
    inside = {i for begin, end, _ in regions(text) for i in range(begin + 1, end)}
    return [line for i, line in enumerate(lines) if i not in inside]


def code_lines(text):
    return {line.strip() for line in text.splitlines() if line.strip() and not line.strip().startswith("#")}


def secret_lines():
    """Lines that only a solution holds: region bodies of the reference, and the lines of the answer
    files, minus any line that the scaffolding handed to students holds as well."""
    scaffolding = set()
    for path in [*REPO.glob("layers/*.py"), *REPO.glob("activations/*.py"), *REPO.glob("losses/*.py"), REPO / "model.py"]:
        if path.relative_to(REPO).as_posix() not in ANSWER_FILES:
            scaffolding |= code_lines("\n".join(outside_regions(path.read_text())))
    secret = set()
    for relpath in STUDENT_FILES:
        for _, _, body in regions((REPO / relpath).read_text()):
            secret |= code_lines("\n".join(body))
    for relpath in ANSWER_FILES:
        if (REPO / relpath).exists():
            # docstrings and short lines ("return Z") say nothing about the answer
            secret |= {line for line in code_lines((REPO / relpath).read_text()) if len(line) >= 25 and "=" in line}
    return secret - scaffolding


def leaks(folder, secret):
    found = []
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.suffix in (".py", ".md", ".ipynb", ".json", ".ini", ".txt"):
            found += [f"{path.relative_to(folder)}: {line}" for line in code_lines(path.read_text()) & secret]
    return found


def run_checks(folder, *args):
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-rA", *args],
        cwd=folder, env=CHILD_ENV | {"COLUMNS": "400"}, capture_output=True, text=True, timeout=300,
    )


def summary(result):
    """``{test id: (outcome, message)}`` from pytest's -rA summary."""
    outcomes = {}
    for line in result.stdout.splitlines():
        match = re.match(r"(PASSED|FAILED|ERROR|SKIPPED|XFAIL|XPASS) (\S+)(?: - (.*))?$", line)
        if match:
            outcomes[match.group(2)] = (match.group(1), match.group(3) or "")
    return outcomes


def solved_copy(release, destination):
    shutil.copytree(release, destination)
    for relpath in STUDENT_FILES:
        shutil.copy(REPO / relpath, destination / relpath)
    return destination


@pytest.fixture(scope="module")
def release(tmp_path_factory):
    return make_release(tmp_path_factory.mktemp("release") / "student")


def test_release_holds_the_student_package_and_nothing_instructor_only(release):
    files = {path.relative_to(release).as_posix() for path in release.rglob("*") if path.is_file()}
    expected_code = {p.relative_to(REPO).as_posix() for d in ("layers", "activations", "losses") for p in (REPO / d).glob("*.py")}
    expected_code -= set(ANSWER_FILES)
    missing = expected_code | {"model.py", "requirements.txt", "exercise_9_3.ipynb", "README.md", "pytest.ini",
                               "checks/expected.json"}
    assert not missing - files, f"missing from the release: {sorted(missing - files)}"
    assert not any(f.startswith(("grading/", "tests/", ".ci/", "examples/")) for f in files), sorted(files)
    assert not any(Path(f).name in ("vectorized.py", "oracle.py") or "__pycache__" in f for f in files), sorted(files)
    assert any(f.startswith("checks/test_") for f in files)
    for relpath in expected_code - set(STUDENT_FILES) | {"model.py"}:
        assert (release / relpath).read_bytes() == (REPO / relpath).read_bytes(), f"{relpath} changed in the release"
    # one --part option and one central-difference helper for the tests and the public checks,
    # not two copies that drift apart
    assert (release / "conftest.py").read_bytes() == (REPO / "tests" / "conftest.py").read_bytes()
    assert (release / "checks" / "gradcheck.py").read_bytes() == (REPO / "grading" / "gradcheck.py").read_bytes()


def requirements(text):
    """``{normalised project name: requirement line}`` of a requirements file, comments left out."""
    found = {}
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            name = re.match(r"[A-Za-z0-9._-]+", line).group(0)
            found[re.sub(r"[-_.]+", "-", name).lower()] = line.replace(" ", "")
    return found


def imported_modules(release):
    """Top-level modules imported by the release's Python files and notebook code cells."""
    sources = [path.read_text() for path in release.rglob("*.py")]
    notebook = json.loads((release / "exercise_9_3.ipynb").read_text())
    sources += ["".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"]
    modules = set()
    for source in sources:
        for node in ast.walk(ast.parse(source)):
            if isinstance(node, ast.Import):
                modules |= {alias.name.split(".")[0] for alias in node.names}
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                modules.add(node.module.split(".")[0])
    return modules


# What a student runs besides importing: `jupyter execute` (student README) needs these.
NOTEBOOK_RUNNERS = {"nbclient", "nbformat", "ipykernel"}


def test_the_student_requirements_are_the_repository_s_minus_instructor_only_ones(release):
    shipped = (release / "requirements.txt").read_text()
    assert shipped == (REPO / "grading" / "student" / "requirements.txt").read_text()
    student, ours = requirements(shipped), requirements((REPO / "requirements.txt").read_text())
    # the same lines, versions included, so the two files cannot drift apart silently
    assert {name: ours.get(name) for name in student} == student, "grading/student/requirements.txt " \
        "lists a package or version that the repository's requirements.txt does not"
    assert "examples/" not in shipped, "the release does not ship examples/"

    # exactly what the release needs: each third-party import is listed, each listed package is used
    local = {"layers", "activations", "losses", "model", "helpers", "conftest"}
    local |= {Path(name).stem for name in RELEASED_AS.values()}
    third_party = imported_modules(release) - set(sys.stdlib_module_names) - local
    distributions = importlib.metadata.packages_distributions()
    needed = {re.sub(r"[-_.]+", "-", distributions.get(module, [module])[0]).lower() for module in third_party}
    assert needed <= set(student), f"the release imports packages its requirements.txt lacks: {sorted(needed - set(student))}"
    assert set(student) - needed == NOTEBOOK_RUNNERS, f"unused by the release: {sorted(set(student) - needed - NOTEBOOK_RUNNERS)}"


def test_numpy_is_pinned_to_one_major_version_that_runs_the_tests():
    # A grade must not depend on the machine's numpy: 2.4 turned a one-element array stored into one
    # element from a warning into an error, so the range starts there and stays within one major.
    line = requirements((REPO / "requirements.txt").read_text())["numpy"]
    specifier = Requirement(line).specifier
    lower = [Version(s.version) for s in specifier if s.operator == ">="]
    upper = [Version(s.version) for s in specifier if s.operator == "<"]
    assert len(lower) == len(upper) == 1, f"expected numpy>=X.Y,<X+1 in requirements.txt, got {line!r}"
    assert upper[0] == Version(f"{lower[0].major + 1}"), f"{line!r} spans more than one major version"
    assert lower[0] >= Version("2.4"), f"{line!r} lets numpy < 2.4 accept what grading rejects"
    assert specifier.contains(np.__version__), f"the tests run numpy {np.__version__}, outside {line!r}"


def test_the_self_checks_show_the_numpy_in_use_beside_the_required_one(release, tmp_path):
    folder = shutil.copytree(release, tmp_path / "student")
    line = requirements((folder / "requirements.txt").read_text())["numpy"]
    assert f"numpy {np.__version__}, as grading uses ({line})" in run_checks(folder, "--part", "9.3.a").stdout
    (folder / "requirements.txt").write_text("numpy<2\n")
    assert f"numpy {np.__version__}, but grading uses numpy<2: run  pip install -r requirements.txt" \
        in run_checks(folder, "--part", "9.3.a").stdout


def readme_bullet(readme, part):
    """The text of the "- **9.3.x**" bullet of the student README, its continuation lines joined."""
    match = re.search(rf"^- \*\*{re.escape(part)}\*\*(.*?)(?=^- |^#|\Z)", readme, re.MULTILINE | re.DOTALL)
    assert match, f"the student README has no bullet for {part}"
    return " ".join(match.group(1).split())


def test_the_student_readme_is_filled_from_the_rubric_the_expected_values_and_requirements(release):
    readme = (release / "README.md").read_text()
    assert "{{" not in readme and "}}" not in readme, "a placeholder was left unfilled"

    rows = re.findall(r"^\| (9\.3\.[a-e]) \| ([\d.]+) \| `layers/(\w+\.py)` \| (.*) \|$", readme, re.MULTILINE)
    assert [(part, float(points), file) for part, points, file, _ in rows] == \
        [(part, float(spec.points), spec.file) for part, spec in RUBRIC.items()]
    for (part, *_, functions), spec in zip(rows, RUBRIC.values()):
        assert re.findall(r"`([\w.]+)`", functions) == list(spec.functions), part

    total = TOTAL_POINTS
    points = " ".join(readme.split("## Points", 1)[1].split("##", 1)[0].split())
    assert f"graded out of {MAX_POINTS:g} points" in points and f"scores {total:g}/{MAX_POINTS:g}" in points
    assert f"one mistake in a 1-point part still gives {MAX_POINTS:g}/{MAX_POINTS:g}" in points

    # as the notebook prints them: print() shows a numpy float by str(), a shape as a tuple
    notebook = json.loads(make_expected.OUTPUT.read_text())["notebook"]
    for part in PARTS:
        bullet = readme_bullet(readme, part)
        for key, value in notebook[part].items():
            if key.endswith(".shape"):
                assert str(tuple(value)) in bullet, f"{part}: {key} {tuple(value)} missing from {bullet!r}"
            elif not isinstance(value, list):
                assert str(np.float64(value)) in bullet, f"{part}: {key} {value!r} missing from {bullet!r}"

    flat = " ".join(readme.split())
    for file in {file for files in REFERENCE_SIBLINGS.values() for file in files}:
        parts = " and ".join(part for part, files in REFERENCE_SIBLINGS.items() if file in files)
        assert f"When {parts} are graded, your `layers/{file}` is replaced by the reference's" in flat
    line = requirements((release / "requirements.txt").read_text())["numpy"]
    assert f"Grading uses `{line}`" in readme


def test_an_unknown_placeholder_in_the_student_readme_stops_the_release(tmp_path, monkeypatch):
    import grading.release as release_module

    templates = shutil.copytree(REPO / "grading" / "student", tmp_path / "templates")
    (templates / "README.md").write_text("Mean Z = {{9.3.d mean(Z)}}, dX max = {{9.3.e max(dX)}}\n")
    monkeypatch.setattr(release_module, "STUDENT_TEMPLATES", templates)
    with pytest.raises(ReleaseError, match=re.escape("unknown placeholder {{9.3.e max(dX)}}")):
        make_release(tmp_path / "student")
    assert not (tmp_path / "student").exists()


def test_no_line_of_any_solution_is_in_the_release(release, tmp_path):
    secret = secret_lines()
    # the detector must see a real solution, or an empty result below proves nothing
    assert 'X_pad = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)' in secret
    assert "dX = dX_pad[:, p:p + H, p:p + W, :]" in secret
    assert leaks(solved_copy(release, tmp_path / "solved"), secret), "the leak detector misses the reference itself"
    assert leaks(release, secret) == []


def test_every_region_is_stubbed_with_its_part_and_file(release):
    for relpath, stubs in STUBS.items():
        released, reference = (release / relpath).read_text(), (REPO / relpath).read_text()
        found = regions(released)
        assert len(found) == len(stubs) == len(regions(reference)), relpath
        for (begin, _, body), (part, qualname) in zip(found, stubs):
            indent = released.splitlines()[begin][: -len("### BEGIN SOLUTION")]
            assert body == [f'{indent}raise NotImplementedError("{part}: implement {qualname} in {relpath}")'], body
        assert outside_regions(released) == outside_regions(reference), f"{relpath}: the scaffolding changed"


def test_the_release_imports_and_each_function_names_its_part(release, tmp_path):
    folder = shutil.copytree(release, tmp_path / "student")
    script = """
import json, numpy as np
import activations, losses, model
from layers import Conv2D, Maxpool2D, zero_padding
X = np.ones((1, 4, 4, 1))
pool, conv = Maxpool2D(), Conv2D(1, 1)
pool.cache = conv.cache = X  # what the forward passes would have cached
calls = {
    "zero_padding": lambda: zero_padding(X, 1),
    "Maxpool2D.__call__": lambda: pool(X),
    "Maxpool2D.create_mask": lambda: pool.create_mask(np.ones((2, 2))),
    "Maxpool2D.grad": lambda: pool.grad(np.ones((1, 3, 3, 1))),
    "Conv2D.__call__": lambda: conv(X),
    "Conv2D.grad": lambda: conv.grad(np.ones((1, 2, 2, 1))),
}
raised = {}
for name, call in calls.items():
    try:
        call()
        raised[name] = "nothing"
    except Exception as error:
        raised[name] = f"{type(error).__name__}: {error}"
print(json.dumps(raised))
"""
    result = subprocess.run([sys.executable, "-c", script], cwd=folder, env=CHILD_ENV,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    raised = json.loads(result.stdout)
    for relpath, stubs in STUBS.items():
        for part, qualname in stubs:
            assert raised[qualname] == f"NotImplementedError: {part}: implement {qualname} in {relpath}"


def test_public_checks_fail_on_the_release_with_the_not_implemented_message(release, tmp_path):
    folder = shutil.copytree(release, tmp_path / "student")
    result = run_checks(folder)
    outcomes = summary(result)
    assert result.returncode == 1 and outcomes, result.stdout[-3000:] + result.stderr
    parts_seen = set()
    for test, (outcome, message) in outcomes.items():
        part = re.match(r"checks/test_(9_3_[a-e])_", test).group(1).replace("_", ".")
        named = re.match(r"not implemented yet: (9\.3\.[a-e]): implement \S+ in layers/\w+\.py$", message)
        assert outcome == "FAILED" and named, f"{test} {outcome} {message!r}"
        assert named.group(1) in NEEDS[part], f"{test} is a check of {part} but stopped at {named.group(1)}"
        parts_seen.add(named.group(1))
    assert parts_seen == set(PARTS)

    one_part = summary(run_checks(folder, "--part", "9.3.c"))
    assert one_part and all(test.startswith("checks/test_9_3_c_") for test in one_part), sorted(one_part)
    assert set(one_part) == {test for test in outcomes if test.startswith("checks/test_9_3_c_")}
    no_part = run_checks(folder, "--part", "9.3.z")
    assert no_part.returncode == 4 and f"the parts are {', '.join(PARTS)}" in no_part.stderr, no_part.stderr


def test_the_parts_tagged_in_the_tests_and_the_self_checks_are_the_rubrics():
    """--part learns the parts from the markers: a marker that is no part of the rubric would make one up."""
    for folder in (REPO / "tests", REPO / "grading" / "student" / "checks"):
        tagged = {part for path in folder.rglob("test_*.py")
                  for part in re.findall(r"""mark\.part\(["']([^"']+)["']\)""", path.read_text())}
        assert tagged == set(RUBRIC), folder


def test_public_checks_pass_on_the_reference(release, tmp_path):
    result = run_checks(solved_copy(release, tmp_path / "solved"))
    outcomes = summary(result)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert outcomes and {outcome for outcome, _ in outcomes.values()} == {"PASSED"}, result.stdout[-3000:]


def test_public_checks_pass_on_a_vectorized_solution(release, tmp_path):
    # another summation order than the reference's: the checks' tolerances must allow it
    corpus = pytest.importorskip("submissions.corpus")
    if "correct_vectorized" not in {entry.name for entry in corpus.SUBMISSIONS}:
        pytest.skip("the grader's corpus has no correct_vectorized submission")
    corpus.build(tmp_path / "corpus", ["correct_vectorized"])
    folder = shutil.copytree(release, tmp_path / "vectorized")
    for relpath in STUDENT_FILES:
        shutil.copy(tmp_path / "corpus" / "correct_vectorized" / relpath, folder / relpath)
    result = run_checks(folder)
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr
    assert {outcome for outcome, _ in summary(result).values()} == {"PASSED"}


# A mistake per part, written into the reference's region, and a check that must catch it.
MISTAKES = {
    "9.3.a": ("layers/utils.py", "((0, 0), (pad, pad), (pad, pad), (0, 0))", "((pad, pad), (pad, pad), (pad, pad), (pad, pad))",
              "test_9_3_a_zero_padding.py::test_only_height_and_width_are_padded"),
    "9.3.b": ("layers/Maxpool2D.py", "np.max(X[i, h0:h1, w0:w1, c])", "np.max(X[i, h:h + k, w:w + k, c])",
              "test_9_3_b_maxpool_forward.py::test_stride_two"),
    "9.3.c": ("layers/Maxpool2D.py", "dX[i, h0:h1, w0:w1, c] += mask", "dX[i, h0:h1, w0:w1, c] = mask",
              "test_9_3_c_maxpool_backward.py::test_overlapping_windows_add_up"),
    "9.3.d": ("layers/Conv2D.py", "* self.W[:, :, :, c]) + self.b[c]", "* self.W[::-1, ::-1, :, c]) + self.b[c]",
              "test_9_3_d_conv_forward.py::test_filter_is_not_flipped"),
    "9.3.e": ("layers/Conv2D.py", "dX = dX_pad[:, p:p + H, p:p + W, :]", "dX = dX_pad[:, p:-p, p:-p, :]",
              "test_9_3_e_conv_backward.py::test_stored_case[kernel_size3-stride1-padding0-X2x5x5x3]"),
}


def test_public_checks_catch_a_mistake_in_every_part(release, tmp_path):
    folder = solved_copy(release, tmp_path / "mistaken")
    for relpath, right, wrong, _ in MISTAKES.values():
        text = (folder / relpath).read_text()
        # only inside a region: the docstrings quote some of these lines
        bodies = ["\n".join(body) for _, _, body in regions(text)]
        assert sum(body.count(right) for body in bodies) == 1, right
        body = next(body for body in bodies if right in body)
        (folder / relpath).write_text(text.replace(body, body.replace(right, wrong)))
    outcomes = summary(run_checks(folder, *(f"checks/{check}" for *_, check in MISTAKES.values())))
    for part, (_, _, wrong, check) in MISTAKES.items():
        outcome, message = outcomes.get(f"checks/{check}", ("not run", ""))
        assert outcome == "FAILED" and "AssertionError" in message, f"{part}: {wrong!r} -> {check} {outcome} {message}"


# A forward pass that raises something else than NotImplementedError, written into the reference's region.
FORWARD_ERRORS = {
    # looping over the input's rows instead of the output's: Z[i, h] runs off the end
    "9.3.b": ("layers/Maxpool2D.py", "for h in range(H_out):", "for h in range(H):", "Maxpool2D.__call__",
              "IndexError: index 4 is out of bounds", "9.3.c"),
    # the filter's channel axes swapped: (k, k, C_out) against a window (k, k, C_in)
    "9.3.d": ("layers/Conv2D.py", "* self.W[:, :, :, c])", "* self.W[:, :, c, :])", "Conv2D.__call__",
              "ValueError: operands could not be broadcast together", "9.3.e"),
}


def write_into_region(folder, relpath, right, wrong, region_index):
    text = (folder / relpath).read_text()
    body = "\n".join(regions(text)[region_index][2])
    assert body.count(right) == 1, right
    (folder / relpath).write_text(text.replace(body, body.replace(right, wrong)))


# "=" where the instructions say "+=": the check written for that mistake must name "+=" and the array, not
# only how many elements differ. (file, region index, line in the reference's region, check)
ACCUMULATIONS = {
    "Maxpool2D dX": ("layers/Maxpool2D.py", 2, "dX[i, h0:h1, w0:w1, c] += mask",
                     "test_9_3_c_maxpool_backward.py::test_overlapping_windows_add_up"),
    "Conv2D dX_pad": ("layers/Conv2D.py", 1, "dX_pad[i, h0:h1, w0:w1, :] += ",
                      "test_9_3_e_conv_backward.py::test_every_window_and_filter_adds_its_share"),
    "Conv2D dW": ("layers/Conv2D.py", 1, "dW[:, :, :, c] += ",
                  "test_9_3_e_conv_backward.py::test_every_window_and_filter_adds_its_share"),
    "Conv2D db": ("layers/Conv2D.py", 1, "db[c] += ",
                  "test_9_3_e_conv_backward.py::test_every_window_and_filter_adds_its_share"),
}


@pytest.mark.parametrize("mistake", sorted(ACCUMULATIONS))
def test_assigning_instead_of_adding_up_is_named_by_the_checks(release, tmp_path, mistake):
    relpath, region_index, right, check = ACCUMULATIONS[mistake]
    folder = solved_copy(release, tmp_path / "assigning")
    write_into_region(folder, relpath, right, right.replace("+=", "="), region_index)
    outcome, message = summary(run_checks(folder, f"checks/{check}")).get(f"checks/{check}", ("not run", ""))
    array = mistake.split()[1]
    assert outcome == "FAILED" and "(use += " in message, f"{mistake}: {outcome} {message}"
    assert message.startswith(f"AssertionError: {array.replace('_pad', '')}, "), message


def skips(result):
    """``[(file, count, reason)]`` from pytest's -rA summary, which names a skip by file and line only."""
    return [(match.group(2), int(match.group(1)), match.group(3)) for match in
            re.finditer(r"^SKIPPED \[(\d+)\] (\S+?):\d+: (.*)$", result.stdout, re.MULTILINE)]


@pytest.mark.parametrize("forward", sorted(FORWARD_ERRORS))
def test_a_forward_pass_that_raises_skips_the_gradient_checks_and_names_it(release, tmp_path, forward):
    relpath, right, wrong, qualname, error, backward = FORWARD_ERRORS[forward]
    folder = solved_copy(release, tmp_path / "raising")
    write_into_region(folder, relpath, right, wrong, region_index=0)  # __call__ holds the file's first region
    result = run_checks(folder, "--part", forward, "--part", backward)
    outcomes = summary(result)
    prefix = {part: f"checks/test_{part.replace('.', '_')}_" for part in (forward, backward)}
    assert any(outcome == "FAILED" and error.split(":")[0] in message
               for test, (outcome, message) in outcomes.items() if test.startswith(prefix[forward])), result.stdout[-3000:]

    # pytest reports a skip where pytest.skip was called, in checks/helpers.py; only backward checks skip
    skipped = skips(result)
    assert skipped, result.stdout[-3000:]
    for _, _, reason in skipped:
        assert reason.startswith(f"fix {forward} ({qualname}) first: it raises {error}"), reason
    # every gradient check is among the skipped, and grad itself is still checked on the cached input
    ran = {test: outcome for test, (outcome, _) in outcomes.items() if test.startswith(prefix[backward])}
    assert ran and set(ran.values()) == {"PASSED"}, ran
    assert not any("central_differences" in test for test in ran), sorted(ran)


def test_the_notebook_stops_at_9_3_a_with_the_message(release, tmp_path, monkeypatch):
    nbformat = pytest.importorskip("nbformat")
    nbclient = pytest.importorskip("nbclient")
    folder = shutil.copytree(release, tmp_path / "student")
    monkeypatch.setenv("PYTHONDONTWRITEBYTECODE", "1")
    nb = nbformat.read(folder / "exercise_9_3.ipynb", as_version=4)
    client = nbclient.NotebookClient(nb, kernel_name="python3", timeout=120,
                                     resources={"metadata": {"path": str(folder)}})
    with pytest.raises(nbclient.exceptions.CellExecutionError) as stopped:
        client.execute()
    assert stopped.value.ename == "NotImplementedError"
    assert stopped.value.evalue == "9.3.a: implement zero_padding in layers/utils.py"
    ran = [cell for cell in nb.cells if cell.cell_type == "code" and cell.get("execution_count")]
    assert "zero_padding(image_batch, 2)" in ran[-1].source, "the first code cell to fail is not 9.3.a's"
    assert len(ran) == 2, "a cell before 9.3.a's failed, or one after it ran"


def test_the_notebook_is_the_seed_without_outputs(release):
    released = json.loads((release / "exercise_9_3.ipynb").read_text())
    reference = json.loads((REPO / "exercise_9_3.ipynb").read_text())
    assert [c["source"] for c in released["cells"]] == [c["source"] for c in reference["cells"]]
    assert all(c.get("outputs", []) == [] and c.get("execution_count") is None for c in released["cells"])
    checker, seed = SHARED / "tools" / "check_notebook.py", SHARED / "seed" / "exercise_9_3.txt"
    if not (checker.exists() and seed.exists()):
        pytest.skip("the course's check_notebook.py or seed text is not next to the repository")
    result = subprocess.run([sys.executable, str(checker), str(seed), str(release / "exercise_9_3.ipynb")],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr


def test_refuses_a_non_empty_outdir_or_one_inside_the_repository(tmp_path, capsys):
    (tmp_path / "taken").mkdir()
    (tmp_path / "taken" / "notes.txt").write_text("a student's work")
    with pytest.raises(ReleaseError, match="exists and is not empty"):
        make_release(tmp_path / "taken")
    inside = REPO / "release-inside-the-repository"
    with pytest.raises(ReleaseError, match="inside the repository"):
        make_release(inside)
    assert not inside.exists()
    (tmp_path / "a-file").write_text("")
    with pytest.raises(ReleaseError, match="not a directory"):
        make_release(tmp_path / "a-file")
    assert main([str(tmp_path / "taken")]) == 2
    assert "error: OUTDIR" in capsys.readouterr().err
    assert (tmp_path / "taken" / "notes.txt").read_text() == "a student's work"


def test_the_cli_reports_a_bad_outdir_without_a_traceback(tmp_path):
    (tmp_path / "notes.txt").write_text("")
    result = subprocess.run([sys.executable, "-m", "grading.release", str(tmp_path)], cwd=REPO,
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert "exists and is not empty" in result.stderr and "Traceback" not in result.stderr


@pytest.mark.parametrize("source, message", [
    ("def zero_padding(X, pad):\n    ### BEGIN SOLUTION\n    X_pad = X\n    return X_pad\n", "never closed"),
    ("def zero_padding(X, pad):\n    X_pad = X\n    ### END SOLUTION\n    return X_pad\n", "without"),
    ("def zero_padding(X, pad):\n    ### BEGIN SOLUTION\n    ### BEGIN SOLUTION\n    X_pad = X\n"
     "    ### END SOLUTION\n    return X_pad\n", "before the one on line 2 was closed"),
    ("### BEGIN SOLUTION\nX_pad = 0\n### END SOLUTION\n", "no function"),
    ("def helper(X):\n    ### BEGIN SOLUTION\n    X = X\n    ### END SOLUTION\n    return X\n", "function helper"),
    ("def zero_padding(X, pad):\n    X_pad = X  ### BEGIN SOLUTION\n    ### END SOLUTION\n    return X_pad\n",
     "a line of its own"),
    ("def zero_padding(X, pad):\n    ## BEGIN SOLUTION\n    X_pad = X\n    ## END SOLUTION\n    return X_pad\n",
     "exactly"),
], ids=["unclosed", "end-alone", "nested", "module-level", "unknown-function", "after-code", "misspelt"])
def test_malformed_regions_stop_the_release(source, message):
    with pytest.raises(ReleaseError, match=message):
        find_regions(source, "layers/utils.py")


def test_a_known_function_without_its_region_stops_the_release(tmp_path, monkeypatch):
    import grading.release as release_module

    original = release_module._released_sources

    def without_conv_grad_markers():
        sources = original()
        text = sources["layers/Conv2D.py"]
        begin = text.rindex("        ### BEGIN SOLUTION\n")
        sources["layers/Conv2D.py"] = text[:begin] + text[begin:].replace(
            "        ### BEGIN SOLUTION\n", "", 1).replace("        ### END SOLUTION\n", "", 1)
        return sources

    monkeypatch.setattr(release_module, "_released_sources", without_conv_grad_markers)
    with pytest.raises(ReleaseError, match="Conv2D.grad holds 0 solution regions"):
        make_release(tmp_path / "student")
    assert not (tmp_path / "student").exists(), "a refused release must write nothing"


def test_a_template_that_would_replace_a_repository_file_stops_the_release(tmp_path, monkeypatch):
    import grading.release as release_module

    templates = shutil.copytree(REPO / "grading" / "student", tmp_path / "templates")
    (templates / "conftest.py").write_text("# a second copy of tests/conftest.py\n")
    monkeypatch.setattr(release_module, "STUDENT_TEMPLATES", templates)
    with pytest.raises(ReleaseError, match="grading/student/conftest.py would replace"):
        make_release(tmp_path / "student")
    assert not (tmp_path / "student").exists()


def test_a_marker_quoted_in_a_docstring_is_not_a_region():
    source = 'def zero_padding(X, pad):\n    """Write your code between\n    ### BEGIN SOLUTION\n    """\n    return X\n'
    assert find_regions(source, "layers/utils.py") == []


def test_public_expected_values_are_those_of_the_reference():
    assert make_expected.render() == make_expected.OUTPUT.read_text(), (
        "grading/public_expected.json is stale: run python -m grading.make_expected"
    )


def test_the_notebook_s_numbers_are_those_of_notebook_values(monkeypatch, capsys):
    from grading import notebook_values as nv

    notebook = json.loads(make_expected.OUTPUT.read_text())["notebook"]
    assert notebook["9.3.a"]["image_batch_padded.shape"] == list(nv.IMAGE_BATCH_PADDED_SHAPE)
    assert notebook["9.3.b"] == {"out.shape": list(nv.MAXPOOL_OUT_SHAPE), "mean(out)": nv.MAXPOOL_OUT_MEAN}
    assert notebook["9.3.c"] == {"mean(dX[0])": nv.MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE}
    assert notebook["9.3.d"] == {"Z.shape": list(nv.CONV_Z_SHAPE), "mean(Z)": nv.CONV_Z_MEAN}
    assert notebook["9.3.e"] == {"mean(dX)": nv.CONV_DX_MEAN, "mean(dW)": nv.CONV_DW_MEAN, "mean(db)": nv.CONV_DB_MEAN}

    # a number the reference does not reproduce is refused, not silently replaced
    monkeypatch.setattr(nv, "MAXPOOL_OUT_MEAN", nv.MAXPOOL_OUT_MEAN + 1e-6)
    assert make_expected.main(["--check"]) == 1
    error = capsys.readouterr().err
    assert "MAXPOOL_OUT_MEAN" in error and "grading/notebook_values.py" in error and "Traceback" not in error


def test_the_hint_for_wrong_values_is_left_out_of_a_wrong_shape():
    """A self-check's hint names a cause of wrong values ("use +="); a wrong shape has causes of its own
    (p:-p with padding 0 gives an empty dX), and the hint would send the student to the wrong line."""
    from grading.gradcheck import assert_close

    with pytest.raises(AssertionError, match=r"^dX: got shape \(1, 0\), expected \(1, 2\)$"):
        assert_close(np.zeros((1, 0)), np.zeros((1, 2)), what="dX", hint="use +=")
    with pytest.raises(AssertionError, match=r"^dX: 2 of 2 elements differ.*expected 1\.0 \(use \+=\)$"):
        assert_close(np.zeros(2), np.ones(2), what="dX", hint="use +=")
