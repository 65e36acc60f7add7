"""The random cases every implementation of Conv2D and Maxpool2D is checked on.

Each case is small (the loop versions must stay fast) and the list always covers what a
wrong solution gets wrong: padding 0, stride > 1 (also in backward), overlapping windows,
H != W, batch 1, a kernel as large as the (padded) input, and kernel sizes 1 to 4.
"""
import numpy as np

# (m, H, W, C_in, C_out, kernel_size, stride, padding)
CONV_CASES = [
    (2, 5, 5, 3, 2, 3, 1, 0),   # padding 0, overlapping windows
    (2, 5, 7, 2, 3, 3, 2, 1),   # H != W, stride 2, padding 1
    (1, 6, 4, 1, 2, 2, 2, 0),   # batch 1, stride 2 without padding
    (3, 4, 4, 2, 2, 4, 1, 0),   # kernel equal to the input size
    (2, 3, 3, 2, 1, 4, 3, 2),   # stride 3, padding 2, kernel larger than the unpadded input
    (2, 5, 6, 3, 4, 1, 1, 0),   # 1x1 kernel
    (1, 7, 5, 2, 2, 3, 3, 2),   # stride 3 with padding
    (2, 6, 6, 1, 1, 2, 1, 1),   # even kernel, padding 1
]

# (m, H, W, C, kernel_size, stride)
POOL_CASES = [
    (2, 5, 5, 3, 2, 1),   # overlapping windows
    (2, 6, 4, 2, 2, 2),   # H != W, disjoint windows
    (1, 7, 7, 1, 3, 2),   # batch 1, overlapping with stride 2
    (3, 4, 5, 2, 4, 1),   # kernel equal to the input height
    (2, 5, 5, 2, 1, 1),   # 1x1 window: the identity
    (2, 8, 6, 2, 3, 3),   # stride 3
]


def conv_case_id(case):
    m, H, W, C_in, C_out, k, s, p = case
    return f"m{m}-{H}x{W}-{C_in}to{C_out}-k{k}-s{s}-p{p}"


def pool_case_id(case):
    m, H, W, C, k, s = case
    return f"m{m}-{H}x{W}x{C}-k{k}-s{s}"


def with_ties(shape, rng):
    """An input whose pooling windows hold tied maxima: small integers, many zeros (as after a ReLU)."""
    return np.maximum(rng.integers(-2, 3, size=shape), 0).astype(float)
