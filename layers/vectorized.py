"""Vectorized Conv2D and Maxpool2D: the loop-based layers' results, computed with BLAS matrix products.

Instructor-side only (the student release leaves this file out: it holds the answer). Import it by
its module, ``from layers.vectorized import Conv2D, Maxpool2D``; ``layers/__init__.py`` does not
export it.

Each class subclasses its loop-based twin, so the constructor, ``W``/``b`` and their initialisation,
``create_mask``, the input checks and their messages are inherited unchanged; only ``__call__`` and
``grad`` are replaced. No Python loop runs over examples or output positions; Conv2D loops over the
k x k offsets of a kernel and over chunks of the batch, Maxpool2D over the offsets only.

Conv2D (im2col): every window of the padded input becomes one column of a matrix ``cols``, one row
per (kernel offset, input channel), plus a row of ones whose weight is the bias. The convolution is
then one matrix product with ``[W; b]``, which numpy hands to BLAS; so are ``[dW; db] = cols @ dZ``
and the gradient of every window, ``W @ dZ.T``, which col2im adds back into dX one kernel offset at a
time. The rest of the time goes to memory passes around the products (building ``cols``, adding
back, layout copies), and three choices keep them short. The batch goes through in chunks of
examples whose columns take a few MB, so each chunk is built, multiplied and added back while it is
in cache. The chunks are shared among as many threads as BLAS would use, each running
single-threaded BLAS (as PyTorch does), so the numpy passes use every core too. And the layer
computes at every position of the padded grid's rows (``W_row`` a row, a few more than ``W_out``)
and drops the extra ones: channels first and with stride 1, one kernel offset's windows in one image
are then a single run of the padded image, so each offset costs one long copy or add per channel
and example, not one per output row. The extra positions meet a zero output gradient, so they
change no result.
"""
import os
from concurrent.futures import ThreadPoolExecutor

import numpy as np
from threadpoolctl import ThreadpoolController

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

    Asking the system for fresh memory on every call costs about as much again as filling it.
    Nothing returned to the caller lives here.
    """
    buffers = layer.__dict__.setdefault("_scratch", {})
    if name not in buffers or buffers[name].shape != shape:
        buffers[name] = np.zeros(shape)
    return buffers[name]


# Bytes of window matrix per chunk of examples: about two L2 caches of the benchmark machine (2 MB
# a core). There, chunks of 2 to 8 MB ran alike; 1 MB, or the whole batch at once, slower.
CHUNK_BYTES = 4 * 2**20

_blas = None  # numpy's BLAS, as threadpoolctl sees it; looked up on first use
_pools = {}  # thread pools by (process, size), kept for the next call


def _threads(n_chunks):
    """How many threads share the chunks: as many as numpy's BLAS would use, at most one a chunk."""
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    return min(n_chunks, max([1] + [lib.num_threads for lib in _blas.lib_controllers]))


def _each_chunk(work, n_chunks, threads):
    """Call ``work(j, slot)`` for every chunk j, spread over ``threads`` threads (``slot``: which one).

    Each thread runs single-threaded BLAS, as PyTorch does, so the memory passes between the matrix
    products (numpy copies and adds, one thread each) use every core too; numpy releases the GIL in
    both. Meanwhile numpy's BLAS stays limited to one thread in the whole process.
    """
    # Shared: a thread takes the next chunk when it is free, so one that another process slows down
    # does not hold the others up.
    chunks = iter(range(n_chunks))

    def share(slot):
        for j in chunks:
            work(j, slot)

    if threads == 1:
        share(0)
        return
    # a forked child inherits the pool but not its threads, so it needs its own
    key = (os.getpid(), threads)
    if key not in _pools:
        _pools[key] = ThreadPoolExecutor(threads)
    with _blas.limit(limits=1):
        for done in [_pools[key].submit(share, slot) for slot in range(threads)]:
            done.result()


