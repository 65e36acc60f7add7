"""What the grader writes: the stdout table, the JSON and CSV files, and the per-function diffs.

The diffs compare each graded function with the reference after a round trip through ``ast`` (parse,
extract the function, drop its docstring, ``ast.unparse``), so layout, comments and quoting do not
show and an instructor sees only where the code itself deviates. The student's file is only parsed,
never executed, here.
"""
import ast
import csv
import difflib
import io
import json
import os
import tempfile
from pathlib import Path

import numpy as np

from .run import student_file_problem
from .rubric import MAX_POINTS, RUBRIC, TOTAL_POINTS


def _strip_docstrings(node):
    for sub in ast.walk(node):
        if isinstance(sub, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)) and sub.body:
            first = sub.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant) and isinstance(first.value.value, str):
                sub.body = sub.body[1:] or [ast.Pass()]
    return node


def find_function(tree, qualname):
    """The ``def`` named ``qualname`` ("f" or "Class.method") at the top level of a module, or None."""
    *owner, name = qualname.split(".")
    scope = tree.body
    if owner:
        classes = [n for n in scope if isinstance(n, ast.ClassDef) and n.name == owner[0]]
        if not classes:
            return None
        scope = classes[-1].body
    found = [n for n in scope if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef)) and n.name == name]
    return found[-1] if found else None


def normalised_source(source, qualname, filename):
    """(text, None) with the function's normalised code, or (None, why it has none)."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as exc:
        return None, f"syntax error in {filename} at line {exc.lineno}: {exc.msg}"
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"{filename} could not be parsed ({type(exc).__name__})"
    node = find_function(tree, qualname)
    if node is None:
        return None, f"{qualname} is not defined in {filename}"
    try:
        # a long enough expression parses yet overflows unparse's recursion: one function's diff
        # is lost then, never the batch's report
        return ast.unparse(_strip_docstrings(node)) + "\n", None
    except (ValueError, RecursionError, MemoryError) as exc:
        return None, f"{qualname} in {filename} could not be normalised ({type(exc).__name__})"


def function_diffs(submission, reference):
    """{qualname: unified diff against the reference, "" when identical, or a one-line problem}."""
    diffs = {}
    for part in RUBRIC.values():
        student_path = Path(submission) / "layers" / part.file
        reference_text = (Path(reference) / "layers" / part.file).read_text()
        problem = student_file_problem(student_path)
        student_text = None if problem else student_path.read_text(encoding="utf-8", errors="replace")
        for qualname in part.functions:
            ref, _ = normalised_source(reference_text, qualname, f"layers/{part.file}")
            if student_text is None:
                diffs[qualname] = problem.replace(" from the submission", "")
                continue
            mine, problem = normalised_source(student_text, qualname, f"layers/{part.file}")
            if problem:
                diffs[qualname] = problem
                continue
            diffs[qualname] = "".join(difflib.unified_diff(
                ref.splitlines(keepends=True), mine.splitlines(keepends=True),
                fromfile=f"reference {qualname}", tofile=f"submission {qualname}", n=2))
    return diffs


def _points(x):
    return f"{x:g}"


def total_text(entry):
    text = f"{_points(entry['points'])}/{entry['max']}"
    text += f" (+{_points(entry['bonus'])} bonus)" if entry.get("bonus") else ""
    return text + (" (quick)" if entry.get("quick") else "")


def shown(name):
    """A folder name as one line of the table: control characters (a newline, an escape sequence) and
    other unprintable ones written as Python escapes."""
    return "".join(ch if ch.isprintable() else repr(ch)[1:-1] for ch in name)


def table(results, seed=None, isolation=None):
    """A plain-text table, one row per submission, then one line per lost part. "(quick)" marks a result
    graded without the notebook's Conv2D cells."""
    parts = list(RUBRIC)
    width = max([len("submission")] + [len(shown(name)) for name in results])
    head = f"{'submission':<{width}}  " + "  ".join(f"{p:>5}" for p in parts) + "  points"
    rows = [f"isolation: {isolation}"] if isolation else []
    rows += [head, "-" * len(head)]
    for name, entry in results.items():
        cells = "  ".join(f"{_points(entry['parts'][p]['points']):>5}" for p in parts)
        rows.append(f"{shown(name):<{width}}  {cells}  {total_text(entry)}")
    maxes = "  ".join(f"{_points(RUBRIC[p].points):>5}" for p in parts)
    rows.append(f"{'(max)':<{width}}  {maxes}  {MAX_POINTS}; the parts add up to "
                f"{TOTAL_POINTS}, points above {MAX_POINTS} are a bonus")
    lost = []
    for name, entry in results.items():
        for p in parts:
            info = entry["parts"][p]
            if info["points"] < info["max"] and info["feedback"]:
                line = info["feedback"][0] if len(info["feedback"]) == 1 else " / ".join(info["feedback"][:2])
                line = line if len(line) <= 200 else line[:197] + "..."
                if info.get("diagnoses"):
                    line += f" [likely: {', '.join(info['diagnoses'])}]"
                lost.append(f"  {shown(name)} {p}: {shown(line)}")
    if lost:
        rows += ["", "lost points (the full feedback is in --json; its diffs show reference code, for "
                     "instructors only):"] + lost
    if seed is not None:
        rows.append(f"\nrandom checks drawn with seed {seed}, numpy {np.__version__}")
    return "\n".join(rows)


def _atomic_write(path, text):
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "w", newline="") as f:
            f.write(text)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def write_json(path, results):
    _atomic_write(path, json.dumps(results, indent=2, sort_keys=False) + "\n")


def read_json(path):
    """The results already in ``path`` ({} if it does not exist); ValueError if it is not ours."""
    path = Path(path)
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"{path} exists but is not a results file ({exc})") from None
    if not isinstance(data, dict) or not all(isinstance(v, dict) and "parts" in v for v in data.values()):
        raise ValueError(f"{path} exists but is not a results file written by `python -m grading grade`")
    return data


CSV_FIELDS = ["submission", "points", "max", "bonus", *RUBRIC, "seed", "quick", "isolation", "numpy",
              "likely mistakes"]
# A cell starting with one of these is a formula to a spreadsheet (CSV injection): a folder named
# "=HYPERLINK(...)" must stay text, so such a cell gets a leading apostrophe.
FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value):
    if isinstance(value, str) and value.startswith(FORMULA_STARTS):
        return "'" + value
    return value


def write_csv(path, results):
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=CSV_FIELDS)
    writer.writeheader()
    for name, entry in results.items():
        row = {"submission": name, "points": entry["points"], "max": entry["max"],
               "bonus": entry.get("bonus", 0.0), "seed": entry.get("seed", ""), "quick": bool(entry.get("quick")),
               "isolation": entry.get("isolation", ""), "numpy": entry.get("numpy", "")}
        mistakes = []
        for part in RUBRIC:
            row[part] = entry["parts"][part]["points"]
            mistakes += [f"{part}: {d}" for d in entry["parts"][part].get("diagnoses", [])]
        row["likely mistakes"] = "; ".join(mistakes)
        writer.writerow({key: csv_cell(value) for key, value in row.items()})
    _atomic_write(path, out.getvalue())
