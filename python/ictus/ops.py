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


def max_pool2d(x: Any, kernel_size: Size2, stride: Size2 | None = None, padding: Size2 = 0, dilation: Size2 = 1, *,
               ceil_mode: bool = False, return_indices: bool = False, out: Any = None) -> Any:
    """2-D max pooling, exactly as ``torch.nn.functional.max_pool2d``.

    Args:
        x: (N, C, H, W) float32.
        kernel_size, stride (default: kernel_size), padding, dilation: an int for both axes or an
            (h, w) pair; padding (-inf, i.e. ignored) is at most half the kernel size.
        ceil_mode: round the output size up (a last window must start inside the input or the
            left padding), as torch.
        return_indices: also return the int64 indices of the maxima, flat within each plane
            (row * W + column), as torch.
        out: optional y array, or a (y, indices) pair with ``return_indices``.

    Returns:
        y (N, C, H_out, W_out), or ``(y, indices)``. A value replaces the running maximum of its
        window when it is greater or NaN, in torch's scan order: the first of equal maxima wins
        and NaN propagates.
    """
    x = _array.native("max_pool2d", "x", x)
    return _core.max_pool2d(x, kernel_size, stride, padding, dilation, bool(ceil_mode), bool(return_indices), out,
                            _array.forced_isa(), _array.stream(x))


def max_pool1d(x: Any, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1, *,
               ceil_mode: bool = False, return_indices: bool = False, out: Any = None) -> Any:
    """1-D max pooling over (N, C, T), exactly as ``torch.nn.functional.max_pool1d``; arguments as
    :func:`max_pool2d` (ints or 1-tuples), indices are positions along T."""
    x = _array.native("max_pool1d", "x", x)
    return _core.max_pool1d(x, kernel_size, stride, padding, dilation, bool(ceil_mode), bool(return_indices), out,
                            _array.forced_isa(), _array.stream(x))


def max_pool2d_backward(grad_y: Any, indices: Any, input_shape: tuple[int, int, int, int], *,
                        kernel_size: Size2 | None = None, stride: Size2 | None = None, padding: Size2 = 0,
                        dilation: Size2 = 1, out: Any = None) -> Any:
    """Gradient of :func:`max_pool2d`: grad_x (``input_shape``) with each grad_y value added at its
    index (several when windows overlap), deterministically.

    Args:
        grad_y: (N, C, H_out, W_out) float32.
        indices: the int64 indices that ``max_pool2d(..., return_indices=True)`` returned.
        input_shape: the forward input's shape (N, C, H, W).
        kernel_size, stride, padding, dilation: the forward call's window; optional on the CPU,
            needed for CuPy arrays (the GPU gathers window by window). When given, grad_y's shape
            is checked against them.
        out: optional grad_x array to write into.
    """
    grad_y = _array.native("max_pool2d_backward", "grad_y", grad_y)
    indices = _array.native("max_pool2d_backward", "indices", indices)
    return _core.max_pool2d_backward(grad_y, indices, input_shape, kernel_size, stride, padding, dilation, out,
                                     _array.stream(grad_y))


def max_pool1d_backward(grad_y: Any, indices: Any, input_shape: tuple[int, int, int], *,
                        kernel_size: int | None = None, stride: int | None = None, padding: int = 0,
                        dilation: int = 1, out: Any = None) -> Any:
    """Gradient of :func:`max_pool1d`; arguments as :func:`max_pool2d_backward` for (N, C, T)."""
    grad_y = _array.native("max_pool1d_backward", "grad_y", grad_y)
    indices = _array.native("max_pool1d_backward", "indices", indices)
    return _core.max_pool1d_backward(grad_y, indices, input_shape, kernel_size, stride, padding, dilation, out,
                                     _array.stream(grad_y))
