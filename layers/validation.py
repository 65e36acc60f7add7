"""Input checks shared by every layer, activation and loss.

They raise ``TypeError`` / ``ValueError`` with the layer's name, what was expected and what was
received, so a student sees a wrong shape at the call that caused it rather than as an
``IndexError`` deep inside a loop. Plain ``assert`` is not used: ``python -O`` strips it.
"""
import numbers

import numpy as np


def check_array(owner, name, X, ndim=None):
    """Return ``X`` unchanged if it is a non-empty real-valued ndarray with ``ndim`` axes, else raise."""
    if not isinstance(X, np.ndarray):
        raise TypeError(f"{owner} expects {name} to be a numpy array, got {type(X).__name__}")
    if not (np.issubdtype(X.dtype, np.number) and not np.issubdtype(X.dtype, np.complexfloating)):
        raise TypeError(f"{owner} expects {name} to hold real numbers, got dtype {X.dtype}")
    if ndim is not None and X.ndim != ndim:
        raise ValueError(f"{owner} expects {name} with {ndim} axes, got shape {X.shape} ({X.ndim} axes)")
    if X.size == 0:
        raise ValueError(f"{owner} expects a non-empty {name}, got shape {X.shape}")
    return X


def check_images(owner, X, channels=None):
    """Check an NHWC batch ``(m, H, W, C)``; with ``channels``, also that ``C == channels``."""
    check_array(owner, "X", X)
    if X.ndim != 4:
        raise ValueError(
            f"{owner} expects X of shape (m, H, W, C) with 4 axes, got shape {X.shape} ({X.ndim} axes)"
            + (" — add a batch axis with X[np.newaxis]" if X.ndim == 3 else "")
        )
    if channels is not None and X.shape[3] != channels:
        hint = " — is the input channels-first? Use X.transpose(0, 2, 3, 1)" if X.shape[1] == channels else ""
        raise ValueError(f"{owner} expects X of shape (m, H, W, C={channels}), got {X.shape}{hint}")
    return X


def check_int(owner, name, value, minimum):
    """Return ``value`` as an int if it is an integer ``>= minimum``, else raise."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise TypeError(f"{owner} expects {name} to be an integer, got {value!r} ({type(value).__name__})")
    if value < minimum:
        raise ValueError(f"{owner} expects {name} >= {minimum}, got {value}")
    return int(value)


def check_real(owner, name, value, expected="", valid=lambda v: True):
    """Return ``value`` as a float if it is a finite real number for which ``valid`` holds, else raise.

    ``expected`` words the valid range for the message, e.g. "in [0, 1)".
    """
    expected = f" {expected}" if expected else ""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{owner} expects {name} to be a number{expected}, got {value!r} ({type(value).__name__})")
    if not (np.isfinite(value) and valid(value)):
        raise ValueError(f"{owner} expects {name} to be a finite number{expected}, got {value!r}")
    return float(value)


def check_window_fits(owner, X, kernel_size, padding=0):
    """Raise if a ``kernel_size`` window does not fit in the (padded) height and width of ``X``."""
    H, W = X.shape[1] + 2 * padding, X.shape[2] + 2 * padding
    if kernel_size > min(H, W):
        raise ValueError(
            f"{owner} with kernel_size={kernel_size} needs a padded input of at least "
            f"{kernel_size}x{kernel_size}, got {H}x{W} (input {X.shape}, padding={padding})"
        )


def check_gradient(owner, in_gradient, expected_shape):
    """Check that the upstream gradient has the shape of the last forward output."""
    check_array(f"{owner}.grad", "in_gradient", in_gradient)
    if in_gradient.shape != tuple(expected_shape):
        raise ValueError(
            f"{owner}.grad expects in_gradient of shape {tuple(expected_shape)} (the last output's), "
            f"got {in_gradient.shape}"
        )
    return in_gradient


def check_forward_done(owner, cache):
    """``grad`` needs what the forward pass cached; say so instead of failing on ``None``."""
    if cache is None:
        raise RuntimeError(f"{owner}.grad called before any forward pass: call the layer on an input first")
    return cache
