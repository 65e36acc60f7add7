"""Vectorized Conv2D and Maxpool2D: the loop-based layers' results, computed with BLAS matrix products.

Instructor-side only (the student release leaves this file out: it holds the answer). Import it by
its module, ``from layers.vectorized import Conv2D, Maxpool2D``; ``layers/__init__.py`` does not
export it.

Each class subclasses its loop-based twin, so the constructor, ``W``/``b`` and their initialisation,
``create_mask``, the input checks and their messages are inherited unchanged; only ``__call__`` and
``grad`` are replaced. No Python loop runs over examples or output positions; Conv2D loops over
chunks of the batch (and, with a stride above 1, over the kernel offsets), Maxpool2D over the
offsets.

Conv2D (im2col): every window of the padded input becomes one column of a matrix ``cols``, one row
per (kernel offset, input channel), plus a row of ones whose weight is the bias. The convolution is
then one matrix product with ``[W; b]``, which numpy hands to BLAS; so are ``[dW; db] = cols @ dZ``
and the gradient of every window, ``W @ dZ.T``, which col2im adds back into dX where each window
read its input. The rest of the time goes to numpy's passes around the products (building
``cols``, adding back, layout copies), and the layout keeps them few. A chunk of examples is held
channels first, each channel one flat plane with the chunk's padded images one below the other, and
the output positions are taken on that plane's own grid (every stride-th row and column); the few
extra positions this adds are dropped from Z, and their upstream gradient is zero, so they add
nothing to dX, dW or db. Kernel offset (a, b) then reads the plane shifted by ``a`` rows and ``b``
entries: ``cols`` is one strided view of the planes, copied in one call, and with stride 1 col2im
is one sum over the windows' gradient shifted back per offset. Chunks of a few MB of ``cols`` are
shared among as many threads as BLAS would use, each running single-threaded BLAS (as PyTorch
does), so that numpy's passes use every core too. A batch of one chunk stays in the calling thread
with BLAS's own threads: on the benchmark machine, handing half of such a batch to a second Python
thread cost more than it saved (waking a thread and passing the GIL between the threads' short
numpy calls took longer than the calls).
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


def _scratch(layer, name, shape, prepare=None):
    """A zero-initialised work array kept on the layer and reused while its shape stays the same.

    Asking the system for fresh memory on every call costs about as much again as filling it.
    ``prepare(array)``, if given, runs once on a new array. Nothing returned to the caller lives here.
    """
    buffers = layer.__dict__.setdefault("_scratch", {})
    if name not in buffers or buffers[name].shape != shape:
        buffers[name] = np.zeros(shape)
        if prepare is not None:
            prepare(buffers[name])
    return buffers[name]


# Bytes of window matrix per chunk of examples. On the benchmark machine (2 MB of L2 cache a core),
# 8 MB ran 7-10 % faster than 4 MB on the largest benchmark shape (3 examples a chunk against 1) and
# as fast on the second largest (8 examples a chunk); 12 and 16 MB made 3 or 2 chunks of that one,
# so one of two threads waited at the end: 15-25 % slower. Chunks small enough to stay in L2 were
# slower too: what a chunk costs besides its arithmetic weighs more than the cache misses it saves.
CHUNK_BYTES = 8 * 2**20

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
    """The sizes Conv2D works with, for one input shape ``(m, H, W, C_in)``.

    A chunk of n examples is held as one plane per input channel: image i's padded rows at rows
    ``i*Hr ...`` of ``Wr`` entries each, the image itself at row ``p`` and column ``p``, zeros
    around it. Output positions form a grid of ``H_row x W_row`` per image, ``H_out x W_out`` of
    them real; position (i, h, w) with kernel offset (a, b) reads plane entry
    ``(i*Hr + h*s + a) * Wr + w*s + b``. For a real position that is its window's entry, or a zero:
    a padded row's right end runs on into the next row's left padding, and an image's bottom into
    the next image's top padding, so ``Wr >= W + p`` and ``Hr >= H + p`` are enough. The extra
    positions read anything, and are dropped.
    """

    def __init__(self, layer, X_shape):
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        self.m, self.H, self.W, self.C_in = X_shape
        self.H_out = (self.H + 2 * p - k) // s + 1
        self.W_out = (self.W + 2 * p - k) // s + 1
        self.H_row = max(self.H_out, -(-(self.H + p) // s))
        self.W_row = max(self.W_out, -(-(self.W + p) // s))
        self.Hr, self.Wr = s * self.H_row, s * self.W_row
        self.P = self.H_row * self.W_row  # positions per example
        self.K = k * k * self.C_in
        self.chunk = max(1, min(self.m, CHUNK_BYTES // (8 * (self.K + 1) * self.P)))
        self.n_chunks = -(-self.m // self.chunk)
        self.threads = _threads(self.n_chunks)
        # A plane: the chunk's images, and k rows more that the last image's extra positions read.
        self.L = (self.chunk * self.Hr + k) * self.Wr + k
        # Zeros before each row of the windows' gradient: col2im reads up to this far before a row.
        self.M = (k - 1) * self.Wr + k - 1

    def examples(self, j):
        """The first example of chunk j and how many it holds."""
        i = j * self.chunk
        return i, min(self.chunk, self.m - i)

    def images(self, planes, n):
        """The n padded images of ``planes`` (C, L), as a view (C, n, Hr, Wr)."""
        return planes[:, :n * self.Hr * self.Wr].reshape(len(planes), n, self.Hr, self.Wr)

    def positions(self, planes, n, a, b, s):
        """The entries of ``planes`` that kernel offset (a, b) reads, as a view (C, n, H_row, W_row)."""
        e = planes.itemsize
        return np.lib.stride_tricks.as_strided(
            planes[:, a * self.Wr + b:], shape=(len(planes), n, self.H_row, self.W_row),
            strides=(planes.strides[0], self.Hr * self.Wr * e, s * self.Wr * e, s * e))


class Conv2D(_LoopConv2D):
    """2-D convolution, channels last, by im2col and matrix products; same interface as ``layers.Conv2D``.

    Output size: ``H_out = (H + 2*padding - kernel_size) // stride + 1``, likewise ``W_out``.
    """

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self._cols_of = None  # the cached input whose windows the work array "cols" still holds

    def _grid(self, X_shape):
        """The sizes for an input of ``X_shape``; drops the work arrays if they were made for another image size.

        They hold zeros only where the other size had padding, yet their shapes can come out the same
        for a new size: inputs of (1, 2, 5, C) and (1, 5, 3, C) give the same shapes with a 3 x 3
        kernel, stride 1 and padding 1.
        """
        g = _Grid(self, X_shape)
        if self.__dict__.get("_scratch_size") != (g.H, g.W):
            self._scratch, self._scratch_size = {}, (g.H, g.W)
        return g

    def _cols_buffer(self, g, slot):
        """Thread ``slot``'s window matrix, shape (K + 1, M + chunk * P): M zero columns, then the chunk's.

        Its last row is all ones; nothing writes there afterwards.
        """
        def ones_row(new):
            new[g.K] = 1.0

        return _scratch(self, ("cols", slot), (g.K + 1, g.M + g.chunk * g.P), prepare=ones_row)

    def _im2col(self, X, g, j, slot):
        """Fill chunk j's window matrix and return it, shape (K + 1, n * P).

        Row (a, b, c), column (i, h, w) holds the plane entry of input channel c that position
        (i, h, w) reads with kernel offset (a, b); the last row is all ones.
        """
        k, s, p = self.kernel_size, self.stride, self.padding
        i, n = g.examples(j)
        planes = _scratch(self, ("X_pad", slot), (g.C_in, g.L))
        if n < g.chunk:
            planes[:, n * g.Hr * g.Wr:] = 0.0  # no example of an earlier, longer chunk stays behind
        # only the images' interiors are ever written, so the zeros around them stay zero
        g.images(planes, n)[:, :, p:p + g.H, p:p + g.W] = X[i:i + n].transpose(3, 0, 1, 2)
        cols = self._cols_buffer(g, slot)[:, g.M:g.M + n * g.P]
        e = planes.itemsize
        windows = np.lib.stride_tricks.as_strided(
            planes, shape=(k, k, g.C_in, n, g.H_row, g.W_row),
            strides=(g.Wr * e, e, planes.strides[0], g.Hr * g.Wr * e, s * g.Wr * e, s * e), writeable=False)
        np.copyto(cols[:g.K].reshape(k, k, g.C_in, n, g.H_row, g.W_row), windows)
        return cols

    def _col2im(self, g, slot, n):
        """Add the windows' gradient (the first K rows of the window matrix) back into the planes.

        Returns the planes, shape (C_in, L): entry t of channel c sums, over the kernel offsets
        (a, b), the gradient of the window at position t - (a*Wr + b) for its row (a, b, c).
        """
        k, s = self.kernel_size, self.stride
        buffer = self._cols_buffer(g, slot)
        planes = _scratch(self, ("dX_pad", slot), (g.C_in, g.L))
        if s == 1:
            # Positions are the plane's entries, so offset (a, b) shifts them by a*Wr + b: one
            # strided view holds every row shifted back, and a sum over the offsets is col2im. It
            # reads up to M entries before a row, the zeros left there.
            e, R = buffer.itemsize, buffer.shape[1]
            shifted = np.lib.stride_tricks.as_strided(
                buffer[:, g.M:], shape=(k, k, g.C_in, n * g.P),
                strides=((k * g.C_in * R - g.Wr) * e, (g.C_in * R - 1) * e, R * e, e), writeable=False)
            np.add.reduce(shifted, axis=(0, 1), out=planes[:, :n * g.P])
        else:
            d_windows = buffer[:g.K, g.M:g.M + n * g.P].reshape(k, k, g.C_in, n, g.H_row, g.W_row)
            planes.fill(0.0)
            # One offset's positions are distinct entries, so each += is exact.
            for a in range(k):
                for b in range(k):
                    g.positions(planes, n, a, b, s)[...] += d_windows[a, b]
        return planes

    def __call__(self, X):
        """Forward pass.

        Parameters
        ----------
        X : ndarray, shape (m, H, W, C_in)

        Returns
        -------
        Z : ndarray of float64, shape (m, H_out, W_out, C_out)

        Caches a copy of X (as the loop-based layer does). When the batch is a single chunk, ``grad``
        reuses the window matrix built here, unless ``cache`` was replaced since (the grader sets
        it directly); otherwise it builds each chunk's again, which costs less than keeping the
        whole batch's and reading it back from main memory.
        """
        check_images("Conv2D", X, channels=self.in_channels)
        check_window_fits("Conv2D", X, self.kernel_size, self.padding)
        g = self._grid(X.shape)
        C_out = self.out_channels
        self.cache = np.empty(X.shape, X.dtype)  # a copy of X, made chunk by chunk in the threads
        W_b = np.vstack([self.W.reshape(g.K, C_out), self.b])
        Z = np.empty((g.m, g.H_out, g.W_out, C_out))

        def forward(j, slot):
            i, n = g.examples(j)
            self.cache[i:i + n] = X[i:i + n]
            cols = self._im2col(self.cache, g, j, slot)
            Z_t = _scratch(self, ("Z_t", slot), (C_out, g.chunk, g.H_row, g.W_row))[:, :n]
            np.matmul(W_b.T, cols, out=Z_t.reshape(C_out, n * g.P))
            Z[i:i + n] = Z_t[:, :, :g.H_out, :g.W_out].transpose(1, 2, 3, 0)

        _each_chunk(forward, g.n_chunks, g.threads)
        self._cols_of = self.cache if g.n_chunks == 1 else None
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
        g = self._grid(X.shape)
        p = self.padding
        C_out = self.out_channels
        check_gradient("Conv2D", in_gradient, (g.m, g.H_out, g.W_out, C_out))
        W = self.W.reshape(g.K, C_out)
        reuse = self._cols_of is X
        dX = np.empty(X.shape)
        dW_b = np.zeros((g.threads, g.K + 1, C_out))  # one sum per thread

        def backward(j, slot):
            i, n = g.examples(j)
            if reuse:
                cols = self._cols_buffer(g, slot)[:, g.M:g.M + n * g.P]
            else:
                cols = self._im2col(X, g, j, slot)
            # zero at the extra positions, which are never written
            dZ = _scratch(self, ("dZ", slot), (g.chunk, g.H_row, g.W_row, C_out))[:n]
            dZ[:, :g.H_out, :g.W_out] = in_gradient[i:i + n]
            dZ = dZ.reshape(n * g.P, C_out)
            dW_b[slot] += cols @ dZ
            # the windows are used up: their gradient takes their place, which keeps the work in cache
            np.matmul(W, dZ.T, out=cols[:g.K])
            planes = self._col2im(g, slot, n)
            dX[i:i + n] = g.images(planes, n)[:, :, p:p + g.H, p:p + g.W].transpose(1, 2, 3, 0)

        _each_chunk(backward, g.n_chunks, g.threads)
        # the windows of a single chunk are gone now (see above)
        self._cols_of = None
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
