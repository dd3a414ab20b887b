"""The functional API: ops on NumPy arrays (CPU kernels) and CuPy arrays (CUDA kernels).

Arguments are checked by the compiled module; errors are TypeError or ValueError naming the op,
the argument and the fix.
"""
from __future__ import annotations

from typing import Any

import numpy as np

from . import _array, _core

Padding = int | tuple[int, int] | str
Size2 = int | tuple[int, int]


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
               ceil_mode: bool = False, return_indices: bool = False, index_dtype: Any = None,
               out: Any = None) -> Any:
    """2-D max pooling, exactly as ``torch.nn.functional.max_pool2d``.

    Args:
        x: (N, C, H, W) float32.
        kernel_size, stride (default: kernel_size), padding, dilation: an int for both axes or an
            (h, w) pair; padding (-inf, i.e. ignored) is at most half the kernel size.
        ceil_mode: round the output size up (a last window must start inside the input or the
            left padding), as torch.
        return_indices: also return the indices of the maxima, flat within each plane
            (row * W + column), as torch.
        index_dtype: the indices' dtype: int64 (torch's; the default) or int32, which halves the
            bytes the forward pass writes and the backward pass reads (planes of fewer than 2**31
            values). None: int64, or out's indices' dtype when given.
        out: optional y array, or a (y, indices) pair with ``return_indices``.

    Returns:
        y (N, C, H_out, W_out), or ``(y, indices)``. A value replaces the running maximum of its
        window when it is greater or NaN, in torch's scan order: the first of equal maxima wins
        and NaN propagates.
    """
    x = _array.native("max_pool2d", "x", x)
    return _core.max_pool2d(x, kernel_size, stride, padding, dilation, bool(ceil_mode), bool(return_indices),
                            _index_dtype("max_pool2d", index_dtype), out, _array.forced_isa(), _array.stream(x))


def max_pool1d(x: Any, kernel_size: int, stride: int | None = None, padding: int = 0, dilation: int = 1, *,
               ceil_mode: bool = False, return_indices: bool = False, index_dtype: Any = None,
               out: Any = None) -> Any:
    """1-D max pooling over (N, C, T), exactly as ``torch.nn.functional.max_pool1d``; arguments as
    :func:`max_pool2d` (ints or 1-tuples), indices are positions along T."""
    x = _array.native("max_pool1d", "x", x)
    return _core.max_pool1d(x, kernel_size, stride, padding, dilation, bool(ceil_mode), bool(return_indices),
                            _index_dtype("max_pool1d", index_dtype), out, _array.forced_isa(), _array.stream(x))


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
                                     _array.forced_isa(), _array.stream(grad_y))


def max_pool1d_backward(grad_y: Any, indices: Any, input_shape: tuple[int, int, int], *,
                        kernel_size: int | None = None, stride: int | None = None, padding: int = 0,
                        dilation: int = 1, out: Any = None) -> Any:
    """Gradient of :func:`max_pool1d`; arguments as :func:`max_pool2d_backward` for (N, C, T)."""
    grad_y = _array.native("max_pool1d_backward", "grad_y", grad_y)
    indices = _array.native("max_pool1d_backward", "indices", indices)
    return _core.max_pool1d_backward(grad_y, indices, input_shape, kernel_size, stride, padding, dilation, out,
                                     _array.forced_isa(), _array.stream(grad_y))


def _index_dtype(op: str, index_dtype: Any) -> str | None:
    """"int64", "int32" or None (unspecified), from anything np.dtype takes."""
    if index_dtype is None:
        return None
    try:
        name = np.dtype(index_dtype).name
    except TypeError:
        name = None
    if name not in ("int64", "int32"):
        raise ValueError(f"{op}: index_dtype must be int64 or int32 (np.int64, np.int32 or their names), "
                         f"got {index_dtype!r}")
    return name


def _lengths(op: str, lengths: Any) -> Any:
    """lengths as a contiguous int64 NumPy array (None stays None); non-integer values refused."""
    if lengths is None:
        return None
    if hasattr(lengths, "__cuda_array_interface__"):
        lengths = lengths.get()  # a few integers: the host copy is free next to the recurrence
    arr = np.asarray(lengths)
    if arr.dtype == np.bool_ or not np.issubdtype(arr.dtype, np.integer):
        raise TypeError(f"{op}: lengths must hold integers (one length per sequence), got dtype {arr.dtype}")
    return np.ascontiguousarray(arr, dtype=np.int64)


