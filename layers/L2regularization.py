import numpy as np

from .validation import check_array, check_real


class L2regularization:
    """Weight decay term ``coefficient / 2 * sum of ||W||^2`` over a list of weight arrays."""

    def __init__(self, coefficient):
        self.coefficient = check_real("L2regularization", "coefficient", coefficient, ">= 0", lambda v: v >= 0)

    def __call__(self, weights):
        """weights: list of arrays -> the penalty, a float."""
        if isinstance(weights, np.ndarray) or not isinstance(weights, (list, tuple)):
            raise TypeError(f"L2regularization expects a list of weight arrays, got {type(weights).__name__}")
        for W in weights:
            check_array("L2regularization", "each weight", W)
        return self.coefficient / 2 * sum(float(np.sum(W**2)) for W in weights)

    def grad(self, W):
        """W: array -> d(penalty)/dW, same shape."""
        check_array("L2regularization", "W", W)
        return self.coefficient * W
