"""Dropout and SpatialDropout1d: inverted dropout in training mode, the identity in eval mode.

Dropout zeroes each element with probability p and scales the kept ones by 1 / (1 - p), so the
expected output is the input and eval mode needs no rescaling. SpatialDropout1d does the same to
whole channels of (N, C, T) data (one draw per (n, c), mask (N, C, 1)), as Keras'
SpatialDropout1D on channels-first data and torch.nn.Dropout1d: neighbouring frames of a channel
are strongly correlated, so dropping single frames would barely regularise a temporal network.

The mask comes from ictus.dropout's counter-based bits, keyed by a seed drawn per forward pass
from ictus.nn.random.generator() (so ictus.nn.manual_seed repeats it, on the CPU and on a GPU
alike): only the seed is saved, and the backward pass recomputes the mask from it.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from ..ops import dropout
from .checks import check_floating
from .module import Module, array_module
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
        check_floating(type(self).__name__, x)
        mask_shape = self._mask_shape(x)
        if not self.training or self.p == 0:
            self._save(None)
            return x
        seed = int(generator().bit_generator.random_raw())
        self._save((seed, mask_shape))
        return self._dropped(x, seed, mask_shape)

    def backward(self, grad_out: Any) -> Any:
        (mask,) = self._saved()
        return grad_out if mask is None else self._dropped(grad_out, *mask)

    def _dropped(self, x: Any, seed: int, mask_shape: tuple[int, ...]) -> Any:
        """x times the mask of ``seed``: one kernel pass over float32 x, else the mask's factors
        (0 or 1 / (1 - p)) from the kernel, broadcast over x (SpatialDropout1d) in x's dtype."""
        if mask_shape == tuple(x.shape) and x.dtype == np.float32:
            return dropout(x, self.p, seed)
        xp = array_module(x)
        factors = dropout(xp.ones(mask_shape, np.float32), self.p, seed)
        return x * factors.astype(x.dtype, copy=False)

    def extra_repr(self) -> str:
        return f"p={self.p}"


class SpatialDropout1d(Dropout):
    """Dropout of whole channels: x (N, C, T), each (n, c) row kept or zeroed together."""

    def _mask_shape(self, x: Any) -> tuple[int, ...]:
        if x.ndim != 3:
            raise ValueError(f"SpatialDropout1d: x must have shape (N, C, T), got {tuple(x.shape)}")
        return (x.shape[0], x.shape[1], 1)