def gru(x: Any, h0: Any, weight_ih: Any, weight_hh: Any, bias_ih: Any = None, bias_hh: Any = None, *,
        reverse: bool = False, linear_before_reset: bool = True, training: bool = False,
        lengths: Any = None) -> tuple[Any, ...]:
    """One GRU layer over a whole sequence, time-major, with torch.nn.GRU's weight layout.

    Args:
        x: (T, N, D) float32.
        h0: (N, H) float32 initial state, or None for zeros.
        weight_ih: (3H, D), weight_hh: (3H, H) float32; gate rows in the order reset, update, new.
        bias_ih, bias_hh: (3H,) float32 or None.
        reverse: run each sequence from its last step to its first (the backward half of a
            bi-directional layer); y stays in time order.
        linear_before_reset: True: n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) (torch, cuDNN);
            False: n = tanh(W_in x + b_in + W_hn (r * h) + b_hn) (Keras reset_after=False, ONNX).
        training: also return the reserve that gru_backward needs.
        lengths: optional (N,) integers in [1, T]: sequence i has lengths[i] steps (as torch's packed
            sequences); past them its outputs are zero and its state is unchanged.

    Returns:
        (y, h_n) or, with training, (y, h_n, reserve): y (T, N, H), h_n (N, H), the state after each
        sequence's last step. NumPy arrays run on the CPU kernels, CuPy arrays on the CUDA
        kernels (lengths may be either; they are read on the host).
    """
    args = [_array.native("gru", name, a) for name, a in
            (("x", x), ("h0", h0), ("weight_ih", weight_ih), ("weight_hh", weight_hh), ("bias_ih", bias_ih),
             ("bias_hh", bias_hh))]
    return tuple(_core.gru(*args, bool(reverse), bool(linear_before_reset), bool(training),
                           _lengths("gru", lengths), _array.forced_isa(), _array.stream(args[0])))


def gru_backward(grad_y: Any, grad_h_n: Any, x: Any, h0: Any, weight_ih: Any, weight_hh: Any, reserve: Any, *,
                 reverse: bool = False, linear_before_reset: bool = True, bias: bool = True,
                 lengths: Any = None) -> tuple[Any, ...]:
    """Gradients of one GRU layer (see :func:`gru`; same arguments as its call with training=True).

    Args:
        grad_y: (T, N, H) gradient of y; grad_h_n: (N, H) gradient of h_n, or None for zeros.
        x, h0, weight_ih, weight_hh, reverse, linear_before_reset, lengths: as given to gru.
        reserve: what gru(..., training=True) returned.
        bias: whether to return the biases' gradients.

    Returns:
        (grad_x, grad_h0, grad_weight_ih, grad_weight_hh, grad_bias_ih, grad_bias_hh); the bias
        gradients are None when bias is False. grad_h0 is returned even when h0 was None.
    """
    args = [_array.native("gru_backward", name, a) for name, a in
            (("grad_y", grad_y), ("grad_h_n", grad_h_n), ("x", x), ("h0", h0), ("weight_ih", weight_ih),
             ("weight_hh", weight_hh), ("reserve", reserve))]
    return tuple(_core.gru_backward(*args, bool(reverse), bool(linear_before_reset), bool(bias),
                                    _lengths("gru_backward", lengths), _array.forced_isa(),
                                    _array.stream(args[2])))



def _is_real(value: Any) -> bool:
    return not isinstance(value, bool) and isinstance(value, (int, float, np.integer, np.floating))


def elu_alpha_supported(alpha: Any) -> bool:
    """Whether the ELU kernels take ``alpha``: a finite real >= 0 (the backward reads the output's sign)."""
    return _is_real(alpha) and 0 <= alpha < float("inf")


def elu_alpha(op: str, alpha: Any) -> float:
    """ELU's alpha as a float, refused unless :func:`elu_alpha_supported`."""
    if not _is_real(alpha):
        raise TypeError(f"{op}: alpha must be a real number >= 0, got {type(alpha).__name__} {alpha!r}")
    if not elu_alpha_supported(alpha):
        raise ValueError(f"{op}: alpha must be a finite number >= 0 (the gradient is computed from the output, "
                         f"whose sign must be the input's), got {alpha!r}")
    return float(alpha)


