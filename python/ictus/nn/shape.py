"""Shape layers: Flatten, Permute, Reshape and Pad, forward and backward (NumPy or CuPy, any dtype).

* Flatten(start_dim=1, end_dim=-1): merges axes start_dim..end_dim, as torch.nn.Flatten.
* Permute(*dims): reorders ALL axes, batch included, as torch's x.permute(*dims); the result is a
  C-contiguous copy, since the kernels read C-contiguous arrays.
* Reshape(*shape): keeps the batch axis and reshapes the rest to ``shape`` (which excludes N, one
  entry may be -1), as Keras' Reshape: Reshape(16, -1) maps (N, 16, 8, 1) to (N, 16, 8).
* Pad(padding, mode, value): torch.nn.functional.pad's padding tuple, pairs (before, after) for
  the last axis first, then the one before it, and so on; mode "constant" fills with ``value``,
  "edge" repeats the border element (torch's "replicate"). Backward crops the gradient and, for
  "edge", adds the gradient of every copy of a border element back onto it.
Backward of the first three is the inverse reshape or permutation of grad_out.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from .checks import check_is_array
from .module import Module, array_module


def _check_ints(layer: str, name: str, values: tuple[Any, ...]) -> tuple[int, ...]:
    if not all(isinstance(v, (int, np.integer)) and not isinstance(v, bool) for v in values):
        raise TypeError(f"{layer}: {name} must be ints, got {values!r}")
    return tuple(int(v) for v in values)


class _ReshapeLayer(Module):
    """Forward reshapes to ``_target_shape(x)``; backward reshapes grad_out back to x's shape."""

    def forward(self, x: Any) -> Any:
        check_is_array(type(self).__name__, x)
        self._save(tuple(x.shape))
        return x.reshape(self._target_shape(x))

    def backward(self, grad_out: Any) -> Any:
        (input_shape,) = self._saved()
        return grad_out.reshape(input_shape)

    def _target_shape(self, x: Any) -> tuple[int, ...]:
        raise NotImplementedError


class Flatten(_ReshapeLayer):
    """x (d0, ..., dk) -> the axes start_dim..end_dim merged into one (torch.nn.Flatten)."""

    def __init__(self, start_dim: int = 1, end_dim: int = -1) -> None:
        super().__init__()
        self.start_dim, self.end_dim = _check_ints("Flatten", "start_dim and end_dim", (start_dim, end_dim))

    def _target_shape(self, x: Any) -> tuple[int, ...]:
        rank = max(x.ndim, 1)
        start, end = (d + rank if d < 0 else d for d in (self.start_dim, self.end_dim))
        if not (0 <= start < rank and 0 <= end < rank and start <= end):
            raise ValueError(f"Flatten: start_dim={self.start_dim}, end_dim={self.end_dim} do not select axes "
                             f"start <= end of x with shape {tuple(x.shape)}")
        shape = tuple(x.shape)
        return (*shape[:start], int(np.prod(shape[start:end + 1])), *shape[end + 1:])

    def extra_repr(self) -> str:
        return f"start_dim={self.start_dim}, end_dim={self.end_dim}"


class Reshape(_ReshapeLayer):
    """x (N, ...) -> (N, *shape): the batch axis is kept and ``shape`` excludes it (Keras' Reshape)."""

    def __init__(self, *shape: int) -> None:
        super().__init__()
        self.shape = _check_ints("Reshape", "shape", shape)
        if sum(s == -1 for s in self.shape) > 1 or any(s < -1 or s == 0 for s in self.shape):
            raise ValueError(f"Reshape: shape must be positive ints with at most one -1 (the batch axis is kept "
                             f"and not part of shape), got {self.shape}")

    def _target_shape(self, x: Any) -> tuple[int, ...]:
        known = int(np.prod([s for s in self.shape if s != -1]))
        per_item = int(np.prod(x.shape[1:])) if x.ndim else 0
        fits = per_item % known == 0 if -1 in self.shape else per_item == known
        if x.ndim < 1 or not fits:
            raise ValueError(f"Reshape: cannot reshape x of shape {tuple(x.shape)} to (N, "
                             f"{', '.join(map(str, self.shape))}): the {per_item} values per batch item do not fit")
        return (x.shape[0], *self.shape)

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.shape))


