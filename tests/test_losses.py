"""CrossEntropy and MSELoss: hand-computed values, asserted central-difference gradients w.r.t.
y_pred, the guard against log(0), untouched inputs and errors."""
import re
import warnings

import numpy as np
import pytest

from grading.gradcheck import assert_close, numerical_gradient
from losses import CrossEntropy, MSELoss


def random_probabilities(rng, m, K):
    """Rows that sum to 1 with every entry well above the clip (>= about 0.02)."""
    P = rng.uniform(1.0, 5.0, size=(m, K))
    return P / P.sum(axis=1, keepdims=True)


# ---------------------------------------------------------------- hand-computed values

def test_cross_entropy_with_integer_labels():
    y_pred = np.array([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25]])
    loss = CrossEntropy()(y_pred, np.array([0, 1]))
    assert isinstance(loss, float)
    assert loss == pytest.approx(-(np.log(0.7) + np.log(0.5)) / 2, rel=1e-12)


def test_cross_entropy_with_one_hot_labels():
    y_pred = np.array([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25]])
    y_true = np.array([[0.0, 0.0, 1.0], [1.0, 0.0, 0.0]])
    assert CrossEntropy()(y_pred, y_true) == pytest.approx(-(np.log(0.1) + np.log(0.25)) / 2, rel=1e-12)


def test_cross_entropy_grad_by_hand():
    # dL/dp[i, k] = -y[i, k] / p[i, k] / m
    ce = CrossEntropy()
    ce(np.array([[0.7, 0.2, 0.1], [0.25, 0.5, 0.25]]), np.array([0, 1]))
    np.testing.assert_allclose(ce.grad(), [[-1 / 1.4, 0, 0], [0, -1.0, 0]])


def test_cross_entropy_of_a_perfect_prediction_is_zero():
    assert CrossEntropy()(np.eye(3), np.arange(3)) == pytest.approx(0.0, abs=1e-12)


def test_mse_by_hand():
    y_pred = np.array([[1.0, 2.0], [3.0, 4.0]])
    y_true = np.array([[0.0, 2.0], [5.0, 4.0]])
    mse = MSELoss()
    loss = mse(y_pred, y_true)
    assert isinstance(loss, float)
    assert loss == pytest.approx((1 + 0 + 4 + 0) / 4, rel=1e-12)
    # dL/dy_pred = 2 (y_pred - y_true) / (number of elements)
    np.testing.assert_allclose(mse.grad(), [[0.5, 0.0], [-1.0, 0.0]])


def test_mse_averages_over_all_elements_not_only_examples():
    assert MSELoss()(np.full((2, 5), 3.0), np.zeros((2, 5))) == pytest.approx(9.0)


# ---------------------------------------------------------------- gradients

@pytest.mark.parametrize("labels", ["integer", "one-hot"])
def test_cross_entropy_grad_matches_central_differences(labels):
    rng = np.random.default_rng(0)
    y_pred = random_probabilities(rng, 5, 4)
    y_int = rng.integers(0, 4, size=5)
    y_true = y_int if labels == "integer" else np.eye(4)[y_int]
    expected = numerical_gradient(lambda P: CrossEntropy()(P, y_true), y_pred)
    ce = CrossEntropy()
    ce(y_pred, y_true)
    assert_close(ce.grad(), expected, what="CrossEntropy dL/dy_pred")


def test_cross_entropy_soft_labels_grad_matches_central_differences():
    rng = np.random.default_rng(1)
    y_pred, y_true = random_probabilities(rng, 4, 3), random_probabilities(rng, 4, 3)
    expected = numerical_gradient(lambda P: CrossEntropy()(P, y_true), y_pred)
    ce = CrossEntropy()
    ce(y_pred, y_true)
    assert_close(ce.grad(), expected)


