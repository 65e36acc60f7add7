"""9.3.e: Conv2D.grad in layers/Conv2D.py (it pads with your zero_padding from 9.3.a).

The stored and hand-computed cases check grad on its own; the gradient checks and the notebook's cell
go through your forward pass, so they wait for a correct 9.3.d.
"""
import numpy as np
import pytest

import layers
import notebook_values  # grading/notebook_values.py, released beside these checks

from helpers import (EXPECTED, assert_close, assert_unchanged, case_id, cases, conv_with, forward_for_grad,
                     skip_unless_forward_is_right)
from gradcheck import numerical_gradient  # grading/gradcheck.py, released beside these checks

pytestmark = pytest.mark.part("9.3.e")


def test_one_window():
    W = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)
    X = np.array([[5.0, 6.0], [7.0, 8.0]]).reshape(1, 2, 2, 1)
    conv = conv_with(W, [0.5])
    forward_for_grad(conv, X)
    dX, dW, db = conv.grad(np.full((1, 1, 1, 1), 2.0))
    assert_close(dX, 2 * W.reshape(1, 2, 2, 1), "dX of one window with upstream gradient 2 (= 2 * W)")
    assert_close(dW, 2 * X.reshape(2, 2, 1, 1), "dW of one window with upstream gradient 2 (= 2 * X)")
    assert_close(db, [2.0], "db of one window with upstream gradient 2")


def test_every_window_and_filter_adds_its_share():
    # Two overlapping windows (columns 0-1 and 1-2) and two filters: every output adds to the same entries
    # of dX_pad, dW and db, and "=" would keep only the last share.
    X = np.array([[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]).reshape(1, 2, 3, 1)
    W = np.stack([[[1.0, 2.0], [3.0, 4.0]], [[10.0, 20.0], [30.0, 40.0]]], axis=-1).reshape(2, 2, 1, 2)
    conv = conv_with(W, [0.0, 0.0])
    forward_for_grad(conv, X)
    dX, dW, db = conv.grad(np.ones((1, 1, 2, 2)))
    setting = "two overlapping windows and two filters, upstream gradient 1"
    # each window adds W[..., 0] + W[..., 1] = [[11, 22], [33, 44]]; the middle column gets it twice
    assert_close(dX, np.array([[11.0, 33.0, 22.0], [33.0, 77.0, 44.0]]).reshape(1, 2, 3, 1),
                 f"dX, {setting}", hint="use += into dX_pad: every window and every filter adds its share")
    # each filter collects both windows: [[1, 2], [4, 5]] + [[2, 3], [5, 6]]
    assert_close(dW, np.repeat(np.array([[3.0, 5.0], [9.0, 11.0]]).reshape(2, 2, 1, 1), 2, axis=3),
                 f"dW, {setting}", hint="use += into dW: every window adds its share")
    assert_close(db, [2.0, 2.0], f"db, {setting}", hint="use += into db: every output position adds its share")


def test_padding_is_removed_from_dX():
    W = np.arange(9.0).reshape(3, 3, 1, 1)
    conv = conv_with(W, [0.0], padding=1)
    forward_for_grad(conv, np.full((1, 1, 1, 1), 3.0))
    dX, dW, db = conv.grad(np.ones((1, 1, 1, 1)))
    assert_close(dX, [[[[4.0]]]], "dX of a single pixel with padding 1 (shaped like the unpadded input)")
    expected_dW = np.zeros((3, 3, 1, 1))
    expected_dW[1, 1] = 3.0
    assert_close(dW, expected_dW, "dW of a single pixel with padding 1 (the padded zeros add nothing)")


def test_batch_is_summed_not_averaged():
    rng = np.random.default_rng(3)
    W, x = rng.standard_normal((2, 2, 1, 2)), rng.standard_normal((1, 3, 3, 1))
    conv = conv_with(W, [0.0, 0.0])
    forward_for_grad(conv, x)
    _, dW_one, db_one = conv.grad(np.ones((1, 2, 2, 2)))
    forward_for_grad(conv, np.concatenate([x, x]))
    _, dW_two, db_two = conv.grad(np.ones((2, 2, 2, 2)))
    assert_close(dW_two, 2 * dW_one, "dW for two copies of one example (sum over the batch, do not average)")
    assert_close(db_two, 2 * db_one, "db for two copies of one example (sum over the batch, do not average)")


def test_notebook_cell():
    # the notebook feeds the forward output Z back as the upstream gradient
    skip_unless_forward_is_right("9.3.d")
    values = EXPECTED["notebook"]["9.3.e"]
    dX, dW, db = notebook_values.cell_9_3_e(layers)
    assert_close(np.mean(dX), values["mean(dX)"], "dX mean")
    assert_close(np.mean(dW), values["mean(dW)"], "dW mean")
    assert_close(np.mean(db), values["mean(db)"], "db mean")


@pytest.mark.parametrize("case", cases("9.3.e"), ids=case_id)
def test_stored_case(case):
    conv = conv_with(case["W"].copy(), case["b"].copy(), stride=case["stride"], padding=case["padding"])
    forward_for_grad(conv, case["X"].copy())
    in_gradient = case["in_gradient"].copy()
    dX, dW, db = conv.grad(in_gradient)
    setting = f"Conv2D(kernel_size={case['kernel_size']}, stride={case['stride']}, padding={case['padding']})"
    assert_close(dX, case["dX"], f"dX of {setting}")
    assert_close(dW, case["dW"], f"dW of {setting}")
    assert_close(db, case["db"], f"db of {setting}")
    assert_unchanged(in_gradient, case["in_gradient"], "in_gradient")
    assert_unchanged(conv.W, case["W"], "self.W")


@pytest.mark.parametrize("kernel_size, stride, padding", [(3, 1, 0), (3, 2, 1), (2, 2, 2)])
def test_gradients_match_central_differences(kernel_size, stride, padding):
    skip_unless_forward_is_right("9.3.d")
    rng = np.random.default_rng(11)
    X = rng.standard_normal((2, 4, 5, 2))
    conv = conv_with(rng.standard_normal((kernel_size, kernel_size, 2, 3)), rng.standard_normal(3),
                     stride=stride, padding=padding)
    W, b = conv.W.copy(), conv.b.copy()
    G = rng.standard_normal(conv(X).shape)

    def loss_of(X_=X, W_=W, b_=b):
        conv.W, conv.b = W_, b_
        return np.sum(conv(X_) * G)

    numerical = {
        "dX": numerical_gradient(lambda X_: loss_of(X_=X_), X),
        "dW": numerical_gradient(lambda W_: loss_of(W_=W_), W),
        "db": numerical_gradient(lambda b_: loss_of(b_=b_), b),
    }
    loss_of()
    analytic = dict(zip(("dX", "dW", "db"), conv.grad(G)))
    for name in ("dX", "dW", "db"):
        assert_close(analytic[name], numerical[name], f"{name} against central differences of your forward "
                     f"pass (kernel_size={kernel_size}, stride={stride}, padding={padding})", rtol=1e-5, atol=1e-7)
