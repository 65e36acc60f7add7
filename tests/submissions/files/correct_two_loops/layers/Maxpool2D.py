import numpy as np

from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Maxpool2D:
    """Max pooling, two loops (output rows, output columns), vectorized over examples and channels."""

    def __init__(self, kernel_size=2, stride=1):
        self.kernel_size = check_int("Maxpool2D", "kernel_size", kernel_size, minimum=1)
        self.stride = check_int("Maxpool2D", "stride", stride, minimum=1)
        self.cache = None

    def __call__(self, X):
        check_images("Maxpool2D", X)
        check_window_fits("Maxpool2D", X, self.kernel_size)
        k, s = self.kernel_size, self.stride
        m, H, W, C = X.shape
        H_out = (H - k) // s + 1
        W_out = (W - k) // s + 1
        ### BEGIN SOLUTION
        Z = np.zeros((m, H_out, W_out, C))
        for h in range(H_out):
            h0 = h * s
            h1 = h0 + k
            for w in range(W_out):
                w0 = w * s
                w1 = w0 + k
                Z[:, h, w, :] = np.max(X[:, h0:h1, w0:w1, :], axis=(1, 2))
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def create_mask(self, window):
        window = np.asarray(window)
        ### BEGIN SOLUTION
        mask = np.zeros(window.shape)
        mask[np.unravel_index(np.argmax(window), window.shape)] = 1
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
        dX = np.zeros(X.shape)
        for h in range(H_out):
            h0 = h * s
            h1 = h0 + k
            for w in range(W_out):
                w0 = w * s
                w1 = w0 + k
                # (m, k*k, C): argmax over axis 1 is the first maximum in row-major order, as create_mask
                windows = X[:, h0:h1, w0:w1, :].reshape(m, k * k, C)
                mask = np.zeros(windows.shape)
                np.put_along_axis(mask, np.argmax(windows, axis=1)[:, np.newaxis, :], 1.0, axis=1)
                dX[:, h0:h1, w0:w1, :] += mask.reshape(m, k, k, C) * in_gradient[:, h:h + 1, w:w + 1, :]
        ### END SOLUTION
        return dX
