"""The student version of the exercise: ``python -m grading release OUTDIR``.

Every ``### BEGIN SOLUTION`` / ``### END SOLUTION`` region is replaced by one line at the region's
indentation, ``raise NotImplementedError("9.3.d: implement Conv2D.__call__ in layers/Conv2D.py")``.
The marker lines themselves stay, so the grader finds a student's region where ours was and an
instructor can diff a student's file against the reference. Everything outside the regions
(instructions, validation, caching) is released as it is.

What goes in is listed here, not what stays out: a file added to the repository later (an oracle,
hidden checks, a training script) reaches students only once it is added to ``RELEASED_*``. Before
anything is written, the release is checked: it compiles, it imports, and no line of a solution
region appears anywhere in it.

The student README is a template: its ``{{...}}`` placeholders are filled from the one copy of each
fact (points from ``grading/rubric.py``, printed values from ``grading/public_expected.json``, the
numpy version from the released requirements.txt), so it cannot drift from what grading does.
"""
import argparse
import ast
import io
import json
import re
import shutil
import subprocess
import sys
import tempfile
import textwrap
import tokenize
from pathlib import Path

from .rubric import MAX_POINTS, REFERENCE_SIBLINGS, RUBRIC, TOTAL_POINTS

REPO = Path(__file__).resolve().parent.parent
STUDENT_TEMPLATES = Path(__file__).resolve().parent / "student"
PUBLIC_EXPECTED = Path(__file__).resolve().parent / "public_expected.json"

# The function a student writes for each part, by file and qualified name (from the rubric); each holds
# exactly one region.
PARTS = {(f"layers/{spec.file}", qualname): part for part, spec in RUBRIC.items() for qualname in spec.functions}

RELEASED_PACKAGES = ("layers", "activations", "losses")
# requirements.txt is not among them: the repository's also serves instructor-only code (examples/), so
# the release gets grading/student/requirements.txt, whose lines tests/test_release.py finds in ours.
RELEASED_FILES = ("model.py",)
# Repository files released under another name, so that the self-checks share them with the tests and
# the grader: the --part option, central differences and the first mismatch, the notebook's values and
# the replay of its cells. What only students need sits in grading/student/checks/conftest.py.
RELEASED_AS = {"tests/conftest.py": "conftest.py", "grading/gradcheck.py": "checks/gradcheck.py",
               "grading/notebook_values.py": "checks/notebook_values.py"}
NOTEBOOK = "exercise_9_3.ipynb"
# Inside a released package but holding an answer.
INSTRUCTOR_ONLY = {"layers/vectorized.py"}
# Answers never released, whose code must not turn up in the release either (checked if they exist).
ANSWER_FILES = ("layers/vectorized.py", "tests/oracle.py")

BEGIN = "### BEGIN SOLUTION"
END = "### END SOLUTION"
_MARKER = re.compile(r"#+\s*(BEGIN|END)\s+SOLUTION\b", re.IGNORECASE)


class ReleaseError(Exception):
    """Something that must stop the release; the CLI prints it without a traceback."""


def stub_line(part, qualname, relpath):
    return f'raise NotImplementedError("{part}: implement {qualname} in {relpath}")'


def find_regions(source, relpath):
    """The solution regions of one file, in order.

    Returns a list of dicts with ``part``, ``qualname``, ``begin`` and ``end`` (1-based line numbers
    of the marker lines) and ``indent`` (the BEGIN line's leading whitespace). Raises ReleaseError
    for unbalanced markers, a marker sharing its line with code, or a region outside a known function.
    """
    try:
        tree = ast.parse(source, relpath)
    except SyntaxError as error:
        raise ReleaseError(f"{relpath} does not parse: {error}") from None
    markers = []
    # Comments only: a docstring that mentions the marker text is not a marker.
    for tok in tokenize.generate_tokens(io.StringIO(source).readline):
        if tok.type == tokenize.COMMENT and _MARKER.match(tok.string):
            line = tok.line.rstrip("\r\n")
            if line.strip() not in (BEGIN, END):
                raise ReleaseError(
                    f"{relpath}:{tok.start[0]}: a solution marker must be a line of its own reading exactly "
                    f"{BEGIN!r} or {END!r}, got {line.strip()!r}"
                )
            markers.append((tok.start[0], line.strip(), line[: len(line) - len(line.lstrip())]))

    pairs, open_marker = [], None
    for lineno, text, indent in markers:
        if text == BEGIN:
            if open_marker is not None:
                raise ReleaseError(f"{relpath}:{lineno}: {BEGIN!r} before the one on line {open_marker[0]} was closed")
            open_marker = (lineno, indent)
        else:
            if open_marker is None:
                raise ReleaseError(f"{relpath}:{lineno}: {END!r} without a {BEGIN!r} before it")
            if indent != open_marker[1]:
                raise ReleaseError(
                    f"{relpath}:{lineno}: {END!r} is indented differently from the {BEGIN!r} on line {open_marker[0]}"
                )
            pairs.append((open_marker[0], lineno, indent))
            open_marker = None
    if open_marker is not None:
        raise ReleaseError(f"{relpath}:{open_marker[0]}: {BEGIN!r} is never closed by {END!r}")

    functions = _functions(tree)
    regions = []
    for begin, end, indent in pairs:
        holders = [f for f in functions if f[1] < begin and end <= f[2]]
        # the innermost function holding both markers: the one that starts last
        qualname = max(holders, key=lambda f: f[1])[0] if holders else None
        part = PARTS.get((relpath, qualname))
        if part is None:
            where = f"function {qualname}" if qualname else "no function (the region must lie inside one function body)"
            known = ", ".join(f"{q} ({f})" for f, q in PARTS)
            raise ReleaseError(
                f"{relpath}:{begin}: a solution region in {where}, which is not a known exercise part; "
                f"known: {known}"
            )
        regions.append({"part": part, "qualname": qualname, "begin": begin, "end": end, "indent": indent})
    return regions


