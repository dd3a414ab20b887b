"""The functional API: ops on NumPy arrays (CPU kernels) and CuPy arrays (CUDA kernels).

Arguments are checked by the compiled module; errors are TypeError or ValueError naming the op,
the argument and the fix.
"""
from __future__ import annotations

from typing import Any, Union

from . import _array, _core

Padding = Union[int, tuple[int, int], str]


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
