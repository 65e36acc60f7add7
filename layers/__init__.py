"""Layers, channels last: images are (m, H, W, C) everywhere.

Each layer is called on a batch (the forward pass, which caches what the backward pass needs) and
has ``grad(in_gradient)``: it takes dL/d(output of the last call) and returns dL/d(input), plus
(dW, db) for layers with parameters.
"""
from .utils import zero_padding
from .Maxpool2D import Maxpool2D
from .Conv2D import Conv2D
from .Linear import Linear
from .Dropout import Dropout
from .Flatten import Flatten
from .L2regularization import L2regularization

__all__ = ["zero_padding", "Maxpool2D", "Conv2D", "Linear", "Dropout", "Flatten", "L2regularization"]
