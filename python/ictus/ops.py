"""The functional API: ops on NumPy arrays (CPU kernels) and CuPy arrays (CUDA kernels)."""
from __future__ import annotations

import operator
from typing import Any, Union

import numpy as np

from . import _array, _core

Padding = Union[int, tuple[int, int], str]

_MAX_ELEMENTS = 2**62 // 4  # outputs larger than this overflow a 64-bit byte count


def _positive_int(op: str, name: str, value: Any) -> int:
    if isinstance(value, bool) or not hasattr(value, "__index__"):
        raise TypeError(f"{op}: {name} must be an int, got {type(value).__name__} {value!r}")
    value = operator.index(value)
    if value < 1:
        raise ValueError(f"{op}: {name} must be >= 1, got {value}")
    return value


def _conv1d_padding(op: str, padding: Any, kernel_size: int, stride: int, dilation: int) -> tuple[int, int]:
    span = dilation * (kernel_size - 1)
    if isinstance(padding, str):
        if padding == "valid":
            return 0, 0
        if padding == "same":
            if stride != 1:
                raise ValueError(f"{op}: padding='same' needs stride=1 (got stride={stride}); "
                                 "pass explicit (left, right) padding for strided convolutions")
            return span // 2, span - span // 2
        if padding == "causal":
            return span, 0
        raise ValueError(f"{op}: unknown padding {padding!r}; use an int, a (left, right) pair, "
                         "'valid', 'same' or 'causal'")
    if isinstance(padding, (tuple, list)):
        if len(padding) != 2:
            raise ValueError(f"{op}: padding pair must be (left, right), got {padding!r}")
        pads = tuple(padding)
    else:
        pads = (padding, padding)
    result = []
    for p in pads:
        if isinstance(p, bool) or not hasattr(p, "__index__"):
            raise TypeError(f"{op}: padding must be an int, a (left, right) pair of ints or a string, "
                            f"got {padding!r}")
        p = operator.index(p)
        if p < 0:
            raise ValueError(f"{op}: padding must be >= 0, got {padding!r}")
        result.append(p)
    return result[0], result[1]


def _conv1d_geometry(op: str, x_shape: tuple[int, ...], w_shape: tuple[int, ...], stride: Any,
                     padding: Any, dilation: Any) -> tuple[int, int, int, int]:
    """Checks the hyper-parameters against the shapes; returns (stride, dilation, left, right)."""
    stride = _positive_int(op, "stride", stride)
    dilation = _positive_int(op, "dilation", dilation)
    n, c_in, t_in = x_shape
    c_out, w_c_in, k = w_shape
    if w_c_in != c_in:
        raise ValueError(f"{op}: weight has {w_c_in} input channels (weight.shape[1]) but x has {c_in} "
                         f"(x.shape[1]); weight must be (C_out, C_in, K) = ({c_out}, {c_in}, {k})")
    left, right = _conv1d_padding(op, padding, k, stride, dilation)
    span = dilation * (k - 1) + 1
    if t_in + left + right < span:
        raise ValueError(f"{op}: the kernel spans {span} frames (dilation * (K - 1) + 1) but the padded input "
                         f"has {t_in + left + right} (T={t_in} + padding {left}+{right}); "
                         "pad more, or use a smaller dilation or kernel")
    t_out = (t_in + left + right - span) // stride + 1
    for what, count in (("output", n * c_out * t_out), ("padded input", n * c_in * (t_in + left + right))):
        if count > _MAX_ELEMENTS:
            raise ValueError(f"{op}: the {what} would have {count} elements, which overflows a 64-bit "
                             "byte count; reduce the padding or the sizes")
    return stride, dilation, left, right


def conv1d_output_length(length: int, kernel_size: int, *, stride: int = 1, padding: Padding = 0,
                         dilation: int = 1) -> int:
    """Frames of output that :func:`conv1d` gives for ``length`` input frames."""
    stride, dilation, left, right = _conv1d_geometry(
        "conv1d_output_length", (1, 1, length), (1, 1, kernel_size), stride, padding, dilation)
    return (length + left + right - dilation * (kernel_size - 1) - 1) // stride + 1


