"""The functional API: ops on NumPy arrays (CPU kernels) and CuPy arrays (CUDA kernels).

Arguments are checked by the compiled module; errors are TypeError or ValueError naming the op,
the argument and the fix.
"""
from __future__ import annotations

from typing import Any, Union

from . import _array, _core

Padding = Union[int, tuple[int, int], str]
Size2 = Union[int, tuple[int, int]]


def conv1d_output_length(length: int, kernel_size: int, *, stride: int = 1, padding: Padding = 0,
                         dilation: int = 1) -> int:
    """Frames of output that :func:`conv1d` gives for ``length`` input frames.

    ``(length + left + right - dilation * (kernel_size - 1) - 1) // stride + 1`` with the
    ``(left, right)`` padding that ``padding`` stands for.
    """
    return int(_core.conv1d_output_length(length, kernel_size, stride, padding, dilation))


def conv1d(x: Any, weight: Any, bias: Any = None, *, stride: int = 1, padding: Padding = 0,
           dilation: int = 1, out: Any = None) -> Any:
    """1-D convolution (cross-correlation), exactly as ``torch.nn.functional.conv1d``.

    Args:
        x: (N, C_in, T) float32.
        weight: (C_out, C_in, K) float32.
        bias: (C_out,) float32 or None.
        stride, dilation: ints >= 1.
        padding: an int (both sides), a ``(left, right)`` pair, ``"valid"`` (none), ``"same"``
            (left = span // 2, right = span - left with span = dilation * (K - 1): T frames out;
            stride 1 only) or ``"causal"`` (left = span, right = 0).
        out: optional (N, C_out, T_out) float32 array to write into (reuse it on hot paths).

    Returns:
        y: (N, C_out, T_out), T_out = (T + left + right - dilation * (K - 1) - 1) // stride + 1;
        a NumPy array for CPU inputs, a CuPy array for CuPy inputs.
    """
    x = _array.native("conv1d", "x", x)
    weight = _array.native("conv1d", "weight", weight)
    bias = _array.native("conv1d", "bias", bias)
    return _core.conv1d(x, weight, bias, out, stride, padding, dilation, _array.forced_isa(), _array.stream(x))


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
    grad_y = _array.native("conv1d_backward", "grad_y", grad_y)
    x = _array.native("conv1d_backward", "x", x)
    weight = _array.native("conv1d_backward", "weight", weight)
    return _core.conv1d_backward(grad_y, x, weight, stride, padding, dilation, bool(bias), bool(input_grad), out,
                                 _array.forced_isa(), _array.stream(x))


def conv2d_output_size(size: Size2, kernel_size: Size2, *, stride: Size2 = 1, padding: Size2 | str = 0,
                       dilation: Size2 = 1) -> tuple[int, int]:
    """(H_out, W_out) that :func:`conv2d` gives for an input of ``size`` = (H, W)."""
    h, w = _core.conv2d_output_size(size, kernel_size, stride, padding, dilation)
    return int(h), int(w)


def conv2d(x: Any, weight: Any, bias: Any = None, *, stride: Size2 = 1, padding: Size2 | str = 0,
           dilation: Size2 = 1, out: Any = None) -> Any:
    """2-D convolution (cross-correlation), exactly as ``torch.nn.functional.conv2d``.

    Args:
        x: (N, C_in, H, W) float32; for spectrograms H is time and W frequency.
        weight: (C_out, C_in, KH, KW) float32.
        bias: (C_out,) float32 or None.
        stride, dilation: an int >= 1 for both axes, or an (h, w) pair.
        padding: an int for both axes, an (h, w) pair (each padded on both sides), ``"valid"``
            (none) or ``"same"`` (per axis left = span // 2, right = span - left with span =
            dilation * (K - 1): H x W out; stride 1 only).
        out: optional (N, C_out, H_out, W_out) float32 array to write into.

    Returns:
        y: (N, C_out, H_out, W_out) with, per axis, out = (in + pads - dilation * (K - 1) - 1)
        // stride + 1; a NumPy array for CPU inputs, a CuPy array for CuPy inputs.
    """
    x = _array.native("conv2d", "x", x)
    weight = _array.native("conv2d", "weight", weight)
    bias = _array.native("conv2d", "bias", bias)
    return _core.conv2d(x, weight, bias, out, stride, padding, dilation, _array.forced_isa(), _array.stream(x))


def conv2d_backward(grad_y: Any, x: Any, weight: Any, *, stride: Size2 = 1, padding: Size2 | str = 0,
                    dilation: Size2 = 1, bias: bool = True, input_grad: bool = True,
                    out: tuple[Any, Any, Any] | None = None) -> tuple[Any, Any, Any]:
    """Gradients of :func:`conv2d` given the gradient of its output.

    Args:
        grad_y: (N, C_out, H_out, W_out) float32.
        x, weight, stride, padding, dilation: as given to :func:`conv2d`.
        bias: whether the forward pass had a bias (to compute its gradient).
        input_grad: whether to compute grad_x (False for a network's first layer).
        out: optional ``(grad_x, grad_weight, grad_bias)`` arrays to write into; None entries
            are allocated.

    Returns:
        ``(grad_x, grad_weight, grad_bias)``: (N, C_in, H, W), (C_out, C_in, KH, KW) and
        (C_out,); grad_x is None when ``input_grad=False``, grad_bias is None when ``bias=False``.
    """
    grad_y = _array.native("conv2d_backward", "grad_y", grad_y)
    x = _array.native("conv2d_backward", "x", x)
    weight = _array.native("conv2d_backward", "weight", weight)
    return _core.conv2d_backward(grad_y, x, weight, stride, padding, dilation, bool(bias), bool(input_grad), out,
                                 _array.forced_isa(), _array.stream(x))
