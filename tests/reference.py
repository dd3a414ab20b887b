"""Plain float64 NumPy references for the ictus ops, and the comparison helper the tests share.

Everything here is written straight from the definitions, for a reader to check by eye; speed
only matters as far as the test suite's runtime. Shapes: x (N, C_in, T), weight (C_out, C_in, K),
y (N, C_out, T_out). Output frame t reads padded-input frame t*stride + k*dilation through tap k,
where the padded input is x with `left` zeros before and `right` zeros after each row.

    T_out = (T + left + right - dilation * (K - 1) - 1) // stride + 1

conv2d is the same along each of its two axes: x (N, C_in, H, W), weight (C_out, C_in, KH, KW),
y (N, C_out, H_out, W_out), H_out and W_out as T_out with that axis' stride, padding and dilation.

The references are proven by finite-difference checks in test_conv1d.py and test_conv2d.py (and
compared with torch.autograd when torch is installed); the kernels are then checked against them.
"""
from __future__ import annotations

from typing import Any

import numpy as np


def conv1d_padding(padding: Any, kernel_size: int, stride: int, dilation: int) -> tuple[int, int]:
    """(left, right) zero padding for ictus' `padding` argument, from its documented meaning."""
    span = dilation * (kernel_size - 1)
    if padding == "valid":
        return 0, 0
    if padding == "same":
        assert stride == 1, "'same' padding is only defined for stride 1"
        return span // 2, span - span // 2
    if padding == "causal":
        return span, 0
    if isinstance(padding, (tuple, list)):
        return int(padding[0]), int(padding[1])
    return int(padding), int(padding)


def conv1d_out_length(length: int, kernel_size: int, stride: int, left: int, right: int, dilation: int) -> int:
    return (length + left + right - dilation * (kernel_size - 1) - 1) // stride + 1


def _padded(x: np.ndarray, left: int, right: int) -> np.ndarray:
    n, c, t = x.shape
    xp = np.zeros((n, c, left + t + right), dtype=np.float64)
    xp[:, :, left:left + t] = x
    return xp


def _tap_frames(k: int, dilation: int, stride: int, t_out: int) -> slice:
    """The padded-input frames that tap k reads for output frames 0 .. t_out-1."""
    start = k * dilation
    return slice(start, start + stride * (t_out - 1) + 1, stride)


def conv1d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *, stride: int = 1,
                   left: int = 0, right: int = 0, dilation: int = 1) -> np.ndarray:
    """y[n, o, t] = bias[o] + sum_c sum_k weight[o, c, k] * xpad[n, c, t*stride + k*dilation], in float64."""
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    n, c_in, t_in = x.shape
    c_out, w_c_in, kernel_size = weight.shape
    assert w_c_in == c_in
    t_out = conv1d_out_length(t_in, kernel_size, stride, left, right, dilation)
    assert t_out >= 1, "the kernel does not fit into the padded input"
    xp = _padded(x, left, right)
    y = np.zeros((n, c_out, t_out), dtype=np.float64)
    for k in range(kernel_size):
        frames = xp[:, :, _tap_frames(k, dilation, stride, t_out)]  # (N, C_in, T_out)
        assert frames.shape[2] == t_out
        y += np.matmul(weight[:, :, k], frames)  # (C_out, C_in) @ (N, C_in, T_out)
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)[None, :, None]
    return y