def _functions(tree):
    """(qualname, first line, last line) of every function, methods as ``Class.method``."""
    found = []

    def visit(node, prefix):
        for child in ast.iter_child_nodes(node):
            if isinstance(child, (ast.FunctionDef, ast.AsyncFunctionDef)):
                found.append((prefix + child.name, child.lineno, child.end_lineno))
                visit(child, prefix + child.name + ".")
            elif isinstance(child, ast.ClassDef):
                visit(child, prefix + child.name + ".")
            else:
                visit(child, prefix)

    visit(tree, "")
    return found


def stub_source(source, relpath):
    """Return ``(stubbed source, regions)`` with every region's body replaced by its stub."""
    regions = find_regions(source, relpath)
    lines = source.splitlines(keepends=True)
    for region in reversed(regions):
        stub = region["indent"] + stub_line(region["part"], region["qualname"], relpath) + "\n"
        lines[region["begin"]: region["end"] - 1] = [stub]
    stubbed = "".join(lines)
    try:
        compile(stubbed, relpath, "exec")
    except SyntaxError as error:
        raise ReleaseError(f"{relpath}: the stubbed file does not compile: {error}") from None
    return stubbed, regions


def solution_lines(sources):
    """The lines that only a solution holds, stripped: the region bodies of ``{relpath: source}`` and
    the answer files.

    A line that also appears outside every region (a loop header the scaffolding shares, say) is not
    evidence of a leak, so it is left out; comments and blank lines too.
    """
    inside, outside = set(), set()
    for relpath, source in sources.items():
        lines = source.splitlines()
        in_region = set()
        for region in find_regions(source, relpath):
            in_region.update(range(region["begin"], region["end"] - 1))  # 0-based body lines
        for index, line in enumerate(lines):
            text = line.strip()
            if text and not text.startswith("#"):
                (inside if index in in_region else outside).add(text)
    for relpath in ANSWER_FILES:
        if (REPO / relpath).is_file():
            # short lines ("return Z") and prose say nothing about the answer
            inside.update(line.strip() for line in (REPO / relpath).read_text(encoding="utf-8").splitlines()
                          if len(line.strip()) >= 25 and "=" in line and not line.strip().startswith("#"))
    return inside - outside


def _released_sources():
    """``{relpath: text}`` of every repository file that goes into the release, before stubbing."""
    files = {}
    for package in RELEASED_PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            relpath = path.relative_to(REPO).as_posix()
            if "__pycache__" not in path.parts and relpath not in INSTRUCTOR_ONLY:
                files[relpath] = path.read_text(encoding="utf-8")
    for relpath in RELEASED_FILES:
        files[relpath] = (REPO / relpath).read_text(encoding="utf-8")
    return files


def strip_outputs(notebook_text):
    """The notebook as a student gets it: every cell kept, no outputs, no execution counts."""
    notebook = json.loads(notebook_text)
    for cell in notebook["cells"]:
        if cell["cell_type"] == "code":
            cell["outputs"] = []
            cell["execution_count"] = None
        cell.get("metadata", {}).pop("execution", None)
    return json.dumps(notebook, indent=1, ensure_ascii=False) + "\n"


_PLACEHOLDER = re.compile(r"\{\{([^{}]*)\}\}")


