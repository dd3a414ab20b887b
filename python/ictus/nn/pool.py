"""MaxPool1d and MaxPool2d layers on ictus' max-pool kernels, with torch.nn's semantics.

MaxPool1d maps x (N, C, T) to y (N, C, T_out), MaxPool2d x (N, C, H, W) to y (N, C, H_out, W_out);
padding counts as -inf and is at most half the kernel, ``ceil_mode`` rounds the output size up, the
first of equal maxima wins and NaN propagates. In training mode forward keeps the indices of the
maxima (int32: half the bytes of torch's int64 to write and read back) and backward scatters
grad_out to them; in eval mode forward asks for no indices.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .. import ops
from .checks import Pair, check_array, check_int, check_pair
from .module import Module


def _axes(value: int | tuple[int, ...]) -> tuple[int, ...]:
    return value if isinstance(value, tuple) else (value,)


class _MaxPoolNd(Module):
    """What MaxPool1d and MaxPool2d share; the window arguments are ints (1-D) or (h, w) pairs."""

    _forward_op: Callable[..., Any]
    _backward_op: Callable[..., Any]
    _input_axes: tuple[str, ...]
    takes_maximum = True

    def __init__(self, kernel_size: Any, stride: Any, padding: Any, dilation: Any, ceil_mode: bool,
                 check: Callable[..., Any]) -> None:
        super().__init__()
        name = type(self).__name__
        self.kernel_size = check(name, "kernel_size", kernel_size)
        self.stride = self.kernel_size if stride is None else check(name, "stride", stride)
        self.padding = check(name, "padding", padding, 0)
        self.dilation = check(name, "dilation", dilation)
        self.ceil_mode = bool(ceil_mode)
        if any(2 * p > k for p, k in zip(_axes(self.padding), _axes(self.kernel_size), strict=True)):
            raise ValueError(f"{name}: padding must be at most half of kernel_size, got padding={padding} for "
                             f"kernel_size={kernel_size}")

    def _window(self) -> dict[str, Any]:
        return {"kernel_size": self.kernel_size, "stride": self.stride, "padding": self.padding,
                "dilation": self.dilation}

    def forward(self, x: Any) -> Any:
        name = type(self).__name__
        check_array(name, "x", x, ("N", "C", *self._input_axes))
        try:
            out = type(self)._forward_op(x, **self._window(), ceil_mode=self.ceil_mode, return_indices=self.training,
                                         index_dtype=self._index_dtype(x) if self.training else None)
        except ValueError as err:  # the input is shorter than the window: say which layer
            raise ValueError(f"{name}: input {tuple(x.shape)}: {err}") from None
        if not self.training:
            return out
        y, indices = out
        self._save(indices, tuple(x.shape), y.shape)
        return y

    @staticmethod
    def _index_dtype(x: Any) -> str:
        """int32 where it holds every position of a plane."""
        plane = 1
        for size in x.shape[2:]:
            plane *= int(size)
        return "int32" if plane < 2**31 else "int64"

    def backward(self, grad_out: Any) -> Any:
        indices, input_shape, y_shape = self._saved()
        check_array(type(self).__name__ + ".backward", "grad_out", grad_out, y_shape)
        return type(self)._backward_op(grad_out, indices, input_shape, **self._window())

    def extra_repr(self) -> str:
        return (f"kernel_size={self.kernel_size}, stride={self.stride}, padding={self.padding}, "
                f"dilation={self.dilation}, ceil_mode={self.ceil_mode}")


class MaxPool1d(_MaxPoolNd):
    """1-D max pooling over (N, C, T), as torch.nn.MaxPool1d; stride defaults to kernel_size."""

    _forward_op = staticmethod(ops.max_pool1d)
    _backward_op = staticmethod(ops.max_pool1d_backward)
    _input_axes = ("T",)

    def __init__(self, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1, *,
                 ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode, check_int)


class MaxPool2d(_MaxPoolNd):
    """2-D max pooling over (N, C, H, W), as torch.nn.MaxPool2d; each window argument an int or an
    (h, w) pair, stride defaults to kernel_size."""

    _forward_op = staticmethod(ops.max_pool2d)
    _backward_op = staticmethod(ops.max_pool2d_backward)
    _input_axes = ("H", "W")

    def __init__(self, kernel_size: Pair, stride: Pair | None = None, padding: Pair = 0, dilation: Pair = 1, *,
                 ceil_mode: bool = False) -> None:
        super().__init__(kernel_size, stride, padding, dilation, ceil_mode, check_pair)


__all__ = ["MaxPool1d", "MaxPool2d"]
