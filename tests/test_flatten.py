"""Flatten: (m, H, W, C) <-> (m, H*W*C) in row-major, channels-last order; asserted gradient,
untouched inputs and errors."""
import re

import numpy as np
import pytest

from grading.gradcheck import assert_close, numerical_gradient
from layers import Flatten


def test_forward_keeps_each_example_in_row_major_channels_last_order():
    X = np.arange(2 * 2 * 3 * 2, dtype=float).reshape(2, 2, 3, 2)
    Z = Flatten()(X)
    assert Z.shape == (2, 12)
    np.testing.assert_array_equal(Z[0], np.arange(12))
    np.testing.assert_array_equal(Z[1], np.arange(12, 24))
    # entry (h, w, c) of example i sits at h*W*C + w*C + c
    assert Z[1, 1 * 3 * 2 + 2 * 2 + 1] == X[1, 1, 2, 1]


def test_grad_restores_the_image_shape():
    X = np.zeros((2, 2, 3, 2))
    flatten = Flatten()
    flatten(X)
    G = np.arange(24, dtype=float).reshape(2, 12)
    dX = flatten.grad(G)
    assert dX.shape == (2, 2, 3, 2)
    np.testing.assert_array_equal(dX, np.arange(24, dtype=float).reshape(2, 2, 3, 2))


@pytest.mark.parametrize("shape", [(2, 3, 4, 2), (1, 5, 3, 1), (3, 7)])
def test_grad_matches_central_differences(shape):
    rng = np.random.default_rng(0)
    X = rng.normal(size=shape)
    G = rng.normal(size=(shape[0], int(np.prod(shape[1:]))))
    expected = numerical_gradient(lambda X_: float(np.sum(Flatten()(X_) * G)), X)
    flatten = Flatten()
    flatten(X)
    assert_close(flatten.grad(G), expected, what="Flatten dX")


def test_grad_uses_the_last_forward_shape():
    flatten = Flatten()
    flatten(np.ones((2, 2, 2, 3)))
    flatten(np.ones((2, 3, 2, 2)))
    assert flatten.grad(np.ones((2, 12))).shape == (2, 3, 2, 2)


def test_inputs_unchanged():
    rng = np.random.default_rng(1)
    X, G = rng.normal(size=(2, 3, 3, 2)), rng.normal(size=(2, 18))
    X0, G0 = X.copy(), G.copy()
    flatten = Flatten()
    flatten(X)
    flatten.grad(G)
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(G, G0)


def test_input_without_a_feature_axis():
    with pytest.raises(ValueError, match=r"Flatten expects X with a batch axis and at least one more, got shape \(5,\)"):
        Flatten()(np.ones(5))


def test_non_array_input_is_a_type_error():
    with pytest.raises(TypeError, match=r"Flatten expects X to be a numpy array, got list"):
        Flatten()([[1.0, 2.0]])


def test_grad_before_forward_is_a_runtime_error():
    with pytest.raises(RuntimeError, match=r"Flatten\.grad called before any forward"):
        Flatten().grad(np.ones((2, 4)))


@pytest.mark.parametrize("shape", [(2, 2, 2, 1), (2, 7), (4, 2)])
def test_in_gradient_of_another_shape(shape):
    flatten = Flatten()
    flatten(np.ones((2, 2, 2, 2)))
    with pytest.raises(ValueError, match=re.escape(f"Flatten.grad expects in_gradient of shape (2, 8) (the last output's), got {shape}")):
        flatten.grad(np.ones(shape))


def test_empty_batch_is_a_value_error():
    with pytest.raises(ValueError, match=r"Flatten expects a non-empty X, got shape \(0, 2, 2, 1\)"):
        Flatten()(np.zeros((0, 2, 2, 1)))
