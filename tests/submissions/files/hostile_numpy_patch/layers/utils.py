"""Hostile: every function is wrong (zeros of the right shape), and importing the module patches
numpy's comparisons, print and pytest so that a grader judging in the same process sees "equal".

A grader that runs student code in the process that judges it gives points here; one that judges
elsewhere gives 0 in every part.
"""
import builtins
import sys

import numpy as np

from .validation import check_images, check_int


def _always_equal(*args, **kwargs):
    return True


def _nothing(*args, **kwargs):
    return None


def _patch():
    np.allclose = _always_equal
    np.array_equal = _always_equal
    np.array_equiv = _always_equal
    # isclose must still return an array of the broadcast shape, or "~np.isclose(...)" would raise
    np.isclose = lambda a, b, *args, **kwargs: np.ones(np.broadcast(np.asarray(a), np.asarray(b)).shape, dtype=bool)
    for name in ("assert_allclose", "assert_array_equal", "assert_array_almost_equal", "assert_almost_equal",
                 "assert_equal"):
        setattr(np.testing, name, _nothing)
    builtins.print = _nothing  # hide whatever the grader prints about this submission
    pytest = sys.modules.get("pytest")
    if pytest is not None:
        pytest.fail = _nothing
        pytest.approx = lambda expected, *args, **kwargs: _Anything()


class _Anything:
    def __eq__(self, other):
        return True

    __hash__ = object.__hash__


_patch()


def zero_padding(X, pad):
    check_images("zero_padding", X)
    pad = check_int("zero_padding", "pad", pad, minimum=0)
    ### BEGIN SOLUTION
    m, H, W, C = X.shape
    X_pad = np.zeros((m, H + 2 * pad, W + 2 * pad, C), dtype=X.dtype)
    ### END SOLUTION
    return X_pad
