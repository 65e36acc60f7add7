"""layers/vectorized.py against the loop-based layers it stands in for.

The loop-based layers are the reference here: over the shared random cases (ties included) the
vectorized ones must give the same outputs and gradients to 1e-10, draw the same W from the same
seed, raise the same errors with the same messages, and leave their inputs unchanged.
"""
import itertools

import numpy as np
import pytest

import layers
from activations import ReLU, Softmax
from grading.cases import CONV_CASES, POOL_CASES, conv_case_id, pool_case_id, with_ties
from grading.gradcheck import assert_close
from layers import vectorized
from losses import CrossEntropy
from model import Model

TOL = dict(rtol=1e-10, atol=1e-10)


def conv_pair(C_in, C_out, k=3, s=1, p=0, seed=0):
    """A loop-based and a vectorized Conv2D built after the same seed, with the same nonzero b."""
    np.random.seed(seed)
    loops = layers.Conv2D(C_in, C_out, kernel_size=k, stride=s, padding=p)
    np.random.seed(seed)
    fast = vectorized.Conv2D(C_in, C_out, kernel_size=k, stride=s, padding=p)
    loops.b = np.random.default_rng(seed).standard_normal(C_out)
    fast.b = loops.b.copy()
    return loops, fast


def assert_same_error(call_loops, call_fast):
    """Both calls raise, with the same exception type and message."""
    with pytest.raises(Exception) as expected:
        call_loops()
    with pytest.raises(expected.type) as got:
        call_fast()
    assert str(got.value) == str(expected.value)


# ---------------------------------------------------------------- Conv2D


@pytest.mark.parametrize("k, C_in, C_out, s, p", [(3, 3, 8, 1, 1), (1, 2, 5, 2, 0), (4, 1, 2, 3, 2)])
def test_conv_has_the_loop_layers_attributes_and_W_from_the_same_seed(k, C_in, C_out, s, p):
    np.random.seed(11)
    loops = layers.Conv2D(C_in, C_out, kernel_size=k, stride=s, padding=p)
    np.random.seed(11)
    fast = vectorized.Conv2D(C_in, C_out, kernel_size=k, stride=s, padding=p)
    assert isinstance(fast, layers.Conv2D)
    np.testing.assert_array_equal(fast.W, loops.W)
    np.testing.assert_array_equal(fast.b, loops.b)
    assert (fast.in_channels, fast.out_channels, fast.kernel_size, fast.stride, fast.padding) == (C_in, C_out, k, s, p)


@pytest.mark.parametrize("case", CONV_CASES, ids=conv_case_id)
def test_conv_forward_and_grad_equal_the_loops(case):
    m, H, W, C_in, C_out, k, s, p = case
    loops, fast = conv_pair(C_in, C_out, k, s, p, seed=1)
    rng = np.random.default_rng(2)
    X = rng.standard_normal((m, H, W, C_in))
    Z = fast(X)
    Z_loops = loops(X)
    assert Z.dtype == np.float64
    assert_close(Z, Z_loops, **TOL, what="vectorized Conv2D Z")
    G = rng.standard_normal(Z.shape)
    for got, expected, name in zip(fast.grad(G), loops.grad(G), ("dX", "dW", "db")):
        assert_close(got, expected, **TOL, what=f"vectorized Conv2D {name}")


@pytest.mark.parametrize("dtype", [np.int64, np.float32])
def test_conv_other_input_dtypes_give_the_loops_float64_results(dtype):
    loops, fast = conv_pair(2, 3, k=3, s=2, p=1, seed=3)
    X = np.random.default_rng(4).integers(-3, 4, size=(2, 5, 4, 2)).astype(dtype)
    Z = fast(X)
    assert Z.dtype == np.float64
    assert_close(Z, loops(X), **TOL, what="vectorized Conv2D Z")
    G = np.ones(Z.shape, dtype=dtype)
    for got, expected, name in zip(fast.grad(G), loops.grad(G), ("dX", "dW", "db")):
        assert_close(got, expected, **TOL, what=f"vectorized Conv2D {name}")


