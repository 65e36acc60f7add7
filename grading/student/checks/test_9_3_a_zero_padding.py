"""9.3.a: zero_padding in layers/utils.py."""
import numpy as np
import pytest

import layers
import notebook_values  # grading/notebook_values.py, released beside these checks

from helpers import EXPECTED, assert_close, assert_unchanged, case_id, cases
from layers import zero_padding

pytestmark = pytest.mark.part("9.3.a")


def test_one_pixel_padded_by_one():
    X = np.array([1.0, 2.0]).reshape(1, 1, 1, 2)
    X_pad = zero_padding(X, 1)
    assert X_pad.shape == (1, 3, 3, 2)
    expected = np.zeros((1, 3, 3, 2))
    expected[0, 1, 1] = [1.0, 2.0]
    assert_close(X_pad, expected, "zero_padding(X, 1)")


def test_only_height_and_width_are_padded():
    X_pad = zero_padding(np.ones((2, 3, 4, 5)), 1)
    assert X_pad.shape == (2, 5, 6, 5), (
        f"expected (m, H + 2*pad, W + 2*pad, C) = (2, 5, 6, 5), got {X_pad.shape}: "
        "pad axes 1 and 2 only, not the examples (axis 0) or the channels (axis 3)"
    )


def test_notebook_cell():
    values = EXPECTED["notebook"]["9.3.a"]
    image_batch, X_pad = notebook_values.cell_9_3_a(layers)
    assert list(X_pad.shape) == values["image_batch_padded.shape"]
    assert_close(X_pad[1, 1], values["image_batch_padded[1,1]"], "image_batch_padded[1,1]")
    assert_close(X_pad[:, 2:-2, 2:-2, :], image_batch, "the inside of the padded batch")


@pytest.mark.parametrize("case", cases("9.3.a"), ids=case_id)
def test_stored_case(case):
    X = case["X"].copy()
    X_pad = zero_padding(X, case["pad"])
    assert_close(X_pad, case["X_pad"], f"zero_padding(X, {case['pad']})")
    assert_unchanged(X, case["X"], "X")


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_dtype_kept(dtype):
    X_pad = zero_padding(np.ones((1, 2, 2, 1), dtype=dtype), 1)
    assert X_pad.dtype == dtype, f"got dtype {X_pad.dtype} for an input of dtype {np.dtype(dtype)}"


def test_returns_a_new_array():
    X = np.ones((1, 2, 2, 1))
    X_pad = zero_padding(X, 0)
    assert not np.shares_memory(X_pad, X), "with pad = 0, return a new array, not X itself"
