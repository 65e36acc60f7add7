"""The judge: which cases each part is checked on, how outputs are compared, and what a mismatch means.

Expected outputs come from the reference run in the same sandboxed harness on the same inputs (so its
timing also sets the time limits). A failing part's feedback names the likely mistake, with a hint, when
its outputs' values or shapes, or the cases it raised on, are those of a known mistake in the catalogue
of ``grading/mistakes.py``. Diagnoses never decide points.
"""
from pathlib import Path

import numpy as np

from . import mistakes
from . import notebook_values as nv
from . import sandbox
from .mistakes import conv_forward_variant
from .rubric import REFERENCE_SIBLINGS, RUBRIC, STUDENT_FILES

NOTEBOOK_SEED = nv.NUMPY_RANDOM_SEED
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


# ---------------------------------------------------------------------------------------------------
# Cases
# ---------------------------------------------------------------------------------------------------

def _case(cid, op, params, label, **inputs):
    return {"id": cid, "op": op, "params": params, "label": label, "inputs": inputs}


def _ties(rng, shape):
    """Small integers, many zeros (as after a ReLU): pooling windows with tied maxima."""
    return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(float)


def _hw(rng, low, high):
    """A height and width that differ, both in [low, high]."""
    H = int(rng.integers(low, high + 1))
    W = int(rng.choice([w for w in range(low, high + 1) if w != H]))
    return H, W


# The notebook's own constructor calls, replayed as they are: the defaults of ``__init__`` and the weight
# initialisation sit outside the solution regions, so a student who changed them is caught here only.
NOTEBOOK_POOL = {"notebook": True}  # Maxpool2D(), with its defaults
NOTEBOOK_CONV = {"notebook": True, "seed": NOTEBOOK_SEED, "in_channels": 3, "out_channels": 8, "padding": 1,
                 "stride": 1}  # np.random.seed(42); Conv2D(in_channels=3, out_channels=8, padding=1, stride=1)


def notebook_cases(part):
    """The notebook's cells, replayed with its seed and its calls (see ``NOTEBOOK_POOL``, ``NOTEBOOK_CONV``).

    The inputs are the notebook's draws, made here so the judge can check them unchanged; the child
    builds the layer as the notebook does, its weights drawn by the submission's own ``Conv2D.__init__``.
    """
    np_state = np.random.RandomState(NOTEBOOK_SEED)
    if part == "9.3.a":
        X = np_state.randn(*nv.IMAGE_BATCH_SHAPE)
        return [_case("nb", "pad", {"pad": 2}, f"the notebook's cell (X of shape {X.shape}, pad=2)", X=X)]
    if part in ("9.3.b", "9.3.c"):
        X = np_state.randn(*nv.MAXPOOL_X_SHAPE)
        label = f"the notebook's cell (Maxpool2D() with its default kernel_size and stride, X of shape {X.shape}"
        if part == "9.3.b":
            return [_case("nb", "pool_forward", NOTEBOOK_POOL, label + ")", X=X)]
        G = np.random.RandomState(NOTEBOOK_SEED).randn(*nv.MAXPOOL_OUT_SHAPE)
        return [_case("nb", "pool_grad", NOTEBOOK_POOL, label + f", X_in_grad of shape {G.shape})", X=X, G=G)]
    X = np.random.RandomState(NOTEBOOK_SEED).randn(*nv.CONV_X_SHAPE)
    label = (f"the notebook's cell (np.random.seed({NOTEBOOK_SEED}); Conv2D(in_channels=3, out_channels=8, "
             f"padding=1, stride=1) with its default kernel_size and weight initialisation, X of shape {X.shape})")
    if part == "9.3.d":
        return [_case("nb", "conv_forward", NOTEBOOK_CONV, label, X=X)]
    # The notebook feeds Z back as the upstream gradient. The reference's Z, not the submission's, so that
    # a wrong forward pass costs 9.3.d alone; its weights are the reference's Conv2D.__init__ draw.
    W = np.random.RandomState(NOTEBOOK_SEED).randn(3, 3, 3, 8) * np.sqrt(2 / (3 * 3 * 3))
    G = conv_forward_variant(X, W, np.zeros(8), 1, 1)
    return [_case("nb", "conv_grad", NOTEBOOK_CONV, label, X=X, G=G)]


