import numpy as np

from layers.validation import check_array, check_forward_done, check_gradient


class Softmax:
    """Softmax over the last axis: ``(m, K)`` logits -> ``(m, K)`` probabilities."""

    def __init__(self):
        self.cache = None

    def __call__(self, X):
        check_array("Softmax", "X", X)
        if X.ndim < 1:
            raise ValueError(f"Softmax expects X with at least one axis, got shape {X.shape}")
        # Subtracting the row maximum changes nothing mathematically and keeps exp from overflowing.
        e = np.exp(X - X.max(axis=-1, keepdims=True))
        S = e / e.sum(axis=-1, keepdims=True)
        self.cache = S
        return S

    def grad(self, in_gradient):
        """Jacobian-vector product: dX = S * (g - sum(g * S)) along the last axis."""
        S = check_forward_done("Softmax", self.cache)
        check_gradient("Softmax", in_gradient, S.shape)
        return S * (in_gradient - np.sum(in_gradient * S, axis=-1, keepdims=True))
