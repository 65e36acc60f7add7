import numpy as np

from layers.validation import check_array, check_forward_done, check_gradient, check_real


class _Elementwise:
    """An activation applied entry by entry: ``grad`` multiplies by the local derivative."""

    def __init__(self):
        self.cache = None

    def __call__(self, X):
        check_array(type(self).__name__, "X", X)
        Z = self._forward(X)
        self.cache = (X.copy(), Z)
        return Z

    def grad(self, in_gradient):
        X, Z = check_forward_done(type(self).__name__, self.cache)
        check_gradient(type(self).__name__, in_gradient, X.shape)
        return in_gradient * self._derivative(X, Z)


class ReLU(_Elementwise):
    """max(0, x); derivative 1 where x > 0, else 0."""

    def _forward(self, X):
        return np.maximum(X, 0)

    def _derivative(self, X, Z):
        return (X > 0).astype(float)


class LeakyReLU(_Elementwise):
    """x where x > 0, else alpha * x."""

    def __init__(self, alpha=0.01):
        super().__init__()
        self.alpha = check_real("LeakyReLU", "alpha", alpha)

    def _forward(self, X):
        return np.where(X > 0, X, self.alpha * X)

    def _derivative(self, X, Z):
        return np.where(X > 0, 1.0, self.alpha)


class Tanh(_Elementwise):
    def _forward(self, X):
        return np.tanh(X)

    def _derivative(self, X, Z):
        return 1 - Z**2


class Sigmoid(_Elementwise):
    """1 / (1 + exp(-x)), computed from exp(-|x|) so that no exp overflows for large |x|."""

    def _forward(self, X):
        e = np.exp(-np.abs(X))
        return np.where(X >= 0, 1 / (1 + e), e / (1 + e))

    def _derivative(self, X, Z):
        return Z * (1 - Z)
