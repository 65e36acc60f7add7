"""L2regularization: coefficient/2 * sum ||W||^2 over a list of arrays, grad(W) = coefficient * W;
asserted against central differences; untouched inputs and errors."""
import numpy as np
import pytest

from grading.gradcheck import assert_close, numerical_gradient
from layers import L2regularization


def test_penalty_by_hand():
    W1 = np.array([[1.0, 2.0], [3.0, 4.0]])
    W2 = np.array([-1.0, 0.5])
    # 0.1 / 2 * (1 + 4 + 9 + 16 + 1 + 0.25)
    penalty = L2regularization(0.1)([W1, W2])
    assert isinstance(penalty, float)
    assert penalty == pytest.approx(0.05 * 31.25, rel=1e-12)


def test_penalty_of_a_4d_filter_bank():
    W = np.full((3, 3, 2, 4), 0.5)
    assert L2regularization(2.0)([W]) == pytest.approx(1.0 * 72 * 0.25)


def test_grad_by_hand():
    np.testing.assert_allclose(L2regularization(0.1).grad(np.array([[1.0, -2.0], [0.0, 4.0]])),
                               [[0.1, -0.2], [0.0, 0.4]])


def test_zero_coefficient_adds_nothing():
    W = np.random.default_rng(0).normal(size=(3, 3))
    regularization = L2regularization(0.0)
    assert regularization([W]) == 0.0
    np.testing.assert_array_equal(regularization.grad(W), np.zeros((3, 3)))


def test_empty_list_costs_nothing():
    assert L2regularization(0.5)([]) == 0.0


@pytest.mark.parametrize("shape", [(4, 3), (3, 3, 2, 2), (5,)])
def test_grad_matches_central_differences(shape):
    rng = np.random.default_rng(1)
    W, other = rng.normal(size=shape), rng.normal(size=(2, 2))
    regularization = L2regularization(0.3)
    # the other array in the list must not change the gradient w.r.t. W
    expected = numerical_gradient(lambda W_: regularization([W_, other]), W)
    assert_close(regularization.grad(W), expected, what="L2regularization grad")


def test_inputs_unchanged():
    rng = np.random.default_rng(2)
    W1, W2 = rng.normal(size=(3, 2)), rng.normal(size=(2, 2, 1, 3))
    weights = [W1, W2]
    W10, W20 = W1.copy(), W2.copy()
    regularization = L2regularization(0.5)
    regularization(weights)
    regularization.grad(W1)
    assert len(weights) == 2 and weights[0] is W1 and weights[1] is W2
    np.testing.assert_array_equal(W1, W10)
    np.testing.assert_array_equal(W2, W20)


def test_a_bare_array_is_not_a_list_of_weights():
    # np.sum(W**2) over the rows of a single array would silently give the same number, but a
    # list is the documented input; an array is most likely a forgotten pair of brackets.
    with pytest.raises(TypeError, match=r"L2regularization expects a list of weight arrays, got ndarray"):
        L2regularization(0.1)(np.ones((2, 2)))


def test_non_array_weight_is_a_type_error():
    with pytest.raises(TypeError, match=r"L2regularization expects each weight to be a numpy array, got list"):
        L2regularization(0.1)([[1.0, 2.0]])


def test_grad_of_a_non_array_is_a_type_error():
    with pytest.raises(TypeError, match=r"L2regularization expects W to be a numpy array, got list"):
        L2regularization(0.1).grad([1.0, 2.0])


@pytest.mark.parametrize("coefficient", [-0.1, float("nan"), float("inf")])
def test_negative_or_non_finite_coefficient_is_a_value_error(coefficient):
    with pytest.raises(ValueError, match=rf"L2regularization expects coefficient to be a finite number >= 0, got {coefficient!r}"):
        L2regularization(coefficient)


@pytest.mark.parametrize("coefficient", ["0.1", None])
def test_non_number_coefficient_is_rejected(coefficient):
    with pytest.raises(TypeError, match=r"L2regularization expects coefficient to be a number >= 0, got"):
        L2regularization(coefficient)
