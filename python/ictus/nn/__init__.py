"""ictus.nn: layers, losses and the TCN of beat tracking, on ictus' kernels (NumPy or CuPy arrays).

    import numpy as np
    from ictus import nn
    model = nn.Sequential(nn.Conv1d(81, 20, 5, padding="same"), nn.ELU(), nn.Conv1d(20, 1, 1), nn.Sigmoid())
    y = model(x)                        # x (N, 81, T) float32 -> y (N, 1, T)
    loss = nn.BCELoss()
    value = loss(y, target)
    model.zero_grad()
    model.backward(loss.backward())     # fills p.grad for p in model.parameters()

Layers are imported on first use (``nn.Conv1d`` loads ``ictus.nn.conv``), so ``import ictus``
stays light.
"""
from __future__ import annotations

import importlib
from typing import Any

from .module import Module, Parameter, Sequential
from .random import get_rng_state, manual_seed, set_rng_state

# public name -> submodule of ictus.nn that defines it
_LAZY = {
    "Conv1d": "conv", "Conv2d": "conv",
    "MaxPool1d": "pool", "MaxPool2d": "pool",
    "GRU": "recurrent",
    "Linear": "linear",
    "ELU": "activation", "ReLU": "activation", "Tanh": "activation", "Sigmoid": "activation",
    "Softmax": "activation",
    "Dropout": "dropout", "SpatialDropout1d": "dropout",
    "BatchNorm1d": "norm", "BatchNorm2d": "norm",
    "Flatten": "shape", "Permute": "shape", "Reshape": "shape", "Pad": "shape",
    "TCNBlock": "tcn", "TCN": "tcn",
    "BCELoss": "loss", "BCEWithLogitsLoss": "loss", "CrossEntropyLoss": "loss", "MSELoss": "loss",
}

__all__ = ["Module", "Parameter", "Sequential", "get_rng_state", "manual_seed", "set_rng_state"]
__all__ += list(_LAZY)


def __getattr__(name: str) -> Any:
    if name not in _LAZY:
        raise AttributeError(f"module 'ictus.nn' has no attribute {name!r}")
    value = getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(__all__)
