"""9.3.b: Maxpool2D.__call__ in layers/Maxpool2D.py."""
import numpy as np
import pytest

import layers
import notebook_values  # grading/notebook_values.py, released beside these checks

from helpers import EXPECTED, assert_close, assert_unchanged, case_id, cases
from layers import Maxpool2D

pytestmark = pytest.mark.part("9.3.b")


def image(rows):
    """One example, one channel: (1, H, W, 1) from a list of rows."""
    return np.array(rows, dtype=float)[np.newaxis, :, :, np.newaxis]


def test_overlapping_windows():
    Z = Maxpool2D(kernel_size=2, stride=1)(image([[0, 1, 2], [3, 4, 5], [6, 7, 8]]))
    assert_close(Z, image([[4, 5], [7, 8]]), "Maxpool2D(2, 1) on 0..8")


def test_stride_two():
    Z = Maxpool2D(kernel_size=2, stride=2)(np.arange(16.0).reshape(1, 4, 4, 1))
    assert_close(Z, image([[5, 7], [13, 15]]), "Maxpool2D(2, 2) on 0..15 (is the stride used?)")


def test_negative_inputs():
    Z = Maxpool2D(kernel_size=2, stride=1)(-image([[1, 2, 3], [4, 5, 6], [7, 8, 9]]))
    assert_close(Z, image([[-1, -2], [-4, -5]]), "Maxpool2D(2, 1) on -1..-9 (the maximum of negatives is negative)")


def test_notebook_cell():
    values = EXPECTED["notebook"]["9.3.b"]
    _, out = notebook_values.cell_9_3_b(layers)
    assert list(out.shape) == values["out.shape"]
    assert_close(np.mean(out), values["mean(out)"], "np.mean(out)")


@pytest.mark.parametrize("case", cases("9.3.b"), ids=case_id)
def test_stored_case(case):
    X = case["X"].copy()
    Z = Maxpool2D(kernel_size=case["kernel_size"], stride=case["stride"])(X)
    assert_close(Z, case["Z"], f"Maxpool2D(kernel_size={case['kernel_size']}, stride={case['stride']})(X)")
    assert_unchanged(X, case["X"], "X")
