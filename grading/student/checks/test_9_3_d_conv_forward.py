"""9.3.d: Conv2D.__call__ in layers/Conv2D.py (it pads with your zero_padding from 9.3.a)."""
import numpy as np
import pytest

import layers
import notebook_values  # grading/notebook_values.py, released beside these checks

from helpers import EXPECTED, assert_close, assert_unchanged, case_id, cases, conv_with


pytestmark = pytest.mark.part("9.3.d")



def test_one_window_plus_bias():
    Z = conv_with(np.ones((2, 2, 1, 1)), [0.5])(np.ones((1, 2, 2, 1)))
    assert_close(Z, [[[[4.5]]]], "a 2x2 filter of ones on a 2x2 input of ones, plus a bias of 0.5")


def test_filter_is_not_flipped():
    W = np.arange(9.0).reshape(3, 3, 1, 1)
    Z = conv_with(W, [0.0])(np.arange(9.0).reshape(1, 3, 3, 1))
    # sum(i * i) = 204; a flipped filter gives sum(i * (8 - i)) = 120
    assert_close(Z, [[[[204.0]]]], "0..8 against the filter 0..8 (multiply element-wise, do not flip the filter)")


def test_padding():
    W = np.arange(9.0).reshape(3, 3, 1, 1)
    Z = conv_with(W, [0.0], padding=1)(np.full((1, 1, 1, 1), 2.0))
    # the only input pixel meets the filter's centre, W[1, 1] = 4
    assert_close(Z, [[[[8.0]]]], "a 3x3 filter with padding 1 on a single pixel of value 2")


def test_stride_two():
    Z = conv_with(np.ones((2, 2, 1, 1)), [0.0], stride=2)(np.arange(16.0).reshape(1, 4, 4, 1))
    expected = np.array([[10.0, 18.0], [42.0, 50.0]]).reshape(1, 2, 2, 1)
    assert_close(Z, expected, "sums of the 2x2 blocks of 0..15 with stride 2 (is the stride used?)")


def test_notebook_cell():
    values = EXPECTED["notebook"]["9.3.d"]
    _, Z = notebook_values.cell_9_3_d(layers)
    assert list(Z.shape) == values["Z.shape"]
    assert_close(np.mean(Z), values["mean(Z)"], "Mean Z")


@pytest.mark.parametrize("case", cases("9.3.d"), ids=case_id)
def test_stored_case(case):
    conv = conv_with(case["W"].copy(), case["b"].copy(), stride=case["stride"], padding=case["padding"])
    X = case["X"].copy()
    Z = conv(X)
    assert_close(Z, case["Z"], f"Z of Conv2D(kernel_size={case['kernel_size']}, stride={case['stride']}, "
                 f"padding={case['padding']})")
    assert_unchanged(X, case["X"], "X")
    assert_unchanged(conv.W, case["W"], "self.W")
