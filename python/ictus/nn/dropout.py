"""Dropout and SpatialDropout1d: inverted dropout in training mode, the identity in eval mode.

Dropout zeroes each element with probability p and scales the kept ones by 1 / (1 - p), so the
expected output is the input and eval mode needs no rescaling. SpatialDropout1d does the same to
whole channels of (N, C, T) data (one draw per (n, c), mask (N, C, 1)), as Keras'
SpatialDropout1D on channels-first data and torch.nn.Dropout1d: neighbouring frames of a channel
are strongly correlated, so dropping single frames would barely regularise a temporal network.

The mask, already scaled, is drawn on the CPU from ictus.nn.random.generator() (copied to the GPU
for CuPy input, so both devices draw the same masks after ictus.nn.manual_seed) and saved for the
backward pass, which multiplies grad_out by the same mask.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_floating
from .module import Module
from .random import generator


class Dropout(Module):
    """y = x * mask / (1 - p), mask[i] ~ Bernoulli(1 - p), in training mode; y = x in eval mode."""

    def __init__(self, p: float = 0.5) -> None:
        super().__init__()
        if isinstance(p, bool) or not isinstance(p, (int, float)) or not 0 <= p < 1:
            raise ValueError(f"{type(self).__name__}: p must be a probability in [0, 1), got {p!r} "
                             "(p = 1 would drop everything and the 1 / (1 - p) rescaling would divide by 0)")
        self.p = float(p)

    def _mask_shape(self, x: Any) -> tuple[int, ...]:
        return tuple(x.shape)

    def forward(self, x: Any) -> Any:
        xp = check_floating(type(self).__name__, x)
        mask_shape = self._mask_shape(x)
        if not self.training or self.p == 0:
            self._save(None)
            return x
        keep = generator().random(mask_shape, dtype=np.float32) >= self.p
        mask = xp.asarray(keep.astype(x.dtype) * x.dtype.type(1 / (1 - self.p)))
        self._save(mask)
        return x * mask

    def backward(self, grad_out: Any) -> Any:
        (mask,) = self._saved()
        return grad_out if mask is None else grad_out * mask

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SpatialDropout1d(Dropout):
    """Dropout of whole channels: x (N, C, T), each (n, c) row kept or zeroed together."""

    def _mask_shape(self, x: Any) -> tuple[int, ...]:
        if x.ndim != 3:
            raise ValueError(f"SpatialDropout1d: x must have shape (N, C, T), got {tuple(x.shape)}")
        return (x.shape[0], x.shape[1], 1)
