"""Dropout: p is the drop probability, survivors are scaled by 1/(1 - p), the gradient flows
through the same mask, identity when not training; untouched inputs and errors."""
import re

import numpy as np
import pytest

from grading.gradcheck import assert_close, numerical_gradient
from layers import Dropout


def test_defaults():
    dropout = Dropout()
    assert dropout.p == 0.5
    assert dropout.training is True


@pytest.mark.parametrize("p", [0.1, 0.3, 0.5, 0.8])
def test_p_is_the_fraction_dropped(p):
    np.random.seed(0)
    Z = Dropout(p)(np.ones((200, 500)))
    # 100,000 Bernoulli draws: the standard deviation of the fraction is at most 0.0016
    assert np.mean(Z == 0) == pytest.approx(p, abs=0.01)


@pytest.mark.parametrize("p", [0.2, 0.5, 0.75])
def test_survivors_are_scaled_so_the_mean_is_preserved(p):
    np.random.seed(1)
    X = np.random.default_rng(1).uniform(0.5, 1.5, size=(100, 1000))
    Z = Dropout(p)(X)
    kept = Z != 0
    np.testing.assert_allclose(Z[kept], X[kept] / (1 - p))
    assert Z.mean() == pytest.approx(X.mean(), rel=0.02)


def test_mask_is_drawn_from_the_global_random_state():
    X = np.ones((20, 30))
    np.random.seed(3)
    first = Dropout(0.5)(X)
    np.random.seed(3)
    np.testing.assert_array_equal(Dropout(0.5)(X), first)


def test_p_zero_is_the_identity_while_training():
    X = np.random.default_rng(2).normal(size=(4, 3, 3, 2))
    dropout = Dropout(0.0)
    np.testing.assert_array_equal(dropout(X), X)
    G = np.random.default_rng(3).normal(size=X.shape)
    np.testing.assert_array_equal(dropout.grad(G), G)


def test_identity_when_not_training():
    X = np.random.default_rng(4).normal(size=(5, 6))
    G = np.random.default_rng(5).normal(size=(5, 6))
    dropout = Dropout(0.9)
    dropout.training = False
    np.testing.assert_array_equal(dropout(X), X)
    np.testing.assert_array_equal(dropout.grad(G), G)


def test_switching_training_back_on_drops_again():
    dropout = Dropout(0.5)
    dropout.training = False
    dropout(np.ones((10, 10)))
    dropout.training = True
    np.random.seed(4)
    assert np.any(dropout(np.ones((10, 10))) == 0)


def test_grad_goes_through_the_forward_mask():
    np.random.seed(5)
    p = 0.4
    dropout = Dropout(p)
    Z = dropout(np.ones((6, 7)))  # with X = 1 the output is the mask itself
    G = np.random.default_rng(6).normal(size=(6, 7))
    dX = dropout.grad(G)
    np.testing.assert_allclose(dX, G * Z)
    assert set(np.unique(Z)) <= {0.0, 1 / (1 - p)}


@pytest.mark.parametrize("shape", [(4, 5), (2, 3, 3, 2)])
def test_grad_matches_central_differences_with_a_fixed_mask(shape):
    rng = np.random.default_rng(7)
    X, G = rng.normal(size=shape), rng.normal(size=shape)

    def loss(X_):
        np.random.seed(8)  # the same mask at every evaluation
        return float(np.sum(Dropout(0.3)(X_) * G))

    expected = numerical_gradient(loss, X)
    dropout = Dropout(0.3)
    np.random.seed(8)
    dropout(X)
    assert np.any(dropout.grad(G) == 0), "the mask should drop something, else this test checks nothing"
    assert_close(dropout.grad(G), expected, what="Dropout dX")


def test_inputs_unchanged():
    rng = np.random.default_rng(9)
    X, G = rng.normal(size=(5, 4)), rng.normal(size=(5, 4))
    X0, G0 = X.copy(), G.copy()
    dropout = Dropout(0.5)
    dropout(X)
    dropout.grad(G)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(G, G0)


@pytest.mark.parametrize("p", [1, 1.0, -0.1, 1.5, float("nan")])
def test_p_outside_zero_one_is_a_value_error(p):
    with pytest.raises(ValueError, match=rf"Dropout expects p to be a finite number in \[0, 1\) \(the drop probability\), got {re.escape(repr(p))}"):
        Dropout(p)


@pytest.mark.parametrize("p", ["0.5", None, [0.5]])
def test_p_not_a_number_is_a_type_error(p):
    with pytest.raises(TypeError, match=r"Dropout expects p to be a number in \[0, 1\) \(the drop probability\), got"):
        Dropout(p)


def test_non_array_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"Dropout expects X to be a numpy array, got list"):
        Dropout(0.5)([1.0, 2.0])


def test_grad_before_forward_is_a_runtime_error():
    with pytest.raises(RuntimeError, match=r"Dropout\.grad called before any forward"):
        Dropout(0.5).grad(np.ones((2, 2)))


def test_in_gradient_of_another_shape():
    dropout = Dropout(0.5)
    dropout(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape("Dropout.grad expects in_gradient of shape (2, 3) (the last output's), got (3, 2)")):
        dropout.grad(np.ones((3, 2)))


def test_a_zero_dimensional_input_is_dropped_like_any_other():
    np.random.seed(0)
    layer = Dropout(p=0.5)
    Z = layer(np.array(2.0))
    assert Z.shape == () and float(Z) in (0.0, 4.0)
    assert layer.grad(np.array(1.0)) == Z / 2.0
