"""Central differences and the comparison that names the first mismatching element: the independent
witness for every ``grad`` in the tests and the students' self-checks (released beside them), and the
judge's account of a wrong output."""
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


def first_mismatch(actual, expected, rtol, atol):
    """``(index, how many differ)`` of the elements of two same-shaped arrays outside the tolerance, the
    index being the first in row-major order; None when all are close."""
    bad = ~np.isclose(actual, expected, rtol=rtol, atol=atol)
    if not bad.any():
        return None
    return tuple(int(i) for i in np.argwhere(bad)[0]), int(bad.sum())


def assert_close(actual, expected, rtol=1e-5, atol=1e-7, what="gradient", hint=""):
    """Fail with the shapes, or with how many elements differ and where the first one is, then ``hint``:
    a likely cause of wrong values, left out of a wrong shape, which has causes of its own."""
    actual, expected = np.asarray(actual), np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: got shape {actual.shape}, expected {expected.shape}"
    found = first_mismatch(actual, expected, rtol, atol)
    if found:
        index, count = found
        raise AssertionError(f"{what}: {count} of {actual.size} elements differ; the first at index {index}: "
                             f"got {actual[index].item()!r}, expected {expected[index].item()!r}"
                             + (f" ({hint})" if hint else ""))
