import numpy as np

from .validation import check_array, check_forward_done, check_gradient, check_real


class Dropout:
    """Inverted dropout: while training, zero each input with probability ``p`` and scale the
    survivors by ``1 / (1 - p)``, so that nothing needs rescaling at evaluation time.

    Parameters
    ----------
    p : float in [0, 1)
        Probability of dropping an input (not of keeping it).

    Attributes
    ----------
    training : bool
        True (the default) drops; False makes the layer the identity. ``Model.train()`` and
        ``Model.eval()`` set it.
    """

    def __init__(self, p=0.5):
        self.p = check_real("Dropout", "p", p, "in [0, 1) (the drop probability)", lambda v: 0 <= v < 1)
        self.training = True
        self.cache = None

    def __call__(self, X):
        """X: any shape -> same shape. Draws the mask from numpy's global random state."""
        check_array("Dropout", "X", X)
        if self.training:
            mask = (np.random.random_sample(X.shape) >= self.p) / (1 - self.p)
        else:
            mask = np.ones(X.shape)
        self.cache = mask
        return X * mask

    def grad(self, in_gradient):
        """Gradient through the mask of the last forward call."""
        mask = check_forward_done("Dropout", self.cache)
        check_gradient("Dropout", in_gradient, mask.shape)
        return in_gradient * mask
