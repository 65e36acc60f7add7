"""Judging one part: its outputs against the reference's, case by case, all or nothing, with feedback
that names the first mismatch and the likely mistake.

Expected outputs come from the reference run in the same sandboxed harness on the same inputs. A failing
part's feedback names the likely mistake, with a hint, when its outputs' values or shapes, or the cases it
raised on, are those of a known mistake in the catalogue of ``grading/mistakes.py``. Diagnoses never
decide points.
"""
import functools
import re

import numpy as np

from . import mistakes
from . import notebook_values as nv
from .gradcheck import first_mismatch as _first_bad
from .release import REPO, solution_lines
from .rubric import RUBRIC, STUDENT_FILES

# What the notebook prints with the reference, from the one copy in grading/notebook_values.py.
NOTEBOOK = {
    "9.3.a": ("shape", nv.IMAGE_BATCH_PADDED_SHAPE),
    "9.3.b": ("mean of out", nv.MAXPOOL_OUT_MEAN),
    "9.3.c": ("mean of maxpool2D.grad(X_in_grad)[0]", nv.MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE),
    "9.3.d": ("Mean Z", nv.CONV_Z_MEAN),
    "9.3.e": ("dX mean, dW mean, db mean", (nv.CONV_DX_MEAN, nv.CONV_DW_MEAN, nv.CONV_DB_MEAN)),
}
NOTEBOOK_Z_SHAPE = nv.CONV_Z_SHAPE

RTOL, ATOL = 1e-6, 1e-9
DIAGNOSE_MAX_SIZE = 20_000  # loop variants run only on inputs this small (the random cases)
FEEDBACK_CASES = 3          # failing cases described in full; the rest are counted


def _close(got, expected):
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=RTOL, atol=ATOL))


def _fmt(x):
    return f"{x:.6g}"


def first_mismatch(got, expected):
    """'at index (i, h, w, c): got g, expected e' for the first element outside the tolerance."""
    index, _ = _first_bad(got, expected, rtol=RTOL, atol=ATOL)
    return f"at index {index}: got {_fmt(got[index])}, expected {_fmt(expected[index])}"


def _notebook_problem(part, outputs):
    """None when the outputs reproduce the number the notebook prints, else what differs."""
    what, value = NOTEBOOK[part]
    if part == "9.3.a":
        got = outputs["Z"].shape
        return None if got == value else f"{what} {got}, the notebook expects {value}"
    if part == "9.3.b":
        got = [float(np.mean(outputs["Z"]))]
    elif part == "9.3.c":
        got = [float(np.mean(outputs["dX"][0]))] if outputs["dX"].ndim and len(outputs["dX"]) else [np.nan]
    elif part == "9.3.d":
        if outputs["Z"].shape != NOTEBOOK_Z_SHAPE:
            return f"Z.shape {outputs['Z'].shape}, the notebook expects {NOTEBOOK_Z_SHAPE}"
        got = [float(np.mean(outputs["Z"]))]
    else:
        got = [float(np.mean(outputs[name])) if outputs[name].size else np.nan for name in ("dX", "dW", "db")]
    values = value if isinstance(value, tuple) else (value,)
    if np.allclose(got, values, rtol=1e-7, atol=1e-12):
        return None
    return f"{what} = {', '.join(_fmt(g) for g in got)}, the notebook expects {', '.join(repr(v) for v in values)}"


def judge_case(part, case, expected, got):
    """(ok, message, diagnoses) for one case. ``expected`` holds the reference's arrays for the case,
    ``got`` the student's (both without the case prefix; 'error' when the student's code raised)."""
    where = f"{case['label']}"
    diagnoses = []
    problems = []
    for name in case["inputs"]:
        after = got.get(f"{name}_after")
        if after is None or after.shape != case["inputs"][name].shape:
            problems.append(f"the input {name} was not reported back")
        elif not np.array_equal(after, case["inputs"][name], equal_nan=True):
            index = tuple(int(i) for i in np.argwhere(after != case["inputs"][name])[0])
            problems.append(f"your code changed its input {name} in place (first at index {index})")
            diagnoses.append(mistakes.IN_PLACE)
    if "error" in got:
        text = bytes(got["error"].astype(np.uint8)).decode("utf-8", "replace")
        text = "".join(ch if ch.isprintable() else "?" for ch in text)[:500]
        return False, f"{where}: " + "; ".join([f"your code raised {text}"] + problems), diagnoses
    outputs = [name for name in expected if not name.endswith("_after")]
    mismatched = []
    for name in outputs:
        exp, out = expected[name], got.get(name)
        if out is None:
            problems.append(f"{name} missing")
        elif out.shape != exp.shape:
            problems.append(f"{name} has shape {out.shape}, expected {exp.shape}")
            mismatched.append(name)
            diagnoses += [d for d in mistakes.shape_diagnoses(case, name, out.shape) if d not in diagnoses]
        elif not _close(out, exp):
            problems.append(f"{name} differs {first_mismatch(out, exp)}")
            mismatched.append(name)
    if not problems and case["id"] == "nb":
        nb = _notebook_problem(part, {name: got[name] for name in outputs})
        if nb:
            problems.append(nb)
    if mismatched and max(a.size for a in case["inputs"].values()) <= DIAGNOSE_MAX_SIZE:
        for names, variant in mistakes.variants(case):
            if any(n in variant and _close(got[n], variant[n]) for n in mismatched):
                diagnoses += [name for name in names if name not in diagnoses]
    if not problems:
        return True, None, diagnoses
    return False, f"{where}: " + "; ".join(problems), diagnoses


