"""Model: learns small problems end to end (an MLP, a linear regression, a tiny CNN), the SGD and
momentum updates, the L2 penalty, train/eval/predict with Dropout, and a whole-model gradient check
of backward against central differences of compute_loss."""
import numpy as np
import pytest

from activations import ReLU, Softmax, Tanh
from grading.gradcheck import assert_close, numerical_gradient
from layers import Conv2D, Dropout, Flatten, L2regularization, Linear, Maxpool2D
from losses import CrossEntropy, MSELoss
from model import Model


def blobs(seed, m_per_class=30):
    """Three well separated Gaussian clusters in the plane; labels 0, 1, 2."""
    rng = np.random.default_rng(seed)
    centres = np.array([[0.0, 3.0], [-3.0, -2.0], [3.0, -2.0]])
    X = np.concatenate([c + 0.6 * rng.normal(size=(m_per_class, 2)) for c in centres])
    y = np.repeat(np.arange(3), m_per_class)
    return X, y


def cross_entropy(P, y):
    """Mean -log P[i, y_i], written here so that the loss under test is not its own witness."""
    return float(-np.mean(np.log(P[np.arange(len(y)), y])))


def mlp(seed, hidden=16, dropout=None):
    np.random.seed(seed)
    layers = [Linear(2, hidden), ReLU()]
    if dropout is not None:
        layers.append(Dropout(dropout))
    return Model(layers + [Linear(hidden, 3), Softmax()], CrossEntropy())


# ---------------------------------------------------------------- learning end to end

def test_mlp_learns_three_separable_classes():
    X, y = blobs(0)
    X0, y0 = X.copy(), y.copy()
    model = mlp(0)
    initial = cross_entropy(model.predict(X), y)
    np.random.seed(1)
    history = model.fit(X, y, epochs=30, batch_size=16, learning_rate=0.1)
    assert "loss" in history
    assert len(history["loss"]) == 30
    assert all(np.isfinite(history["loss"]))
    assert history["loss"][-1] < 0.2 * history["loss"][0]
    assert np.mean(history["loss"][-5:]) < np.mean(history["loss"][:5])
    P = model.predict(X)
    assert P.shape == (90, 3)
    np.testing.assert_allclose(P.sum(axis=1), 1.0)
    assert np.mean(P.argmax(axis=1) == y) >= 0.97
    assert cross_entropy(P, y) < 0.2 * initial
    np.testing.assert_array_equal(X, X0)
    np.testing.assert_array_equal(y, y0)


def test_mlp_learns_with_one_hot_labels_too():
    X, y = blobs(1)
    model = mlp(2)
    np.random.seed(3)
    model.fit(X, np.eye(3)[y], epochs=20, batch_size=10, learning_rate=0.1)
    assert np.mean(model.predict(X).argmax(axis=1) == y) >= 0.97


def test_full_batch_loss_decreases_every_epoch():
    # Softmax regression is convex and smooth: full-batch gradient descent with a small step
    # cannot increase the loss, and each epoch's entry is the loss before that epoch's step.
    X, y = blobs(2)
    np.random.seed(4)
    model = Model([Linear(2, 3), Softmax()], CrossEntropy())
    history = model.fit(X, y, epochs=15, batch_size=len(X), learning_rate=0.05)
    losses = np.array(history["loss"])
    assert len(losses) == 15
    assert np.all(np.diff(losses) < 0), losses


def test_history_holds_the_mean_loss_over_all_examples():
    # With a negligible step, every epoch's entry is the loss of the whole training set, however
    # the examples are split into batches (here 7 + 7 + 6): a batch-size-weighted mean.
    X, y = blobs(3, m_per_class=7)
    X, y = X[:20], y[:20]
    model = mlp(5)
    expected = cross_entropy(model.predict(X), y)
    np.random.seed(6)
    history = model.fit(X, y, epochs=3, batch_size=7, learning_rate=1e-12)
    np.testing.assert_allclose(history["loss"], [expected] * 3, rtol=1e-8)


def regression_data(seed, m=64):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(m, 3))
    W_true, b_true = np.array([[2.0], [-1.0], [0.5]]), np.array([0.3])
    return X, X @ W_true + b_true, W_true, b_true


