"""Hostile: wrong Conv2D (zeros of the right shapes) behind the same patches as utils.py, applied
here too so they act even if the grader pairs this file with another utils.py."""
import builtins
import sys

import numpy as np

from .validation import check_forward_done, check_images, check_int


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


class Conv2D:
    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=0):
        self.in_channels = check_int("Conv2D", "in_channels", in_channels, minimum=1)
        self.out_channels = check_int("Conv2D", "out_channels", out_channels, minimum=1)
        self.kernel_size = check_int("Conv2D", "kernel_size", kernel_size, minimum=1)
        self.stride = check_int("Conv2D", "stride", stride, minimum=1)
        self.padding = check_int("Conv2D", "padding", padding, minimum=0)
        k = self.kernel_size
        self.W = np.random.randn(k, k, self.in_channels, self.out_channels) * np.sqrt(2 / (k * k * self.in_channels))
        self.b = np.zeros(self.out_channels)
        self.cache = None

    def __call__(self, X):
        check_images("Conv2D", X, channels=self.in_channels)
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, _ = X.shape
        ### BEGIN SOLUTION
        Z = np.zeros((m, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1, self.out_channels))
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def grad(self, in_gradient):
        X = check_forward_done("Conv2D", self.cache)
        ### BEGIN SOLUTION
        dX, dW, db = np.zeros(X.shape), np.zeros(self.W.shape), np.zeros(self.b.shape)
        ### END SOLUTION
        return dX, dW, db