def judge_part(part, cases, expected, child):
    """Points and feedback for one part from the reference's arrays and the child's ``ChildResult``.

    All or nothing: the part's points when every case passes, else 0. The cases of a part test one
    behaviour end to end (an output that is right only without stride, or only without ties, is wrong
    in a network), and the feedback, not partial points, tells how close the student came. Every line is
    ``scrub``bed: the feedback quotes what the student's code printed or raised.
    """
    points, feedback, diagnoses = _judge_part(part, cases, expected, child)
    return points, [scrub(line) for line in feedback], diagnoses


@functools.lru_cache(maxsize=None)
def _solution_pattern():
    """One regular expression matching any line of the reference's solution regions, whatever the spacing."""
    sources = {f"layers/{name}": (REPO / "layers" / name).read_text(encoding="utf-8") for name in STUDENT_FILES}
    lines = sorted(solution_lines(sources), key=len, reverse=True)  # the longest first, where one holds another
    return re.compile("|".join(r"\s*".join(map(re.escape, line.split())) for line in lines))


def scrub(text):
    """``text`` with every line of the reference's solution cut out. The code graded for 9.3.d and 9.3.e
    runs beside the reference's zero_padding (``rubric.REFERENCE_SIBLINGS``) and may print its file or
    raise it as a message: the feedback would hand it to the student."""
    return _solution_pattern().sub("[a line of the reference solution, removed]", text)


def _judge_part(part, cases, expected, child):
    max_points = RUBRIC[part].points
    n = len(cases)
    if child.status != "ok":
        during = next((c["label"] for c in cases if c["id"] == child.last_case), None) if child.status != "flood" else None
        line = f"the process running your code {child.problem}" + (f", during the check on {during}" if during else "")
        feedback = [line + "."]
        if child.output_tail and child.status not in ("timeout", "flood"):
            feedback.append("last lines of its output: " + child.output_tail[-300:].replace("\n", " | "))
        return 0.0, feedback, []
    failures, diagnoses, errors, failed_ids, raised = [], [], set(), [], []
    for case in cases:
        prefix = case["id"] + "."
        got = {k[len(prefix):]: v for k, v in child.arrays.items() if k.startswith(prefix)}
        exp = {k[len(prefix):]: v for k, v in expected.items() if k.startswith(prefix)}
        ok, message, found = judge_case(part, case, exp, got)
        for name in found:
            if name not in diagnoses:
                diagnoses.append(name)
        if not ok:
            failures.append(message)
            failed_ids.append(case["id"])
            if "error" in got:
                errors.add(message.split(": your code raised ", 1)[1].split("; ")[0])
                raised.append(case["id"])
    seen = dict(mistakes.raise_diagnoses(cases, raised, failed_ids))
    diagnoses += [name for name in seen if name not in diagnoses]
    if not failures:
        drawn = sum(case["id"] != "nb" for case in cases)
        return float(max_points), [f"all {n} checks passed ({drawn} of them on inputs drawn at grading time)"], diagnoses
    if len(errors) == 1 and len(failures) == n:
        feedback = [f"every check failed the same way: your code raised {errors.pop()}"]
    else:
        feedback = [f"{len(failures)} of {n} checks failed"] + failures[:FEEDBACK_CASES]
        if len(failures) > FEEDBACK_CASES:
            feedback.append(f"... and {len(failures) - FEEDBACK_CASES} more")
    if failed_ids == ["nb"] and n > 1:
        feedback.append("only the notebook's cell fails, and it alone builds the layer with the notebook's own call: "
                        "check the defaults of __init__ and the weight initialisation, outside the solution regions")
    for name in diagnoses:
        how = f" ({seen[name]})" if name in seen else ""
        feedback.append(f"likely mistake: {name}{how} — {mistakes.BY_NAME[name].hint}")
    return 0.0, feedback, diagnoses


def reference_problems(plan, expected_by_part):
    """Lines saying where the reference's own run disagrees with the notebook or failed; empty if none."""
    problems = []
    for part, cases in plan.items():
        arrays = expected_by_part[part]
        for case in cases:
            prefix = case["id"] + "."
            got = {k[len(prefix):]: v for k, v in arrays.items() if k.startswith(prefix)}
            if "error" in got:
                text = bytes(got["error"].astype(np.uint8)).decode("utf-8", "replace")
                problems.append(f"{part} {case['label']}: the reference raised {text}")
            elif case["id"] == "nb":
                nb = _notebook_problem(part, {k: v for k, v in got.items() if not k.endswith("_after")})
                if nb:
                    problems.append(f"{part}: the reference prints {nb}")
    return problems