def test_conv_changes_none_of_its_inputs_and_grad_uses_its_own_copy():
    m, H, W, C_in, C_out, k, s, p = CONV_CASES[1]
    loops, fast = conv_pair(C_in, C_out, k, s, p, seed=5)
    rng = np.random.default_rng(6)
    X = rng.standard_normal((m, H, W, C_in))
    G = rng.standard_normal(loops(X).shape)
    expected = loops.grad(G)
    before = [A.copy() for A in (X, G, fast.W, fast.b)]
    fast(X)
    fast.grad(G)
    for A, A_before in zip((X, G, fast.W, fast.b), before):
        np.testing.assert_array_equal(A, A_before)
    fast(X)
    X[...] = 0.0  # the caller reuses its buffer: grad must still see the input of the forward call
    for got, e, name in zip(fast.grad(G), expected, ("dX", "dW", "db")):
        assert_close(got, e, **TOL, what=f"vectorized Conv2D {name}")


@pytest.mark.parametrize("forward_first", [False, True], ids=["fresh layer", "after another forward"])
def test_conv_grad_follows_a_cache_set_directly(forward_first):
    # The grader (and the loop layers' contract) set `cache` and call grad: grad must work from it,
    # not from work arrays left by an earlier forward pass.
    m, H, W, C_in, C_out, k, s, p = CONV_CASES[1]
    loops, fast = conv_pair(C_in, C_out, k, s, p, seed=17)
    rng = np.random.default_rng(18)
    X = rng.standard_normal((m, H, W, C_in))
    G = rng.standard_normal(loops(X).shape)
    if forward_first:
        fast(rng.standard_normal(X.shape))
    fast.cache = X.copy()
    for got, expected, name in zip(fast.grad(G), loops.grad(G), ("dX", "dW", "db")):
        assert_close(got, expected, **TOL, what=f"vectorized Conv2D {name}")


def test_conv_grad_uses_the_last_forward_call():
    loops, fast = conv_pair(1, 2, k=2, s=1, p=1, seed=7)
    rng = np.random.default_rng(8)
    fast(rng.standard_normal((2, 5, 5, 1)))
    X_last = rng.standard_normal((1, 3, 4, 1))
    fast(X_last)
    loops(X_last)
    G = rng.standard_normal((1, 4, 5, 2))
    for got, expected, name in zip(fast.grad(G), loops.grad(G), ("dX", "dW", "db")):
        assert_close(got, expected, **TOL, what=f"vectorized Conv2D {name}")


# One input channel or one filter makes a transposed work array count as contiguous, so a
# "contiguous copy" of it is no copy at all: those cases are here on purpose.
@pytest.mark.parametrize("C_in, C_out, p", [(2, 3, 1), (1, 3, 0), (2, 1, 1), (1, 1, 0)])
def test_conv_results_are_not_overwritten_by_later_calls(C_in, C_out, p):
    # The layer reuses its work arrays while shapes stay the same; nothing it returns may live in them.
    _, fast = conv_pair(C_in, C_out, k=3, s=1, p=p, seed=15)
    H_out, W_out = 5 + 2 * p - 2, 4 + 2 * p - 2
    rng = np.random.default_rng(16)
    X1, X2 = rng.standard_normal((2, 2, 5, 4, C_in))
    G1, G2 = rng.standard_normal((2, 2, H_out, W_out, C_out))
    first = [fast(X1), *fast.grad(G1)]
    kept = [A.copy() for A in first]
    fast(X2)
    fast.grad(G2)
    for A, A_kept in zip(first, kept):
        np.testing.assert_array_equal(A, A_kept)


