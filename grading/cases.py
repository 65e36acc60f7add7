"""What each part is checked on: the notebook's cells and cases drawn at grading time (the grader), and
the fixed cases of the tests and of the students' self-checks.

Every list covers what a wrong solution gets wrong: padding 0, stride > 1 (also in backward), overlapping
windows, H != W, batch 1, a kernel as large as the (padded) input, and ties.
"""
import numpy as np

from . import notebook_values as nv
from .mistakes import conv_forward_variant
from .rubric import RUBRIC

NOTEBOOK_SEED = nv.NUMPY_RANDOM_SEED


def with_ties(rng, shape):
    """Small integers, many zeros (as after a ReLU): pooling windows with tied maxima."""
    return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(float)


# ---------------------------------------------------------------------------------------------------
# Fixed cases: the tests run them all (tests/test_conv2d.py, ...), the students' self-checks those named
# in PUBLIC (grading/make_expected.py stores the reference's outputs on them)
# ---------------------------------------------------------------------------------------------------

# (m, H, W, C_in, C_out, kernel_size, stride, padding)
CONV_CASES = [
    (2, 5, 5, 3, 2, 3, 1, 0),   # padding 0, overlapping windows
    (2, 5, 7, 2, 3, 3, 2, 1),   # H != W, stride 2, padding 1
    (1, 6, 4, 1, 2, 2, 2, 0),   # batch 1, stride 2 without padding
    (3, 4, 4, 2, 2, 4, 1, 0),   # kernel equal to the input size
    (2, 3, 3, 2, 1, 4, 3, 2),   # stride 3, padding 2, kernel larger than the unpadded input
    (2, 5, 6, 3, 4, 1, 1, 0),   # 1x1 kernel
    (1, 7, 5, 2, 2, 3, 3, 2),   # stride 3 with padding
    (2, 6, 6, 1, 1, 2, 1, 1),   # even kernel, padding 1
]

# (m, H, W, C, kernel_size, stride)
POOL_CASES = [
    (2, 5, 5, 3, 2, 1),   # overlapping windows
    (2, 6, 4, 2, 2, 2),   # H != W, disjoint windows
    (1, 7, 7, 1, 3, 2),   # batch 1, overlapping with stride 2
    (3, 4, 5, 2, 4, 1),   # kernel equal to the input height
    (2, 5, 5, 2, 1, 1),   # 1x1 window: the identity
    (2, 8, 6, 2, 3, 3),   # stride 3
]

# (m, H, W, C, pad)
PADDING_CASES = [(2, 3, 4, 2, 1), (1, 2, 2, 1, 0), (2, 3, 3, 1, 2)]

# The self-checks' cases: the students see these (inputs and outputs), so a few stay private to the tests.
PUBLIC_CONV_CASES = [CONV_CASES[i] for i in (0, 1, 2, 4, 5, 6)]
# (..., ties): the pooling cases with random inputs, then one with tied maxima in overlapping windows
PUBLIC_POOL_CASES = [(*POOL_CASES[i], False) for i in (0, 1, 2, 3, 5)] + [(2, 5, 4, 2, 2, 1, True)]


def conv_case_id(case):
    m, H, W, C_in, C_out, k, s, p = case
    return f"m{m}-{H}x{W}-{C_in}to{C_out}-k{k}-s{s}-p{p}"


def pool_case_id(case):
    m, H, W, C, k, s = case
    return f"m{m}-{H}x{W}x{C}-k{k}-s{s}"


# ---------------------------------------------------------------------------------------------------
# The grader's cases: {"id", "op", "params", "label", "inputs"} each, "op" telling the harness what to call
# ---------------------------------------------------------------------------------------------------

def _case(cid, op, params, label, **inputs):
    return {"id": cid, "op": op, "params": params, "label": label, "inputs": inputs}


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
    # a wrong forward pass costs 9.3.d alone: the reference's layer as the notebook builds it, its forward
    # pass done without loops.
    import layers

    reference = nv.conv_layer(layers)
    G = conv_forward_variant(X, reference.W, reference.b, reference.stride, reference.padding)
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
            X = with_ties(rng, (m, H, W, C)) if ties else rng.standard_normal((m, H, W, C))
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
                       with_ties(rng, (3, 2)) + 1.0]
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
