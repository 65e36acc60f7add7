"""Linear: a hand-computed case, He-normal initialisation, asserted central-difference gradients
for dX, dW and db with a random upstream gradient, untouched inputs and errors."""
import re

import numpy as np
import pytest

from grading.gradcheck import assert_close, numerical_gradient
from layers import Linear


def linear_with(W, b):
    layer = Linear(*W.shape)
    layer.W, layer.b = W.copy(), b.copy()
    return layer


def test_forward_by_hand():
    layer = linear_with(np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]]), np.array([0.5, -0.5, 1.0]))
    Z = layer(np.array([[1.0, 2.0], [3.0, -1.0]]))
    # row 0: [1 - 2, 2, 2] + b;  row 1: [3 + 1, -1, 6] + b
    np.testing.assert_allclose(Z, [[-0.5, 1.5, 3.0], [4.5, -1.5, 7.0]])


def test_grad_by_hand():
    layer = linear_with(np.array([[1.0, 0.0, 2.0], [-1.0, 1.0, 0.0]]), np.array([0.5, -0.5, 1.0]))
    layer(np.array([[1.0, 2.0], [3.0, -1.0]]))
    dX, dW, db = layer.grad(np.array([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]]))
    np.testing.assert_allclose(dX, [[1.0, -1.0], [0.0, 1.0]])  # the rows of W picked by the gradient
    np.testing.assert_allclose(dW, [[1.0, 3.0, 0.0], [2.0, -1.0, 0.0]])
    np.testing.assert_allclose(db, [1.0, 1.0, 0.0])  # summed over the batch, not averaged


def test_initialisation_shapes_and_zero_bias():
    layer = Linear(5, 3)
    assert layer.W.shape == (5, 3)
    np.testing.assert_array_equal(layer.b, np.zeros(3))


def test_initialisation_is_he_normal_from_the_global_random_state():
    np.random.seed(7)
    layer = Linear(4, 6)
    np.random.seed(7)
    np.testing.assert_allclose(layer.W, np.random.randn(4, 6) * np.sqrt(2 / 4))


def test_initialisation_scale():
    np.random.seed(8)
    W = Linear(2000, 50).W
    assert W.std() == pytest.approx(np.sqrt(2 / 2000), rel=0.03)
    assert abs(W.mean()) < 0.003


@pytest.mark.parametrize("m, n_in, n_out", [(4, 3, 5), (1, 6, 2), (3, 1, 1)])
def test_grad_matches_central_differences(m, n_in, n_out):
    rng = np.random.default_rng(m * 100 + n_in * 10 + n_out)
    X, W, b, G = (rng.normal(size=s) for s in [(m, n_in), (n_in, n_out), (n_out,), (m, n_out)])
    expected_dX = numerical_gradient(lambda X_: float(np.sum(linear_with(W, b)(X_) * G)), X)
    expected_dW = numerical_gradient(lambda W_: float(np.sum(linear_with(W_, b)(X) * G)), W)
    expected_db = numerical_gradient(lambda b_: float(np.sum(linear_with(W, b_)(X) * G)), b)
    layer = linear_with(W, b)
    layer(X)
    dX, dW, db = layer.grad(G)
    assert_close(dX, expected_dX, what="Linear dX")
    assert_close(dW, expected_dW, what="Linear dW")
    assert_close(db, expected_db, what="Linear db")


def test_inputs_unchanged():
    rng = np.random.default_rng(1)
    X, G = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    X0, G0 = X.copy(), G.copy()
    layer = Linear(4, 2)
    W0, b0 = layer.W.copy(), layer.b.copy()
    layer(X)
    layer.grad(G)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(G, G0)
    np.testing.assert_array_equal(layer.W, W0)  # grad computes gradients; the Model updates
    np.testing.assert_array_equal(layer.b, b0)


def test_grad_does_not_see_later_changes_to_the_input():
    rng = np.random.default_rng(2)
    X, G = rng.normal(size=(3, 4)), rng.normal(size=(3, 2))
    layer = Linear(4, 2)
    expected_dW = X.T @ G
    layer(X)
    X[:] = 0.0
    assert_close(layer.grad(G)[1], expected_dW)


def test_feature_mismatch():
    with pytest.raises(ValueError, match=re.escape("Linear expects X of shape (m, in_features=3), got (2, 4)")):
        Linear(3, 5)(np.ones((2, 4)))


def test_images_without_flatten_are_rejected():
    with pytest.raises(ValueError, match=r"Linear expects X with 2 axes, got shape \(2, 4, 4, 1\)"):
        Linear(16, 2)(np.ones((2, 4, 4, 1)))


def test_non_array_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"Linear expects X to be a numpy array, got list"):
        Linear(2, 1)([[1.0, 2.0]])


def test_grad_before_forward_is_a_runtime_error():
    with pytest.raises(RuntimeError, match=r"Linear\.grad called before any forward"):
        Linear(2, 3).grad(np.ones((1, 3)))


@pytest.mark.parametrize("shape", [(2, 2), (3, 3), (3,)])
def test_in_gradient_of_another_shape(shape):
    layer = Linear(2, 3)
    layer(np.ones((2, 2)))
    with pytest.raises(ValueError, match=re.escape(f"Linear.grad expects in_gradient of shape (2, 3) (the last output's), got {shape}")):
        layer.grad(np.ones(shape))


@pytest.mark.parametrize("n_in, n_out, error, message", [
    (0, 3, ValueError, r"Linear expects in_features >= 1, got 0"),
    (3, -1, ValueError, r"Linear expects out_features >= 1, got -1"),
    (2.5, 3, TypeError, r"Linear expects in_features to be an integer, got 2\.5"),
    (3, "4", TypeError, r"Linear expects out_features to be an integer, got '4'"),
])
def test_bad_sizes(n_in, n_out, error, message):
    with pytest.raises(error, match=message):
        Linear(n_in, n_out)
