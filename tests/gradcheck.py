"""Central-difference gradients: the independent witness for every ``grad``."""
import numpy as np


def numerical_gradient(f, X, eps=1e-6):
    """d f / d X by central differences, for a scalar function f of an array X (X is not changed)."""
    X = np.array(X, dtype=float)
    grad = np.zeros_like(X)
    for idx in np.ndindex(X.shape):
        old = X[idx]
        X[idx] = old + eps
        f_plus = f(X.copy())
        X[idx] = old - eps
        f_minus = f(X.copy())
        X[idx] = old
        grad[idx] = (f_plus - f_minus) / (2 * eps)
    return grad


def assert_close(actual, expected, rtol=1e-5, atol=1e-7, what="gradient"):
    """Assert with a message that names the first mismatching element."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(
            f"{what}: {bad.sum()} of {bad.size} elements differ; first at {idx}: "
            f"got {actual[idx]!r}, expected {expected[idx]!r}"
        )
