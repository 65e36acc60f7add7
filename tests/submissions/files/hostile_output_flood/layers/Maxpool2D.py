"""Hostile: Maxpool2D.__call__ prints 100 MB before returning the right Z.

A grader that reads the output into memory or lets it block a pipe hangs or runs out of memory;
the issue asks that the flood cost this part only.
"""
import numpy as np

from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Maxpool2D:
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
        line = "flood " * 174 + "\n"  # 1 045 bytes
        for _ in range(100 * 1000):
            print(line, end="")
        Z = np.zeros((m, H_out, W_out, C))
        for i in range(m):
            for h in range(H_out):
                for w in range(W_out):
                    for c in range(C):
                        Z[i, h, w, c] = np.max(X[i, h * s:h * s + k, w * s:w * s + k, c])
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
        for i in range(m):
            for h in range(H_out):
                for w in range(W_out):
                    for c in range(C):
                        window = X[i, h * s:h * s + k, w * s:w * s + k, c]
                        dX[i, h * s:h * s + k, w * s:w * s + k, c] += self.create_mask(window) * in_gradient[i, h, w, c]
        ### END SOLUTION
        return dX