def conv1d_backward(grad_y: np.ndarray, x: np.ndarray, weight: np.ndarray, *, stride: int = 1, left: int = 0,
                    right: int = 0, dilation: int = 1) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_x, grad_weight, grad_bias) of L = sum(grad_y * y), from the forward definition:

    grad_weight[o, c, k] = sum_n sum_t grad_y[n, o, t] * xpad[n, c, t*stride + k*dilation]
    grad_xpad[n, c, t*stride + k*dilation] += sum_o weight[o, c, k] * grad_y[n, o, t]
    grad_x = grad_xpad without its padding frames;  grad_bias[o] = sum_n sum_t grad_y[n, o, t]
    """
    grad_y = np.asarray(grad_y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    n, c_in, t_in = x.shape
    c_out, _, kernel_size = weight.shape
    t_out = conv1d_out_length(t_in, kernel_size, stride, left, right, dilation)
    assert grad_y.shape == (n, c_out, t_out)
    xp = _padded(x, left, right)
    grad_xp = np.zeros_like(xp)
    grad_w = np.zeros((c_out, c_in, kernel_size), dtype=np.float64)
    for k in range(kernel_size):
        frames = _tap_frames(k, dilation, stride, t_out)
        # sum over n and t of grad_y[n, o, t] * xpad[n, c, frame(t)]
        grad_w[:, :, k] = np.einsum("not,nct->oc", grad_y, xp[:, :, frames])
        # each output frame reads one frame per tap, and frames of one tap are distinct, so += is safe
        grad_xp[:, :, frames] += np.matmul(weight[:, :, k].T, grad_y)  # (C_in, C_out) @ (N, C_out, T_out)
    grad_x = grad_xp[:, :, left:left + t_in].copy()
    grad_b = grad_y.sum(axis=(0, 2))
    return grad_x, grad_w, grad_b


# ------------------------------------------------------------------------------------ conv2d
#
# Shapes: x (N, C_in, H, W), weight (C_out, C_in, KH, KW), y (N, C_out, H_out, W_out). Along each
# axis separately, exactly as conv1d: output position t reads padded-input position
# t*stride + k*dilation through tap k, where the padded input has `top`/`bottom` zero rows and
# `left`/`right` zero columns. Pairs below are (height, width).


def conv2d_padding(padding: Any, kernel_size: tuple[int, int], stride: tuple[int, int],
                   dilation: tuple[int, int]) -> tuple[tuple[int, int], tuple[int, int]]:
    """((top, bottom), (left, right)) zero padding for ictus' conv2d `padding` argument.

    An int pads both axes on both sides; an (h, w) pair pads rows by h and columns by w, each on
    both sides (torch's meaning, not conv1d's (left, right)); 'same' is conv1d's 'same' per axis.
    """
    if padding == "valid":
        return (0, 0), (0, 0)
    if padding == "same":
        assert stride == (1, 1), "'same' padding is only defined for stride 1"
        spans = [d * (k - 1) for d, k in zip(dilation, kernel_size)]
        return (spans[0] // 2, spans[0] - spans[0] // 2), (spans[1] // 2, spans[1] - spans[1] // 2)
    assert not isinstance(padding, str), f"conv2d has no padding mode {padding!r}"
    ph, pw = (int(padding[0]), int(padding[1])) if isinstance(padding, (tuple, list)) else (int(padding),) * 2
    return (ph, ph), (pw, pw)


def conv2d_out_size(size: tuple[int, int], kernel_size: tuple[int, int], stride: tuple[int, int],
                    pads: tuple[tuple[int, int], tuple[int, int]], dilation: tuple[int, int]) -> tuple[int, int]:
    """(H_out, W_out): conv1d_out_length along each axis."""
    return tuple(conv1d_out_length(size[i], kernel_size[i], stride[i], pads[i][0], pads[i][1], dilation[i])
                 for i in range(2))  # type: ignore[return-value]


def _padded2d(x: np.ndarray, pads: tuple[tuple[int, int], tuple[int, int]]) -> np.ndarray:
    (top, bottom), (left, right) = pads
    n, c, h, w = x.shape
    xp = np.zeros((n, c, top + h + bottom, left + w + right), dtype=np.float64)
    xp[:, :, top:top + h, left:left + w] = x
    return xp


def conv2d_forward(x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, *,
                   stride: tuple[int, int] = (1, 1), pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
                   dilation: tuple[int, int] = (1, 1)) -> np.ndarray:
    """y[n, o, i, j] = bias[o] + sum_c sum_kh sum_kw weight[o, c, kh, kw]
                                  * xpad[n, c, i*stride_h + kh*dilation_h, j*stride_w + kw*dilation_w]

    in float64; `pads` = ((top, bottom), (left, right)).
    """
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    n, c_in, h_in, w_in = x.shape
    c_out, w_c_in, kh_size, kw_size = weight.shape
    assert w_c_in == c_in
    h_out, w_out = conv2d_out_size((h_in, w_in), (kh_size, kw_size), stride, pads, dilation)
    assert h_out >= 1 and w_out >= 1, "the kernel does not fit into the padded input"
    xp = _padded2d(x, pads)
    y = np.zeros((n, c_out, h_out, w_out), dtype=np.float64)
    for kh in range(kh_size):
        rows = _tap_frames(kh, dilation[0], stride[0], h_out)
        for kw in range(kw_size):
            cols = _tap_frames(kw, dilation[1], stride[1], w_out)
            window = xp[:, :, rows, cols]  # (N, C_in, H_out, W_out): what tap (kh, kw) reads
            assert window.shape[2:] == (h_out, w_out)
            # sum over c of weight[o, c, kh, kw] * window[n, c, i, j]
            y += np.tensordot(window, weight[:, :, kh, kw], axes=([1], [1])).transpose(0, 3, 1, 2)
    if bias is not None:
        y += np.asarray(bias, dtype=np.float64)[None, :, None, None]
    return y


def conv2d_backward(grad_y: np.ndarray, x: np.ndarray, weight: np.ndarray, *, stride: tuple[int, int] = (1, 1),
                    pads: tuple[tuple[int, int], tuple[int, int]] = ((0, 0), (0, 0)),
                    dilation: tuple[int, int] = (1, 1)) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(grad_x, grad_weight, grad_bias) of L = sum(grad_y * y), from the forward definition:

    grad_weight[o, c, kh, kw] = sum_n sum_i sum_j grad_y[n, o, i, j] * xpad[n, c, row(i, kh), col(j, kw)]
    grad_xpad[n, c, row(i, kh), col(j, kw)] += sum_o weight[o, c, kh, kw] * grad_y[n, o, i, j]
    grad_x = grad_xpad without its padding;  grad_bias[o] = sum_n sum_i sum_j grad_y[n, o, i, j]
    with row(i, kh) = i*stride_h + kh*dilation_h and col(j, kw) = j*stride_w + kw*dilation_w.
    """
    grad_y = np.asarray(grad_y, dtype=np.float64)
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    n, c_in, h_in, w_in = x.shape
    c_out, _, kh_size, kw_size = weight.shape
    h_out, w_out = conv2d_out_size((h_in, w_in), (kh_size, kw_size), stride, pads, dilation)
    assert grad_y.shape == (n, c_out, h_out, w_out)
    xp = _padded2d(x, pads)
    grad_xp = np.zeros_like(xp)
    grad_w = np.zeros((c_out, c_in, kh_size, kw_size), dtype=np.float64)
    for kh in range(kh_size):
        rows = _tap_frames(kh, dilation[0], stride[0], h_out)
        for kw in range(kw_size):
            cols = _tap_frames(kw, dilation[1], stride[1], w_out)
            # sum over n, i, j of grad_y[n, o, i, j] * xpad[n, c, row, col]
            grad_w[:, :, kh, kw] = np.tensordot(grad_y, xp[:, :, rows, cols], axes=([0, 2, 3], [0, 2, 3]))
            # one tap reads distinct positions for distinct (i, j), so += on the strided view is safe
            grad_xp[:, :, rows, cols] += np.tensordot(grad_y, weight[:, :, kh, kw],
                                                      axes=([1], [0])).transpose(0, 3, 1, 2)
    (top, _), (left, _) = pads
    grad_x = grad_xp[:, :, top:top + h_in, left:left + w_in].copy()
    grad_b = grad_y.sum(axis=(0, 2, 3))
    return grad_x, grad_w, grad_b


