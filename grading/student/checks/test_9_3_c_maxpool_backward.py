"""9.3.c: Maxpool2D.create_mask and Maxpool2D.grad in layers/Maxpool2D.py.

The stored and hand-computed cases check grad on its own; the gradient check differentiates your
forward pass, so it waits for a correct 9.3.b.
"""
import numpy as np
import pytest

import layers
import notebook_values  # grading/notebook_values.py, released beside these checks

from helpers import (EXPECTED, assert_close, assert_unchanged, case_id, cases, forward_for_grad,
                     skip_unless_forward_is_right)
from gradcheck import numerical_gradient  # grading/gradcheck.py, released beside these checks
from layers import Maxpool2D

pytestmark = pytest.mark.part("9.3.c")


@pytest.mark.parametrize("window, mask", [
    ([[3, 1], [2, 4]], [[0, 0], [0, 1]]),        # the notebook's example
    ([[-3, -1], [-2, -4]], [[0, 1], [0, 0]]),    # negative entries
    ([[1, 5], [5, 0]], [[0, 1], [0, 0]]),        # a tie: the first maximum in row-major order
    ([[0, 0, 0], [0, 0, 0], [0, 0, 0]], [[1, 0, 0], [0, 0, 0], [0, 0, 0]]),  # all tied, as after a ReLU
], ids=["notebook", "negative", "tie", "all-zero"])
def test_create_mask(window, mask):
    window = np.array(window, dtype=float)
    before = window.copy()
    got = Maxpool2D().create_mask(window)
    assert_close(got, mask, f"create_mask({window.tolist()})")
    assert_unchanged(window, before, "the window")


def test_overlapping_windows_add_up():
    # the centre is the maximum of all four 2x2 windows, so it collects all four gradients
    X = np.array([[1, 2, 3], [4, 9, 5], [6, 7, 8]], dtype=float).reshape(1, 3, 3, 1)
    pool = Maxpool2D(kernel_size=2, stride=1)
    forward_for_grad(pool, X)
    dX = pool.grad(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1))
    expected = np.zeros((1, 3, 3, 1))
    expected[0, 1, 1, 0] = 10.0
    assert_close(dX, expected, "dX, with every window's maximum at the centre",
                 hint="use += for overlapping windows")


def test_stride_two():
    pool = Maxpool2D(kernel_size=2, stride=2)
    forward_for_grad(pool, np.arange(16.0).reshape(1, 4, 4, 1))
    dX = pool.grad(np.array([1.0, 2.0, 3.0, 4.0]).reshape(1, 2, 2, 1))
    expected = np.zeros((1, 4, 4, 1))
    expected[0, 1, 1, 0], expected[0, 1, 3, 0], expected[0, 3, 1, 0], expected[0, 3, 3, 0] = 1, 2, 3, 4
    assert_close(dX, expected, "dX for Maxpool2D(2, 2) on 0..15 (is the stride used?)")


def test_ties_send_the_gradient_to_one_input():
    pool = Maxpool2D(kernel_size=2, stride=2)
    forward_for_grad(pool, np.zeros((1, 2, 4, 1)))
    dX = pool.grad(np.array([1.0, 2.0]).reshape(1, 1, 2, 1))
    expected = np.zeros((1, 2, 4, 1))
    expected[0, 0, 0, 0], expected[0, 0, 2, 0] = 1.0, 2.0
    assert_close(dX, expected, "dX for all-zero windows (the first maximum takes the whole gradient)")


def test_notebook_cell():
    values = EXPECTED["notebook"]["9.3.c"]
    # the cell's forward pass, through forward_for_grad so that grad is checked even before 9.3.b works
    np.random.seed(notebook_values.NUMPY_RANDOM_SEED)
    maxpool2D = Maxpool2D()
    forward_for_grad(maxpool2D, np.random.randn(*notebook_values.MAXPOOL_X_SHAPE))
    dX = notebook_values.cell_9_3_c(layers, maxpool2D)
    assert_close(np.mean(dX[0]), values["mean(dX[0])"], "np.mean(maxpool2D.grad(X_in_grad)[0])")


@pytest.mark.parametrize("case", cases("9.3.c"), ids=case_id)
def test_stored_case(case):
    pool = Maxpool2D(kernel_size=case["kernel_size"], stride=case["stride"])
    forward_for_grad(pool, case["X"].copy())
    in_gradient = case["in_gradient"].copy()
    dX = pool.grad(in_gradient)
    ties = " (the input has tied maxima)" if case["ties"] else ""
    assert_close(dX, case["dX"], f"dX of Maxpool2D(kernel_size={case['kernel_size']}, stride={case['stride']}){ties}")
    assert_unchanged(in_gradient, case["in_gradient"], "in_gradient")


@pytest.mark.parametrize("kernel_size, stride", [(2, 1), (3, 2), (2, 2)])
def test_gradient_matches_central_differences(kernel_size, stride):
    skip_unless_forward_is_right("9.3.b")
    rng = np.random.default_rng(7)
    # distinct values: with a tie the loss has a kink and central differences are meaningless
    X = rng.permutation(2 * 5 * 6 * 2).reshape(2, 5, 6, 2) / 10.0
    pool = Maxpool2D(kernel_size=kernel_size, stride=stride)
    G = rng.standard_normal(pool(X).shape)
    numerical = numerical_gradient(lambda X_: np.sum(pool(X_) * G), X)
    pool(X)
    assert_close(pool.grad(G), numerical, f"dX against central differences of your forward pass "
                 f"(kernel_size={kernel_size}, stride={stride})", rtol=1e-5, atol=1e-7)
