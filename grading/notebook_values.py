"""What the notebook prints with the reference, part by part: the one copy of these numbers.

They are the hand-verified values of issue 2, never computed from the code they check. The grader
compares a submission's run of each notebook cell with them (``grading/checks.py``), and the tests
read them through ``tests/expected_values.py``. The grader must not import from ``tests/``, so the
numbers live here.
"""

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
