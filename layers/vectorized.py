"""Vectorized Conv2D and Maxpool2D: the loop-based layers' results, computed with BLAS matrix products.

Instructor-side only (the student release leaves this file out: it holds the answer). Import it by
its module, ``from layers.vectorized import Conv2D, Maxpool2D``; ``layers/__init__.py`` does not
export it.

Each class subclasses its loop-based twin, so the constructor, ``W``/``b`` and their initialisation,
``create_mask``, the input checks and their messages are inherited unchanged; only ``__call__`` and
``grad`` are replaced. No Python loop runs over examples or output positions; Conv2D loops over
chunks of the batch (and, with a stride above 1, over the kernel offsets), Maxpool2D over the
offsets. Both work in float64 throughout. Given float32 X and a float32 gradient, the loop-based
Conv2D forms ``X_pad * g`` in float32 for dW, so there the two agree to float32's rounding only
(about 1e-6 on a dW near 50); with either of them float64 they agree to 1e-10.

Conv2D (im2col): every output's window of the padded input becomes one column of a matrix
``cols``, one row per (kernel offset, input channel), plus a row of ones whose weight is the bias.
The convolution is then one matrix product with ``[W; b]``, which numpy hands to BLAS; so are
``[dW; db] = cols @ dZ`` and the gradient of every window, ``W @ dZ.T``, which col2im adds back
into dX where each window read its input. The rest of the time goes to numpy's passes around the
products (building ``cols``, adding back, layout copies), and the layout keeps them few. A chunk
of examples is held channels first, each channel one flat plane with the chunk's padded images one
below the other, so that a kernel offset (a, b) reads the plane shifted by ``a`` rows and ``b``
entries: ``cols`` is one strided view of the planes, copied in one call. For col2im the windows'
gradient is laid out on a grid of positions that, with stride 1, are the plane's entries, the
outputs among them and zeros at the rest: adding back is then one sum over that gradient shifted
back per offset (with a larger stride, one add per offset). Chunks of a few MB of ``cols`` are
shared among as many threads as BLAS would use, each running single-threaded BLAS (as PyTorch
does), so that numpy's passes use every core too. A batch of one chunk stays in the calling thread
with BLAS's own threads: on the benchmark machine, handing half of such a batch to a second Python
thread cost more than it saved (passing the GIL between the threads' short numpy calls took longer
than the calls).
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
# as fast on the second largest (8 examples a chunk), where 12 and 16 MB (3 and 2 chunks for two
# threads) ran 15-25 % slower. Chunks small enough to stay in L2 were slower too: what a chunk costs
# besides its arithmetic weighs more than the cache misses it saves.
CHUNK_BYTES = 8 * 2**20

# Every BLAS the process had loaded at the first call, as threadpoolctl sees them: numpy's, and
# PyTorch's where the benchmark imported it first. Their thread counts are read and limited together.
_blas = None
_pools = {}  # thread pools by (process, size), kept for the next call


def _blas_libraries():
    global _blas
    if _blas is None:
        _blas = ThreadpoolController().select(user_api="blas")
    return _blas


def _threads(n_chunks):
    """How many threads share the chunks: as many as numpy's BLAS would use, at most one a chunk."""
    return min(n_chunks, max([1] + [lib.num_threads for lib in _blas_libraries().lib_controllers]))


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
    with _blas_libraries().limit(limits=1):
        for done in [_pools[key].submit(share, slot) for slot in range(threads)]:
            done.result()


