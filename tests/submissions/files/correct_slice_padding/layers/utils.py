import numpy as np

from .validation import check_images, check_int


def zero_padding(X, pad):
    """Zero-pad height and width by copying X into the middle of a zeros array (no np.pad)."""
    check_images("zero_padding", X)
    pad = check_int("zero_padding", "pad", pad, minimum=0)
    ### BEGIN SOLUTION
    m, H, W, C = X.shape
    X_pad = np.zeros((m, H + 2 * pad, W + 2 * pad, C), dtype=X.dtype)
    X_pad[:, pad:pad + H, pad:pad + W, :] = X
    ### END SOLUTION
    return X_pad
