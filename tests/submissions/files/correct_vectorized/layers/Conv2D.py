import numpy as np
from numpy.lib.stride_tricks import sliding_window_view

from .utils import zero_padding
from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Conv2D:
    """2-D convolution without Python loops: sliding_window_view + einsum, scatter-add with np.add.at."""

    def __init__(self, in_channels, out_channels, kernel_size=3, stride=1, padding=0):
        self.in_channels = check_int("Conv2D", "in_channels", in_channels, minimum=1)
        self.out_channels = check_int("Conv2D", "out_channels", out_channels, minimum=1)
        self.kernel_size = check_int("Conv2D", "kernel_size", kernel_size, minimum=1)
        self.stride = check_int("Conv2D", "stride", stride, minimum=1)
        self.padding = check_int("Conv2D", "padding", padding, minimum=0)
        k = self.kernel_size
        self.W = np.random.randn(k, k, self.in_channels, self.out_channels) * np.sqrt(2 / (k * k * self.in_channels))
        self.b = np.zeros(self.out_channels)
        self.cache = None

    def __call__(self, X):
        check_images("Conv2D", X, channels=self.in_channels)
        check_window_fits("Conv2D", X, self.kernel_size, self.padding)
        k, s, p = self.kernel_size, self.stride, self.padding
        ### BEGIN SOLUTION
        # (m, H_out, W_out, C_in, k, k)
        windows = sliding_window_view(zero_padding(X, p), (k, k), axis=(1, 2))[:, ::s, ::s]
        Z = np.einsum("mhwcij,ijcd->mhwd", windows, self.W) + self.b
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def grad(self, in_gradient):
        X = check_forward_done("Conv2D", self.cache)
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, _ = X.shape
        H_out = (H + 2 * p - k) // s + 1
        W_out = (W + 2 * p - k) // s + 1
        check_gradient("Conv2D", in_gradient, (m, H_out, W_out, self.out_channels))
        ### BEGIN SOLUTION
        X_pad = zero_padding(X, p)
        windows = sliding_window_view(X_pad, (k, k), axis=(1, 2))[:, ::s, ::s]
        dW = np.einsum("mhwcij,mhwd->ijcd", windows, in_gradient)
        db = in_gradient.sum(axis=(0, 1, 2))
        # (m, H_out, W_out, k, k, C_in): what each output sends back to each element of its window
        shares = np.einsum("mhwd,ijcd->mhwijc", in_gradient, self.W)
        rows = (np.arange(H_out) * s)[:, None] + np.arange(k)  # (H_out, k): padded row of each share
        cols = (np.arange(W_out) * s)[:, None] + np.arange(k)  # (W_out, k)
        dX_pad = np.zeros(X_pad.shape)
        # the two index arrays broadcast to (H_out, W_out, k, k); add.at accumulates overlapping windows
        np.add.at(dX_pad, (slice(None), rows[:, None, :, None], cols[None, :, None, :]), shares)
        dX = dX_pad[:, p:p + H, p:p + W, :]
        ### END SOLUTION
        return dX, dW, db
