"""9.3.d (forward) and 9.3.e (grad) of Conv2D.

Three witnesses: small arrays worked out by hand, central differences of the forward pass, and the
vectorized oracle over the shared cases.
"""
import numpy as np
import pytest

import expected_values as ev
import oracle
from grading.cases import CONV_CASES, conv_case_id
from grading.gradcheck import assert_close, numerical_gradient
from layers import Conv2D

forward = pytest.mark.part("9.3.d")
backward = pytest.mark.part("9.3.e")

X_HAND = np.arange(1.0, 10.0).reshape(1, 3, 3, 1)   # [[1, 2, 3], [4, 5, 6], [7, 8, 9]]
W_HAND = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(2, 2, 1, 1)


def image(rows):
    return np.array(rows, dtype=float).reshape(1, len(rows), len(rows[0]), 1)


def conv_with(W, b, stride=1, padding=0):
    """A Conv2D whose W and b are set to given values."""
    k, _, C_in, C_out = W.shape
    layer = Conv2D(C_in, C_out, kernel_size=k, stride=stride, padding=padding)
    layer.W = np.array(W, dtype=float)
    layer.b = np.array(b, dtype=float)
    return layer


def random_conv(case, rng):
    """Layer with random W and b (b nonzero), input X and upstream gradient G for a CONV_CASES entry."""
    m, H, W, C_in, C_out, k, s, p = case
    layer = conv_with(rng.standard_normal((k, k, C_in, C_out)), rng.standard_normal(C_out), s, p)
    X = rng.standard_normal((m, H, W, C_in))
    G = rng.standard_normal((m, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1, C_out))
    return layer, X, G


@pytest.fixture(scope="module")
def notebook_conv():
    """The notebook's 9.3.d layer and output, computed once for 9.3.d and 9.3.e."""
    return ev.notebook_9_3_d()


# ---------------------------------------------------------------- 9.3.d forward


@forward
def test_forward_hand_computed():
    # Z[h, w] = 1*X[h, w] + 2*X[h, w+1] + 3*X[h+1, w] + 4*X[h+1, w+1] + 1; a flipped filter gives 24, ...
    Z = conv_with(W_HAND, [1.0])(X_HAND)
    np.testing.assert_array_equal(Z, image([[38, 48], [68, 78]]))


@forward
def test_forward_hand_computed_padding_1_stride_2():
    # padded input 5x5; windows start at rows and columns 0 and 2
    Z = conv_with(W_HAND, [0.0], stride=2, padding=1)(X_HAND)
    np.testing.assert_array_equal(Z, image([[4, 18], [36, 77]]))


@forward
def test_forward_hand_computed_channels():
    # 1x1 filters: Z[..., d] = sum over c of X[..., c] * W[0, 0, c, d] + b[d]
    W = np.array([[1.0, 0.0, 2.0], [0.0, 1.0, 3.0]]).reshape(1, 1, 2, 3)
    X = np.array([[1.0, 2.0], [-1.0, 0.5]]).reshape(2, 1, 1, 2)
    Z = conv_with(W, [0.5, 0.0, -1.0])(X)
    np.testing.assert_array_equal(Z, np.array([[1.5, 2.0, 7.0], [-0.5, 0.5, -1.5]]).reshape(2, 1, 1, 3))


