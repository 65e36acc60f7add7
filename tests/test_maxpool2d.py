"""9.3.b (forward) and 9.3.c (create_mask, grad) of Maxpool2D.

Three witnesses: small arrays worked out by hand, central differences of the forward pass, and the
vectorized oracle over the shared cases (random inputs and inputs with tied maxima).
"""
import numpy as np
import pytest

import expected_values as ev
import oracle
from grading.cases import POOL_CASES, pool_case_id, with_ties
from grading.gradcheck import assert_close, numerical_gradient
from layers import Maxpool2D

forward = pytest.mark.part("9.3.b")
backward = pytest.mark.part("9.3.c")

# 3x3 image, one channel; its 2x2 windows (stride 1) have maxima 5, 8 / 7, 8: the 8 is in two windows.
X_HAND = np.array([
    [1.0, 5.0, 2.0],
    [4.0, 3.0, 8.0],
    [7.0, 0.0, 6.0],
]).reshape(1, 3, 3, 1)

# 4x4 image for stride 2: four disjoint 2x2 windows.
X_HAND_STRIDE2 = np.array([
    [1.0, 9.0, 2.0, 0.0],
    [3.0, 4.0, 6.0, 5.0],
    [0.0, 2.0, 1.0, 1.0],
    [8.0, 7.0, 3.0, 4.0],
]).reshape(1, 4, 4, 1)


def image(rows):
    return np.array(rows, dtype=float).reshape(1, len(rows), len(rows[0]), 1)


# ---------------------------------------------------------------- 9.3.b forward


@forward
def test_forward_hand_computed_overlapping():
    np.testing.assert_array_equal(Maxpool2D(kernel_size=2, stride=1)(X_HAND), image([[5, 8], [7, 8]]))


@forward
def test_forward_hand_computed_stride_2():
    np.testing.assert_array_equal(Maxpool2D(kernel_size=2, stride=2)(X_HAND_STRIDE2), image([[9, 6], [8, 4]]))


@forward
def test_forward_hand_computed_3x3_window_stride_2():
    Z = Maxpool2D(kernel_size=3, stride=2)(np.arange(25.0)[::-1].reshape(1, 5, 5, 1))
    np.testing.assert_array_equal(Z, image([[24, 22], [14, 12]]))


@forward
def test_forward_hand_computed_channels_and_examples_pooled_apart():
    X = np.zeros((2, 2, 2, 2))
    X[0, :, :, 0] = [[1, 2], [3, 4]]
    X[0, :, :, 1] = [[8, 7], [6, 5]]
    X[1, :, :, 0] = [[-1, -2], [-3, -4]]
    X[1, :, :, 1] = [[0, 9], [0, 0]]
    np.testing.assert_array_equal(Maxpool2D()(X), [[[[4, 8]]], [[[-1, 9]]]])


@forward
def test_defaults_are_kernel_2_stride_1():
    pool = Maxpool2D()
    assert (pool.kernel_size, pool.stride) == (2, 1)
    assert pool(np.zeros((5, 5, 3, 2))).shape == (5, 4, 2, 2)


