import numpy as np

from .validation import check_array, check_forward_done, check_gradient, check_int


class Linear:
    """Fully connected layer ``Z = X @ W + b``.

    Parameters
    ----------
    in_features, out_features : int >= 1

    Attributes
    ----------
    W : ndarray, shape (in_features, out_features)
        He-normal: ``np.random.randn(in, out) * np.sqrt(2 / in)``, from numpy's global random state.
    b : ndarray, shape (out_features,)
        Zeros.
    """

    def __init__(self, in_features, out_features):
        self.in_features = check_int("Linear", "in_features", in_features, minimum=1)
        self.out_features = check_int("Linear", "out_features", out_features, minimum=1)
        self.W = np.random.randn(self.in_features, self.out_features) * np.sqrt(2 / self.in_features)
        self.b = np.zeros(self.out_features)
        self.cache = None

    def __call__(self, X):
        """X: (m, in_features) -> Z: (m, out_features). Caches a copy of X."""
        check_array("Linear", "X", X, ndim=2)
        if X.shape[1] != self.in_features:
            raise ValueError(
                f"Linear expects X of shape (m, in_features={self.in_features}), got {X.shape}"
                " — put a Flatten before it if X holds images"
            )
        self.cache = X.copy()
        return X @ self.W + self.b

    def grad(self, in_gradient):
        """in_gradient: (m, out_features) -> (dX (m, in), dW like W, db like b), summed over the batch."""
        X = check_forward_done("Linear", self.cache)
        check_gradient("Linear", in_gradient, (X.shape[0], self.out_features))
        return in_gradient @ self.W.T, X.T @ in_gradient, in_gradient.sum(axis=0)
