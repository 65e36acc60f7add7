"""Hostile: Conv2D.__call__ never returns. The grader's time limit must cost 9.3.d only."""
import numpy as np

from .utils import zero_padding
from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Conv2D:
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
        ### BEGIN SOLUTION
        while True:
            pass
        ### END SOLUTION

    def grad(self, in_gradient):
        X = check_forward_done("Conv2D", self.cache)
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, _ = X.shape
        H_out = (H + 2 * p - k) // s + 1
        W_out = (W + 2 * p - k) // s + 1
        check_gradient("Conv2D", in_gradient, (m, H_out, W_out, self.out_channels))
        ### BEGIN SOLUTION
        X_pad = zero_padding(X, p)
        dX_pad = np.zeros(X_pad.shape)
        dW = np.zeros(self.W.shape)
        db = np.zeros(self.b.shape)
        for i in range(m):
            for h in range(H_out):
                h0 = h * s
                h1 = h0 + k
                for w in range(W_out):
                    w0 = w * s
                    w1 = w0 + k
                    for c in range(self.out_channels):
                        g = in_gradient[i, h, w, c]
                        dX_pad[i, h0:h1, w0:w1, :] += self.W[:, :, :, c] * g
                        dW[:, :, :, c] += X_pad[i, h0:h1, w0:w1, :] * g
                        db[c] += g
        dX = dX_pad[:, p:p + H, p:p + W, :]
        ### END SOLUTION
        return dX, dW, db