@forward
@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
def test_forward_matches_oracle(case, ties):
    m, H, W, C, k, s = case
    rng = np.random.default_rng(10)
    X = with_ties(rng, (m, H, W, C)) if ties else rng.standard_normal((m, H, W, C))
    Z = Maxpool2D(kernel_size=k, stride=s)(X)
    assert Z.shape == (m, (H - k) // s + 1, (W - k) // s + 1, C)
    np.testing.assert_array_equal(Z, oracle.maxpool_forward(X, k, s))


@forward
def test_forward_leaves_X_unchanged():
    X = np.random.default_rng(11).standard_normal((2, 5, 4, 3))
    X_before = X.copy()
    Maxpool2D(kernel_size=2, stride=1)(X)
    np.testing.assert_array_equal(X, X_before)


@forward
def test_notebook_values_forward():
    _, out = ev.notebook_9_3_b()
    assert out.shape == ev.MAXPOOL_OUT_SHAPE
    assert np.mean(out) == pytest.approx(ev.MAXPOOL_OUT_MEAN, rel=ev.RTOL)


@forward
@pytest.mark.parametrize("shape", [(5, 5, 2), (5, 5), (1, 5, 5, 2, 1)])
def test_forward_rejects_input_that_is_not_4d(shape):
    with pytest.raises(ValueError, match=r"Maxpool2D expects X of shape \(m, H, W, C\) with 4 axes"):
        Maxpool2D()(np.zeros(shape))


@forward
@pytest.mark.parametrize("shape", [(1, 2, 5, 1), (1, 5, 2, 1)])
def test_forward_rejects_kernel_larger_than_input(shape):
    with pytest.raises(ValueError, match="Maxpool2D with kernel_size=3 needs a padded input of at least 3x3"):
        Maxpool2D(kernel_size=3)(np.zeros(shape))


@forward
def test_kernel_equal_to_input_is_allowed():
    X = np.random.default_rng(12).standard_normal((2, 3, 3, 2))
    np.testing.assert_array_equal(Maxpool2D(kernel_size=3)(X), X.max(axis=(1, 2), keepdims=True))


@forward
@pytest.mark.parametrize("name", ["kernel_size", "stride"])
@pytest.mark.parametrize("value", [0, -1])
def test_rejects_kernel_size_or_stride_below_1(name, value):
    with pytest.raises(ValueError, match=f"Maxpool2D expects {name} >= 1, got {value}"):
        Maxpool2D(**{name: value})


@forward
@pytest.mark.parametrize("name", ["kernel_size", "stride"])
@pytest.mark.parametrize("value", [2.0, 1.5, "2"])
def test_rejects_non_integer_kernel_size_or_stride(name, value):
    with pytest.raises(TypeError, match=f"Maxpool2D expects {name} to be an integer"):
        Maxpool2D(**{name: value})


# ---------------------------------------------------------------- 9.3.c create_mask


@backward
def test_create_mask_seed_example():
    np.testing.assert_array_equal(Maxpool2D().create_mask(np.array([[3, 1], [2, 4]])), [[0, 0], [0, 1]])


@backward
@pytest.mark.parametrize("window, expected", [
    ([[2, 5], [5, 1]], [[0, 1], [0, 0]]),
    ([[0, 0], [0, 0]], [[1, 0], [0, 0]]),
    ([[1, 0], [0, 1]], [[1, 0], [0, 0]]),
    ([[0, 3, 1], [2, 0, 3], [3, 3, 0]], [[0, 1, 0], [0, 0, 0], [0, 0, 0]]),
    ([[-1, -4, -2], [-3, -1, -5], [-2, -1, -9]], [[1, 0, 0], [0, 0, 0], [0, 0, 0]]),
], ids=["two-tied", "all-zero", "diagonal-tie", "3x3-four-tied", "negative-ties"])
def test_create_mask_marks_only_the_first_maximum_in_row_major_order(window, expected):
    mask = Maxpool2D().create_mask(np.array(window, dtype=float))
    np.testing.assert_array_equal(mask, expected)


@backward
def test_create_mask_leaves_window_unchanged():
    window = np.array([[3.0, 1.0], [2.0, 4.0]])
    window_before = window.copy()
    Maxpool2D().create_mask(window)
    np.testing.assert_array_equal(window, window_before)


# ---------------------------------------------------------------- 9.3.c grad


@backward
def test_grad_hand_computed_overlapping_windows_accumulate():
    pool = Maxpool2D(kernel_size=2, stride=1)
    pool(X_HAND)
    # windows' maxima: 5 at (0,1), 8 at (1,2), 7 at (2,0), 8 at (1,2) again: it collects 2 + 4
    dX = pool.grad(image([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(dX, image([[0, 1, 0], [0, 0, 6], [3, 0, 0]]))


@backward
def test_grad_hand_computed_stride_2():
    pool = Maxpool2D(kernel_size=2, stride=2)
    pool(X_HAND_STRIDE2)
    dX = pool.grad(image([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(dX, image([[0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0], [3, 0, 0, 4]]))


@backward
def test_grad_hand_computed_ties_go_to_the_first_maximum_only():
    pool = Maxpool2D(kernel_size=2, stride=1)
    pool(np.zeros((1, 3, 3, 1)))  # every window ties: its first entry is its top-left corner
    dX = pool.grad(image([[1, 2], [3, 4]]))
    np.testing.assert_array_equal(dX, image([[1, 2, 0], [3, 4, 0], [0, 0, 0]]))
    assert dX.sum() == 10


@backward
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
def test_grad_with_ties_conserves_the_gradients_total(case):
    m, H, W, C, k, s = case
    rng = np.random.default_rng(20)
    pool = Maxpool2D(kernel_size=k, stride=s)
    Z = pool(with_ties(rng, (m, H, W, C)))
    G = rng.standard_normal(Z.shape)
    np.testing.assert_allclose(pool.grad(G).sum(axis=(1, 2)), G.sum(axis=(1, 2)), rtol=1e-12, atol=1e-12)


@backward
@pytest.mark.parametrize("m, H, W, C, k, s", [
    (2, 4, 4, 2, 2, 1),   # overlapping windows
    (1, 5, 6, 1, 3, 2),   # overlapping, stride 2, H != W
    (1, 6, 4, 2, 2, 2),   # disjoint windows
    (2, 7, 5, 1, 2, 3),   # stride larger than the window: some inputs get no gradient
])
def test_grad_matches_central_differences(m, H, W, C, k, s):
    rng = np.random.default_rng(30)
    X = rng.standard_normal((m, H, W, C))  # continuous values: no ties
    pool = Maxpool2D(kernel_size=k, stride=s)
    G = rng.standard_normal(pool(X).shape)
    expected = numerical_gradient(lambda A: np.sum(Maxpool2D(kernel_size=k, stride=s)(A) * G), X)
    pool(X)
    assert_close(pool.grad(G), expected, what="Maxpool2D dX")


@backward
@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
def test_grad_matches_oracle(case, ties):
    m, H, W, C, k, s = case
    rng = np.random.default_rng(40)
    X = with_ties(rng, (m, H, W, C)) if ties else rng.standard_normal((m, H, W, C))
    pool = Maxpool2D(kernel_size=k, stride=s)
    G = rng.standard_normal(pool(X).shape)
    dX = pool.grad(G)
    assert dX.shape == X.shape
    assert_close(dX, oracle.maxpool_backward(X, k, s, G), rtol=1e-12, atol=1e-12, what="Maxpool2D dX")


@backward
def test_grad_uses_the_last_forward_call():
    rng = np.random.default_rng(50)
    X_first, X_last = rng.standard_normal((2, 1, 4, 4, 1))
    pool = Maxpool2D(kernel_size=2, stride=2)
    pool(X_first)
    pool(X_last)
    G = rng.standard_normal((1, 2, 2, 1))
    np.testing.assert_array_equal(pool.grad(G), oracle.maxpool_backward(X_last, 2, 2, G))


@backward
def test_grad_leaves_its_inputs_unchanged():
    rng = np.random.default_rng(51)
    X = with_ties(rng, (2, 5, 5, 2))
    X_before = X.copy()
    pool = Maxpool2D(kernel_size=2, stride=1)
    G = rng.standard_normal(pool(X).shape)
    G_before = G.copy()
    pool.grad(G)
    np.testing.assert_array_equal(X, X_before)
    np.testing.assert_array_equal(G, G_before)


@backward
def test_notebook_values_backward():
    dX = ev.notebook_9_3_c()
    assert dX.shape == (5, 5, 3, 2)
    assert np.mean(dX[0]) == pytest.approx(ev.MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE, rel=ev.RTOL)


@backward
def test_grad_before_forward_raises():
    with pytest.raises(RuntimeError, match=r"Maxpool2D.grad called before any forward pass"):
        Maxpool2D().grad(np.zeros((1, 1, 1, 1)))


@backward
@pytest.mark.parametrize("shape", [(1, 2, 2, 1), (1, 4, 4, 1), (4, 4, 1), (1, 3, 3, 2)])
def test_grad_rejects_in_gradient_of_the_wrong_shape(shape):
    pool = Maxpool2D(kernel_size=2, stride=1)
    pool(np.zeros((1, 4, 4, 1)))
    with pytest.raises(ValueError, match=r"Maxpool2D.grad expects in_gradient of shape \(1, 3, 3, 1\)"):
        pool.grad(np.zeros(shape))


@backward
def test_grad_rejects_in_gradient_that_is_not_an_array():
    pool = Maxpool2D(kernel_size=2, stride=1)
    pool(np.zeros((1, 2, 2, 1)))
    with pytest.raises(TypeError, match="Maxpool2D.grad expects in_gradient to be a numpy array"):
        pool.grad([[[[1.0]]]])


def test_oracle_reproduces_the_notebook_values():
    """The witness itself agrees with the issue's hand-verified numbers (not graded: no layer involved)."""
    np.random.seed(ev.NUMPY_RANDOM_SEED)
    X = np.random.randn(5, 5, 3, 2)
    out = oracle.maxpool_forward(X, 2, 1)
    np.random.seed(ev.NUMPY_RANDOM_SEED)
    dX = oracle.maxpool_backward(X, 2, 1, np.random.randn(*out.shape))
    assert out.shape == ev.MAXPOOL_OUT_SHAPE
    assert np.mean(out) == pytest.approx(ev.MAXPOOL_OUT_MEAN, rel=ev.RTOL)
    assert np.mean(dX[0]) == pytest.approx(ev.MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE, rel=ev.RTOL)