@pytest.mark.parametrize("momentum, learning_rate", [(0.0, 0.1), (0.9, 0.01)])
def test_mse_regression_fits_a_linear_target(momentum, learning_rate):
    X, y, W_true, b_true = regression_data(0)
    np.random.seed(7)
    layer = Linear(3, 1)
    model = Model([layer], MSELoss())
    history = model.fit(X, y, epochs=60, batch_size=16, learning_rate=learning_rate, momentum=momentum)
    assert history["loss"][-1] < 1e-6 < history["loss"][0]
    np.testing.assert_allclose(layer.W, W_true, atol=1e-3)
    np.testing.assert_allclose(layer.b, b_true, atol=1e-3)
    np.testing.assert_allclose(model.predict(X), y, atol=1e-3)


def test_momentum_speeds_up_a_small_learning_rate():
    X, y, _, _ = regression_data(1)
    final = {}
    for momentum in (0.0, 0.9):
        np.random.seed(8)
        model = Model([Linear(3, 1)], MSELoss())
        np.random.seed(9)
        final[momentum] = model.fit(X, y, epochs=10, batch_size=16, learning_rate=0.005, momentum=momentum)["loss"][-1]
    assert final[0.9] < 0.1 * final[0.0]


# ---------------------------------------------------------------- one SGD step by hand

def mse_dW_db(X, y, W, b):
    """Gradient of mean((X W + b - y)^2) for a single Linear layer, written out by hand."""
    R = 2 * (X @ W + b - y) / y.size
    return X.T @ R, R.sum(axis=0)


@pytest.mark.parametrize("momentum", [0.0, 0.9])
def test_two_steps_follow_the_momentum_rule(momentum):
    rng = np.random.default_rng(10)
    X, y = rng.normal(size=(5, 3)), rng.normal(size=(5, 2))
    layer = Linear(3, 2)
    model = Model([layer], MSELoss())
    lr = 0.1
    W, b = layer.W.copy(), layer.b.copy()
    vW, vb = np.zeros_like(W), np.zeros_like(b)
    for _ in range(2):
        dW, db = mse_dW_db(X, y, W, b)
        vW, vb = momentum * vW - lr * dW, momentum * vb - lr * db
        W, b = W + vW, b + vb
        model.compute_loss(model(X), y)
        model.backward()
        model.step(lr, momentum)
    np.testing.assert_allclose(layer.W, W, rtol=1e-12)
    np.testing.assert_allclose(layer.b, b, rtol=1e-12, atol=1e-15)


# ---------------------------------------------------------------- L2 regularization

def test_compute_loss_adds_the_penalty_over_every_weight_matrix():
    X, y = blobs(4, m_per_class=4)
    np.random.seed(11)
    first, second = Linear(2, 5), Linear(5, 3)
    second.b = np.full(3, 10.0)  # biases are not penalized
    model = Model([first, Tanh(), second, Softmax()], CrossEntropy(), L2regularization(0.2))
    P = model(X)
    expected = cross_entropy(P, y) + 0.2 / 2 * (np.sum(first.W ** 2) + np.sum(second.W ** 2))
    assert model.compute_loss(P, y) == pytest.approx(expected, rel=1e-12)


def test_compute_loss_without_regularization_is_the_loss():
    X, y = blobs(5, m_per_class=4)
    model = mlp(12)
    P = model(X)
    assert model.compute_loss(P, y) == pytest.approx(cross_entropy(P, y), rel=1e-12)


def test_l2_regularization_shrinks_the_weights():
    X, y = blobs(6)
    norms = {}
    for coefficient in (None, 0.05):
        model = mlp(13)
        if coefficient is not None:
            model.regularization = L2regularization(coefficient)
        np.random.seed(14)
        model.fit(X, y, epochs=20, batch_size=15, learning_rate=0.1)
        norms[coefficient] = sum(np.sum(layer.W ** 2) for layer in model.layers if hasattr(layer, "W"))
    assert norms[0.05] < 0.8 * norms[None]


def test_pure_weight_decay_shrinks_by_one_minus_lr_times_coefficient():
    # MSE of a zero target through a layer fed zeros has no gradient: only the penalty acts.
    layer = Linear(3, 2)
    W0 = layer.W.copy()
    model = Model([layer], MSELoss(), L2regularization(0.5))
    model.compute_loss(model(np.zeros((4, 3))), np.zeros((4, 2)))
    model.backward()
    model.step(0.1)
    np.testing.assert_allclose(layer.W, (1 - 0.1 * 0.5) * W0, rtol=1e-12)


