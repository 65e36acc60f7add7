import numpy as np

from .validation import check_images, check_int


def zero_padding(X, pad):
    """Pad the height and width of every image in a batch with zeros (exercise 9.3.a).

    Parameters
    ----------
    X : ndarray, shape (m, H, W, C)
        A batch of m images, channels last.
    pad : int >= 0
        How many rows/columns of zeros to add on each side of the height and width.

    Returns
    -------
    X_pad : ndarray, shape (m, H + 2*pad, W + 2*pad, C)
        A new array of X's dtype; X itself is not changed. Example and channel axes are not padded.

    Instructions
    ------------
    1. Call ``np.pad`` once on X. Its second argument takes one ``(before, after)`` pair per axis,
       in the order (m, H, W, C): pad only H and W, by ``pad`` on both sides.
    2. Ask for zeros: ``mode="constant"`` with ``constant_values=0`` (np.pad's default).
    3. Return the padded array. Check: ``zero_padding(np.ones((5, 3, 3, 3)), 2).shape == (5, 7, 7, 3)``.
    """
    check_images("zero_padding", X)
    pad = check_int("zero_padding", "pad", pad, minimum=0)
    ### BEGIN SOLUTION
    X_pad = np.pad(X, ((0, 0), (pad, pad), (pad, pad), (0, 0)), mode="constant", constant_values=0)
    ### END SOLUTION
    return X_pad
