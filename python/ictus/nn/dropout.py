"""Dropout and SpatialDropout1d: inverted dropout in training mode, the identity in eval mode.

Dropout zeroes each element with probability p and scales the kept ones by 1 / (1 - p), so the
expected output is the input and eval mode needs no rescaling. SpatialDropout1d does the same to
whole channels of (N, C, T) data (one draw per (n, c), mask (N, C, 1)), as Keras'
SpatialDropout1D on channels-first data and torch.nn.Dropout1d: neighbouring frames of a channel
are strongly correlated, so dropping single frames would barely regularise a temporal network.

The mask is drawn on the CPU from ictus.nn.random.generator() (copied to the GPU
for CuPy input, so both devices draw the same masks after ictus.nn.manual_seed) and saved for the
backward pass, which multiplies grad_out by the same mask.
"""
from __future__ import annotations

import math
from typing import Any

import numpy as np

from .checks import check_floating
from .module import Module
from .random import generator


def _keep_mask(shape: tuple[int, ...], p: float) -> tuple[np.ndarray, float]:
    """A boolean mask of ``shape`` dropping each element with probability p rounded to a multiple
    of 2^-16 (16 random bits per element, a quarter of a float64 draw: the beat tracker's first
    dropout took 29 ms with float32 draws, 14 this way), and torch's scale 1 / (1 - p)."""
    threshold = round(p * 65536)
    count = math.prod(shape)
    bits = generator().bit_generator.random_raw(count // 4 + 1).view(np.uint16)[:count]
    return (bits >= threshold).reshape(shape), 1 / (1 - p)


def _masked(x: Any, keep: Any, scale: float) -> Any:
    """x * keep * scale: two passes over x, or one where the mask broadcasts (SpatialDropout1d)."""
    if keep.size < x.size:
        return x * (keep * x.dtype.type(scale))
    y = x * x.dtype.type(scale)
    y *= keep
    return y


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
        keep, scale = _keep_mask(mask_shape, self.p)
        keep = xp.asarray(keep)
        self._save((keep, scale))
        return _masked(x, keep, scale)

    def backward(self, grad_out: Any) -> Any:
        (mask,) = self._saved()
        return grad_out if mask is None else _masked(grad_out, *mask)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SpatialDropout1d(Dropout):
    """Dropout of whole channels: x (N, C, T), each (n, c) row kept or zeroed together."""

    def _mask_shape(self, x: Any) -> tuple[int, ...]:
        if x.ndim != 3:
            raise ValueError(f"SpatialDropout1d: x must have shape (N, C, T), got {tuple(x.shape)}")
        return (x.shape[0], x.shape[1], 1)
