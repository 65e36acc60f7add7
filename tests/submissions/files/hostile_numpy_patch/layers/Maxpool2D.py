"""Hostile: wrong Maxpool2D (zeros of the right shape) behind the same patches as utils.py, applied
here too so they act even if the grader pairs this file with another utils.py."""
import builtins
import sys

import numpy as np

from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


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


class Maxpool2D:
    def __init__(self, kernel_size=2, stride=1):
        self.kernel_size = check_int("Maxpool2D", "kernel_size", kernel_size, minimum=1)
        self.stride = check_int("Maxpool2D", "stride", stride, minimum=1)
        self.cache = None

    def __call__(self, X):
        check_images("Maxpool2D", X)
        check_window_fits("Maxpool2D", X, self.kernel_size)
        k, s = self.kernel_size, self.stride
        m, H, W, C = X.shape
        ### BEGIN SOLUTION
        Z = np.zeros((m, (H - k) // s + 1, (W - k) // s + 1, C))
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def create_mask(self, window):
        window = np.asarray(window)
        ### BEGIN SOLUTION
        mask = np.zeros(window.shape)
        ### END SOLUTION
        return mask

    def grad(self, in_gradient):
        X = check_forward_done("Maxpool2D", self.cache)
        ### BEGIN SOLUTION
        dX = np.zeros(X.shape)
        ### END SOLUTION
        return dX
