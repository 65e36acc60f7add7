import numpy as np

from .validation import check_array, check_forward_done, check_gradient


class Flatten:
    """Reshape images ``(m, H, W, C)`` to rows ``(m, H*W*C)`` and gradients back."""

    def __init__(self):
        self.cache = None

    def __call__(self, X):
        check_array("Flatten", "X", X)
        if X.ndim < 2:
            raise ValueError(f"Flatten expects X with a batch axis and at least one more, got shape {X.shape}")
        self.cache = X.shape
        return X.reshape(X.shape[0], -1)

    def grad(self, in_gradient):
        shape = check_forward_done("Flatten", self.cache)
        check_gradient("Flatten", in_gradient, (shape[0], int(np.prod(shape[1:]))))
        return in_gradient.reshape(shape)
