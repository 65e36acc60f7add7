"""Vectorized Conv2D and Maxpool2D: the loop-based layers' results, computed with BLAS matrix products.

Instructor-side only (the student release leaves this file out: it holds the answer). Import it by
its module, ``from layers.vectorized import Conv2D, Maxpool2D``; ``layers/__init__.py`` does not
export it.

Each class subclasses its loop-based twin, so the constructor, ``W``/``b`` and their initialisation,
``create_mask``, the input checks and their messages are inherited unchanged; only ``__call__`` and
``grad`` are replaced. No Python loop runs over examples or output positions; the only loops go over
the k x k offsets of a kernel.

The idea (im2col): lay out every window of the padded input as one column of a matrix ``cols`` of
shape (k * k * C_in, m * H_out * W_out), one row per (kernel offset, input channel). The convolution
is then a single matrix product ``W.reshape(k * k * C_in, C_out).T @ cols``, which numpy hands to BLAS;
so are dW (``cols @ dZ``) and the gradient of every window (``W @ dZ.T``), which col2im adds back
into dX, one kernel offset at a time.

Inside, the layers work channels first: each row of ``cols`` is then a contiguous (m, H_out, W_out)
block copied from one channel of the padded input, and col2im adds runs of a whole image row rather
than the short C_in-long runs of a channels-last layout (for 3 channels, six times faster). Inputs and
outputs stay channels last.
"""
import numpy as np

from .Conv2D import Conv2D as _LoopConv2D
from .Maxpool2D import Maxpool2D as _LoopMaxpool2D
from .validation import check_forward_done, check_gradient, check_images, check_window_fits


def _windows(X, k, s, H_out, W_out):
    """Every k x k window of X as a read-only view (no copy).

    Parameters
    ----------
    X : ndarray, shape (m, H, W, C)

    Returns
    -------
    windows : ndarray, shape (m, H_out, W_out, k, k, C)
        ``windows[i, h, w]`` is ``X[i, h*s:h*s+k, w*s:w*s+k, :]``, sharing X's memory.
    """
    sm, sh, sw, sc = X.strides
    return np.lib.stride_tricks.as_strided(
        X,
        shape=(X.shape[0], H_out, W_out, k, k, X.shape[3]),
        strides=(sm, s * sh, s * sw, sh, sw, sc),
        writeable=False,
    )


def _offsets(k, s, H_out, W_out):
    """For each kernel offset (a, b): the slices of input rows and columns it reads, one per window."""
    for a in range(k):
        for b in range(k):
            yield a, b, slice(a, a + s * (H_out - 1) + 1, s), slice(b, b + s * (W_out - 1) + 1, s)


def _scratch(layer, name, shape):
    """A zero-initialised work array kept on the layer and reused while its shape stays the same.

    For large batches the im2col matrices hold ~100 MB; asking the system for that much fresh memory
    on every call costs about as much again as filling it. Nothing returned to the caller lives here.
    """
    buffers = layer.__dict__.setdefault("_scratch", {})
    if name not in buffers or buffers[name].shape != shape:
        buffers[name] = np.zeros(shape)
    return buffers[name]