@forward
@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_forward_matches_oracle(case):
    layer, X, _ = random_conv(case, np.random.default_rng(100))
    Z = layer(X)
    m, H, W, _, C_out, k, s, p = case
    assert Z.shape == (m, (H + 2 * p - k) // s + 1, (W + 2 * p - k) // s + 1, C_out)
    assert_close(Z, oracle.conv_forward(X, layer.W, layer.b, s, p), rtol=1e-10, atol=1e-12, what="Conv2D Z")


@forward
def test_forward_leaves_X_and_parameters_unchanged():
    layer, X, _ = random_conv(CONV_CASES[1], np.random.default_rng(101))
    X_before, W_before, b_before = X.copy(), layer.W.copy(), layer.b.copy()
    layer(X)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(layer.W, W_before)
    np.testing.assert_array_equal(layer.b, b_before)


@forward
@pytest.mark.parametrize("k, C_in, C_out", [(3, 3, 8), (1, 2, 5), (4, 1, 2)])
def test_init_is_he_normal_from_the_global_random_state(k, C_in, C_out):
    np.random.seed(7)
    layer = Conv2D(C_in, C_out, kernel_size=k)
    np.random.seed(7)
    expected = np.random.randn(k, k, C_in, C_out) * np.sqrt(2 / (k * k * C_in))
    assert layer.W.shape == (k, k, C_in, C_out)
    np.testing.assert_array_equal(layer.W, expected)
    assert layer.b.shape == (C_out,)
    np.testing.assert_array_equal(layer.b, np.zeros(C_out))


@forward
def test_defaults_are_kernel_3_stride_1_padding_0():
    layer = Conv2D(2, 4)
    assert (layer.kernel_size, layer.stride, layer.padding) == (3, 1, 0)
    assert layer.W.shape == (3, 3, 2, 4)
    assert layer(np.zeros((1, 5, 6, 2))).shape == (1, 3, 4, 4)


@forward
def test_notebook_values_forward(notebook_conv):
    _, Z = notebook_conv
    assert Z.shape == ev.CONV_Z_SHAPE
    assert np.mean(Z) == pytest.approx(ev.CONV_Z_MEAN, rel=ev.RTOL)


@forward
@pytest.mark.parametrize("shape", [(5, 5, 3), (5, 5), (1, 5, 5, 3, 1)])
def test_rejects_input_that_is_not_4d(shape):
    with pytest.raises(ValueError, match=r"Conv2D expects X of shape \(m, H, W, C\) with 4 axes"):
        Conv2D(3, 2)(np.zeros(shape))


@forward
def test_rejects_channels_first_input_with_a_hint():
    with pytest.raises(ValueError, match=r"C=3\), got \(2, 3, 32, 32\) — is the input channels-first\?"):
        Conv2D(3, 8)(np.zeros((2, 3, 32, 32)))


@forward
def test_rejects_channel_mismatch():
    with pytest.raises(ValueError, match=r"Conv2D expects X of shape \(m, H, W, C=3\), got \(2, 5, 5, 4\)$"):
        Conv2D(3, 8)(np.zeros((2, 5, 5, 4)))


@forward
@pytest.mark.parametrize("shape, k, p", [((1, 2, 2, 1), 5, 1), ((1, 6, 3, 1), 4, 0), ((1, 3, 6, 1), 6, 1)])
def test_rejects_kernel_larger_than_padded_input(shape, k, p):
    with pytest.raises(ValueError, match=f"Conv2D with kernel_size={k} needs a padded input of at least {k}x{k}"):
        Conv2D(1, 1, kernel_size=k, padding=p)(np.zeros(shape))


@forward
def test_kernel_as_large_as_the_padded_input_is_allowed():
    assert Conv2D(1, 2, kernel_size=4, padding=1)(np.zeros((3, 2, 2, 1))).shape == (3, 1, 1, 2)


@forward
@pytest.mark.parametrize("name, value, minimum", [
    ("kernel_size", 0, 1), ("kernel_size", -2, 1), ("stride", 0, 1), ("stride", -1, 1),
    ("padding", -1, 0), ("in_channels", 0, 1), ("out_channels", 0, 1),
])
def test_rejects_hyperparameters_below_their_minimum(name, value, minimum):
    kwargs = dict(in_channels=1, out_channels=1)
    kwargs[name] = value
    with pytest.raises(ValueError, match=f"Conv2D expects {name} >= {minimum}, got {value}"):
        Conv2D(**kwargs)


@forward
@pytest.mark.parametrize("name, value", [
    ("kernel_size", 3.0), ("stride", 1.5), ("padding", 1.0), ("padding", 0.5), ("padding", "1"), ("in_channels", 3.0),
])
def test_rejects_non_integer_hyperparameters(name, value):
    kwargs = dict(in_channels=1, out_channels=1)
    kwargs[name] = value
    with pytest.raises(TypeError, match=f"Conv2D expects {name} to be an integer"):
        Conv2D(**kwargs)


# ---------------------------------------------------------------- 9.3.e grad


@backward
def test_grad_hand_computed():
    layer = conv_with(W_HAND, [1.0])
    layer(X_HAND)
    dX, dW, db = layer.grad(np.ones((1, 2, 2, 1)))
    # dX[a, b]: sum of the filter entries that touched X[a, b]; dW[u, v]: sum of X over the windows' (u, v)
    np.testing.assert_array_equal(dX, image([[1, 3, 2], [4, 10, 6], [3, 7, 4]]))
    np.testing.assert_array_equal(dW, np.array([[12.0, 16.0], [24.0, 28.0]]).reshape(2, 2, 1, 1))
    np.testing.assert_array_equal(db, [4.0])


@backward
def test_grad_hand_computed_padding_1_stride_2():
    layer = conv_with(W_HAND, [0.0], stride=2, padding=1)
    layer(X_HAND)
    # only the top-left window (padded rows/cols 0-1) and the bottom-right one (rows/cols 2-3) get gradient
    dX, dW, db = layer.grad(image([[1, 0], [0, 1]]))
    np.testing.assert_array_equal(dX, image([[4, 0, 0], [0, 1, 2], [0, 3, 4]]))
    np.testing.assert_array_equal(dW, np.array([[5.0, 6.0], [8.0, 10.0]]).reshape(2, 2, 1, 1))
    np.testing.assert_array_equal(db, [2.0])


# (m, H, W, C_in, C_out, kernel_size, stride, padding)
GRADCHECK_CASES = [
    (2, 4, 4, 2, 2, 3, 1, 0),   # padding 0, overlapping windows
    (1, 5, 4, 2, 3, 3, 2, 1),   # stride 2, padding 1, H != W
    (2, 3, 5, 1, 2, 2, 3, 2),   # stride 3, padding 2
]


@backward
@pytest.mark.parametrize("case", GRADCHECK_CASES, ids=conv_case_id)
def test_grad_matches_central_differences(case):
    layer, X, G = random_conv(case, np.random.default_rng(200))
    W, b = layer.W.copy(), layer.b.copy()

    def loss_of_X(A):
        return np.sum(layer(A) * G)

    def loss_of_W(A):
        layer.W = A
        return np.sum(layer(X) * G)

    def loss_of_b(A):
        layer.b = A
        return np.sum(layer(X) * G)

    dX_num = numerical_gradient(loss_of_X, X)
    dW_num = numerical_gradient(loss_of_W, W)
    layer.W = W
    db_num = numerical_gradient(loss_of_b, b)
    layer.b = b
    layer(X)
    dX, dW, db = layer.grad(G)
    assert_close(dX, dX_num, what="Conv2D dX")
    assert_close(dW, dW_num, what="Conv2D dW")
    assert_close(db, db_num, what="Conv2D db")


@backward
@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_grad_matches_oracle(case):
    layer, X, G = random_conv(case, np.random.default_rng(300))
    layer(X)
    dX, dW, db = layer.grad(G)
    dX_o, dW_o, db_o = oracle.conv_backward(X, layer.W, layer.stride, layer.padding, G)
    assert dX.shape == X.shape, "dX must have the unpadded input's shape"
    assert_close(dX, dX_o, rtol=1e-10, atol=1e-12, what="Conv2D dX")
    assert_close(dW, dW_o, rtol=1e-10, atol=1e-12, what="Conv2D dW")
    assert_close(db, db_o, rtol=1e-10, atol=1e-12, what="Conv2D db")


@backward
@pytest.mark.parametrize("padding", [0, 1, 2])
def test_grad_shapes(padding):
    layer = Conv2D(2, 3, kernel_size=3, stride=2, padding=padding)
    X = np.random.default_rng(301).standard_normal((2, 5, 4, 2))
    Z = layer(X)
    dX, dW, db = layer.grad(np.ones(Z.shape))
    assert dX.shape == (2, 5, 4, 2)
    assert dW.shape == (3, 3, 2, 3)
    assert db.shape == (3,)


@backward
def test_grad_of_parameters_is_summed_over_the_batch():
    layer, X, G = random_conv(CONV_CASES[1], np.random.default_rng(302))
    layer(X)
    dX, dW, db = layer.grad(G)
    layer(np.concatenate([X, X]))
    dX2, dW2, db2 = layer.grad(np.concatenate([G, G]))
    assert_close(dW2, 2 * dW, rtol=1e-12, what="dW of the doubled batch")
    assert_close(db2, 2 * db, rtol=1e-12, what="db of the doubled batch")
    assert_close(dX2, np.concatenate([dX, dX]), rtol=1e-12, what="dX of the doubled batch")


@backward
def test_grad_uses_the_last_forward_call():
    rng = np.random.default_rng(303)
    layer = conv_with(rng.standard_normal((2, 2, 1, 2)), [0.0, 0.0], stride=1, padding=1)
    layer(rng.standard_normal((1, 5, 5, 1)))
    X_last = rng.standard_normal((1, 3, 4, 1))
    layer(X_last)
    G = rng.standard_normal((1, 4, 5, 2))
    dX, dW, db = layer.grad(G)
    dX_o, dW_o, db_o = oracle.conv_backward(X_last, layer.W, 1, 1, G)
    assert_close(dX, dX_o, rtol=1e-10, atol=1e-12, what="Conv2D dX")
    assert_close(dW, dW_o, rtol=1e-10, atol=1e-12, what="Conv2D dW")


@backward
def test_grad_leaves_its_inputs_and_parameters_unchanged():
    layer, X, G = random_conv(CONV_CASES[4], np.random.default_rng(304))
    before = [A.copy() for A in (X, G, layer.W, layer.b)]
    layer(X)
    layer.grad(G)
    for A, A_before in zip((X, G, layer.W, layer.b), before):
        np.testing.assert_array_equal(A, A_before)


@backward
def test_notebook_values_backward(notebook_conv):
    conv_layer, Z = notebook_conv
    dX, dW, db = ev.notebook_9_3_e(conv_layer, Z)
    assert (dX.shape, dW.shape, db.shape) == ((14, 32, 32, 3), (3, 3, 3, 8), (8,))
    assert np.mean(dX) == pytest.approx(ev.CONV_DX_MEAN, rel=ev.RTOL)
    assert np.mean(dW) == pytest.approx(ev.CONV_DW_MEAN, rel=ev.RTOL)
    assert np.mean(db) == pytest.approx(ev.CONV_DB_MEAN, rel=ev.RTOL)


@backward
def test_grad_before_forward_raises():
    with pytest.raises(RuntimeError, match=r"Conv2D.grad called before any forward pass"):
        Conv2D(1, 1).grad(np.zeros((1, 1, 1, 1)))


@backward
@pytest.mark.parametrize("shape", [(1, 3, 3, 1), (1, 4, 4, 2), (2, 4, 4, 1), (4, 4, 1)])
def test_grad_rejects_in_gradient_of_the_wrong_shape(shape):
    layer = Conv2D(2, 1, kernel_size=3, padding=1)
    layer(np.zeros((1, 4, 4, 2)))
    with pytest.raises(ValueError, match=r"Conv2D.grad expects in_gradient of shape \(1, 4, 4, 1\)"):
        layer.grad(np.zeros(shape))


@backward
def test_grad_rejects_in_gradient_that_is_not_an_array():
    layer = Conv2D(1, 1, kernel_size=1)
    layer(np.zeros((1, 1, 1, 1)))
    with pytest.raises(TypeError, match="Conv2D.grad expects in_gradient to be a numpy array"):
        layer.grad([[[[1.0]]]])


def test_oracle_reproduces_the_notebook_values():
    """The witness itself agrees with the issue's hand-verified numbers (not graded: no layer involved)."""
    np.random.seed(ev.NUMPY_RANDOM_SEED)
    W = np.random.randn(3, 3, 3, 8) * np.sqrt(2 / (3 * 3 * 3))
    np.random.seed(ev.NUMPY_RANDOM_SEED)
    X = np.random.randn(14, 32, 32, 3)
    Z = oracle.conv_forward(X, W, np.zeros(8), 1, 1)
    dX, dW, db = oracle.conv_backward(X, W, 1, 1, Z)
    assert np.mean(Z) == pytest.approx(ev.CONV_Z_MEAN, rel=ev.RTOL)
    assert np.mean(dX) == pytest.approx(ev.CONV_DX_MEAN, rel=ev.RTOL)
    assert np.mean(dW) == pytest.approx(ev.CONV_DW_MEAN, rel=ev.RTOL)
    assert np.mean(db) == pytest.approx(ev.CONV_DB_MEAN, rel=ev.RTOL)
