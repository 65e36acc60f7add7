"""9.3.a: zero_padding, against hand-written arrays, the vectorized oracle and the notebook's values."""
import numpy as np
import pytest

import expected_values as ev
import oracle
from grading.cases import CONV_CASES, conv_case_id
from layers import zero_padding

pytestmark = pytest.mark.part("9.3.a")


def test_hand_computed_single_image():
    X = np.array([[1.0, 2.0], [3.0, 4.0]]).reshape(1, 2, 2, 1)
    expected = np.array([
        [0, 0, 0, 0],
        [0, 1, 2, 0],
        [0, 3, 4, 0],
        [0, 0, 0, 0],
    ], dtype=float).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(zero_padding(X, 1), expected)


def test_hand_computed_pads_only_height_and_width():
    X = np.array([[[[1.0, 2.0]]], [[[3.0, 4.0]]]])  # (2, 1, 1, 2): two 1x1 images, two channels
    X_pad = zero_padding(X, 2)
    assert X_pad.shape == (2, 5, 5, 2)
    np.testing.assert_array_equal(X_pad[:, 2, 2, :], [[1.0, 2.0], [3.0, 4.0]])
    assert np.count_nonzero(X_pad) == 4


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_matches_oracle(case):
    m, H, W, C_in, _, _, _, p = case
    X = np.random.default_rng(0).standard_normal((m, H, W, C_in))
    X_pad = zero_padding(X, p)
    assert X_pad.shape == (m, H + 2 * p, W + 2 * p, C_in)
    np.testing.assert_array_equal(X_pad, oracle.zero_padding(X, p))


@pytest.mark.parametrize("dtype", [np.int64, np.int32, np.float32, np.float64])
def test_keeps_dtype(dtype):
    X = np.arange(24).reshape(2, 3, 2, 2).astype(dtype)
    X_pad = zero_padding(X, 1)
    assert X_pad.dtype == dtype
    np.testing.assert_array_equal(X_pad, oracle.zero_padding(X, 1))


def test_pad_zero_returns_an_equal_copy():
    X = np.random.default_rng(1).standard_normal((2, 3, 4, 2))
    X_pad = zero_padding(X, 0)
    np.testing.assert_array_equal(X_pad, X)
    assert X_pad.dtype == X.dtype
    assert not np.shares_memory(X_pad, X)


def test_returns_a_new_array_and_leaves_X_unchanged():
    X = np.random.default_rng(2).standard_normal((2, 3, 3, 2))
    X_before = X.copy()
    X_pad = zero_padding(X, 1)
    np.testing.assert_array_equal(X, X_before)
    assert not np.shares_memory(X_pad, X)
    X_pad[...] = 7.0
    np.testing.assert_array_equal(X, X_before)


def test_accepts_numpy_integer_pad():
    X = np.ones((1, 2, 2, 1))
    assert zero_padding(X, np.int64(1)).shape == (1, 4, 4, 1)


def test_notebook_values():
    image_batch, image_batch_padded = ev.notebook_9_3_a()
    assert image_batch.shape == ev.IMAGE_BATCH_SHAPE
    assert image_batch_padded.shape == ev.IMAGE_BATCH_PADDED_SHAPE
    np.testing.assert_array_equal(image_batch_padded[:, 2:5, 2:5, :], image_batch)
    np.testing.assert_array_equal(image_batch_padded[1, 1], np.zeros((7, 3)))


@pytest.mark.parametrize("shape", [(3, 3, 3), (2, 3, 3, 3, 1), (9,)])
def test_rejects_input_that_is_not_4d(shape):
    with pytest.raises(ValueError, match=r"zero_padding expects X of shape \(m, H, W, C\) with 4 axes"):
        zero_padding(np.zeros(shape), 1)


def test_rejects_3d_input_with_a_hint():
    with pytest.raises(ValueError, match="add a batch axis"):
        zero_padding(np.zeros((3, 3, 3)), 1)


def test_rejects_a_list():
    with pytest.raises(TypeError, match="zero_padding expects X to be a numpy array, got list"):
        zero_padding([[[[1.0]]]], 1)


def test_rejects_negative_pad():
    with pytest.raises(ValueError, match="zero_padding expects pad >= 0, got -1"):
        zero_padding(np.zeros((1, 2, 2, 1)), -1)


@pytest.mark.parametrize("pad", [1.5, 1.0, "1", None, True])
def test_rejects_non_integer_pad(pad):
    with pytest.raises(TypeError, match="zero_padding expects pad to be an integer"):
        zero_padding(np.zeros((1, 2, 2, 1)), pad)