class Permute(Module):
    """y = x.transpose(dims), a C-contiguous copy; ``dims`` covers every axis, batch included."""

    def __init__(self, *dims: int) -> None:
        super().__init__()
        self.dims = _check_ints("Permute", "dims", dims)
        if sorted(self.dims) != list(range(len(self.dims))):
            raise ValueError(f"Permute: dims must be a permutation of 0..{len(self.dims) - 1} (every axis, the batch "
                             f"axis included, as torch's x.permute), got {self.dims}")
        self.inverse = tuple(int(i) for i in np.argsort(self.dims))

    def forward(self, x: Any) -> Any:
        check_is_array("Permute", x)
        if x.ndim != len(self.dims):
            raise ValueError(f"Permute: x must have {len(self.dims)} axes for dims {self.dims}, "
                             f"got shape {tuple(x.shape)}")
        self._save(None)
        return array_module(x).ascontiguousarray(x.transpose(self.dims))

    def backward(self, grad_out: Any) -> Any:
        self._saved()
        return array_module(grad_out).ascontiguousarray(grad_out.transpose(self.inverse))

    def extra_repr(self) -> str:
        return ", ".join(map(str, self.dims))


class Pad(Module):
    """Pads the trailing axes: ``padding`` = (last_before, last_after, second_last_before, ...)."""

    _modes = ("constant", "edge")

    def __init__(self, padding: tuple[int, ...] | list[int], mode: str = "constant", value: float = 0.0) -> None:
        super().__init__()
        if not isinstance(padding, (tuple, list)) or len(padding) == 0 or len(padding) % 2:
            raise ValueError(f"Pad: padding must be a tuple of (before, after) pairs, last axis first, as "
                             f"torch.nn.functional.pad, got {padding!r}")
        self.padding = _check_ints("Pad", "padding", tuple(padding))
        if min(self.padding) < 0:
            raise ValueError(f"Pad: padding must be >= 0 (cropping is not supported), got {self.padding}")
        if mode not in self._modes:
            raise ValueError(f"Pad: mode must be one of {self._modes} ('edge' is torch's 'replicate'), got {mode!r}")
        if mode == "edge" and value != 0:
            raise ValueError(f"Pad: value is only used with mode='constant', got value={value!r} with mode='edge'")
        self.mode = mode
        self.value = float(value)

    def _pad_width(self, ndim: int) -> list[tuple[int, int]]:
        pairs = [(self.padding[i], self.padding[i + 1]) for i in range(0, len(self.padding), 2)]
        return [(0, 0)] * (ndim - len(pairs)) + pairs[::-1]

    def forward(self, x: Any) -> Any:
        check_is_array("Pad", x)
        if x.ndim < len(self.padding) // 2:
            raise ValueError(f"Pad: padding {self.padding} pads {len(self.padding) // 2} axes, x of shape "
                             f"{tuple(x.shape)} has only {x.ndim}")
        if self.mode == "edge" and 0 in x.shape:
            raise ValueError(f"Pad: mode='edge' needs a non-empty x, got shape {tuple(x.shape)}")
        pad_width = self._pad_width(x.ndim)
        self._save(tuple(x.shape))
        xp = array_module(x)
        if self.mode == "constant":
            return xp.pad(x, pad_width, mode="constant", constant_values=self.value)
        return xp.pad(x, pad_width, mode="edge")

    def backward(self, grad_out: Any) -> Any:
        (input_shape,) = self._saved()
        grad = grad_out
        for axis, (before, after) in enumerate(self._pad_width(len(input_shape))):
            if before == after == 0:
                continue
            size = input_shape[axis]
            inner = grad[_along(grad.ndim, axis, slice(before, before + size))].copy()  # never grad_out itself
            if self.mode == "edge":
                # every padded copy of a border element passes its gradient back to that element
                for border, copies in ((slice(0, 1), slice(0, before)), (slice(size - 1, size), slice(before + size, None))):
                    inner[_along(grad.ndim, axis, border)] += grad[_along(grad.ndim, axis, copies)].sum(
                        axis=axis, keepdims=True)
            grad = inner
        return grad

    def extra_repr(self) -> str:
        return f"padding={self.padding}, mode={self.mode!r}" + (f", value={self.value}" if self.mode == "constant" else "")


def _along(ndim: int, axis: int, part: slice) -> tuple[slice, ...]:
    """Index selecting ``part`` along ``axis`` and everything along the other axes."""
    index = [slice(None)] * ndim
    index[axis] = part
    return tuple(index)
