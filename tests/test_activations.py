"""ReLU, LeakyReLU, Tanh, Sigmoid and Softmax: hand-computed values, asserted central-difference
gradients with a random upstream gradient, stability at |x| = 1000, untouched inputs and errors."""
import contextlib
import re
import warnings

import numpy as np
import pytest

from activations import LeakyReLU, ReLU, Sigmoid, Softmax, Tanh
from grading.gradcheck import assert_close, numerical_gradient

ACTIVATIONS = [ReLU, LeakyReLU, Tanh, Sigmoid, Softmax]
ELEMENTWISE = [ReLU, LeakyReLU, Tanh, Sigmoid]


def away_from_zero(rng, shape, low=0.1):
    """Entries with |x| >= low, so that no central difference straddles the kink of ReLU at 0."""
    return rng.choice([-1.0, 1.0], size=shape) * rng.uniform(low, 2.0, size=shape)


@contextlib.contextmanager
def no_float_warnings():
    """Turn overflow, division by zero and invalid operations into errors, and every warning too.
    Underflow (exp(-1000) == 0.0) stays allowed: rounding to 0 is the right answer there."""
    with warnings.catch_warnings(), np.errstate(over="raise", divide="raise", invalid="raise", under="ignore"):
        warnings.simplefilter("error")
        yield


# ---------------------------------------------------------------- hand-computed values

def test_relu_values():
    X = np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -1e-3]])
    np.testing.assert_array_equal(ReLU()(X), [[0, 0, 0], [0.5, 3.0, 0]])


def test_relu_grad_is_upstream_where_positive():
    X = np.array([[-2.0, 0.5], [3.0, -1.0]])
    relu = ReLU()
    relu(X)
    np.testing.assert_array_equal(relu.grad(np.array([[1.0, 2.0], [3.0, 4.0]])), [[0, 2.0], [3.0, 0]])


def test_leaky_relu_default_alpha_values():
    X = np.array([[-2.0, -0.5, 0.0], [0.5, 3.0, -100.0]])
    np.testing.assert_allclose(LeakyReLU()(X), [[-0.02, -0.005, 0.0], [0.5, 3.0, -1.0]])


def test_leaky_relu_custom_alpha_values_and_grad():
    X = np.array([-2.0, 4.0])
    leaky = LeakyReLU(alpha=0.2)
    np.testing.assert_allclose(leaky(X), [-0.4, 4.0])
    np.testing.assert_allclose(leaky.grad(np.array([10.0, 10.0])), [2.0, 10.0])


def test_tanh_values():
    # tanh(ln 2) = (4 - 1) / (4 + 1)
    np.testing.assert_allclose(Tanh()(np.array([0.0, np.log(2), -np.log(2)])), [0.0, 0.6, -0.6])


def test_sigmoid_values():
    # sigmoid(ln 3) = 1 / (1 + 1/3)
    np.testing.assert_allclose(Sigmoid()(np.array([0.0, np.log(3), -np.log(3)])), [0.5, 0.75, 0.25])


def test_sigmoid_matches_the_textbook_formula_for_moderate_x():
    X = np.linspace(-20, 20, 81).reshape(9, 9)
    np.testing.assert_allclose(Sigmoid()(X), 1 / (1 + np.exp(-X)), rtol=1e-12)


def test_softmax_of_zero_and_ln2_is_one_third_two_thirds():
    np.testing.assert_allclose(Softmax()(np.array([[0.0, np.log(2)]])), [[1 / 3, 2 / 3]])


def test_softmax_works_over_the_last_axis():
    X = np.random.default_rng(0).normal(size=(2, 3, 4))
    S = Softmax()(X)
    expected = np.exp(X) / np.exp(X).sum(axis=-1, keepdims=True)
    np.testing.assert_allclose(S, expected, rtol=1e-12)
    np.testing.assert_allclose(S.sum(axis=-1), np.ones((2, 3)))


def test_softmax_rows_are_independent():
    X = np.array([[0.0, np.log(2)], [5.0, 5.0]])
    np.testing.assert_allclose(Softmax()(X), [[1 / 3, 2 / 3], [0.5, 0.5]])


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("shape", [(3, 4), (2, 3, 4, 2)], ids=["rows", "nhwc"])
@pytest.mark.parametrize("Activation", ACTIVATIONS, ids=lambda a: a.__name__)
def test_grad_matches_central_differences(Activation, shape):
    rng = np.random.default_rng(1)
    X = away_from_zero(rng, shape)
    G = rng.normal(size=shape)  # non-uniform: a uniform G would make Softmax's gradient vanish
    expected = numerical_gradient(lambda X_: float(np.sum(Activation()(X_) * G)), X)
    activation = Activation()
    activation(X)
    assert_close(activation.grad(G), expected, what=f"{Activation.__name__} dX")


def test_leaky_relu_custom_alpha_grad_matches_central_differences():
    rng = np.random.default_rng(2)
    X, G = away_from_zero(rng, (4, 5)), rng.normal(size=(4, 5))
    expected = numerical_gradient(lambda X_: float(np.sum(LeakyReLU(alpha=0.3)(X_) * G)), X)
    leaky = LeakyReLU(alpha=0.3)
    leaky(X)
    assert_close(leaky.grad(G), expected)


@pytest.mark.parametrize("Activation", ACTIVATIONS, ids=lambda a: a.__name__)
def test_grad_uses_the_last_forward_call(Activation):
    rng = np.random.default_rng(3)
    X_first, X_last, G = away_from_zero(rng, (3, 4)), away_from_zero(rng, (3, 4)), rng.normal(size=(3, 4))
    expected = numerical_gradient(lambda X_: float(np.sum(Activation()(X_) * G)), X_last)
    activation = Activation()
    activation(X_first)
    activation(X_last)
    assert_close(activation.grad(G), expected)