def _flat_out(op: str, out: Any, shape: tuple[int, ...]) -> Any:
    """``out`` (of ``shape``) viewed as one axis, or None."""
    if out is None:
        return None
    if tuple(getattr(out, "shape", ())) != tuple(shape):
        raise ValueError(f"{op}: out must have the input's shape {tuple(shape)}, got {tuple(getattr(out, 'shape', ()))}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: out must be C-contiguous (a reshaped copy would not receive the result)")
    return out.reshape(-1)


def elu(x: Any, alpha: float = 1.0, *, out: Any = None) -> Any:
    """ELU element-wise, as ``torch.nn.functional.elu``: x where x > 0, else alpha * (exp(x) - 1).

    Args:
        x: float32 array of any shape (NumPy: the CPU kernel; CuPy: the CUDA kernel).
        alpha: >= 0 (the backward pass reads the sign of the output).
        out: optional array of x's shape to write into; ``out=x`` works in place (x C-contiguous).

    Returns:
        y, x's shape.
    """
    in_place = out is x
    x = _array.native("elu", "x", x)
    if not hasattr(x, "reshape"):
        return _core.elu(x, elu_alpha("elu", alpha), None, None, 0)  # raises the TypeError that names the types
    flat_out = _flat_out("elu", out, x.shape)
    flat_x = flat_out if in_place else x.reshape(-1)
    y = _core.elu(flat_x, elu_alpha("elu", alpha), flat_out, _array.forced_isa(), _array.stream(x))
    return out if out is not None else y.reshape(x.shape)


def elu_backward(grad_y: Any, y: Any, alpha: float = 1.0, *, out: Any = None) -> Any:
    """Gradient of :func:`elu` from its output: grad_y where y > 0, else grad_y * (y + alpha)
    (= grad_y * alpha * exp(x)); NaN propagates as in torch."""
    grad_y, y = _array.native("elu_backward", "grad_y", grad_y), _array.native("elu_backward", "y", y)
    if not (hasattr(grad_y, "reshape") and hasattr(y, "reshape")):
        # Flattened arrays pass the binding's rank check, so its TypeError names the argument that is no array.
        grad_y, y = (a.reshape(-1) if hasattr(a, "reshape") else a for a in (grad_y, y))
        return _core.elu_backward(grad_y, y, elu_alpha("elu_backward", alpha), None, None, 0)
    if tuple(grad_y.shape) != tuple(y.shape):
        raise ValueError(f"elu_backward: y must have grad_y's shape {tuple(grad_y.shape)}, got {tuple(y.shape)}")
    grad_x = _core.elu_backward(grad_y.reshape(-1), y.reshape(-1), elu_alpha("elu_backward", alpha),
                                _flat_out("elu_backward", out, grad_y.shape), _array.forced_isa(),
                                _array.stream(grad_y))
    return out if out is not None else grad_x.reshape(grad_y.shape)


def dropout(x: Any, p: float, seed: int, *, out: Any = None) -> Any:
    """Inverted dropout with counter-based random bits: x * keep / (1 - p), each element kept with
    probability 1 - p (p rounded to a multiple of 2^-32), the same elements for the same seed on
    the CPU and on a GPU. The bits are a hash of (seed, element index), so nothing is stored: the
    backward pass is this call on grad_y with the same seed. A dropped NaN or infinity gives NaN,
    as in torch (it multiplies by 0).

    Args:
        x: float32 array of any shape (NumPy: the CPU kernel; CuPy: the CUDA kernel).
        p: probability of dropping an element, in [0, 1).
        seed: int in [0, 2^64); ``ictus.nn.Dropout`` draws one per forward pass.
        out: optional array of x's shape to write into (not x itself).

    Returns:
        y, x's shape.
    """
    if not _is_real(p) or not 0 <= p < 1:
        raise ValueError(f"dropout: p must be a probability in [0, 1), got {p!r}")
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= seed < 2 ** 64:
        raise ValueError(f"dropout: seed must be an int in [0, 2**64), got {seed!r}")
    x = _array.native("dropout", "x", x)
    if not hasattr(x, "reshape"):
        return _core.dropout(x, float(p), int(seed), None, None, 0)  # raises the TypeError that names the types
    y = _core.dropout(x.reshape(-1), float(p), int(seed), _flat_out("dropout", out, x.shape), _array.forced_isa(),
                      _array.stream(x))
    return out if out is not None else y.reshape(x.shape)
