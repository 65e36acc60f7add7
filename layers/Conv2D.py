import numpy as np

from .utils import zero_padding
from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Conv2D:
    """2-D convolution (cross-correlation, as in every deep-learning library), channels last
    (exercises 9.3.d and 9.3.e).

    Parameters
    ----------
    in_channels : int >= 1
        C_in, the channels of the input.
    out_channels : int >= 1
        C_out, the number of filters, hence the channels of the output.
    kernel_size : int >= 1
        Side k of the square filters.
    stride : int >= 1
        Step s between two windows.
    padding : int >= 0
        Zeros p added on each side of the height and width before convolving.

    Attributes
    ----------
    W : ndarray, shape (k, k, C_in, C_out)
        Filters, He-normal: ``np.random.randn(k, k, C_in, C_out) * np.sqrt(2 / (k * k * C_in))``,
        drawn from numpy's global random state so that ``np.random.seed`` fixes them.
    b : ndarray, shape (C_out,)
        Biases, zeros.

    Output size: ``H_out = (H + 2*padding - kernel_size) // stride + 1``, likewise ``W_out``.
    """

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
        """Forward pass (9.3.d).

        Parameters
        ----------
        X : ndarray, shape (m, H, W, C_in)

        Returns
        -------
        Z : ndarray, shape (m, H_out, W_out, C_out)
            ``Z[i, h, w, c] = np.sum(X_pad[i, h*s:h*s+k, w*s:w*s+k, :] * self.W[:, :, :, c]) + self.b[c]``.

        Caches a copy of X for ``grad``.

        Instructions
        ------------
        1. Pad the input once: ``X_pad = zero_padding(X, p)``, shape (m, H + 2p, W + 2p, C_in).
        2. Create the output ``Z = np.zeros((m, H_out, W_out, C_out))``; H_out and W_out are given below.
        3. Loop, in this order, over examples ``i``, output rows ``h``, output columns ``w`` and
           filters ``c``.
        4. Find the window's bounds with the stride: ``h0 = h * s`` and ``h1 = h0 + k`` (rows),
           ``w0 = w * s`` and ``w1 = w0 + k`` (columns).
        5. The window ``X_pad[i, h0:h1, w0:w1, :]`` has shape (k, k, C_in), like one filter
           ``self.W[:, :, :, c]``. Multiply them element-wise, sum everything with ``np.sum`` and add
           the bias ``self.b[c]``: that is ``Z[i, h, w, c]``. Do not flip the filter.
        """
        check_images("Conv2D", X, channels=self.in_channels)
        check_window_fits("Conv2D", X, self.kernel_size, self.padding)
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, _ = X.shape
        H_out = (H + 2 * p - k) // s + 1
        W_out = (W + 2 * p - k) // s + 1
        ### BEGIN SOLUTION
        X_pad = zero_padding(X, p)
        Z = np.zeros((m, H_out, W_out, self.out_channels))
        for i in range(m):
            for h in range(H_out):
                h0 = h * s
                h1 = h0 + k
                for w in range(W_out):
                    w0 = w * s
                    w1 = w0 + k
                    for c in range(self.out_channels):
                        Z[i, h, w, c] = np.sum(X_pad[i, h0:h1, w0:w1, :] * self.W[:, :, :, c]) + self.b[c]
        ### END SOLUTION
        self.cache = X.copy()
        return Z

    def grad(self, in_gradient):
        """Backward pass (9.3.e).

        Parameters
        ----------
        in_gradient : ndarray, shape (m, H_out, W_out, C_out)
            dL/dZ for the output of the last forward call.

        Returns
        -------
        dX : ndarray, shape (m, H, W, C_in)
            dL/dX, shaped like the unpadded input.
        dW : ndarray, shape (k, k, C_in, C_out)
            dL/dW, summed over the batch (not averaged: the loss's gradient already carries any 1/m).
        db : ndarray, shape (C_out,)
            dL/db, summed over the batch and all output positions.

        Instructions
        ------------
        1. Pad the cached input again: ``X_pad = zero_padding(X, p)``. Start from zeros:
           ``dX_pad`` shaped like X_pad, ``dW`` like ``self.W``, ``db`` like ``self.b``.
        2. Loop exactly as in ``__call__`` (examples ``i``, rows ``h``, columns ``w``, filters ``c``),
           with the same window bounds ``h0, h1, w0, w1``. Let ``g = in_gradient[i, h, w, c]``.
        3. Z[i, h, w, c] used the window ``X_pad[i, h0:h1, w0:w1, :]`` and the filter ``self.W[:, :, :, c]``,
           so, each with ``+=`` because windows overlap and every output adds its share:
           - ``dX_pad[i, h0:h1, w0:w1, :] += self.W[:, :, :, c] * g``
           - ``dW[:, :, :, c] += X_pad[i, h0:h1, w0:w1, :] * g``
           - ``db[c] += g``
        4. Remove the padding in one line that also works for p = 0:
           ``dX = dX_pad[:, p:p + H, p:p + W, :]``. (``dX_pad[:, p:-p, p:-p, :]`` is empty when p = 0.)
        5. Return ``dX, dW, db``.
        """
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
