"""A sequential model trained by mini-batch SGD with momentum."""
import numpy as np

from layers.validation import check_array, check_int, check_real


class Model:
    """Layers applied in order, a loss on the last output, and optionally an L2 penalty on every
    layer's ``W``.

    Parameters
    ----------
    layers : list
        Each has ``__call__(X)`` and ``grad(in_gradient)``; a layer with parameters has ``W`` and
        ``b`` and its ``grad`` returns ``(dX, dW, db)``.
    loss : CrossEntropy, MSELoss, ...
        ``loss(y_pred, y_true)`` returns a float, ``loss.grad()`` dL/dy_pred.
    regularization : L2regularization, optional
    """

    def __init__(self, layers, loss, regularization=None):
        if not isinstance(layers, (list, tuple)) or not layers:
            raise TypeError(f"Model expects a non-empty list of layers, got {layers!r}")
        self.layers = list(layers)
        self.loss = loss
        self.regularization = regularization
        self.grads = {}  # id(layer) -> (dW, db) of the last backward pass
        self.velocity = {}  # id(layer) -> (vW, vb), the momentum buffers

    def _parametric(self):
        return [layer for layer in self.layers if hasattr(layer, "W")]

    def __call__(self, X):
        """Forward pass through every layer."""
        for layer in self.layers:
            X = layer(X)
        return X

    def compute_loss(self, y_pred, y_true):
        """The loss of a forward pass's output, plus the penalty if there is one."""
        loss = self.loss(y_pred, y_true)
        if self.regularization is not None:
            loss += self.regularization([layer.W for layer in self._parametric()])
        return loss

    def backward(self):
        """Backpropagate from the last ``compute_loss``; stores each layer's (dW, db)."""
        gradient = self.loss.grad()
        self.grads = {}
        for layer in reversed(self.layers):
            out = layer.grad(gradient)
            if isinstance(out, tuple):
                gradient, dW, db = out
                if self.regularization is not None:
                    dW = dW + self.regularization.grad(layer.W)
                self.grads[id(layer)] = (dW, db)
            else:
                gradient = out
        return gradient

    def step(self, learning_rate, momentum=0.0):
        """One SGD update from the last backward pass: ``v = momentum * v - lr * grad; W += v``."""
        for layer in self._parametric():
            if id(layer) not in self.grads:
                raise RuntimeError("Model.step needs the gradients of a backward pass: call backward first")
            dW, db = self.grads[id(layer)]
            vW, vb = self.velocity.get(id(layer), (np.zeros_like(layer.W), np.zeros_like(layer.b)))
            vW = momentum * vW - learning_rate * dW
            vb = momentum * vb - learning_rate * db
            self.velocity[id(layer)] = (vW, vb)
            layer.W = layer.W + vW
            layer.b = layer.b + vb

    def train(self):
        """Training mode: Dropout drops."""
        for layer in self.layers:
            if hasattr(layer, "training"):
                layer.training = True

    def eval(self):
        """Evaluation mode: Dropout is the identity."""
        for layer in self.layers:
            if hasattr(layer, "training"):
                layer.training = False

    def fit(self, X, y, epochs, batch_size, learning_rate, momentum=0.0):
        """Train on shuffled mini-batches (shuffled with numpy's global random state).

        Parameters
        ----------
        X : ndarray, shape (m, ...)
        y : ndarray, shape (m, ...) — whatever the loss takes as y_true
        epochs, batch_size : int >= 1
        learning_rate : float > 0
        momentum : float in [0, 1)

        Returns
        -------
        history : dict
            ``history["loss"]`` holds one mean training loss per epoch (mean over batches, weighted
            by batch size).
        """
        check_array("Model.fit", "X", X)
        check_array("Model.fit", "y", y)
        if len(X) != len(y):
            raise ValueError(f"Model.fit expects as many labels as examples, got X {X.shape} and y {y.shape}")
        epochs = check_int("Model.fit", "epochs", epochs, minimum=1)
        batch_size = check_int("Model.fit", "batch_size", batch_size, minimum=1)
        learning_rate = check_real("Model.fit", "learning_rate", learning_rate, "> 0", lambda v: v > 0)
        momentum = check_real("Model.fit", "momentum", momentum, "in [0, 1)", lambda v: 0 <= v < 1)
        self.train()
        history = {"loss": []}
        for _ in range(epochs):
            order = np.random.permutation(len(X))
            total = 0.0
            for start in range(0, len(X), batch_size):
                batch = order[start:start + batch_size]
                total += self.compute_loss(self(X[batch]), y[batch]) * len(batch)
                self.backward()
                self.step(learning_rate, momentum)
            history["loss"].append(total / len(X))
        return history

    def predict(self, X, batch_size=256):
        """The network's outputs for X in evaluation mode (the mode is restored afterwards)."""
        check_array("Model.predict", "X", X)
        batch_size = check_int("Model.predict", "batch_size", batch_size, minimum=1)
        modes = [(layer, layer.training) for layer in self.layers if hasattr(layer, "training")]
        self.eval()
        try:
            return np.concatenate([self(X[i:i + batch_size]) for i in range(0, len(X), batch_size)])
        finally:
            for layer, training in modes:
                layer.training = training
