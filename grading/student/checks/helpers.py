"""What the checks share: the stored expected values, a comparison that names the first wrong
element, a central-difference gradient, and the forward passes the backward checks rely on."""
import json
from functools import lru_cache
from pathlib import Path

import gradcheck  # grading/gradcheck.py, released beside these checks
import numpy as np
import pytest

from layers import Conv2D, Maxpool2D

EXPECTED = json.loads((Path(__file__).parent / "expected.json").read_text(encoding="utf-8"))

# Another correct loop order sums in another order and moves the last digits.
RTOL, ATOL = 1e-7, 1e-10


def cases(part):
    """The stored cases of one part, each a dict whose array entries are ndarrays."""
    return [{key: np.array(value) if isinstance(value, list) else value for key, value in case.items()}
            for case in EXPECTED[part]]


def case_id(case):
    keys = ("kernel_size", "stride", "padding", "pad")
    return "-".join(f"{key}{case[key]}" for key in keys if key in case) + f"-X{'x'.join(map(str, case['X'].shape))}"


def assert_close(actual, expected, what, rtol=RTOL, atol=ATOL, hint=""):
    """Fail with the shapes, or with how many elements differ and where the first one is (and ``hint``)."""
    gradcheck.assert_close(actual, expected, rtol=rtol, atol=atol, what=what, hint=hint)


def assert_unchanged(before, after, what):
    assert np.array_equal(before, after), f"{what} was changed by the call: work on a copy (e.g. the padded array)"


def forward_for_grad(layer, X):
    """Run the forward pass that ``grad`` needs.

    If that pass is a part not written yet or raises, cache X the way the file's scaffolding does after
    the forward loops, so a backward part can be checked before its forward part works.
    """
    try:
        layer(X)
    except Exception:
        # not written yet, or failing: either way grad is checked on its own, with the input cached
        layer.cache = X.copy()


def conv_with(W, b, stride=1, padding=0):
    """A Conv2D whose filters W (k, k, C_in, C_out) and biases b (C_out,) are given."""
    W, b = np.asarray(W, dtype=float), np.asarray(b, dtype=float)
    conv = Conv2D(W.shape[2], W.shape[3], kernel_size=W.shape[0], stride=stride, padding=padding)
    conv.W, conv.b = W, b
    return conv


FORWARD = {"9.3.b": "Maxpool2D.__call__", "9.3.d": "Conv2D.__call__"}


@lru_cache(maxsize=None)
def _forward_problem(part):
    """Why the forward pass of ``part`` cannot be trusted yet, or None when it gives the stored values.

    A part not written yet raises NotImplementedError, which goes through: the check then fails with
    the not-implemented message. Any other exception is a bug in that forward pass, not in ``grad``.
    """
    for case in cases(part):
        try:
            if part == "9.3.b":
                Z = Maxpool2D(kernel_size=case["kernel_size"], stride=case["stride"])(case["X"].copy())
            else:
                Z = conv_with(case["W"], case["b"], stride=case["stride"], padding=case["padding"])(case["X"].copy())
        except NotImplementedError:
            raise
        except Exception as error:
            lines = str(error).strip().splitlines()
            return f"it raises {type(error).__name__}" + (f": {lines[0]}" if lines else "")
        if np.shape(Z) != case["Z"].shape or not np.allclose(Z, case["Z"], rtol=RTOL, atol=ATOL):
            return f"python -m pytest --part {part} fails"
    return None


def skip_unless_forward_is_right(part):
    """Skip a check that goes through the forward pass of ``part`` while that pass is still wrong.

    A gradient check differentiates your forward pass: with a wrong or failing one it would blame
    ``grad``. A forward pass not written yet still fails the check, with its not-implemented message.
    """
    problem = _forward_problem(part)
    if problem is not None:
        pytest.skip(f"fix {part} ({FORWARD[part]}) first: {problem}")