@pytest.mark.parametrize("k, s, p", [(3, 1, 1), (2, 2, 0), (3, 2, 2), (1, 1, 0), (2, 1, 3)])
def test_conv_in_chunks_shared_by_threads_equals_the_loops(monkeypatch, k, s, p):
    # Every batch above fits in one chunk of the vectorized layer (a few MB). Here chunks of two
    # examples split a batch of five (the last chunk shorter), and two threads share them whatever
    # BLAS this machine has; grad runs twice, as it may after one forward pass.
    loops, fast = conv_pair(2, 3, k, s, p, seed=19)
    rng = np.random.default_rng(20)
    X = rng.standard_normal((5, 6, 5, 2))
    sizes = vectorized._Grid(fast, X.shape)
    monkeypatch.setattr(vectorized, "CHUNK_BYTES", 2 * 8 * (sizes.K + 1) * sizes.P_grid)
    monkeypatch.setattr(vectorized, "_threads", lambda n_chunks: min(n_chunks, 2))
    chunked = vectorized._Grid(fast, X.shape)
    assert (chunked.chunk, chunked.n_chunks, chunked.threads) == (2, 3, 2)
    Z = fast(X)
    assert_close(Z, loops(X), **TOL, what="vectorized Conv2D Z")
    G = rng.standard_normal(Z.shape)
    expected = loops.grad(G)
    for _ in range(2):
        for got, e, name in zip(fast.grad(G), expected, ("dX", "dW", "db")):
            assert_close(got, e, **TOL, what=f"vectorized Conv2D {name}")


@pytest.mark.parametrize("s", [1, 2])
def test_conv_one_layer_on_images_of_many_sizes_equals_the_loops(s):
    # The layer keeps its work arrays between calls, and two image sizes can give arrays of the same
    # shapes with padding in different places ((2, 5) then (5, 3), with stride 1): every size here
    # is checked right after a forward and backward pass on every other.
    loops, fast = conv_pair(1, 2, k=3, s=s, p=1, seed=23)
    rng = np.random.default_rng(24)
    sizes = [(H, W) for H in range(2, 7) for W in range(2, 7)]
    for before, size in itertools.permutations(sizes, 2):
        fast.grad(rng.standard_normal(fast(rng.standard_normal((1, *before, 1))).shape))
        X = rng.standard_normal((1, *size, 1))
        Z = fast(X)
        assert_close(Z, loops(X), **TOL, what=f"vectorized Conv2D Z, input {X.shape} after {before}")
        G = rng.standard_normal(Z.shape)
        for got, e, name in zip(fast.grad(G), loops.grad(G), ("dX", "dW", "db")):
            assert_close(got, e, **TOL, what=f"vectorized Conv2D {name}, input {X.shape} after {before}")


@pytest.mark.parametrize("k, s, shape, nan_at", [(2, 3, (2, 2, 4, 1), (0, 0, 3, 0)), (3, 2, (1, 4, 4, 1), (0, 3, 3, 0))])
def test_conv_an_input_no_window_reads_changes_nothing_even_a_nan(k, s, shape, nan_at):
    # The stride steps over the last column (and row): the loop-based layer never reads it.
    loops, fast = conv_pair(1, 2, k=k, s=s, p=0, seed=25)
    X = np.random.default_rng(26).standard_normal(shape)
    X[nan_at] = np.nan
    Z = fast(X)
    assert_close(Z, loops(X), **TOL, what="vectorized Conv2D Z")
    G = np.ones(Z.shape)
    for got, e, name in zip(fast.grad(G), loops.grad(G), ("dX", "dW", "db")):
        assert np.isfinite(e).all()
        assert_close(got, e, **TOL, what=f"vectorized Conv2D {name}")


def test_conv_grad_twice_after_one_forward_pass_of_one_chunk():
    # A batch of one chunk reuses the forward pass's windows in grad, which then overwrites them.
    loops, fast = conv_pair(3, 4, k=3, s=1, p=1, seed=21)
    rng = np.random.default_rng(22)
    X = rng.standard_normal((2, 5, 6, 3))
    G = rng.standard_normal(fast(X).shape)
    loops(X)
    expected = loops.grad(G)
    for _ in range(2):
        for got, e, name in zip(fast.grad(G), expected, ("dX", "dW", "db")):
            assert_close(got, e, **TOL, what=f"vectorized Conv2D {name}")


CONV_BAD_FORWARD = {
    "3-D input": lambda L: L(np.zeros((5, 5, 3))),
    "5-D input": lambda L: L(np.zeros((1, 5, 5, 3, 1))),
    "channels first": lambda L: L(np.zeros((2, 3, 32, 32))),
    "channel mismatch": lambda L: L(np.zeros((2, 5, 5, 4))),
    "kernel larger than the padded input": lambda L: L(np.zeros((1, 2, 2, 3))),
    "a list": lambda L: L([[[[0.0, 0.0, 0.0]]]]),
    "complex numbers": lambda L: L(np.zeros((1, 5, 5, 3), dtype=complex)),
    "empty batch": lambda L: L(np.zeros((0, 5, 5, 3))),
    "grad before forward": lambda L: L.grad(np.zeros((1, 3, 3, 2))),
}