def test_integer_and_one_hot_labels_agree():
    rng = np.random.default_rng(2)
    y_pred, y_int = random_probabilities(rng, 6, 3), rng.integers(0, 3, size=6)
    a, b = CrossEntropy(), CrossEntropy()
    assert a(y_pred, y_int) == pytest.approx(b(y_pred, np.eye(3)[y_int]), rel=1e-12)
    np.testing.assert_allclose(a.grad(), b.grad())


@pytest.mark.parametrize("shape", [(4, 3), (2, 3, 4)])
def test_mse_grad_matches_central_differences(shape):
    rng = np.random.default_rng(3)
    y_pred, y_true = rng.normal(size=shape), rng.normal(size=shape)
    expected = numerical_gradient(lambda P: MSELoss()(P, y_true), y_pred)
    mse = MSELoss()
    mse(y_pred, y_true)
    assert_close(mse.grad(), expected, what="MSELoss dL/dy_pred")


@pytest.mark.parametrize("Loss", [CrossEntropy, MSELoss])
def test_grad_uses_the_last_call(Loss):
    rng = np.random.default_rng(4)
    first, last = random_probabilities(rng, 3, 4), random_probabilities(rng, 3, 4)
    y_true = np.eye(4)[[0, 3, 1]]
    expected = numerical_gradient(lambda P: Loss()(P, y_true), last)
    loss = Loss()
    loss(first, y_true)
    loss(last, y_true)
    assert_close(loss.grad(), expected)


# ---------------------------------------------------------------- log(0)

@pytest.mark.parametrize("labels", ["integer", "one-hot"])
def test_cross_entropy_with_zero_probability_for_the_true_class_is_finite(labels):
    y_pred = np.array([[0.0, 1.0], [0.5, 0.5]])
    y_true = np.array([0, 1]) if labels == "integer" else np.array([[1.0, 0.0], [0.0, 1.0]])
    ce = CrossEntropy()
    with warnings.catch_warnings(), np.errstate(divide="raise", invalid="raise", over="raise"):
        warnings.simplefilter("error")
        loss = ce(y_pred, y_true)
        dP = ce.grad()
    assert np.isfinite(loss) and np.all(np.isfinite(dP))
    # A confident wrong answer must cost a lot, far more than the 0.69 of the second example.
    assert loss > 10
    # The gradient pushes the true class's probability up, and ignores the other classes.
    assert dP[0, 0] < 0 and dP[1, 1] < 0
    assert dP[0, 1] == 0 and dP[1, 0] == 0


# ---------------------------------------------------------------- inputs are left alone

@pytest.mark.parametrize("labels", ["integer", "one-hot"])
def test_cross_entropy_leaves_its_inputs_unchanged(labels):
    y_pred = np.array([[0.0, 1.0], [0.3, 0.7]])  # the 0 would be clipped in place by a careless guard
    y_true = np.array([0, 1]) if labels == "integer" else np.array([[1.0, 0.0], [0.0, 1.0]])
    y_pred0, y_true0 = y_pred.copy(), y_true.copy()
    ce = CrossEntropy()
    ce(y_pred, y_true)
    ce.grad()
    np.testing.assert_array_equal(y_pred, y_pred0)
    np.testing.assert_array_equal(y_true, y_true0)
    assert y_true.dtype == y_true0.dtype


def test_mse_leaves_its_inputs_unchanged():
    rng = np.random.default_rng(5)
    y_pred, y_true = rng.normal(size=(3, 2)), rng.normal(size=(3, 2))
    y_pred0, y_true0 = y_pred.copy(), y_true.copy()
    mse = MSELoss()
    mse(y_pred, y_true)
    mse.grad()
    np.testing.assert_array_equal(y_pred, y_pred0)
    np.testing.assert_array_equal(y_true, y_true0)


