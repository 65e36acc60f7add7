"""What the notebook prints with the reference, part by part: the one copy of these numbers, and the one
replay of its cells.

The numbers are the hand-verified values of issue 2, never computed from the code they check. The grader
compares a submission's run of each notebook cell with them (``grading/judge.py``), make_expected refuses
a reference that does not reproduce them, and the tests read them through ``tests/expected_values.py``.
The grader must not import from ``tests/``, so they live here; the release ships this file beside the
self-checks (``checks/notebook_values.py``), which replay the cells with it: it holds numbers and the
notebook's own calls, no solution.
"""
import numpy as np

NUMPY_RANDOM_SEED = 42  # the notebook's numpy_random_seed, set before every random draw of a cell

# 9.3.a: image_batch = randn(5, 3, 3, 3); zero_padding(image_batch, 2).shape
IMAGE_BATCH_SHAPE = (5, 3, 3, 3)
IMAGE_BATCH_PADDED_SHAPE = (5, 7, 7, 3)
# 9.3.b: out = Maxpool2D()(randn(5, 5, 3, 2)); np.mean(out)
MAXPOOL_X_SHAPE = (5, 5, 3, 2)
MAXPOOL_OUT_SHAPE = (5, 4, 2, 2)
MAXPOOL_OUT_MEAN = 0.8527708273094351
# 9.3.c: np.mean(maxpool2D.grad(randn(5, 4, 2, 2))[0])
MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE = -0.013568655474697551
# 9.3.d: Z = Conv2D(in_channels=3, out_channels=8, padding=1, stride=1)(randn(14, 32, 32, 3)); np.mean(Z)
CONV_X_SHAPE = (14, 32, 32, 3)
CONV_Z_SHAPE = (14, 32, 32, 8)
CONV_Z_MEAN = 0.0073662670154698556
# 9.3.e: dX, dW, db = conv_layer.grad(Z); the mean of each
CONV_DX_MEAN = 0.043953646495662746
CONV_DW_MEAN = 21.41874001960032
CONV_DB_MEAN = 105.60280393377572


# The notebook's cells, redone with the same seeds and calls through a package of layers (``layers``, the
# module: the repository's, a submission's): the one replay behind the tests, make_expected and the
# grader's notebook cases. Each returns what its cell computes.

def cell_9_3_a(layers):
    """``(image_batch, image_batch_padded)``."""
    np.random.seed(NUMPY_RANDOM_SEED)
    image_batch = np.random.randn(*IMAGE_BATCH_SHAPE)
    return image_batch, layers.zero_padding(image_batch, 2)


def cell_9_3_b(layers):
    """``(maxpool2D, out)``: the layer (its cache feeds 9.3.c) and its output."""
    np.random.seed(NUMPY_RANDOM_SEED)
    X = np.random.randn(*MAXPOOL_X_SHAPE)
    maxpool2D = layers.Maxpool2D()
    return maxpool2D, maxpool2D(X)


def cell_9_3_c(layers, maxpool2D=None):
    """dX of 9.3.c, shaped like 9.3.b's input; the notebook prints ``np.mean(dX[0])``."""
    if maxpool2D is None:
        maxpool2D, _ = cell_9_3_b(layers)
    np.random.seed(NUMPY_RANDOM_SEED)
    return maxpool2D.grad(np.random.randn(*MAXPOOL_OUT_SHAPE))


def conv_layer(layers):
    """9.3.d's layer as the notebook builds it: its weights are ``Conv2D.__init__``'s draw."""
    np.random.seed(NUMPY_RANDOM_SEED)
    return layers.Conv2D(in_channels=3, out_channels=8, padding=1, stride=1)


def cell_9_3_d(layers):
    """``(conv_layer, Z)``: the layer (its cache feeds 9.3.e) and its output."""
    layer = conv_layer(layers)
    np.random.seed(NUMPY_RANDOM_SEED)
    return layer, layer(np.random.randn(*CONV_X_SHAPE))


def cell_9_3_e(layers, layer=None, Z=None):
    """``(dX, dW, db)`` of 9.3.e: the gradients for the upstream gradient Z, as the notebook feeds it."""
    if layer is None:
        layer, Z = cell_9_3_d(layers)
    np.random.seed(NUMPY_RANDOM_SEED)
    return layer.grad(Z)