def student_readme(template):
    """The student README: ``template`` with every ``{{...}}`` filled.

    ``{{parts table}}``, ``{{points}}``, ``{{graded with the reference's}}`` and ``{{numpy}}`` become
    text built from the rubric and requirements.txt; ``{{9.3.d mean(Z)}}`` becomes that entry of the
    notebook's values in public_expected.json, as the notebook prints it. An unknown placeholder stops
    the release rather than reaching students.
    """
    notebook = json.loads(PUBLIC_EXPECTED.read_text(encoding="utf-8"))["notebook"]
    blocks = {
        "parts table": _parts_table,
        "points": _points_paragraph,
        "graded with the reference's": _reference_siblings_sentence,
        "numpy": _numpy_requirement,
    }

    def fill(match):
        name = match.group(1).strip()
        if name in blocks:
            return blocks[name]()
        part, _, key = name.partition(" ")
        if key in notebook.get(part, {}):
            return _as_printed(notebook[part][key])
        raise ReleaseError(f"grading/student/README.md: unknown placeholder {match.group(0)}; known: "
                           f"{', '.join(blocks)} and '9.3.x key' for a key of public_expected.json's notebook values")

    return _PLACEHOLDER.sub(fill, template)


def _as_printed(value):
    """A value as the notebook's print() shows it: a shape as a tuple, a float with all its digits."""
    return "(" + ", ".join(str(n) for n in value) + ")" if isinstance(value, list) else repr(value)


def _parts_table():
    rows = ["| Part  | Points | File | Function |", "|-------|--------|------|----------|"]
    for part, spec in RUBRIC.items():
        functions = " and ".join(f"`{name}`" for name in spec.functions)
        rows.append(f"| {part} | {spec.points:g} | `layers/{spec.file}` | {functions} |")
    return "\n".join(rows)


def _points_paragraph():
    total = TOTAL_POINTS
    text = ("Grading counts each part as all or nothing: all its points, or none. The exercise is graded "
            f"out of {MAX_POINTS:g} points, as the notebook's heading says")
    if total > MAX_POINTS:
        bonus = total - MAX_POINTS
        left = {worth: min(total - worth, MAX_POINTS) for worth in sorted({spec.points for spec in RUBRIC.values()})}
        one_mistake = "; one in a ".join(f"{worth:g}-point part {'still ' * (rest == MAX_POINTS)}gives "
                                         f"{rest:g}/{MAX_POINTS:g}" for worth, rest in left.items())
        text += (f", but the parts add up to {total:g} (see the table above): the {bonus:g} "
                 f"point{'s' * (bonus != 1)} above {MAX_POINTS:g} {'is' if bonus == 1 else 'are'} a bonus, and a "
                 f"full solution scores {total:g}/{MAX_POINTS:g}. So one mistake in a {one_mistake}")
    return textwrap.fill(text + ".", width=100)


def _reference_siblings_sentence():
    by_file = {}
    for part, files in REFERENCE_SIBLINGS.items():
        for name in files:
            by_file.setdefault(name, []).append(part)
    sentences = []
    for name, parts in by_file.items():
        owners = [p for p, spec in RUBRIC.items() if spec.file == name]
        functions = ", ".join(f"`{f}`" for p in owners for f in RUBRIC[p].functions)
        sentences.append(f"When {' and '.join(parts)} are graded, your `layers/{name}` is replaced by the "
                         f"reference's, so a mistake in your {functions} costs only {' and '.join(owners)}.")
    return " ".join(sentences)


def _numpy_requirement():
    for line in (STUDENT_TEMPLATES / "requirements.txt").read_text(encoding="utf-8").splitlines():
        if re.match(r"numpy\b", line):
            return line.split("#", 1)[0].strip()
    raise ReleaseError("grading/student/requirements.txt has no numpy line for the student README")


def check_outdir(outdir):
    """Resolve OUTDIR, refusing one inside the repository or one that already holds files."""
    out = Path(outdir).expanduser().resolve()
    if out == REPO or REPO in out.parents:
        raise ReleaseError(
            f"OUTDIR {outdir} lies inside the repository: the release must not be committed next to the "
            f"solution, write it elsewhere (e.g. ../student-release)"
        )
    if out.exists() and not out.is_dir():
        raise ReleaseError(f"OUTDIR {outdir} exists and is not a directory")
    if out.is_dir() and any(out.iterdir()):
        raise ReleaseError(f"OUTDIR {outdir} exists and is not empty: give a new or empty directory")
    return out