def random_cases(part, rng):
    """Inputs drawn now, covering what wrong solutions get wrong; shapes random within each template."""
    cases = []
    if part == "9.3.a":
        for n, (m, pad) in enumerate([(2, 0), (int(rng.integers(2, 4)), 1), (1, 3), (2, int(rng.integers(1, 3)))]):
            H, W = _hw(rng, 2, 6)
            C = int(rng.integers(1, 4))
            X = rng.standard_normal((m, H, W, C))
            cases.append(_case(f"r{n}", "pad", {"pad": pad}, f"X of shape {X.shape}, pad={pad}", X=X))
        return cases
    if part in ("9.3.b", "9.3.c"):
        # (kernel_size, stride, batch, ties): overlapping, overlapping with stride 2, disjoint, batch 1, stride 3
        templates = [(2, 1, 2, False), (3, 2, 2, True), (2, 2, 3, False), (2, 1, 1, True), (3, 3, 2, False),
                     (int(rng.integers(1, 4)), 1, 2, True)]
        op = "pool_forward" if part == "9.3.b" else "pool_grad"
        for n, (k, s, m, ties) in enumerate(templates):
            H, W = _hw(rng, k + s, k + 3 * s)
            C = int(rng.integers(1, 4))
            X = _ties(rng, (m, H, W, C)) if ties else rng.standard_normal((m, H, W, C))
            params = {"kernel_size": k, "stride": s}
            label = f"X of shape {X.shape}{' with tied maxima' if ties else ''}, kernel_size={k}, stride={s}"
            inputs = {"X": X}
            if op == "pool_grad":
                inputs["G"] = rng.standard_normal((m, (H - k) // s + 1, (W - k) // s + 1, C))
                label += ", random in_gradient"
            cases.append(_case(f"r{n}", op, params, label, **inputs))
        if part == "9.3.c":
            windows = [np.array([[3.0, 1.0], [2.0, 4.0]]), rng.standard_normal((2, 2)), rng.standard_normal((3, 3)),
                       np.zeros((2, 2)), np.array([[1.0, 5.0, 0.0], [5.0, 2.0, 5.0], [0.0, 1.0, 3.0]]),
                       _ties(rng, (3, 2)) + 1.0]
            for n, window in enumerate(windows):
                label = f"create_mask on the {window.shape[0]}x{window.shape[1]} window {window.round(3).tolist()}"
                cases.append(_case(f"m{n}", "pool_mask", {}, label, window=window))
        return cases
    # (kernel_size, stride, padding, batch): padding 0 with overlap, stride 2 with padding, stride 2
    # without, stride 3 with padding 2, a 1x1 kernel, kernel as large as the padded input
    templates = [(3, 1, 0, 2), (3, 2, 1, 1), (2, 2, 0, 2), (int(rng.integers(3, 5)), 3, 2, 2), (1, 1, 0, 2), (3, 1, 1, 1)]
    op = "conv_forward" if part == "9.3.d" else "conv_grad"
    for n, (k, s, p, m) in enumerate(templates):
        if n == 5:
            H, W = k - 2 * p, k - 2 * p + 1  # the kernel as tall as the padded input
        else:
            H, W = _hw(rng, max(k - 2 * p, 1) + s, max(k - 2 * p, 1) + 3 * s)
        C_in, C_out = int(rng.integers(1, 4)), int(rng.integers(1, 4))
        X = rng.standard_normal((m, H, W, C_in))
        Wt = rng.standard_normal((k, k, C_in, C_out))
        b = rng.standard_normal(C_out)
        params = {"in_channels": C_in, "out_channels": C_out, "kernel_size": k, "stride": s, "padding": p}
        label = f"X of shape {X.shape}, {C_out} filter{'s' * (C_out > 1)}, kernel_size={k}, stride={s}, padding={p}"
        inputs = {"X": X, "W": Wt, "b": b}
        if op == "conv_grad":
            inputs["G"] = rng.standard_normal((m, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1, C_out))
            label += ", random in_gradient"
        cases.append(_case(f"r{n}", op, params, label, **inputs))
    return cases


def make_plan(seed, parts=None, notebook_conv=True):
    """{part: [case, ...]} for this run: the notebook's cells, then the cases drawn from ``seed``.

    ``notebook_conv=False`` leaves out the notebook's Conv2D cells, the only slow ones (14 x 32 x 32
    inputs through four Python loops), for smoke runs and the grader's own tests.
    """
    plan = {}
    for part in parts or RUBRIC:
        rng = np.random.default_rng([seed, list(RUBRIC).index(part)])
        nb = notebook_cases(part) if notebook_conv or part not in ("9.3.d", "9.3.e") else []
        plan[part] = nb + random_cases(part, rng)
    return plan


# ---------------------------------------------------------------------------------------------------
# Judging
# ---------------------------------------------------------------------------------------------------

def _close(got, expected):
    return got.shape == expected.shape and bool(np.allclose(got, expected, rtol=RTOL, atol=ATOL))


def _fmt(x):
    return f"{x:.6g}"


def first_mismatch(got, expected):
    """'at index (i, h, w, c): got g, expected e' for the first element outside the tolerance."""
    bad = ~np.isclose(got, expected, rtol=RTOL, atol=ATOL)
    index = tuple(int(i) for i in np.argwhere(bad)[0])
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
    in a network), and the feedback, not partial points, tells how close the student came.
    """
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


# ---------------------------------------------------------------------------------------------------
# One child run each: the reference (for the expected arrays and the limits) and a submission's part
# ---------------------------------------------------------------------------------------------------

def run_reference(part, cases, timeout):
    """The reference's arrays for ``cases``, its wall time and its peak address space (bytes)."""
    ws = sandbox.make_workspace(reference=STUDENT_FILES)
    try:
        sandbox.write_job(ws, part, cases)
        child = sandbox.run_child(ws, timeout=timeout)
    finally:
        sandbox.remove_workspace(ws)
    if child.status != "ok":
        return {"part": part, "problem": f"the reference's process {child.problem}: {child.output_tail[-300:]}"}
    peak = float(child.arrays.pop("_meta.vmpeak_kb", np.zeros(1))[0]) * 1024
    return {"part": part, "arrays": child.arrays, "seconds": child.wall, "peak_bytes": peak, "problem": None}


MAX_FILE_BYTES = 2**20


def student_file_problem(path):
    """Why ``path`` cannot be graded as a student's file (missing, a link, too large), or None."""
    path = Path(path)
    if path.is_symlink():
        return f"layers/{path.name} is a symbolic link, not a file"
    if not path.is_file():
        return f"layers/{path.name} is missing from the submission"
    if path.stat().st_size > MAX_FILE_BYTES:
        return f"layers/{path.name} is larger than {MAX_FILE_BYTES // 2**20} MB"
    return None


def run_part(submission, part, cases, expected, timeout, memory_bytes):
    """Grade one part of one submission in its own sandboxed child; a dict for the JSON report."""
    spec = RUBRIC[part]
    result = {"points": 0.0, "max": spec.points, "title": spec.title, "feedback": [], "diagnoses": [],
              "seconds": 0.0, "status": "missing"}
    path = Path(submission) / "layers" / spec.file
    problem = student_file_problem(path)
    if problem:
        result["feedback"] = [f"{problem}: 0 points for this part"]
        return result
    ws = sandbox.make_workspace({spec.file: path}, reference=REFERENCE_SIBLINGS.get(part, ()))
    try:
        sandbox.write_job(ws, part, cases)
        child = sandbox.run_child(ws, timeout=timeout, memory_bytes=memory_bytes)
    finally:
        sandbox.remove_workspace(ws)
    try:
        points, feedback, diagnoses = judge_part(part, cases, expected, child)
    except Exception as exc:  # noqa: BLE001 - a grader bug must cost one part, not the batch, and show
        points, feedback, diagnoses = 0.0, [f"the grader could not judge the results ({type(exc).__name__}: {exc}); "
                                            "please report this to your instructor"], []
    result.update(points=points, feedback=feedback, diagnoses=diagnoses, seconds=round(child.wall, 2),
                  status=child.status)
    return result