@pytest.mark.parametrize("call", CONV_BAD_FORWARD.values(), ids=CONV_BAD_FORWARD.keys())
def test_conv_rejects_bad_input_with_the_loop_layers_error(call):
    loops, fast = conv_pair(3, 2, k=3, s=1, p=0)
    assert_same_error(lambda: call(loops), lambda: call(fast))


@pytest.mark.parametrize("in_gradient", [np.zeros((1, 3, 3, 1)), np.zeros((2, 3, 3, 2)), np.zeros((3, 3, 2)), [[0.0]]],
                         ids=["channels", "batch", "3-D", "a list"])
def test_conv_grad_rejects_bad_in_gradient_with_the_loop_layers_error(in_gradient):
    loops, fast = conv_pair(3, 2, k=3, s=1, p=0)
    X = np.zeros((1, 5, 5, 3))
    loops(X)
    fast(X)
    assert_same_error(lambda: loops.grad(in_gradient), lambda: fast.grad(in_gradient))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=0), dict(stride=1.5), dict(padding=-1), dict(in_channels=3.0)],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_conv_rejects_bad_hyperparameters_with_the_loop_layers_error(kwargs):
    arguments = dict(in_channels=1, out_channels=1) | kwargs
    assert_same_error(lambda: layers.Conv2D(**arguments), lambda: vectorized.Conv2D(**arguments))


# ---------------------------------------------------------------- Maxpool2D


def pool_input(case, ties, rng):
    m, H, W, C, _, _ = case
    return with_ties(rng, (m, H, W, C)) if ties else rng.standard_normal((m, H, W, C))


@pytest.mark.parametrize("ties", [False, True], ids=["random", "ties"])
@pytest.mark.parametrize("case", POOL_CASES, ids=pool_case_id)
def test_pool_forward_and_grad_equal_the_loops(case, ties):
    k, s = case[4], case[5]
    loops, fast = layers.Maxpool2D(k, s), vectorized.Maxpool2D(k, s)
    rng = np.random.default_rng(9)
    X = pool_input(case, ties, rng)
    Z = fast(X)
    assert Z.dtype == np.float64
    assert_close(Z, loops(X), **TOL, what="vectorized Maxpool2D Z")
    G = rng.standard_normal(Z.shape)
    assert_close(fast.grad(G), loops.grad(G), **TOL, what="vectorized Maxpool2D dX")


def test_pool_ties_go_to_the_first_maximum_in_row_major_order():
    # all-zero windows (as after a ReLU), overlapping: each window's gradient goes to its top-left entry
    layer = vectorized.Maxpool2D(kernel_size=2, stride=1)
    layer(np.zeros((1, 3, 3, 1)))
    dX = layer.grad(np.ones((1, 2, 2, 1)))
    np.testing.assert_array_equal(dX[0, :, :, 0], [[1, 1, 0], [1, 1, 0], [0, 0, 0]])
    np.testing.assert_array_equal(layer.create_mask(np.array([[3, 1], [2, 4]])), [[0, 0], [0, 1]])


def test_pool_int_input_gives_the_loops_float64_results():
    loops, fast = layers.Maxpool2D(3, 2), vectorized.Maxpool2D(3, 2)
    X = np.random.default_rng(10).integers(-2, 3, size=(2, 7, 6, 2))
    Z = fast(X)
    assert Z.dtype == np.float64
    assert_close(Z, loops(X), **TOL, what="vectorized Maxpool2D Z")
    G = np.ones(Z.shape, dtype=int)
    assert_close(fast.grad(G), loops.grad(G), **TOL, what="vectorized Maxpool2D dX")