def make_release(outdir):
    """Write the student version of the exercise to ``outdir`` (new or empty, outside the repository).

    Returns the resolved path of ``outdir``. Raises ReleaseError, and writes nothing, when the
    repository's regions are malformed, a part's region is missing, or the result would not import
    or would hold a line of the solution.
    """
    out = check_outdir(outdir)
    sources = _released_sources()
    missing = [f"{q} ({f})" for f, q in PARTS if f not in sources]
    missing += [relpath for relpath in RELEASED_AS if not (REPO / relpath).is_file()]
    if missing:
        raise ReleaseError(f"the release needs files that are missing: {', '.join(missing)}")

    with tempfile.TemporaryDirectory(prefix="release-") as tmp:
        build = Path(tmp)
        stubbed_parts = []
        for relpath, text in sources.items():
            if relpath.endswith(".py"):
                text, regions = stub_source(text, relpath)
                stubbed_parts += [(relpath, region["qualname"]) for region in regions]
            (build / relpath).parent.mkdir(parents=True, exist_ok=True)
            (build / relpath).write_text(text, encoding="utf-8")

        # A missing or doubled region would ship a solution unstubbed or leave a part without its stub.
        for key in PARTS:
            count = stubbed_parts.count(key)
            if count != 1:
                raise ReleaseError(f"{key[0]}: {key[1]} holds {count} solution regions, expected exactly 1")

        (build / NOTEBOOK).write_text(strip_outputs((REPO / NOTEBOOK).read_text(encoding="utf-8")), encoding="utf-8")
        for relpath, released_as in RELEASED_AS.items():
            (build / released_as).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(REPO / relpath, build / released_as)
        ignored = shutil.ignore_patterns("__pycache__", "*.pyc", ".pytest_cache")
        # A template must add to the release, never silently replace a file taken from the repository.
        for path in sorted(STUDENT_TEMPLATES.rglob("*")):
            relpath = path.relative_to(STUDENT_TEMPLATES)
            if path.is_file() and not ignored(str(path.parent), [path.name]) and (build / relpath).exists():
                raise ReleaseError(f"grading/student/{relpath.as_posix()} would replace the release's "
                                   f"{relpath.as_posix()} taken from the repository")
        shutil.copytree(STUDENT_TEMPLATES, build, dirs_exist_ok=True, ignore=ignored)
        if not PUBLIC_EXPECTED.is_file():
            raise ReleaseError("grading/public_expected.json is missing: run python -m grading.make_expected")
        shutil.copy2(PUBLIC_EXPECTED, build / "checks" / "expected.json")
        readme = build / "README.md"
        readme.write_text(student_readme(readme.read_text(encoding="utf-8")), encoding="utf-8")

        _check_build(build, solution_lines({k: v for k, v in sources.items() if k.endswith(".py")}))
        out.mkdir(parents=True, exist_ok=True)
        shutil.copytree(build, out, dirs_exist_ok=True)
    return out


def _check_build(build, leaked_if_present):
    """Refuse a build that would not compile or import, or that holds a line of a solution region."""
    for path in sorted(build.rglob("*")):
        if not path.is_file():
            continue
        relpath = path.relative_to(build).as_posix()
        text = path.read_text(encoding="utf-8")
        if path.suffix == ".py":
            try:
                compile(text, relpath, "exec")
            except SyntaxError as error:
                raise ReleaseError(f"{relpath} in the release does not compile: {error}") from None
        for number, line in enumerate(text.splitlines(), 1):
            if line.strip() in leaked_if_present:
                raise ReleaseError(f"{relpath}:{number} in the release holds solution code: {line.strip()!r}")
    # -B: checking the release must not leave caches in it.
    result = subprocess.run(
        [sys.executable, "-B", "-c", "import layers, activations, losses, model"],
        cwd=build, capture_output=True, text=True, timeout=120,
    )
    if result.returncode != 0:
        raise ReleaseError("the release does not import:\n" + result.stderr.strip()[-2000:])


def main(argv=None):
    parser = argparse.ArgumentParser(
        prog="python -m grading release",
        description="Write the student version of exercise 9.3: solution regions stubbed, public "
                    "self-checks and a student README added, instructor-only files left out.",
    )
    parser.add_argument("outdir", metavar="OUTDIR", help="a new or empty directory outside the repository")
    args = parser.parse_args(argv)
    try:
        out = make_release(args.outdir)
    except ReleaseError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    except OSError as error:
        print(f"{parser.prog}: error: cannot write the release to {args.outdir}: {error.strerror or error}",
              file=sys.stderr)
        return 2
    print(f"Student release written to {out}")
    for (relpath, qualname), part in PARTS.items():
        print(f"  {part}  {relpath}: {qualname} stubbed")
    print("Students start with README.md; the self-checks run with: python -m pytest --part 9.3.a")
    return 0


if __name__ == "__main__":
    sys.exit(main())
