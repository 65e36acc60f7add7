"""What the notebook prints, part by part: one source for the tests and the notebook test.

The numbers are the hand-verified values of issue 2, kept once in ``grading/notebook_values.py``. The
``notebook_9_3_*`` functions redo a notebook cell through the package, with the same seeds and calls
as ``exercise_9_3.ipynb``, so a test can compare the package with these numbers without a kernel.
"""
import numpy as np

from grading.notebook_values import (  # noqa: F401 - re-exported: the tests import them from here
    CONV_DB_MEAN, CONV_DW_MEAN, CONV_DX_MEAN, CONV_X_SHAPE, CONV_Z_MEAN, CONV_Z_SHAPE, IMAGE_BATCH_PADDED_SHAPE,
    IMAGE_BATCH_SHAPE, MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE, MAXPOOL_OUT_MEAN, MAXPOOL_OUT_SHAPE, MAXPOOL_X_SHAPE,
    NUMPY_RANDOM_SEED,
)
from layers import Conv2D, Maxpool2D, zero_padding

RTOL = 1e-9  # the notebook prints 16-17 significant digits; summation order may move the last ones


def notebook_9_3_a():
    """Returns ``(image_batch, image_batch_padded)``."""
    np.random.seed(NUMPY_RANDOM_SEED)
    image_batch = np.random.randn(5, 3, 3, 3)
    return image_batch, zero_padding(image_batch, 2)


def notebook_9_3_b():
    """Returns ``(maxpool2D, out)``: the layer (its cache feeds 9.3.c) and its output."""
    np.random.seed(NUMPY_RANDOM_SEED)
    X = np.random.randn(5, 5, 3, 2)
    maxpool2D = Maxpool2D()
    return maxpool2D, maxpool2D(X)


def notebook_9_3_c(maxpool2D=None):
    """Returns dX of 9.3.c, shape (5, 5, 3, 2); the notebook prints ``np.mean(dX[0])``."""
    if maxpool2D is None:
        maxpool2D, _ = notebook_9_3_b()
    np.random.seed(NUMPY_RANDOM_SEED)
    X_in_grad = np.random.randn(5, 4, 2, 2)
    return maxpool2D.grad(X_in_grad)


def notebook_9_3_d():
    """Returns ``(conv_layer, Z)``: the layer (its cache feeds 9.3.e) and its output."""
    np.random.seed(NUMPY_RANDOM_SEED)
    conv_layer = Conv2D(in_channels=3, out_channels=8, padding=1, stride=1)
    np.random.seed(NUMPY_RANDOM_SEED)
    X = np.random.randn(14, 32, 32, 3)
    return conv_layer, conv_layer(X)


def notebook_9_3_e(conv_layer=None, Z=None):
    """Returns ``(dX, dW, db)`` of 9.3.e: the gradients for the upstream gradient Z."""
    if conv_layer is None:
        conv_layer, Z = notebook_9_3_d()
    np.random.seed(NUMPY_RANDOM_SEED)
    return conv_layer.grad(Z)
