"""Conv1d and Conv2d layers on ictus' convolution kernels.

Conv1d maps x (N, C_in, T) to y (N, C_out, T_out) with weight (C_out, C_in, K) and bias (C_out,);
Conv2d maps x (N, C_in, H, W) to y (N, C_out, H_out, W_out) with weight (C_out, C_in, KH, KW).
Names, layouts and default initialisation are torch.nn's. Conv1d's ``padding="causal"`` pads
(K - 1) * dilation zero frames on the left only, so frame t sees frames <= t and (at stride 1) T
frames come out; the kernels pad inside the convolution, so no padded copy of x is ever made, and
the backward kernel takes the same padding, so no output frames need slicing off.
"""
from __future__ import annotations

import math
from collections.abc import Callable
from typing import Any

from .. import ops
from .checks import Pair, check_array, check_int, check_pair
from .module import Module, Parameter
from .random import uniform

# ------------------------------------------------------------------------- layers


class _ConvNd(Module):
    """What Conv1d and Conv2d share: parameters, init, forward/backward through the kernels.

    ``input_grad = False`` (an attribute, default True) suits a network's first layer, whose input
    is data: backward then skips the input gradient, as autograd does for inputs that need none
    (for the beat tracker's first 3x3 conv, more than half of its backward time), and returns None.
    """

    _forward_op: Callable[..., Any]
    _backward_op: Callable[..., Any]
    _input_axes: tuple[str, ...]
    input_grad: bool = True

    def __init__(self, in_channels: int, out_channels: int, kernel_size: tuple[int, ...], stride: Any,
                 padding: Any, dilation: Any, bias: bool) -> None:
        super().__init__()
        name = type(self).__name__
        self.in_channels = check_int(name, "in_channels", in_channels)
        self.out_channels = check_int(name, "out_channels", out_channels)
        self.kernel_size, self.stride, self.padding, self.dilation = kernel_size, stride, padding, dilation
        # torch's kaiming_uniform_(a=sqrt(5)) gives weight bound 1/sqrt(fan_in), as for the bias
        bound = 1.0 / math.sqrt(self.in_channels * math.prod(kernel_size))
        self.weight = Parameter(uniform((self.out_channels, self.in_channels, *kernel_size), bound))
        self.bias = Parameter(uniform((self.out_channels,), bound)) if bias else None

    def _geometry(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    def forward(self, x: Any, out: Any = None) -> Any:
        """y, written into ``out`` when given (a C-contiguous array of y's shape, e.g. a slice of a
        larger array that the caller would otherwise concatenate into)."""
        check_array(type(self).__name__, "x", x, ("N", self.in_channels, *self._input_axes))
        weight = self.weight.data
        bias = None if self.bias is None else self.bias.data
        try:
            y = type(self)._forward_op(x, weight, bias, **self._geometry(), out=out)
        except ValueError as err:  # the input is too short for the window: say which layer
            raise ValueError(f"{type(self).__name__}: input {tuple(x.shape)}: {err}") from None
        self._save(x, weight, y.shape)
        return y

    def backward(self, grad_out: Any) -> Any:
        x, weight, y_shape = self._saved()
        check_array(type(self).__name__ + ".backward", "grad_out", grad_out, y_shape)
        grad_x, grad_w, grad_b = type(self)._backward_op(grad_out, x, weight, bias=self.bias is not None,
                                                         input_grad=self.input_grad, **self._geometry())
        self.weight.accumulate(grad_w)
        if self.bias is not None:
            self.bias.accumulate(grad_b)
        return grad_x

    def extra_repr(self) -> str:
        return (f"{self.in_channels}, {self.out_channels}, kernel_size={self.kernel_size}, stride={self.stride}, "
                f"padding={self.padding!r}, dilation={self.dilation}, bias={self.bias is not None}")


class Conv1d(_ConvNd):
    """1-D convolution over (N, C_in, T), as torch.nn.Conv1d (groups 1, zero padding).

    ``padding``: an int (both sides), ``"valid"`` (none), ``"same"`` (T frames out; stride 1) or
    ``"causal"`` ((kernel_size - 1) * dilation frames on the left; T frames out at stride 1).
    """

    _forward_op = staticmethod(ops.conv1d)
    _backward_op = staticmethod(ops.conv1d_backward)
    _input_axes = ("T",)

    def __init__(self, in_channels: int, out_channels: int, kernel_size: int, stride: int = 1,
                 padding: int | str = 0, dilation: int = 1, bias: bool = True) -> None:
        kernel = check_int("Conv1d", "kernel_size", kernel_size)
        stride = check_int("Conv1d", "stride", stride)
        dilation = check_int("Conv1d", "dilation", dilation)
        padding = _check_padding("Conv1d", padding, ("valid", "same", "causal"), stride, check_int)
        super().__init__(in_channels, out_channels, (kernel,), stride, padding, dilation, bias)


class Conv2d(_ConvNd):
    """2-D convolution over (N, C_in, H, W), as torch.nn.Conv2d (groups 1, zero padding).

    ``kernel_size``, ``stride``, ``dilation``: an int or an (h, w) pair; ``padding``: an int or an
    (h, w) pair (each on both sides), ``"valid"`` or ``"same"`` (H x W out; stride 1).
    """

    _forward_op = staticmethod(ops.conv2d)
    _backward_op = staticmethod(ops.conv2d_backward)
    _input_axes = ("H", "W")

    def __init__(self, in_channels: int, out_channels: int, kernel_size: Pair, stride: Pair = 1,
                 padding: Pair | str = 0, dilation: Pair = 1, bias: bool = True) -> None:
        kernel = check_pair("Conv2d", "kernel_size", kernel_size)
        stride = check_pair("Conv2d", "stride", stride)
        dilation = check_pair("Conv2d", "dilation", dilation)
        padding = _check_padding("Conv2d", padding, ("valid", "same"), stride, check_pair)
        super().__init__(in_channels, out_channels, kernel, stride, padding, dilation, bias)


def _check_padding(layer: str, padding: Any, modes: tuple[str, ...], stride: Any,
                   check_number: Callable[..., Any]) -> Any:
    """A padding mode from ``modes`` or a number (or pair) of zeros >= 0; "same" only at stride 1."""
    if isinstance(padding, str):
        if padding not in modes:
            raise ValueError(f"{layer}: padding must be an int or one of {list(modes)}, got {padding!r}")
        if padding == "same" and stride not in (1, (1, 1)):
            raise ValueError(f"{layer}: padding='same' needs stride 1, got stride {stride}; pass explicit padding "
                             "for strided convolutions")
        return padding
    return check_number(layer, "padding", padding, 0)


__all__ = ["Conv1d", "Conv2d"]