class Conv2D(_LoopConv2D):
    """2-D convolution, channels last, by im2col and matrix products; same interface as ``layers.Conv2D``.

    Output size: ``H_out = (H + 2*padding - kernel_size) // stride + 1``, likewise ``W_out``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cols_of = None  # the cached input whose windows the reused matrix "cols" holds now

    def _im2col(self, X):
        """Fill the reused window matrix with X's windows; returns it, shape (k, k, C_in, m, H_out, W_out).

        ``cols[a, b, c, i, h, w] = X_pad[i, h*s + a, w*s + b, c]``: row (a, b, c), column (i, h, w).
        """
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, C_in = X.shape
        H_out = (H + 2 * p - k) // s + 1
        W_out = (W + 2 * p - k) // s + 1
        # Only the interior is ever written, so the zero border of the reused buffer stays zero.
        X_pad = _scratch(self, "X_pad", (C_in, m, H + 2 * p, W + 2 * p))
        X_pad[:, :, p:p + H, p:p + W] = X.transpose(3, 0, 1, 2)
        cols = _scratch(self, "cols", (k, k, C_in, m, H_out, W_out))
        for a, b, rows, columns in _offsets(k, s, H_out, W_out):
            cols[a, b] = X_pad[:, :, rows, columns]
        self._cols_of = X
        return cols

    def __call__(self, X):
        """Forward pass.

        Parameters
        ----------
        X : ndarray, shape (m, H, W, C_in)

        Returns
        -------
        Z : ndarray of float64, shape (m, H_out, W_out, C_out)

        Caches a copy of X (as the loop-based layer does); ``grad`` reuses the window matrix built
        from it here, or rebuilds it if ``cache`` was replaced since (the grader sets it directly).
        """
        check_images("Conv2D", X, channels=self.in_channels)
        check_window_fits("Conv2D", X, self.kernel_size, self.padding)
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, C_in = X.shape
        H_out = (H + 2 * p - k) // s + 1
        W_out = (W + 2 * p - k) // s + 1
        self.cache = X.copy()
        cols = self._im2col(self.cache)
        K, N = k * k * C_in, m * H_out * W_out
        Z_t = _scratch(self, "Z_t", (self.out_channels, N))
        np.matmul(self.W.reshape(K, self.out_channels).T, cols.reshape(K, N), out=Z_t)
        # back to channels last, in a new array: with one filter Z_t.T already counts as contiguous,
        # and np.ascontiguousarray would hand the caller the scratch buffer the next call overwrites
        Z = Z_t.T.copy()
        Z += self.b
        return Z.reshape(m, H_out, W_out, self.out_channels)

    def grad(self, in_gradient):
        """Backward pass.

        Parameters
        ----------
        in_gradient : ndarray, shape (m, H_out, W_out, C_out)
            dL/dZ for the output of the last forward call.

        Returns
        -------
        dX : ndarray, shape (m, H, W, C_in)
        dW : ndarray, shape (k, k, C_in, C_out), summed over the batch
        db : ndarray, shape (C_out,), summed over the batch and all output positions
        """
        X = check_forward_done("Conv2D", self.cache)
        k, s, p = self.kernel_size, self.stride, self.padding
        m, H, W, C_in = X.shape
        H_out = (H + 2 * p - k) // s + 1
        W_out = (W + 2 * p - k) // s + 1
        check_gradient("Conv2D", in_gradient, (m, H_out, W_out, self.out_channels))
        K, N = k * k * C_in, m * H_out * W_out
        dZ = in_gradient.reshape(N, self.out_channels).astype(np.float64, copy=False)
        if self._cols_of is X:
            cols = _scratch(self, "cols", (k, k, C_in, m, H_out, W_out))
        else:
            cols = self._im2col(X)
        cols = cols.reshape(K, N)
        dW = (cols @ dZ).reshape(self.W.shape)
        db = np.ones(N) @ dZ  # a BLAS matrix-vector product: faster than dZ.sum(axis=0)
        d_cols = _scratch(self, "d_cols", (K, N))  # dL/dcols: the gradient of every window
        np.matmul(self.W.reshape(K, self.out_channels), dZ.T, out=d_cols)
        d_cols = d_cols.reshape(k, k, C_in, m, H_out, W_out)
        # col2im: windows overlap, so each adds its gradient where it read its input.
        dX_pad = _scratch(self, "dX_pad", (C_in, m, H + 2 * p, W + 2 * p))
        dX_pad.fill(0.0)
        for a, b, rows, columns in _offsets(k, s, H_out, W_out):
            dX_pad[:, :, rows, columns] += d_cols[a, b]
        dX = dX_pad[:, :, p:p + H, p:p + W].transpose(1, 2, 3, 0).copy()  # a new array, as for Z
        return dX, dW, db


class Maxpool2D(_LoopMaxpool2D):
    """Max pooling, channels last, without loops over positions; same interface as ``layers.Maxpool2D``.

    Output size: ``H_out = (H - kernel_size) // stride + 1``, likewise ``W_out``.
    """

    def __call__(self, X):
        """Forward pass.

        Parameters
        ----------
        X : ndarray, shape (m, H, W, C)

        Returns
        -------
        Z : ndarray of float64, shape (m, H_out, W_out, C)

        Caches a copy of X (as the loop-based layer does).
        """
        check_images("Maxpool2D", X)
        check_window_fits("Maxpool2D", X, self.kernel_size)
        k, s = self.kernel_size, self.stride
        m, H, W, C = X.shape
        H_out = (H - k) // s + 1
        W_out = (W - k) // s + 1
        self.cache = X.copy()
        return _windows(X, k, s, H_out, W_out).max(axis=(3, 4)).astype(np.float64)

    def grad(self, in_gradient):
        """Backward pass: each output's gradient goes to its window's first maximum.

        Parameters
        ----------
        in_gradient : ndarray, shape (m, H_out, W_out, C)

        Returns
        -------
        dX : ndarray, shape (m, H, W, C)
        """
        X = check_forward_done("Maxpool2D", self.cache)
        k, s = self.kernel_size, self.stride
        m, H, W, C = X.shape
        H_out = (H - k) // s + 1
        W_out = (W - k) // s + 1
        check_gradient("Maxpool2D", in_gradient, (m, H_out, W_out, C))
        # Flattening the (k, k) window row-major makes np.argmax's first maximum the one create_mask picks.
        windows = _windows(X, k, s, H_out, W_out).reshape(m, H_out, W_out, k * k, C)
        argmax = windows.argmax(axis=3)  # (m, H_out, W_out, C), values in [0, k*k)
        dX = np.zeros(X.shape)
        # One strided slice per offset holds no position twice, so += is exact; across offsets,
        # overlapping windows (stride < kernel_size) accumulate into the same input.
        for a, b, rows, columns in _offsets(k, s, H_out, W_out):
            dX[:, rows, columns, :] += np.where(argmax == a * k + b, in_gradient, 0.0)
        return dX
