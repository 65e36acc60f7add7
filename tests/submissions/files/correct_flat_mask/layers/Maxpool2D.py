import numpy as np

from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Maxpool2D:
    """Max pooling as in the reference, except create_mask: flat index assignment, then reshape."""

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
        for i in range(m):
            for h in range(H_out):
                h0 = h * s
                h1 = h0 + k
                for w in range(W_out):
                    w0 = w * s
                    w1 = w0 + k
                    for c in range(C):
                        Z[i, h, w, c] = np.max(X[i, h0:h1, w0:w1, c])
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def create_mask(self, window):
        window = np.asarray(window)
        ### BEGIN SOLUTION
        mask = np.zeros(window.size)
        mask[np.argmax(window)] = 1  # np.argmax indexes the flattened window
        mask = mask.reshape(window.shape)
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
        for i in range(m):
            for h in range(H_out):
                h0 = h * s
                h1 = h0 + k
                for w in range(W_out):
                    w0 = w * s
                    w1 = w0 + k
                    for c in range(C):
                        mask = self.create_mask(X[i, h0:h1, w0:w1, c])
                        dX[i, h0:h1, w0:w1, c] += mask * in_gradient[i, h, w, c]
        ### END SOLUTION
        return dX
