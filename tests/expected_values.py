"""What the notebook prints, part by part, and its cells redone through the repository's layers.

The numbers and the replay live in ``grading/notebook_values.py``; the ``notebook_9_3_*`` functions bind
that replay to this repository's ``layers``, so a test compares the package with the numbers without a
kernel.
"""
from functools import partial

import layers
from grading import notebook_values as nv
from grading.notebook_values import (  # noqa: F401 - re-exported: the tests import them from here
    CONV_DB_MEAN, CONV_DW_MEAN, CONV_DX_MEAN, CONV_X_SHAPE, CONV_Z_MEAN, CONV_Z_SHAPE, IMAGE_BATCH_PADDED_SHAPE,
    IMAGE_BATCH_SHAPE, MAXPOOL_GRAD_MEAN_FIRST_EXAMPLE, MAXPOOL_OUT_MEAN, MAXPOOL_OUT_SHAPE, MAXPOOL_X_SHAPE,
    NUMPY_RANDOM_SEED,
)

RTOL = 1e-9  # the notebook prints 16-17 significant digits; summation order may move the last ones

notebook_9_3_a = partial(nv.cell_9_3_a, layers)
notebook_9_3_b = partial(nv.cell_9_3_b, layers)
notebook_9_3_c = partial(nv.cell_9_3_c, layers)
notebook_9_3_d = partial(nv.cell_9_3_d, layers)
notebook_9_3_e = partial(nv.cell_9_3_e, layers)