def _first_mismatch(got: np.ndarray, ref: np.ndarray, rtol: float, atol: float) -> str:
    bad = ~(np.abs(got - ref) <= atol + rtol * np.abs(ref))  # NaN in got counts as bad
    if not bad.any():
        worst = np.unravel_index(int(np.argmax(np.abs(got - ref))), ref.shape)
        worst = tuple(int(i) for i in worst)
        return (f"no single element over atol + rtol*|ref|; largest error at {worst}: "
                f"got {float(got[worst])!r}, ref {float(ref[worst])!r}")
    idx = tuple(int(i) for i in np.argwhere(bad)[0])
    return (f"first mismatch at index {idx}: got {float(got[idx])!r}, ref {float(ref[idx])!r} "
            f"({int(bad.sum())} of {bad.size} elements off by more than {atol:.3g} + {rtol:.3g}*|ref|)")


def fp32_rounding_allowance(abs_ref: Any, terms: int) -> float:
    """A norm that float32 rounding may add to a result whose elements are sums of `terms` products,
    given `abs_ref`, the same sums of the products' absolute values: 4 sqrt(terms) u ||abs_ref||
    with u = 2**-24 (the probabilistic bound of Higham and Mary, 2019). It matters only where
    cancellation leaves a result far smaller than its terms (one grad_weight element summing 78
    products of about 1 to 0.04); a missing or doubled term is far larger."""
    return 4.0 * float(np.sqrt(max(terms, 1))) * 2.0**-24 * float(np.linalg.norm(np.ravel(abs_ref)))