# ---------------------------------------------------------------- whole-model gradient check

def test_backward_matches_central_differences_of_compute_loss():
    rng = np.random.default_rng(15)
    X, y = rng.normal(size=(6, 4)), rng.integers(0, 3, size=6)
    np.random.seed(16)
    first, second = Linear(4, 5), Linear(5, 3)
    first.b, second.b = rng.normal(size=5), rng.normal(size=3)
    dropout = Dropout(0.5)
    model = Model([first, Tanh(), dropout, second, Softmax()], CrossEntropy(), L2regularization(0.1))

    def loss_with(layer, name):
        def f(value):
            old = getattr(layer, name)
            setattr(layer, name, value)
            np.random.seed(17)  # the same dropout mask at every evaluation
            loss = model.compute_loss(model(X), y)
            setattr(layer, name, old)
            return loss
        return f

    expected = {(id(layer), name): numerical_gradient(loss_with(layer, name), getattr(layer, name))
                for layer in (first, second) for name in ("W", "b")}
    model.eval()
    loss_without_dropout = model.compute_loss(model(X), y)
    model.train()
    np.random.seed(17)
    assert model.compute_loss(model(X), y) != pytest.approx(loss_without_dropout), "the mask should drop something"
    dX = model.backward()
    assert dX.shape == X.shape
    for layer, label in ((first, "first"), (second, "second")):
        dW, db = model.grads[id(layer)]
        assert_close(dW, expected[(id(layer), "W")], what=f"dW of the {label} Linear")
        assert_close(db, expected[(id(layer), "b")], what=f"db of the {label} Linear")


def test_backward_returns_dX_matching_central_differences():
    rng = np.random.default_rng(18)
    X, y = rng.normal(size=(3, 2)), rng.integers(0, 3, size=3)
    model = mlp(19)
    expected = numerical_gradient(lambda X_: model.compute_loss(model(X_), y), X)
    model.compute_loss(model(X), y)
    assert_close(model.backward(), expected, what="dL/dX")


def test_backward_through_a_small_cnn_matches_central_differences():
    rng = np.random.default_rng(20)
    X, y = rng.normal(size=(2, 4, 4, 1)), np.array([0, 1])
    np.random.seed(21)
    conv = Conv2D(1, 2, kernel_size=3, padding=1)
    conv.b = rng.normal(size=2)
    model = Model([conv, ReLU(), Maxpool2D(2, 2), Flatten(), Linear(8, 2), Softmax()],
                  CrossEntropy(), L2regularization(0.05))

    def loss_with_W(W):
        old, conv.W = conv.W, W
        loss = model.compute_loss(model(X), y)
        conv.W = old
        return loss

    expected = numerical_gradient(loss_with_W, conv.W)
    model.compute_loss(model(X), y)
    model.backward()
    assert_close(model.grads[id(conv)][0], expected, rtol=1e-4, atol=1e-7, what="Conv2D dW through the model")


# ---------------------------------------------------------------- a tiny CNN learns

def half_bright_images(seed, m=40):
    """4x4 grey images: class 0 has a bright top half, class 1 a bright bottom half, plus noise."""
    rng = np.random.default_rng(seed)
    y = np.arange(m) % 2
    X = 0.2 * rng.normal(size=(m, 4, 4, 1))
    X[y == 0, :2] += 1.0
    X[y == 1, 2:] += 1.0
    return X, y


def test_tiny_cnn_learns_top_versus_bottom():
    X, y = half_bright_images(0)
    np.random.seed(22)
    model = Model([Conv2D(1, 2, kernel_size=3, padding=1), ReLU(), Maxpool2D(2, 2), Flatten(),
                   Linear(8, 2), Softmax()], CrossEntropy())
    np.random.seed(23)
    history = model.fit(X, y, epochs=15, batch_size=8, learning_rate=0.1, momentum=0.5)
    assert len(history["loss"]) == 15
    assert history["loss"][-1] < 0.5 * history["loss"][0]
    X_test, y_test = half_bright_images(1, m=20)
    assert np.mean(model.predict(X).argmax(axis=1) == y) == 1.0
    assert np.mean(model.predict(X_test).argmax(axis=1) == y_test) >= 0.95


# ---------------------------------------------------------------- train / eval / predict