class _Grid:
    """The sizes Conv2D works with, for one input shape ``(m, H, W, C_in)``.

    A chunk of n examples is held as one plane per input channel: each image takes ``H_plane`` rows
    of ``W_plane`` entries, itself at row ``p`` and column ``p`` of them, zeros around it. Output
    position (i, h, w) with kernel offset (a, b) reads entry
    ``(i*H_plane + h*s + a) * W_plane + w*s + b``: its window's entry, or a zero, since a row's right
    padding runs on into the next row's left padding and an image's bottom padding into the next
    image's top padding; ``W_plane >= W + p`` and ``H_plane >= H + p`` are enough for that. An
    image's part of a plane is s times the size, each way, of its grid of ``H_grid x W_grid``
    positions: the ``H_out x W_out`` outputs and a few more. With stride 1 the grid's positions are
    the plane's entries, which makes col2im one sum.
    """

    def __init__(self, layer, X_shape):
        k, s, p = layer.kernel_size, layer.stride, layer.padding
        self.k, self.s = k, s
        self.m, self.H, self.W, self.C_in = X_shape
        self.H_out = (self.H + 2 * p - k) // s + 1
        self.W_out = (self.W + 2 * p - k) // s + 1
        self.H_grid = max(self.H_out, -(-(self.H + p) // s))
        self.W_grid = max(self.W_out, -(-(self.W + p) // s))
        self.H_plane, self.W_plane = s * self.H_grid, s * self.W_grid
        self.P_out = self.H_out * self.W_out  # outputs per example
        self.P_grid = self.H_grid * self.W_grid  # grid positions per example
        self.K = k * k * self.C_in
        self.chunk = max(1, min(self.m, CHUNK_BYTES // (8 * (self.K + 1) * self.P_grid)))
        self.n_chunks = -(-self.m // self.chunk)
        self.threads = _threads(self.n_chunks)
        # A plane holds a chunk's images and, past them, what the grid positions of the last image
        # reach (with a larger stride, col2im adds their zero gradient there): less than k rows.
        self.L = (self.chunk * self.H_plane + k) * self.W_plane
        # Zeros before each row of the windows' gradient: col2im reads up to this far before a row.
        self.M = (k - 1) * self.W_plane + k - 1

    def examples(self, j):
        """The first example of chunk j and how many it holds."""
        i = j * self.chunk
        return i, min(self.chunk, self.m - i)

    def images(self, planes, n):
        """The n padded images of ``planes`` (C, L), as a view (C, n, H_plane, W_plane)."""
        return planes[:, :n * self.H_plane * self.W_plane].reshape(len(planes), n, self.H_plane, self.W_plane)

    def reads(self, planes, n, H, W, writeable=False):
        """The entries of ``planes`` that the first H x W grid positions of n images read: (k, k, C, n, H, W).

        Index [a, b] holds kernel offset (a, b)'s, all distinct; different offsets share entries.
        """
        e, k, s = planes.itemsize, self.k, self.s
        return np.lib.stride_tricks.as_strided(
            planes, shape=(k, k, len(planes), n, H, W), writeable=writeable,
            strides=(self.W_plane * e, e, planes.strides[0], self.H_plane * self.W_plane * e,
                     s * self.W_plane * e, s * e))


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
        for a new size: inputs of (1, 2, 5, C) and (1, 5, 3, C) give planes of the same shape with a
        3 x 3 kernel, stride 1 and padding 1.
        """
        g = _Grid(self, X_shape)
        if self.__dict__.get("_scratch_size") != (g.H, g.W):
            self._scratch, self._scratch_size = {}, (g.H, g.W)
        return g

    def _cols_buffer(self, g, slot):
        """Thread ``slot``'s window matrix: M columns, zero in the first K rows, then a chunk's.

        Shape (K + 1, M + chunk * P_grid). The chunk's windows take its first n * P_out columns, their
        gradient later n * P_grid. The last row is all ones; nothing writes there afterwards.
        """
        def ones_row(new):
            new[g.K] = 1.0

        return _scratch(self, ("cols", slot), (g.K + 1, g.M + g.chunk * g.P_grid), prepare=ones_row)

    def _im2col(self, X, g, j, slot):
        """Fill chunk j's window matrix and return it, shape (K + 1, n * P_out).

        Row (a, b, c), column (i, h, w) holds ``X_pad[i, h*s + a, w*s + b, c]``; the last row is all
        ones. Only the outputs' windows are read, as in the loop-based layer, so an entry of X that
        no window holds (a NaN, say) changes nothing.
        """
        p = self.padding
        i, n = g.examples(j)
        planes = _scratch(self, ("X_pad", slot), (g.C_in, g.L))
        # only the images' interiors are ever written, so the zeros around them stay zero
        g.images(planes, n)[:, :, p:p + g.H, p:p + g.W] = X[i:i + n].transpose(3, 0, 1, 2)
        cols = self._cols_buffer(g, slot)[:, g.M:g.M + n * g.P_out]
        np.copyto(cols[:g.K].reshape(g.k, g.k, g.C_in, n, g.H_out, g.W_out), g.reads(planes, n, g.H_out, g.W_out))
        return cols

    def _col2im(self, g, slot, n):
        """Add the windows' gradient back where each window read its input.

        The gradient is the window matrix's first K rows, one column per grid position (zero at
        those that are no output). Returns the planes, shape (C_in, L), whose first n images hold
        the chunk's padded dX.
        """
        k = g.k
        buffer = self._cols_buffer(g, slot)
        planes = _scratch(self, ("dX_pad", slot), (g.C_in, g.L))
        if g.s == 1:
            # The grid's positions are the plane's entries, and kernel offset (a, b) shifts them by
            # a*W_plane + b: one strided view holds every row shifted back, and a sum over the
            # offsets is col2im. Before a row it reads up to M entries, the zeros left there.
            e, R = buffer.itemsize, buffer.shape[1]
            shifted = np.lib.stride_tricks.as_strided(
                buffer[:, g.M:], shape=(k, k, g.C_in, n * g.P_grid), writeable=False,
                strides=((k * g.C_in * R - g.W_plane) * e, (g.C_in * R - 1) * e, R * e, e))
            np.add.reduce(shifted, axis=(0, 1), out=planes[:, :n * g.P_grid])
        else:
            d_windows = buffer[:g.K, g.M:g.M + n * g.P_grid].reshape(k, k, g.C_in, n, g.H_grid, g.W_grid)
            targets = g.reads(planes, n, g.H_grid, g.W_grid, writeable=True)
            planes.fill(0.0)
            for a in range(k):
                for b in range(k):
                    targets[a, b] += d_windows[a, b]  # one offset's entries are distinct: += is exact
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
        it directly; a change made inside the cached array is not noticed); for several chunks it
        builds each chunk's again, which costs less than keeping the whole batch's and reading it
        back from main memory.
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
            Z_t = _scratch(self, ("Z_t", slot), (C_out, g.chunk, g.H_out, g.W_out))[:, :n]
            np.matmul(W_b.T, cols, out=Z_t.reshape(C_out, n * g.P_out))
            Z[i:i + n] = Z_t.transpose(1, 2, 3, 0)

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
                cols = self._cols_buffer(g, slot)[:, g.M:g.M + n * g.P_out]
            else:
                cols = self._im2col(X, g, j, slot)
            dW_b[slot] += cols @ in_gradient[i:i + n].reshape(n * g.P_out, C_out)
            # On the grid, for col2im; zero at the positions that are no output, never written.
            dZ = _scratch(self, ("dZ", slot), (g.chunk, g.H_grid, g.W_grid, C_out))[:n]
            dZ[:, :g.H_out, :g.W_out] = in_gradient[i:i + n]
            # The windows are used up: their gradient takes their place, which keeps the work in cache.
            d_windows = self._cols_buffer(g, slot)[:g.K, g.M:g.M + n * g.P_grid]
            np.matmul(W, dZ.reshape(n * g.P_grid, C_out).T, out=d_windows)
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