class _Grid:
    """The sizes Conv2D works with, for one input shape ``(m, H, W, C_in)``."""

    def __init__(self, layer, X_shape):
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        self.m, self.H, self.W, self.C_in = X_shape
        self.H_out = (self.H + 2 * p - k) // s + 1
        self.W_out = (self.W + 2 * p - k) // s + 1
        # The padded image is stored W_pad wide, a multiple of s, so every kernel offset reads
        # W_row = W_pad / s positions a row, W_out of them real (see _positions). A row's right
        # padding runs on into the next row's left padding, so W + p columns are enough. With s + 1
        # more zero rows below, the last row's extra positions stay inside the image too.
        self.W_row = max(self.W_out, -(-(self.W + p) // s))
        self.W_pad, self.H_pad = s * self.W_row, self.H + 2 * p + s + 1
        self.P = self.H_out * self.W_row  # positions per example
        self.K = k * k * self.C_in
        self.chunk = max(1, min(self.m, CHUNK_BYTES // (8 * (self.K + 1) * self.P)))
        self.n_chunks = -(-self.m // self.chunk)
        self.threads = _threads(self.n_chunks)

    def examples(self, j):
        """The first example of chunk j and how many it holds."""
        i = j * self.chunk
        return i, min(self.chunk, self.m - i)


def _positions(planes, a, b, s, g):
    """A view of the entries kernel offset (a, b) reads in each padded image: (C, n, H_out, W_row).

    ``planes`` holds n padded images per channel, each flattened to H_pad * W_pad entries. Position
    (h, w) reads entry (h*s + a) * W_pad + w*s + b, which may lie past the end of its row: for a real
    output only in the next row's left padding (zeros); for the extra positions past ``W_out``
    anywhere, but no real output uses those. With s = 1 the positions of one image are one run.
    """
    start = a * g.W_pad + b
    rows = planes[:, :, start:start + s * g.W_pad * g.H_out]
    return rows.reshape(*planes.shape[:2], g.H_out, s * g.W_pad)[:, :, :, :g.W_pad:s]


class Conv2D(_LoopConv2D):
    """2-D convolution, channels last, by im2col and matrix products; same interface as ``layers.Conv2D``.

    Output size: ``H_out = (H + 2*padding - kernel_size) // stride + 1``, likewise ``W_out``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cols_of = None  # the cached input whose windows the reused matrix "cols" holds now

    def _cols(self, g):
        """The reused window matrix of the batch, shape (K + 1, m, P).

        Fetched before the threads start, which then write disjoint parts of it.
        """
        return _scratch(self, "cols", (g.K + 1, g.m, g.P))

    def _im2col(self, X, g, j, slot, cols):
        """Fill chunk j's part of the window matrix ``cols`` with its windows and return that part.

        Row (a, b, c), column (i, h, w) holds ``X_pad[i, h*s + a, w*s + b, c]``, for ``w < W_row``;
        the last row is all ones.
        """
        k, s, p = self.kernel_size, self.stride, self.padding
        i, n = g.examples(j)
        # channels first; only the interior is ever written, so the zero border stays zero
        X_pad = _scratch(self, ("X_pad", slot), (g.C_in, g.chunk, g.H_pad * g.W_pad))[:, :n]
        X_pad.reshape(g.C_in, n, g.H_pad, g.W_pad)[:, :, p:p + g.H, p:p + g.W] = X[i:i + n].transpose(3, 0, 1, 2)
        cols = cols[:, i:i + n].reshape(g.K + 1, n * g.P)
        cols[g.K] = 1.0
        windows = cols[:g.K].reshape(k, k, g.C_in, n, g.H_out, g.W_row)
        for a in range(k):
            for b in range(k):
                windows[a, b] = _positions(X_pad, a, b, s, g)
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
        g = _Grid(self, X.shape)
        C_out = self.out_channels
        self.cache = X.copy()
        W_b = np.vstack([self.W.reshape(g.K, C_out), self.b])
        Z = np.empty((g.m, g.H_out, g.W_out, C_out))
        cols_all = self._cols(g)

        def forward(j, slot):
            i, n = g.examples(j)
            cols = self._im2col(self.cache, g, j, slot, cols_all)
            Z_t = _scratch(self, ("Z_t", slot), (C_out, g.chunk, g.H_out, g.W_row))[:, :n]
            np.matmul(W_b.T, cols, out=Z_t.reshape(C_out, n * g.P))
            Z[i:i + n] = Z_t[:, :, :, :g.W_out].transpose(1, 2, 3, 0)

        _each_chunk(forward, g.n_chunks, g.threads)
        self._cols_of = self.cache
        return Z

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
        g = _Grid(self, X.shape)
        k, s, p = self.kernel_size, self.stride, self.padding
        C_out = self.out_channels
        check_gradient("Conv2D", in_gradient, (g.m, g.H_out, g.W_out, C_out))
        W = self.W.reshape(g.K, C_out)
        reuse = self._cols_of is X
        cols_all = self._cols(g)
        dX = np.empty(X.shape)
        dW_b = np.zeros((g.threads, g.K + 1, C_out))  # one sum per thread

        def backward(j, slot):
            i, n = g.examples(j)
            if reuse:
                cols = cols_all[:, i:i + n].reshape(g.K + 1, n * g.P)
            else:
                cols = self._im2col(X, g, j, slot, cols_all)
            # zero at the extra positions, which are never written
            dZ = _scratch(self, ("dZ", slot), (g.chunk, g.H_out, g.W_row, C_out))[:n]
            dZ[:, :, :g.W_out] = in_gradient[i:i + n]
            dZ = dZ.reshape(n * g.P, C_out)
            dW_b[slot] += cols @ dZ
            d_cols = _scratch(self, ("d_cols", slot), (g.K, g.chunk, g.P))[:, :n]  # dL/dcols
            np.matmul(W, dZ.T, out=d_cols.reshape(g.K, n * g.P))
            d_windows = d_cols.reshape(k, k, g.C_in, n, g.H_out, g.W_row)
            # col2im: windows overlap, so each adds its gradient where it read its input.
            dX_pad = _scratch(self, ("dX_pad", slot), (g.C_in, g.chunk, g.H_pad * g.W_pad))[:, :n]
            dX_pad.fill(0.0)
            for a in range(k):
                for b in range(k):
                    _positions(dX_pad, a, b, s, g)[...] += d_windows[a, b]
            dX_pad = dX_pad.reshape(g.C_in, n, g.H_pad, g.W_pad)
            dX[i:i + n] = dX_pad[:, :, p:p + g.H, p:p + g.W].transpose(1, 2, 3, 0)

        _each_chunk(backward, g.n_chunks, g.threads)
        dW_b = dW_b.sum(axis=0)
        return dX, dW_b[:g.K].reshape(self.W.shape), dW_b[g.K]


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