# ---------------------------------------------------------------- numerical stability

def test_sigmoid_at_plus_minus_1000_without_warnings():
    X = np.array([[-1000.0, 1000.0], [-745.0, 745.0]])
    sigmoid = Sigmoid()
    with no_float_warnings():
        Z = sigmoid(X)
        dX = sigmoid.grad(np.ones_like(X))
    assert np.all(np.isfinite(Z)) and np.all(np.isfinite(dX))
    np.testing.assert_allclose(Z, [[0.0, 1.0], [0.0, 1.0]], atol=1e-300)
    np.testing.assert_allclose(dX, 0.0, atol=1e-300)


def test_sigmoid_is_symmetric_for_large_x():
    X = np.array([-1000.0, -50.0, -30.0, 30.0, 50.0, 1000.0])
    with no_float_warnings():
        Z = Sigmoid()(X)
    np.testing.assert_allclose(Z + Z[::-1], 1.0)
    assert np.all(Z >= 0) and np.all(Z <= 1)


def test_tanh_at_plus_minus_1000_without_warnings():
    with no_float_warnings():
        Z = Tanh()(np.array([-1000.0, 1000.0]))
    np.testing.assert_array_equal(Z, [-1.0, 1.0])


@pytest.mark.parametrize("X, expected", [
    ([[1000.0, -1000.0, 0.0]], [[1.0, 0.0, 0.0]]),
    ([[1000.0, 1000.0]], [[0.5, 0.5]]),
    ([[-1000.0, -1000.0, -1000.0]], [[1 / 3, 1 / 3, 1 / 3]]),
    ([[-1000.0, -1000.0 + np.log(2)]], [[1 / 3, 2 / 3]]),
], ids=["mixed", "both-large", "all-very-negative", "shifted-ln2"])
def test_softmax_at_logits_of_1000_is_finite_and_sums_to_one(X, expected):
    softmax = Softmax()
    with no_float_warnings():
        S = softmax(np.array(X))
        dX = softmax.grad(np.ones_like(S))
    assert np.all(np.isfinite(S)) and np.all(np.isfinite(dX))
    np.testing.assert_allclose(S.sum(axis=-1), 1.0)
    np.testing.assert_allclose(S, expected, atol=1e-12)


def test_softmax_is_invariant_to_adding_a_constant_per_row():
    X = np.random.default_rng(4).normal(size=(3, 5))
    shift = np.array([[-700.0], [0.0], [900.0]])
    with no_float_warnings():
        np.testing.assert_allclose(Softmax()(X + shift), Softmax()(X), rtol=1e-9)


# ---------------------------------------------------------------- inputs are left alone

@pytest.mark.parametrize("Activation", ACTIVATIONS, ids=lambda a: a.__name__)
def test_inputs_unchanged(Activation):
    rng = np.random.default_rng(5)
    X, G = rng.normal(size=(3, 4)), rng.normal(size=(3, 4))
    X0, G0 = X.copy(), G.copy()
    activation = Activation()
    activation(X)
    activation.grad(G)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(G, G0)


@pytest.mark.parametrize("Activation", ELEMENTWISE, ids=lambda a: a.__name__)
def test_grad_does_not_see_later_changes_to_the_input(Activation):
    rng = np.random.default_rng(6)
    X, G = away_from_zero(rng, (3, 4)), rng.normal(size=(3, 4))
    reference = Activation()
    reference(X.copy())
    expected = reference.grad(G)
    activation = Activation()
    activation(X)
    X *= -1  # the caller reuses its buffer
    assert_close(activation.grad(G), expected)


# ---------------------------------------------------------------- errors

@pytest.mark.parametrize("Activation", ACTIVATIONS, ids=lambda a: a.__name__)
def test_non_array_input_is_a_type_error(Activation):
    name = Activation.__name__
    with pytest.raises(TypeError, match=rf"{name} expects X to be a numpy array, got list"):
        Activation()([[1.0, 2.0]])


@pytest.mark.parametrize("Activation", ACTIVATIONS, ids=lambda a: a.__name__)
def test_grad_before_forward_is_a_runtime_error(Activation):
    with pytest.raises(RuntimeError, match=rf"{Activation.__name__}\.grad called before any forward"):
        Activation().grad(np.ones((2, 3)))


@pytest.mark.parametrize("Activation", ACTIVATIONS, ids=lambda a: a.__name__)
def test_in_gradient_of_another_shape_is_a_value_error(Activation):
    activation = Activation()
    activation(np.ones((2, 3)))
    with pytest.raises(ValueError, match=re.escape(f"{Activation.__name__}.grad expects in_gradient of shape (2, 3)")
                       + r".*got \(3, 2\)"):
        activation.grad(np.ones((3, 2)))


def test_leaky_relu_alpha_must_be_a_number():
    with pytest.raises(TypeError, match=r"LeakyReLU expects alpha to be a number, got '0.1'"):
        LeakyReLU(alpha="0.1")


def test_leaky_relu_non_finite_alpha_is_a_value_error():
    with pytest.raises(ValueError, match=r"LeakyReLU expects alpha to be a finite number, got nan"):
        LeakyReLU(alpha=float("nan"))


def test_softmax_rejects_an_empty_last_axis():
    with pytest.raises(ValueError, match=r"Softmax expects a non-empty X, got shape \(2, 0\)"):
        Softmax()(np.zeros((2, 0)))