@pytest.mark.parametrize("Loss", [CrossEntropy, MSELoss])
def test_grad_does_not_see_later_changes_to_the_inputs(Loss):
    rng = np.random.default_rng(6)
    y_pred, y_true = random_probabilities(rng, 3, 4), np.eye(4)[[2, 0, 1]]
    reference = Loss()
    reference(y_pred.copy(), y_true.copy())
    loss = Loss()
    loss(y_pred, y_true)
    y_pred[:] = 0.25
    y_true[:] = 0.0
    np.testing.assert_allclose(loss.grad(), reference.grad())


# ---------------------------------------------------------------- errors

def test_cross_entropy_one_hot_of_another_shape():
    with pytest.raises(ValueError, match=re.escape("CrossEntropy expects y_true of shape (2, 3) (one-hot)")
                       + r".*got \(2, 4\)"):
        CrossEntropy()(np.full((2, 3), 1 / 3), np.eye(4)[[0, 1]])


def test_cross_entropy_labels_of_another_length():
    with pytest.raises(ValueError, match=r"CrossEntropy expects y_true .*integer labels \(m,\)=\(2,\).*got shape \(3,\)"):
        CrossEntropy()(np.full((2, 3), 1 / 3), np.array([0, 1, 2]))


def test_cross_entropy_float_labels_are_rejected():
    with pytest.raises(ValueError, match=r"CrossEntropy expects y_true .*integer labels.*dtype float64"):
        CrossEntropy()(np.full((2, 3), 1 / 3), np.array([0.0, 1.0]))


@pytest.mark.parametrize("labels", [[0, 3], [-1, 0]])
def test_cross_entropy_labels_out_of_range(labels):
    with pytest.raises(ValueError, match=r"CrossEntropy expects integer labels in \[0, 3\)"):
        CrossEntropy()(np.full((2, 3), 1 / 3), np.array(labels))


def test_cross_entropy_y_pred_must_be_2d():
    with pytest.raises(ValueError, match=r"CrossEntropy expects y_pred with 2 axes, got shape \(3,\)"):
        CrossEntropy()(np.full(3, 1 / 3), np.array([0, 1, 2]))


def test_mse_shapes_that_differ():
    with pytest.raises(ValueError, match=r"MSELoss expects y_pred and y_true of the same shape, got \(2, 3\) and \(3, 2\)"):
        MSELoss()(np.zeros((2, 3)), np.zeros((3, 2)))


def test_mse_does_not_broadcast():
    with pytest.raises(ValueError, match=r"MSELoss expects .* same shape, got \(4, 1\) and \(4,\)"):
        MSELoss()(np.zeros((4, 1)), np.zeros(4))


@pytest.mark.parametrize("Loss", [CrossEntropy, MSELoss])
@pytest.mark.parametrize("which", ["y_pred", "y_true"])
def test_non_array_input_is_a_type_error(Loss, which):
    args = {"y_pred": np.full((2, 2), 0.5), "y_true": np.eye(2)}
    args[which] = args[which].tolist()
    with pytest.raises(TypeError, match=rf"{Loss.__name__} expects {which} to be a numpy array, got list"):
        Loss()(args["y_pred"], args["y_true"])


@pytest.mark.parametrize("Loss", [CrossEntropy, MSELoss])
def test_grad_before_any_call_is_a_runtime_error(Loss):
    with pytest.raises(RuntimeError, match=rf"{Loss.__name__}\.grad called before any forward"):
        Loss().grad()


def test_cross_entropy_rejects_logits():
    with pytest.raises(ValueError, match=r"CrossEntropy expects y_pred to hold probabilities in \[0, 1\].*logits"):
        CrossEntropy()(np.array([[5.0, -3.0]]), np.array([0]))


@pytest.mark.parametrize("loss", [CrossEntropy(), MSELoss()], ids=["CrossEntropy", "MSELoss"])
def test_losses_reject_an_empty_batch(loss):
    with pytest.raises(ValueError, match=rf"{type(loss).__name__} expects a non-empty y_pred, got shape \(0, 3\)"):
        loss(np.zeros((0, 3)), np.zeros((0, 3)))
