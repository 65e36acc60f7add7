"""The independent witness: zero padding, max pooling and convolution, vectorized, channels last.

Written apart from ``layers/`` and sharing no code with it: no ``np.pad``, no loops over positions.
Every window is a view from ``sliding_window_view``; gradients are scattered back with ``np.add.at``,
which adds (rather than overwrites) where windows overlap.
"""
import numpy as np
from numpy.lib.stride_tricks import sliding_window_view


def zero_padding(X, pad):
    """(m, H, W, C) -> (m, H + 2*pad, W + 2*pad, C), same dtype, by slice assignment into zeros."""
    m, H, W, C = X.shape
    X_pad = np.zeros((m, H + 2 * pad, W + 2 * pad, C), dtype=X.dtype)
    X_pad[:, pad:pad + H, pad:pad + W, :] = X
    return X_pad


def windows(X, k, s):
    """The k x k windows starting every s rows and columns: shape (m, H_out, W_out, C, k, k)."""
    return sliding_window_view(X, (k, k), axis=(1, 2))[:, ::s, ::s]


def window_index(n_out, k, s):
    """Input rows (or columns) of every window: shape (n_out, k), row h holds h*s, ..., h*s + k - 1."""
    return s * np.arange(n_out)[:, None] + np.arange(k)[None, :]


def maxpool_forward(X, k, s):
    return windows(X, k, s).max(axis=(-2, -1))


def maxpool_backward(X, k, s, in_gradient):
    """dL/dX: each window's gradient goes to its first maximum in row-major order."""
    win = windows(X, k, s)
    m, H_out, W_out, C = win.shape[:4]
    first = win.reshape(m, H_out, W_out, C, k * k).argmax(axis=-1)
    r, q = np.divmod(first, k)
    i, h, w, c = np.indices((m, H_out, W_out, C))
    dX = np.zeros(X.shape)
    np.add.at(dX, (i, h * s + r, w * s + q, c), in_gradient)
    return dX


def conv_forward(X, W, b, s, p):
    """Z[i, h, w, d] = sum over (kh, kw, c) of X_pad[i, h*s + kh, w*s + kw, c] * W[kh, kw, c, d] + b[d]."""
    k = W.shape[0]
    return np.einsum("nhwcij,ijcd->nhwd", windows(zero_padding(X, p), k, s), W) + b


def conv_backward(X, W, s, p, in_gradient):
    """(dX, dW, db) of ``conv_forward``, dX shaped like the unpadded X, dW and db summed over the batch."""
    k = W.shape[0]
    m, H, W_in, C_in = X.shape
    _, H_out, W_out, _ = in_gradient.shape
    X_pad = zero_padding(X.astype(float), p)
    dW = np.einsum("nhwcij,nhwd->ijcd", windows(X_pad, k, s), in_gradient)
    db = in_gradient.sum(axis=(0, 1, 2))
    # share[i, h, w, kh, kw, c]: what output (i, h, w) sends to input (h*s + kh, w*s + kw, c)
    share = np.einsum("ijcd,nhwd->nhwijc", W, in_gradient)
    rows = window_index(H_out, k, s)[:, None, :, None]   # (H_out, 1, k, 1)
    cols = window_index(W_out, k, s)[None, :, None, :]   # (1, W_out, 1, k)
    dX_pad = np.zeros(X_pad.shape)
    np.add.at(dX_pad, (slice(None), rows, cols, slice(None)), share)
    dX = dX_pad[:, p:p + H, p:p + W_in, :]
    return dX, dW, db
