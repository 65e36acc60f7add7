"""Activations: ``__call__(X)`` applies them and caches; ``grad(in_gradient)`` returns dL/dX."""
from .elementwise import LeakyReLU, ReLU, Sigmoid, Tanh
from .softmax import Softmax

__all__ = ["ReLU", "LeakyReLU", "Tanh", "Sigmoid", "Softmax"]
