"""Hostile: importing this module exits the interpreter (status 0) before zero_padding exists."""
import sys

import numpy as np

from .validation import check_images, check_int

sys.exit()


def zero_padding(X, pad):
    check_images("zero_padding", X)
    pad = check_int("zero_padding", "pad", pad, minimum=0)
    ### BEGIN SOLUTION
    X_pad = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)))
    ### END SOLUTION
    return X_pad
