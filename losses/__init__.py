"""Losses: ``__call__(y_pred, y_true)`` returns the mean loss as a float; ``grad()`` returns dL/dy_pred."""
from .cross_entropy import CrossEntropy
from .mse import MSELoss

__all__ = ["CrossEntropy", "MSELoss"]
