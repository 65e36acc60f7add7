import numpy as np

from layers.validation import check_array, check_forward_done


class CrossEntropy:
    """Mean cross-entropy of predicted probabilities (e.g. a Softmax's output) and labels.

    ``__call__(y_pred, y_true)``: y_pred (m, K) probabilities; y_true either one-hot (m, K) or
    integer class labels (m,). Returns ``-mean_i sum_k y_true[i, k] * log(y_pred[i, k])`` as a float.
    ``grad()`` returns dL/dy_pred, shape (m, K).
    """

    # Probabilities are clipped to at least eps so that a confident wrong answer costs
    # -log(eps) ~ 27.6 instead of inf, and the gradient stays finite.
    eps = 1e-12

    def __init__(self):
        self.cache = None

    def __call__(self, y_pred, y_true):
        check_array("CrossEntropy", "y_pred", y_pred, ndim=2)
        check_array("CrossEntropy", "y_true", y_true)
        m, K = y_pred.shape
        if y_pred.min() < 0 or y_pred.max() > 1:
            raise ValueError(
                "CrossEntropy expects y_pred to hold probabilities in [0, 1] (e.g. a Softmax output), "
                f"got values in [{y_pred.min():.4g}, {y_pred.max():.4g}] — are these logits?"
            )
        if y_true.ndim == 1:
            if y_true.shape[0] != m or not np.issubdtype(y_true.dtype, np.integer):
                raise ValueError(
                    f"CrossEntropy expects y_true as one-hot (m, K)={y_pred.shape} or integer labels (m,)=({m},), "
                    f"got shape {y_true.shape} dtype {y_true.dtype}"
                )
            if y_true.size and (y_true.min() < 0 or y_true.max() >= K):
                raise ValueError(f"CrossEntropy expects integer labels in [0, {K}), got values in [{y_true.min()}, {y_true.max()}]")
            y_true = np.eye(K)[y_true]
        elif y_true.shape != y_pred.shape:
            raise ValueError(
                f"CrossEntropy expects y_true of shape {y_pred.shape} (one-hot) or ({m},) (labels), got {y_true.shape}"
            )
        p = np.clip(y_pred, self.eps, None)
        self.cache = (p, y_true.astype(float))
        return float(-np.sum(y_true * np.log(p)) / m)

    def grad(self):
        p, y_true = check_forward_done("CrossEntropy", self.cache)
        return -y_true / p / p.shape[0]
