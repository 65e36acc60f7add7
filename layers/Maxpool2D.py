import numpy as np

from .validation import check_forward_done, check_gradient, check_images, check_int, check_window_fits


class Maxpool2D:
    """Max pooling over k x k windows of every channel, channels last (exercises 9.3.b and 9.3.c).

    Parameters
    ----------
    kernel_size : int >= 1
        Side k of the square window.
    stride : int >= 1
        Step s between two windows. With s < k the windows overlap.

    Output size: ``H_out = (H - kernel_size) // stride + 1``, likewise ``W_out``.
    """

    def __init__(self, kernel_size=2, stride=1):
        self.kernel_size = check_int("Maxpool2D", "kernel_size", kernel_size, minimum=1)
        self.stride = check_int("Maxpool2D", "stride", stride, minimum=1)
        self.cache = None

    def __call__(self, X):
        """Forward pass (9.3.b).

        Parameters
        ----------
        X : ndarray, shape (m, H, W, C)

        Returns
        -------
        Z : ndarray, shape (m, H_out, W_out, C)
            ``Z[i, h, w, c]`` is the maximum of the window of X that starts at row ``h * stride`` and
            column ``w * stride`` of channel c of example i.

        Caches a copy of X for ``grad``.

        Instructions
        ------------
        1. Create the output ``Z = np.zeros((m, H_out, W_out, C))``; H_out and W_out are given below.
        2. Loop, in this order, over examples ``i``, output rows ``h``, output columns ``w`` and
           channels ``c``.
        3. Find the window's bounds with the stride, the same two lines for rows and for columns:
           ``h0 = h * s`` and ``h1 = h0 + k`` (rows), ``w0 = w * s`` and ``w1 = w0 + k`` (columns).
           Forgetting the stride (``h0 = h``) still works for s = 1 but not for s = 2.
        4. ``Z[i, h, w, c]`` is ``np.max`` of the window ``X[i, h0:h1, w0:w1, c]``.
        """
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
        """Mark where a window's maximum is (9.3.c).

        Parameters
        ----------
        window : ndarray, shape (k, k)

        Returns
        -------
        mask : ndarray of floats, shape (k, k)
            A single 1 at the window's maximum, 0 elsewhere: ``[[3, 1], [2, 4]] -> [[0, 0], [0, 1]]``.
            When several entries tie for the maximum (common after a ReLU: many zeros), the 1 goes
            to the first of them in row-major order, so the window's gradient reaches one input only
            and is not counted twice. PyTorch's max pooling routes it the same way.

        Instructions
        ------------
        1. Start from ``mask = np.zeros(window.shape)``.
        2. ``np.argmax(window)`` gives the position of the first maximum in the flattened window;
           ``np.unravel_index`` turns it into a (row, column) pair.
        3. Set the mask to 1 at that pair. (``window == np.max(window)`` is wrong: it marks every tie.)
        """
        window = np.asarray(window)
        ### BEGIN SOLUTION
        mask = np.zeros(window.shape)
        mask[np.unravel_index(np.argmax(window), window.shape)] = 1
        ### END SOLUTION
        return mask

    def grad(self, in_gradient):
        """Backward pass (9.3.c): route each output's gradient to the input that was the maximum.

        Parameters
        ----------
        in_gradient : ndarray, shape (m, H_out, W_out, C)
            dL/dZ for the output of the last forward call.

        Returns
        -------
        dX : ndarray, shape (m, H, W, C)
            dL/dX for the last forward call's input.

        Instructions
        ------------
        1. Start from ``dX = np.zeros(X.shape)``, X being the input cached by the forward pass.
        2. Loop exactly as in ``__call__`` (examples ``i``, rows ``h``, columns ``w``, channels ``c``),
           with the same window bounds ``h0, h1, w0, w1``.
        3. Take the window ``X[i, h0:h1, w0:w1, c]`` and its mask from ``self.create_mask``.
        4. Add ``mask * in_gradient[i, h, w, c]`` to ``dX[i, h0:h1, w0:w1, c]`` with ``+=``: when windows
           overlap (stride < kernel_size) one input can be the maximum of several windows and must
           collect all their gradients; ``=`` would keep only the last.
        """
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