def test_pool_changes_none_of_its_inputs_and_grad_uses_its_own_copy():
    loops, fast = layers.Maxpool2D(2, 1), vectorized.Maxpool2D(2, 1)
    rng = np.random.default_rng(12)
    X = with_ties(rng, (2, 5, 5, 3))
    G = rng.standard_normal(loops(X).shape)
    expected = loops.grad(G)
    before = [X.copy(), G.copy()]
    fast(X)
    fast.grad(G)
    np.testing.assert_array_equal(X, before[0])
    np.testing.assert_array_equal(G, before[1])
    fast(X)
    X[...] = -X  # moves every maximum: grad must still route by the forward call's input
    assert_close(fast.grad(G), expected, **TOL, what="vectorized Maxpool2D dX")


@pytest.mark.parametrize("forward_first", [False, True], ids=["fresh layer", "after another forward"])
def test_pool_grad_follows_a_cache_set_directly(forward_first):
    loops, fast = layers.Maxpool2D(2, 1), vectorized.Maxpool2D(2, 1)
    rng = np.random.default_rng(19)
    X = with_ties(rng, (2, 5, 4, 2))
    G = rng.standard_normal(loops(X).shape)
    if forward_first:
        fast(rng.standard_normal(X.shape))
    fast.cache = X.copy()
    assert_close(fast.grad(G), loops.grad(G), **TOL, what="vectorized Maxpool2D dX")


POOL_BAD_CALLS = {
    "3-D input": lambda L: L(np.zeros((5, 5, 3))),
    "window larger than the input": lambda L: L(np.zeros((1, 2, 5, 1))),
    "a list": lambda L: L([[[[0.0]]]]),
    "strings": lambda L: L(np.zeros((1, 3, 3, 1), dtype=str)),
    "empty batch": lambda L: L(np.zeros((0, 3, 3, 1))),
    "grad before forward": lambda L: L.grad(np.zeros((1, 2, 2, 1))),
}


@pytest.mark.parametrize("call", POOL_BAD_CALLS.values(), ids=POOL_BAD_CALLS.keys())
def test_pool_rejects_bad_input_with_the_loop_layers_error(call):
    assert_same_error(lambda: call(layers.Maxpool2D(3, 1)), lambda: call(vectorized.Maxpool2D(3, 1)))


@pytest.mark.parametrize("in_gradient", [np.zeros((1, 3, 3, 2)), np.zeros((3, 3, 1)), [[0.0]]],
                         ids=["channels", "3-D", "a list"])
def test_pool_grad_rejects_bad_in_gradient_with_the_loop_layers_error(in_gradient):
    loops, fast = layers.Maxpool2D(2, 1), vectorized.Maxpool2D(2, 1)
    X = np.zeros((1, 4, 4, 1))
    loops(X)
    fast(X)
    assert_same_error(lambda: loops.grad(in_gradient), lambda: fast.grad(in_gradient))


@pytest.mark.parametrize("kwargs", [dict(kernel_size=0), dict(stride=2.0)],
                         ids=lambda kw: ",".join(f"{k}={v}" for k, v in kw.items()))
def test_pool_rejects_bad_hyperparameters_with_the_loop_layers_error(kwargs):
    assert_same_error(lambda: layers.Maxpool2D(**kwargs), lambda: vectorized.Maxpool2D(**kwargs))


# ---------------------------------------------------------------- in a model


def test_a_model_trains_identically_with_either_layer_set():
    def train(lib):
        np.random.seed(13)
        model = Model([lib.Conv2D(1, 3, kernel_size=3, padding=1), ReLU(), lib.Maxpool2D(2, 2),
                       layers.Flatten(), layers.Linear(3 * 3 * 3, 4), Softmax()], CrossEntropy())
        rng = np.random.default_rng(14)
        X, y = rng.standard_normal((12, 6, 6, 1)), rng.integers(0, 4, size=12)
        history = model.fit(X, y, epochs=2, batch_size=5, learning_rate=0.1, momentum=0.9)
        return history["loss"], model.predict(X)

    loss_loops, pred_loops = train(layers)
    loss_fast, pred_fast = train(vectorized)
    assert_close(loss_fast, loss_loops, **TOL, what="training loss")
    assert_close(pred_fast, pred_loops, **TOL, what="predictions after training")
