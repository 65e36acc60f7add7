import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Maxpool2D:
    """Max pooling without Python loops: every window at once through sliding_window_view."""

    def __init__(self, kernel_size=2, stride=1):
        self.kernel_size = check_int("Maxpool2D", "kernel_size", kernel_size, minimum=1)
        self.stride = check_int("Maxpool2D", "stride", stride, minimum=1)
        self.cache = None

    def __call__(self, X):
        check_images("Maxpool2D", X)
        check_window_fits("Maxpool2D", X, self.kernel_size)
        k, s = self.kernel_size, self.stride
        ### BEGIN SOLUTION
        # (m, H_out, W_out, C, k, k): the windows of every stride-th position
        windows = sliding_window_view(X, (k, k), axis=(1, 2))[:, ::s, ::s]
        Z = windows.max(axis=(4, 5)).astype(np.float64)
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def create_mask(self, window):
        window = np.asarray(window)
        ### BEGIN SOLUTION
        # np.argmax indexes the flattened window, so compare it with every flat position
        mask = (np.arange(window.size).reshape(window.shape) == np.argmax(window)).astype(np.float64)
        ### END SOLUTION
        return mask

    def grad(self, in_gradient):
        X = check_forward_done("Maxpool2D", self.cache)
        k, s = self.kernel_size, self.stride
        m, H, W, C = X.shape
        H_out = (H - k) // s + 1
        W_out = (W - k) // s + 1
        check_gradient("Maxpool2D", in_gradient, (m, H_out, W_out, C))
        ### BEGIN SOLUTION
        windows = sliding_window_view(X, (k, k), axis=(1, 2))[:, ::s, ::s]
        # (m, H_out, W_out, C): flat position of each window's first maximum
        first = windows.reshape(m, H_out, W_out, C, k * k).argmax(axis=-1)
        i = np.arange(m)[:, None, None, None]
        rows = np.arange(H_out)[None, :, None, None] * s + first // k
        cols = np.arange(W_out)[None, None, :, None] * s + first % k
        c = np.arange(C)[None, None, None, :]
        dX = np.zeros(X.shape)
        # add.at accumulates where overlapping windows share a maximum (plain fancy += would not)
        np.add.at(dX, (i, rows, cols, c), in_gradient)
        ### END SOLUTION
        return dX