def conv1d(x: Any, weight: Any, bias: Any = None, *, stride: int = 1, padding: Padding = 0,
           dilation: int = 1, out: Any = None) -> Any:
    """1-D convolution (cross-correlation), exactly as ``torch.nn.functional.conv1d``.

    Args:
        x: (N, C_in, T) float32.
        weight: (C_out, C_in, K) float32.
        bias: (C_out,) float32 or None.
        stride, dilation: ints >= 1.
        padding: an int (both sides), a ``(left, right)`` pair, ``"valid"`` (none), ``"same"``
            (left = span // 2, right = span - left with span = dilation * (K - 1): T frames out at
            stride 1) or ``"causal"`` (left = span, right = 0).
        out: optional (N, C_out, T_out) float32 array to write into (reuse it on hot paths).

    Returns:
        y: (N, C_out, T_out), T_out = (T + left + right - dilation * (K - 1) - 1) // stride + 1;
        a NumPy array for CPU inputs, a CuPy array for CuPy inputs.
    """
    op = "conv1d"
    place, a = _array.prepare(op, {
        "x": (x, 3, "(N, C_in, T)"), "weight": (weight, 3, "(C_out, C_in, K)"), "bias": (bias, 1, "(C_out,)")})
    x, weight, bias = a["x"], a["weight"], a["bias"]
    stride, dilation, left, right = _conv1d_geometry(op, x.shape, weight.shape, stride, padding, dilation)
    if bias is not None and bias.shape[0] != weight.shape[0]:
        raise ValueError(f"{op}: bias has {bias.shape[0]} elements but weight has {weight.shape[0]} output "
                         "channels (weight.shape[0]); bias must be (C_out,)")
    t_out = (x.shape[2] + left + right - dilation * (weight.shape[2] - 1) - 1) // stride + 1
    y = _array.output(op, "out", out, (x.shape[0], weight.shape[0], t_out), place, (x, weight, bias))
    if place.device == "cpu":
        _core.conv1d_forward(x, weight, bias, y, stride, dilation, left, right, _array.forced_isa())
    else:
        from . import cuda

        cuda._conv1d_forward(x, weight, bias, y, stride, dilation, left, right, place.index)
    return y


def conv1d_backward(grad_y: Any, x: Any, weight: Any, *, stride: int = 1, padding: Padding = 0,
                    dilation: int = 1, bias: bool = True, input_grad: bool = True,
                    out: tuple[Any, Any, Any] | None = None) -> tuple[Any, Any, Any]:
    """Gradients of :func:`conv1d` given the gradient of its output.

    Args:
        grad_y: (N, C_out, T_out) float32, the gradient of the loss with respect to y.
        x, weight, stride, padding, dilation: as given to :func:`conv1d`.
        bias: whether the forward pass had a bias (to compute its gradient).
        input_grad: whether to compute grad_x (False for a network's first layer saves a third).
        out: optional ``(grad_x, grad_weight, grad_bias)`` arrays to write into; None entries
            are allocated.

    Returns:
        ``(grad_x, grad_weight, grad_bias)``: (N, C_in, T), (C_out, C_in, K) and (C_out,);
        grad_x is None when ``input_grad=False``, grad_bias is None when ``bias=False``.
    """
    op = "conv1d_backward"
    place, a = _array.prepare(op, {
        "grad_y": (grad_y, 3, "(N, C_out, T_out)"), "x": (x, 3, "(N, C_in, T)"),
        "weight": (weight, 3, "(C_out, C_in, K)")})
    grad_y, x, weight = a["grad_y"], a["x"], a["weight"]
    stride, dilation, left, right = _conv1d_geometry(op, x.shape, weight.shape, stride, padding, dilation)
    t_out = (x.shape[2] + left + right - dilation * (weight.shape[2] - 1) - 1) // stride + 1
    expected = (x.shape[0], weight.shape[0], t_out)
    if tuple(grad_y.shape) != expected:
        raise ValueError(f"{op}: grad_y must have the forward output's shape {expected} "
                         f"(N, C_out, T_out), got {tuple(grad_y.shape)}")
    if out is None:
        out = (None, None, None)
    elif not (isinstance(out, (tuple, list)) and len(out) == 3):
        raise TypeError(f"{op}: out must be a (grad_x, grad_weight, grad_bias) tuple")
    inputs = (grad_y, x, weight)
    gx = _array.output(op, "out[0]", out[0], x.shape, place, inputs) if input_grad else None
    gw = _array.output(op, "out[1]", out[1], weight.shape, place, inputs + (gx,))
    gb = _array.output(op, "out[2]", out[2], (weight.shape[0],), place, inputs + (gx, gw)) if bias else None
    if place.device == "cpu":
        _core.conv1d_backward(grad_y, x, weight, gx, gw, gb, stride, dilation, left, right, _array.forced_isa())
    else:
        from . import cuda

        cuda._conv1d_backward(grad_y, x, weight, gx, gw, gb, stride, dilation, left, right, place.index)
    return gx, gw, gb