def test_train_and_eval_switch_every_dropout():
    np.random.seed(24)
    drops = [Dropout(0.5), Dropout(0.2)]
    model = Model([Linear(2, 4), drops[0], ReLU(), Linear(4, 3), drops[1], Softmax()], CrossEntropy())
    model.eval()
    assert [d.training for d in drops] == [False, False]
    model.train()
    assert [d.training for d in drops] == [True, True]


def test_eval_forward_is_deterministic_and_matches_a_model_without_dropout():
    X = np.random.default_rng(25).normal(size=(50, 2))
    np.random.seed(26)
    first, second = Linear(2, 8), Linear(8, 3)
    with_dropout = Model([first, ReLU(), Dropout(0.5), second, Softmax()], CrossEntropy())
    without = Model([first, ReLU(), second, Softmax()], CrossEntropy())
    with_dropout.eval()
    np.testing.assert_allclose(with_dropout(X), without(X))
    with_dropout.train()
    np.random.seed(27)
    assert not np.allclose(with_dropout(X), without(X))


@pytest.mark.parametrize("mode", ["train", "eval"])
def test_predict_runs_in_eval_mode_and_restores_the_mode(mode):
    X = np.random.default_rng(28).normal(size=(30, 2))
    model = mlp(29, dropout=0.5)
    dropout = model.layers[2]
    model.eval()
    expected = model(X)
    getattr(model, mode)()
    X0 = X.copy()
    np.random.seed(30)
    np.testing.assert_allclose(model.predict(X), expected)
    np.testing.assert_allclose(model.predict(X, batch_size=7), expected)  # batches are concatenated in order
    assert dropout.training is (mode == "train")
    np.testing.assert_array_equal(X, X0)


def test_predict_restores_the_mode_even_if_the_forward_fails():
    model = mlp(31, dropout=0.5)
    model.train()
    with pytest.raises(ValueError):
        model.predict(np.ones((4, 5)))  # Linear(2, ...) fed 5 features
    assert model.layers[2].training is True


# ---------------------------------------------------------------- errors

def test_fit_needs_as_many_labels_as_examples():
    X, y = blobs(7, m_per_class=3)
    with pytest.raises(ValueError, match=r"Model\.fit expects as many labels as examples, got X \(9, 2\) and y \(8,\)"):
        mlp(32).fit(X, y[:8], epochs=1, batch_size=4, learning_rate=0.1)


def test_backward_before_any_loss_is_a_runtime_error():
    model = mlp(33)
    model(np.ones((2, 2)))
    with pytest.raises(RuntimeError, match=r"CrossEntropy\.grad called before any forward"):
        model.backward()


def test_empty_layer_list_is_a_type_error():
    with pytest.raises(TypeError, match=r"Model expects a non-empty list of layers"):
        Model([], CrossEntropy())


@pytest.mark.parametrize("learning_rate", [0, -0.1])
def test_fit_rejects_a_learning_rate_that_is_not_positive(learning_rate):
    model = Model([Linear(2, 2), Softmax()], CrossEntropy())
    with pytest.raises(ValueError, match=rf"Model\.fit expects learning_rate to be a finite number > 0, got {learning_rate}"):
        model.fit(np.zeros((4, 2)), np.array([0, 1, 0, 1]), epochs=1, batch_size=2, learning_rate=learning_rate)


def test_predict_rejects_an_empty_batch():
    model = Model([Linear(2, 2)], MSELoss())
    with pytest.raises(ValueError, match=r"Model\.predict expects a non-empty X, got shape \(0, 2\)"):
        model.predict(np.zeros((0, 2)))


def test_step_before_backward_is_a_runtime_error():
    model = Model([Linear(2, 2)], MSELoss())
    with pytest.raises(RuntimeError, match=r"Model\.step needs the gradients of a backward pass: call backward first"):
        model.step(learning_rate=0.1)


def test_predict_rejects_a_batch_size_below_one():
    model = Model([Linear(2, 2)], MSELoss())
    with pytest.raises(ValueError, match=r"Model\.predict expects batch_size >= 1, got 0"):
        model.predict(np.zeros((3, 2)), batch_size=0)


def test_fit_rejects_an_empty_training_set():
    model = Model([Linear(2, 2)], MSELoss())
    with pytest.raises(ValueError, match=r"Model\.fit expects a non-empty X, got shape \(0, 2\)"):
        model.fit(np.zeros((0, 2)), np.zeros((0, 2)), epochs=1, batch_size=1, learning_rate=0.1)