def conv_rounding_allowances(w_shape: tuple[int, ...], y_shape: tuple[int, ...], y_abs: Any,
                             grads_abs: tuple[Any, Any, Any]) -> tuple[float, list[float]]:
    """fp32_rounding_allowance for a convolution's y and its (grad_x, grad_weight, grad_bias), given
    the same results computed from the inputs' absolute values (sums of |terms| per output)."""
    c_out, c_in = w_shape[0], w_shape[1]
    taps = int(np.prod(w_shape[2:]))
    positions = int(np.prod(y_shape)) // c_out
    return (fp32_rounding_allowance(y_abs, c_in * taps + 1),
            [fp32_rounding_allowance(a, t) for a, t in zip(grads_abs, (c_out * taps, positions, positions), strict=True)])


def assert_elementwise(got: np.ndarray, ref: np.ndarray, what: str, rtol: float, atol: float = 0.0) -> None:
    """Asserts |got - ref| <= atol + rtol |ref| element by element (an element-wise op has no sums
    to excuse norm-wise slack), NaN where ref is NaN and ref's infinities exactly; names the first
    element off."""
    with np.errstate(invalid="ignore"):  # inf - inf: judged by the equality below
        ok = np.abs(got.astype(np.float64) - ref) <= rtol * np.abs(ref) + atol
    ok |= np.isnan(got) & np.isnan(ref)
    ok |= np.isinf(ref) & (got == ref)
    if not ok.all():
        i = tuple(int(k) for k in np.argwhere(~ok)[0])
        raise AssertionError(f"{what}: first mismatch at {i}: got {got[i]!r}, ref {ref[i]!r} "
                             f"({int((~ok).sum())} of {ok.size} off)")


def poisoned(shape: tuple[int, ...]) -> np.ndarray:
    """A float32 out= array of NaN: any element a kernel forgets to write fails the comparison."""
    return np.full(shape, np.nan, np.float32)


def assert_grads_close(got: Any, want: Any, rtol: float, isa: str, *, input_grad: bool = True,
                       bias: bool = True) -> None:
    """A backward call's (grad_x, grad_weight, grad_bias) against the reference's, each gradient
    the call was asked for (assert_close)."""
    asked = (input_grad, True, bias)
    for name, g, r, wanted in zip(("grad_x", "grad_weight", "grad_bias"), got, want, asked, strict=True):
        if wanted:
            assert_close(g, r, rtol, f"{name} [{isa}]")


def assert_close(got: Any, ref: Any, rtol: float = 1e-5, what: str = "result", allowance: float = 0.0) -> None:
    """Asserts ||got - ref|| <= rtol ||ref|| + allowance (Frobenius norms, in float64; allowance:
    see fp32_rounding_allowance).

    `ref` all zero: asserts ||got|| <= rtol (absolute). Non-finite values in `got` always fail.
    On failure the message names the first element off by more than atol + rtol*|ref|, with
    atol = rtol * max|ref|, as (index, got, ref), so a wrong tail or an unwritten lane is easy to spot.
    """
    got = np.asarray(got)
    ref = np.asarray(ref, dtype=np.float64)
    assert got.shape == ref.shape, f"{what}: shape {got.shape} != reference shape {ref.shape}"
    got64 = got.astype(np.float64)
    scale = float(np.max(np.abs(ref))) if ref.size else 0.0
    atol = rtol * scale if scale > 0 else rtol
    if not np.all(np.isfinite(got64)):
        idx = tuple(int(i) for i in np.argwhere(~np.isfinite(got64))[0])
        raise AssertionError(f"{what}: non-finite value at index {idx}: got {float(got64[idx])!r}, ref {float(ref[idx])!r} "
                             f"({int((~np.isfinite(got64)).sum())} of {got64.size} non-finite)")
    ref_norm = float(np.linalg.norm(ref.ravel()))
    err_norm = float(np.linalg.norm((got64 - ref).ravel()))
    if ref_norm == 0.0:
        if err_norm <= rtol:
            return
        raise AssertionError(f"{what}: reference is all zero but ||got|| = {err_norm:.3g} > {rtol:.3g}; "
                             + _first_mismatch(got64, ref, rtol, atol))
    rel = err_norm / ref_norm
    if err_norm <= rtol * ref_norm + allowance:
        return
    raise AssertionError(f"{what}: relative error ||got - ref|| / ||ref|| = {rel:.3g} > {rtol:.3g}"
                         + (f" (plus a rounding allowance of {allowance:.3g})" if allowance else "") + "; "
                         + _first_mismatch(got64, ref, rtol, atol))

