"""Plain NumPy references for max_pool2d / max_pool1d (forward with indices, and backward), written
from torch's rules so that a reader can check them by eye. Max is exact, so the references work in
the input's float32 and the kernels must match them bit for bit (values and indices).

Shapes: x (N, C, H, W) -> y, indices (N, C, H_out, W_out); max_pool1d is the same with H = 1 and
a kernel, stride, padding and dilation of 1 along the height. Along each axis, with the axis'
kernel k, stride s, padding p and dilation d (torch's pooling_output_shape):

    out = floor_or_ceil((in + 2p - d*(k - 1) - 1) / s) + 1
    in ceil mode, a last window that starts at or beyond in + p is dropped (out -= 1)

Output position t, tap k reads input position t*s + k*d - p; positions outside [0, in) are the
padding (-inf), which never wins, so they are skipped. Each window is scanned in torch's order,
rows then columns, from its first tap at a position >= 0 along each axis; that position's flat
index (row*W + column) is the window's index if nothing replaces it. (With dilation > 1 a window
can skip the whole input: then y is -inf and this "first position" lies past the input, so the
index points outside the window, as torch's does.) A value replaces the running maximum (which starts at
-inf) when it is greater or NaN: equal maxima keep the first, a NaN wins and a later NaN wins
again (its index is the last NaN's), and nothing after a NaN is greater than it.

The backward pass adds grad_y[n, c, i, j] at grad_x[n, c].flat[indices[n, c, i, j]], outputs in
row-major order, in float32: the order the kernels promise, so their sums match bit for bit.

`max_pool2d_by_window` is the definition as a loop over windows; `max_pool2d` does the same
comparisons one tap at a time for all windows at once (fast enough for the tests' larger shapes);
test_pool.py proves the two equal, and equal to torch.

Below the references: the shape sweep, the bitwise comparison and the special-value data that
test_pool.py (every CPU variant) and test_pool_cuda.py share.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np


def pair(v: Any) -> tuple[int, int]:
    """An int for both axes, or an (h, w) pair."""
    if isinstance(v, (tuple, list)):
        assert len(v) == 2, v
        return int(v[0]), int(v[1])
    return int(v), int(v)


def pool_out_length(size: int, kernel: int, stride: int, pad: int, dilation: int, ceil_mode: bool) -> int:
    """Output length along one axis, torch's rule (may be < 1: then the window does not fit)."""
    room = size + 2 * pad - dilation * (kernel - 1) - 1
    out = (-(-room // stride) if ceil_mode else room // stride) + 1
    if ceil_mode and (out - 1) * stride >= size + pad:
        out -= 1  # the last window would start in the right padding
    return out


def pool_out_size(size: tuple[int, int], kernel: tuple[int, int], stride: tuple[int, int], pad: tuple[int, int],
                  dilation: tuple[int, int], ceil_mode: bool) -> tuple[int, int]:
    return (pool_out_length(size[0], kernel[0], stride[0], pad[0], dilation[0], ceil_mode),
            pool_out_length(size[1], kernel[1], stride[1], pad[1], dilation[1], ceil_mode))


def first_position(t: Any, stride: int, pad: int, dilation: int) -> Any:
    """Output t's (an int or an array of them) first tap position >= 0: where torch starts the
    window's scan along this axis. It may lie past the input when dilation > 1."""
    start = np.asarray(t) * stride - pad
    taps_before_zero = -(start // dilation)  # ceil(-start / dilation), taps that read the left padding
    first = np.where(start >= 0, start, start + taps_before_zero * dilation)
    return int(first) if first.ndim == 0 else first


def _window_positions(t: int, size: int, kernel: int, stride: int, pad: int, dilation: int) -> list[int]:
    """The real input positions that output t's window reads, in tap order."""
    return [t * stride + k * dilation - pad for k in range(kernel) if 0 <= t * stride + k * dilation - pad < size]


def max_pool2d_by_window(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
                         ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(y, indices): the definition, one window at a time (slow; for small inputs)."""
    x = np.asarray(x)
    n, c, h, w = x.shape
    k, s, p, d = pair(kernel_size), pair(kernel_size if stride is None else stride), pair(padding), pair(dilation)
    h_out, w_out = pool_out_size((h, w), k, s, p, d, ceil_mode)
    assert h_out >= 1 and w_out >= 1, "the window does not fit into the padded input"
    y = np.empty((n, c, h_out, w_out), dtype=x.dtype)
    idx = np.empty((n, c, h_out, w_out), dtype=np.int64)
    for b in range(n):
        for ch in range(c):
            plane = x[b, ch]
            for i in range(h_out):
                rows = _window_positions(i, h, k[0], s[0], p[0], d[0])
                for j in range(w_out):
                    cols = _window_positions(j, w, k[1], s[1], p[1], d[1])
                    best_val = x.dtype.type(-np.inf)
                    best_idx = (first_position(i, s[0], p[0], d[0]) * w  # the first position
                                + first_position(j, s[1], p[1], d[1]))
                    for r in rows:
                        for col in cols:
                            v = plane[r, col]
                            if v > best_val or np.isnan(v):
                                best_val, best_idx = v, r * w + col
                    y[b, ch, i, j] = best_val
                    idx[b, ch, i, j] = best_idx
    return y, idx


def _tap_positions(size: int, out: int, k: int, stride: int, pad: int, dilation: int) -> tuple[np.ndarray, np.ndarray]:
    """For tap k: (input position of every output, whether it is real), clipped for indexing."""
    pos = np.arange(out) * stride + k * dilation - pad
    real = (pos >= 0) & (pos < size)
    return np.clip(pos, 0, size - 1), real


def max_pool2d(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(y, indices): max_pool2d_by_window's comparisons, tap by tap in window order, for all
    windows at once."""
    x = np.asarray(x)
    n, c, h, w = x.shape
    k, s, p, d = pair(kernel_size), pair(kernel_size if stride is None else stride), pair(padding), pair(dilation)
    h_out, w_out = pool_out_size((h, w), k, s, p, d, ceil_mode)
    assert h_out >= 1 and w_out >= 1, "the window does not fit into the padded input"
    rows = [_tap_positions(h, h_out, i, s[0], p[0], d[0]) for i in range(k[0])]
    cols = [_tap_positions(w, w_out, j, s[1], p[1], d[1]) for j in range(k[1])]

    r0 = first_position(np.arange(h_out), s[0], p[0], d[0])
    c0 = first_position(np.arange(w_out), s[1], p[1], d[1])
    y = np.full((n, c, h_out, w_out), -np.inf, dtype=x.dtype)
    idx = np.broadcast_to((r0[:, None] * w + c0[None, :]).astype(np.int64), y.shape).copy()
    for r, r_real in rows:  # rows, then columns: torch's scan order
        for col, c_real in cols:
            v = x[:, :, r[:, None], col[None, :]]  # (N, C, H_out, W_out): what this tap reads
            real = r_real[:, None] & c_real[None, :]
            take = real & ((v > y) | np.isnan(v))
            y = np.where(take, v, y)
            idx = np.where(take, r[:, None] * w + col[None, :], idx)
    return y, idx


def max_pool1d(x: np.ndarray, kernel_size: Any, stride: Any = None, padding: Any = 0, dilation: Any = 1,
               ceil_mode: bool = False) -> tuple[np.ndarray, np.ndarray]:
    """(y, indices) for x (N, C, T): max_pool2d over height 1; indices are positions along T."""
    def one(v: Any) -> int:
        if isinstance(v, (tuple, list)):
            assert len(v) == 1, v
            return int(v[0])
        return int(v)

    k = one(kernel_size)
    s = k if stride is None else one(stride)
    y, idx = max_pool2d(np.asarray(x)[:, :, None, :], (1, k), (1, s), (0, one(padding)), (1, one(dilation)),
                        ceil_mode)
    return y[:, :, 0, :], idx[:, :, 0, :]


def max_pool_backward(grad_y: np.ndarray, indices: np.ndarray, input_shape: tuple[int, ...]) -> np.ndarray:
    """grad_x of input_shape ((N, C, H, W) or (N, C, T)): grad_y added at its indices within each
    plane, outputs in row-major order, in grad_y's dtype (float32: the kernels' sums bit for bit)."""
    grad_y = np.asarray(grad_y)
    indices = np.asarray(indices)
    assert grad_y.shape == indices.shape and tuple(input_shape[:2]) == grad_y.shape[:2]
    n, c = grad_y.shape[:2]
    plane_in = int(np.prod(input_shape[2:]))
    grad_x = np.zeros((n, c, plane_in), dtype=grad_y.dtype)
    for b in range(n):
        for ch in range(c):
            flat_idx = indices[b, ch].reshape(-1)
            assert ((flat_idx >= 0) & (flat_idx < plane_in)).all(), "an index lies outside the plane"
            # np.add.at is unbuffered: repeated indices accumulate, one after another, in order
            np.add.at(grad_x[b, ch], flat_idx, grad_y[b, ch].reshape(-1))
    return grad_x.reshape(tuple(input_shape))


# ------------------------------------------------------------------------ the shape sweep
#
# Shared by test_pool.py (every CPU variant) and test_pool_cuda.py. Spectrogram layout: H is time
# (frames), W is frequency (bins). Aimed at the SIMD kernels' three ways of loading a tap (see
# csrc/cpu/pool/max_pool_fwd_simd.h): column stride 1 (masked loads at the row's ends); column
# stride 2 or 3 with kernel width <= stride and no column padding or dilation (a block split into
# its phases, with a masked last block and ceil mode's partial last window); everything else lane
# by lane. Widths and output widths around the vector sizes (AVX2 8; AVX-512 and portable 16); the
# pools of beat-tracking and key-finding networks; then the geometry rules: kernel 1, kernel as
# large as the input, overlapping and gapped windows, padding up to kernel // 2, dilation, ceil
# mode (with its drop rule), different (h, w) pairs.


@dataclass(frozen=True)
class PoolCase:
    name: str
    x_shape: tuple[int, ...]  # (N, C, H, W), or (N, C, T) for max_pool1d
    kernel_size: Any
    stride: Any = None  # None: the default (= kernel_size)
    padding: Any = 0
    dilation: Any = 1
    ceil_mode: bool = False

    @property
    def rank(self) -> int:
        return len(self.x_shape)

    def _axes(self, v: Any, height: int) -> tuple[int, int]:
        """(h, w) values of a hyper-parameter; max_pool1d's height axis takes `height`."""
        if self.rank == 3:
            return height, int(v[0] if isinstance(v, (tuple, list)) else v)
        return pair(v)

    @property
    def geometry(self) -> tuple[tuple[int, int], tuple[int, int], tuple[int, int], tuple[int, int]]:
        """(kernel, stride, padding, dilation) as (h, w) pairs."""
        k = self._axes(self.kernel_size, 1)
        s = k if self.stride is None else self._axes(self.stride, 1)
        return k, s, self._axes(self.padding, 0), self._axes(self.dilation, 1)

    @property
    def y_shape(self) -> tuple[int, ...]:
        k, s, p, d = self.geometry
        size = (1, self.x_shape[2]) if self.rank == 3 else (self.x_shape[2], self.x_shape[3])
        out = pool_out_size(size, k, s, p, d, self.ceil_mode)
        return (*self.x_shape[:2], out[1]) if self.rank == 3 else (*self.x_shape[:2], *out)

    @property
    def kwargs(self) -> dict[str, Any]:
        """Keyword arguments for ictus.max_pool{1,2}d and torch.nn.functional.max_pool{1,2}d."""
        kw: dict[str, Any] = {"kernel_size": self.kernel_size, "padding": self.padding, "dilation": self.dilation,
                              "ceil_mode": self.ceil_mode}
        if self.stride is not None:
            kw["stride"] = self.stride
        return kw

    @property
    def window_kwargs(self) -> dict[str, Any]:
        """The window arguments max_pool{1,2}d_backward takes (no ceil_mode)."""
        return {k: v for k, v in self.kwargs.items() if k != "ceil_mode"}

    @property
    def fits_without_ceil(self) -> bool:
        """Whether the window fits into the padded input (in ceil mode it may overhang the end)."""
        k, s, p, d = self.geometry
        size = (1, self.x_shape[2]) if self.rank == 3 else self.x_shape[2:]
        return min(pool_out_size(size, k, s, p, d, False)) >= 1

    @property
    def overlapping(self) -> bool:
        """Whether an input position can be read by two windows (then gradients add up)."""
        k, s, _, d = self.geometry
        return any(s[a] < d[a] * (k[a] - 1) + 1 for a in range(2))

    @property
    def id(self) -> str:
        return self.name


def has_window_of_only_padding(case: PoolCase) -> bool:
    """Whether some window reads no input position (dilation can step over a short input): its y
    is -inf and its index, torch's, lies outside the window."""
    k, s, p, d = case.geometry
    size = (1, case.x_shape[2]) if case.rank == 3 else case.x_shape[2:]
    out = case.y_shape[2:] if case.rank == 4 else (1, case.y_shape[2])
    return any(not _window_positions(t, size[a], k[a], s[a], p[a], d[a]) for a in range(2) for t in range(out[a]))


def reference_forward(case: PoolCase, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(y, indices) of `case` on x."""
    k, s, p, d = case.geometry
    if case.rank == 3:
        return max_pool1d(x, k[1], s[1], p[1], d[1], case.ceil_mode)
    return max_pool2d(x, k, s, p, d, case.ceil_mode)


def _c2(name: str, x_shape: tuple[int, int, int, int], k: Any, s: Any = None, p: Any = 0, d: Any = 1,
        ceil: bool = False) -> PoolCase:
    return PoolCase(name, x_shape, k, s, p, d, ceil)


def _c1(name: str, x_shape: tuple[int, int, int], k: int, s: int | None = None, p: int = 0, d: int = 1,
        ceil: bool = False) -> PoolCase:
    return PoolCase(name, x_shape, k, s, p, d, ceil)


GEOMETRY_CASES: list[PoolCase] = [
    # kernel 1 (stride 1 copies; strides 2 and 3 go through the phase split with one tap)
    _c2("k1", (2, 3, 5, 7), 1),
    _c2("k1_s2", (1, 2, 6, 9), 1, 2),
    _c2("k1_s3_ceil", (1, 2, 7, 10), 1, 3, ceil=True),
    _c2("k1_d3_s2", (1, 2, 7, 11), 1, 2, d=3),
    _c2("one_position", (3, 2, 1, 1), 1),
    _c2("one_row", (2, 3, 1, 19), (1, 2)),
    _c2("one_column", (2, 3, 19, 1), (2, 1)),
    # the kernel as large as the (padded) input
    _c2("k_whole", (2, 3, 5, 7), (5, 7)),
    _c2("k_whole_stride1_pad", (1, 2, 5, 7), (5, 7), 1, (2, 3)),
    _c2("k_whole_dilated", (1, 2, 5, 7), (3, 4), 1, 0, 2),
    _c2("k_past_input_ceil", (1, 2, 10, 12), 11, ceil=True),  # ceil mode: the window overhangs the end
    # non-overlapping
    _c2("k2_s2", (2, 3, 8, 10), 2),
    _c2("k2_s2_odd", (2, 3, 9, 11), 2),
    _c2("k2_s2_odd_ceil", (2, 3, 9, 11), 2, ceil=True),
    _c2("k3_s3", (1, 2, 9, 12), 3),
    _c2("k3_s3_ceil", (1, 2, 10, 13), 3, ceil=True),
    # overlapping: stride < kernel
    _c2("k3_s1", (2, 3, 9, 13), 3, 1),
    _c2("k3_s2", (2, 3, 11, 13), 3, 2),
    _c2("k3_s2_ceil", (2, 3, 10, 12), 3, 2, ceil=True),
    _c2("k4_s3", (1, 2, 13, 17), 4, 3),
    _c2("k5_s2_ceil", (1, 2, 12, 20), 5, 2, ceil=True),
    # gaps: stride > kernel
    _c2("k2_s3", (1, 3, 11, 14), 2, 3),
    _c2("k2_s3_ceil", (1, 3, 11, 14), 2, 3, ceil=True),
    _c2("k2_s5", (1, 2, 12, 23), 2, 5),
    _c2("k3_s4_ceil", (1, 2, 13, 18), 3, 4, ceil=True),
    _c2("k2_s7x11", (1, 2, 16, 30), 2, (7, 11)),
    # padding (-inf) up to kernel // 2
    _c2("k2_s1_p1", (2, 2, 6, 7), 2, 1, 1),
    _c2("k2_s2_p1", (1, 2, 8, 9), 2, 2, 1),
    _c2("k3_s1_p1", (2, 3, 7, 9), 3, 1, 1),
    _c2("k3_s2_p1", (2, 3, 7, 9), 3, 2, 1),
    _c2("k4_s2_p2", (1, 2, 9, 11), 4, 2, 2),
    _c2("k5_s3_p2_ceil", (1, 2, 11, 16), 5, 3, 2, ceil=True),
    _c2("k3_s3_p1", (1, 2, 8, 10), 3, 3, 1),
    # ceil mode's drop rule: the last window would start in the right padding
    _c2("ceil_drop_k2_s2_p1", (1, 2, 5, 5), 2, 2, 1, ceil=True),
    _c2("ceil_drop_k3_s3_p1", (1, 2, 5, 5), 3, 3, 1, ceil=True),
    _c2("ceil_drop_k4_s4_p2", (1, 2, 6, 10), 4, 4, 2, ceil=True),
    # dilation
    _c2("k3_d2", (1, 2, 9, 11), 3, 1, d=2),
    _c2("k3_d2_s2_p1", (1, 2, 10, 13), 3, 2, 1, 2),
    _c2("k2_d3_s2", (1, 2, 9, 14), 2, 2, d=3),
    _c2("k3_d3_s2_p1_ceil", (1, 2, 12, 15), 3, 2, 1, 3, ceil=True),
    _c2("k2_d2_s1_p1", (2, 2, 7, 8), 2, 1, 1, 2),
    # (h, w) pairs that differ
    _c2("pair_a", (2, 3, 9, 12), (2, 3), (1, 2), (1, 0), (2, 1)),
    _c2("pair_b", (1, 2, 11, 8), (3, 1), (2, 1), (1, 0)),
    _c2("pair_c_split3_ceil", (1, 2, 6, 20), (1, 3), (1, 3), ceil=True),
    _c2("pair_d", (1, 2, 10, 11), (3, 2), (3, 2), (1, 1), (1, 2), ceil=True),
    _c2("pair_e", (1, 1, 9, 19), (2, 4), (1, 3), (0, 2), (3, 1)),
    _c2("pair_f_rows_only", (1, 2, 9, 17), (3, 1), (1, 1)),
    _c2("pair_g_split2_rows_dilated", (1, 2, 12, 17), (3, 2), (2, 2), (1, 0), (2, 1), ceil=True),
    _c2("pair_h_split3_rows_padded", (2, 2, 7, 25), (3, 2), (2, 3), (1, 0)),
]

# Input widths and output widths around the vector sizes, for each of the kernels' tap loads.
WIDTHS = (7, 8, 9, 15, 16, 17, 23, 24, 25, 47, 48, 49)

WIDTH_CASES: list[PoolCase] = [
    c for w in WIDTHS for c in (
        _c2(f"w{w}_s1_k2x3_p1", (1, 2, 4, w), (2, 3), 1, 1),  # stride 1, both ends masked
        _c2(f"w{w}_s1_k2x1", (1, 2, 4, w), (2, 1), 1),  # stride 1, no column padding
        _c2(f"w{w}_split2", (1, 2, 4, w), 2),
        _c2(f"w{w}_split2_ceil", (1, 2, 5, w), 2, ceil=True),
        _c2(f"w{w}_split3", (1, 2, 3, w), (1, 3)),
        _c2(f"w{w}_split3_ceil", (1, 2, 3, w), (1, 3), ceil=True),
        _c2(f"w{w}_split3_k2_ceil", (1, 2, 5, w), 2, (2, 3), ceil=True),
        _c2(f"w{w}_lanes_k3_s2_p1", (1, 2, 4, w), 3, 2, 1),
    )
] + [
    c for o in WIDTHS for c in (
        _c2(f"out{o}_split2_ceil", (1, 2, 2, 2 * o - 1), (1, 2), ceil=True),  # last window of width 1
        _c2(f"out{o}_split3_ceil", (1, 2, 2, 3 * o - 2), (1, 3), ceil=True),  # last window of width 1
        _c2(f"out{o}_split3_k2", (1, 2, 2, 3 * o - 1), (1, 2), (1, 3)),  # last window fits exactly
        _c2(f"out{o}_lanes_k3_s2_p1", (1, 2, 3, 2 * o - 1), 3, 2, 1),
    )
]

# Pools of real networks (a few hundred frames instead of thousands, to stay fast): the beat
# tracker's (1, 3) pools over 81 -> 27 -> 9 frequency bins, (1, 3) over other filterbanks, the
# key CNN's (2, 2) pools.
FIELD_CASES: list[PoolCase] = [
    _c2("beat_1x3_over_81", (1, 16, 300, 81), (1, 3)),
    _c2("beat_1x3_over_79", (1, 4, 300, 79), (1, 3)),
    _c2("beat_1x3_over_79_ceil", (1, 4, 300, 79), (1, 3), ceil=True),
    _c2("beat_1x3_over_26", (1, 16, 300, 26), (1, 3)),
    _c2("beat_1x3_over_26_ceil", (1, 4, 300, 26), (1, 3), ceil=True),
    _c2("beat_1x3_over_24", (2, 4, 300, 24), (1, 3)),
    _c2("keycnn_2x2_100x105", (1, 8, 100, 105), 2),
    _c2("keycnn_2x2_25x26", (2, 8, 25, 26), 2),
    _c2("keycnn_2x2_25x26_ceil", (1, 8, 25, 26), 2, ceil=True),
]

# Windows that do not overlap, wide enough for the backward gather's vectors: gaps between windows
# on both axes and after the last ones, windows of one column, ceil mode's overhang on both axes.
GATHER_CASES: list[PoolCase] = [
    _c2("gather_k2_s3_gaps", (1, 2, 11, 3 * 17 + 2), 2, 3),
    _c2("gather_k2x3_s3x3_ceil", (2, 2, 10, 3 * 33 + 1), (2, 3), 3, ceil=True),
    _c2("gather_rows_k2x1_s2x1", (1, 3, 9, 33), (2, 1), (2, 1)),
    _c2("gather_rows_k3x1_s4x1_ceil", (1, 2, 11, 20), (3, 1), (4, 1), ceil=True),
    _c2("gather_k1x2_s1x3", (1, 2, 3, 3 * 40 + 2), (1, 2), (1, 3)),
]

POOL1D_CASES: list[PoolCase] = [
    _c1("1d_k2_T30000", (1, 2, 30000), 2),
    _c1("1d_k2_T2999", (2, 3, 2999), 2),
    _c1("1d_k2_T2999_ceil", (2, 3, 2999), 2, ceil=True),
    _c1("1d_k2_T17", (3, 5, 17), 2),
    _c1("1d_k2_T17_ceil", (3, 5, 17), 2, ceil=True),
    _c1("1d_k1_T1", (2, 2, 1), 1),
    _c1("1d_k_whole", (2, 3, 7), 7),
    _c1("1d_k_past_input_ceil", (2, 3, 4), 5, ceil=True),
    _c1("1d_k3_s1_p1", (2, 3, 31), 3, 1, 1),
    _c1("1d_k3_s2_p1_ceil", (2, 3, 30), 3, 2, 1, ceil=True),
    _c1("1d_k4_s3", (1, 4, 41), 4, 3),
    _c1("1d_k2_s3", (1, 4, 41), 2, 3),
    _c1("1d_k3_s3_ceil", (1, 4, 49), 3, ceil=True),
    _c1("1d_k5_s2_p2_d2", (1, 3, 37), 5, 2, 2, 2),
    _c1("1d_k2_s1_p1_d3_ceil", (1, 3, 23), 2, 1, 1, 3, ceil=True),
    _c1("1d_k3_s5_p1_ceil", (1, 3, 26), 3, 5, 1, ceil=True),
    _c1("1d_ceil_drop_k2_s2_p1", (1, 2, 5), 2, 2, 1, ceil=True),
] + [c for t in WIDTHS for c in (_c1(f"1d_T{t}_k2", (1, 3, t), 2), _c1(f"1d_T{2 * t - 1}_k2_ceil", (1, 3, 2 * t - 1), 2, ceil=True),
                                _c1(f"1d_T{t}_k3_s1_p1", (1, 3, t), 3, 1, 1))]

ALL_POOL_CASES: list[PoolCase] = GEOMETRY_CASES + WIDTH_CASES + FIELD_CASES + GATHER_CASES + POOL1D_CASES
assert len({c.name for c in ALL_POOL_CASES}) == len(ALL_POOL_CASES), "case names must be unique"


def pool_case(name: str) -> PoolCase:
    return next(c for c in ALL_POOL_CASES if c.name == name)


# ------------------------------------------------------------------------ comparison and data

# What the tests pre-fill out= arrays with, so that an element a kernel forgets to write fails:
# a NaN whose payload no input holds (bitwise comparison tells it from the inputs' NaNs), and an
# index no window has.
POISON = np.array([0x7FC0DEAD], dtype=np.uint32).view(np.float32)[0]
INDEX_POISON = -7


def _describe(a: np.ndarray, idx: tuple[int, ...]) -> str:
    v = a[idx]
    if a.dtype == np.float32:
        return f"{float(v)!r} (0x{int(np.float32(v).view(np.uint32)):08x})"
    return repr(int(v))


def assert_bits_equal(got: Any, want: Any, what: str) -> None:
    """Identical shape, dtype and bits (float32 compared as uint32: -0.0 != 0.0, NaN == same NaN);
    on failure names the first differing element."""
    got, want = np.asarray(got), np.asarray(want)
    assert got.shape == want.shape, f"{what}: shape {got.shape} != {want.shape}"
    assert got.dtype == want.dtype, f"{what}: dtype {got.dtype} != {want.dtype}"
    g = got.view(np.uint32) if got.dtype == np.float32 else got
    w = want.view(np.uint32) if want.dtype == np.float32 else want
    bad = g != w
    if bad.any():
        idx = tuple(int(i) for i in np.argwhere(bad)[0])
        raise AssertionError(f"{what}: {int(bad.sum())} of {bad.size} elements differ; first at {idx}: "
                             f"got {_describe(got, idx)}, want {_describe(want, idx)}")


def special_data(kind: str, case: PoolCase, rng: np.random.Generator) -> np.ndarray:
    """Inputs where ties, NaNs and -inf decide the result."""
    x = rng.standard_normal(case.x_shape).astype(np.float32)
    k, s, p, _ = case.geometry
    cols = np.arange(case.x_shape[-1])
    if kind == "ties":
        # few distinct values, many equal maxima, and -0.0 next to 0.0 (the first one must win)
        x = (np.round(x * 1.5) / 2).astype(np.float32)
        zero = rng.random(x.shape) < 0.3
        x[zero] = np.where(rng.random(int(zero.sum())) < 0.5, np.float32(0.0), np.float32(-0.0))
    elif kind == "nan_scattered":
        x[rng.random(x.shape) < 0.2] = np.nan  # often several per window: the last one's index wins
    elif kind == "nan_window_edges":
        # NaN at each window's first and last column (the padding shifts them), and on some rows
        first = (cols + p[1]) % s[1] == 0
        last = (cols + p[1]) % s[1] == (k[1] - 1) % s[1]
        x[..., first | last] = np.where(rng.random(x[..., first | last].shape) < 0.5, np.nan,
                                        x[..., first | last])
        if case.rank == 4:
            x[:, :, ::3, :] = np.where(rng.random(x[:, :, ::3, :].shape) < 0.3, np.nan, x[:, :, ::3, :])
    elif kind == "neginf":
        # -inf values, and whole planes of -inf: the index stays the window's first position
        x[rng.random(x.shape) < 0.3] = -np.inf
        x[0, 0] = -np.inf
    elif kind == "mixed":
        r = rng.random(x.shape)
        x = np.round(x).astype(np.float32)
        x[r < 0.1] = np.nan
        x[(r >= 0.1) & (r < 0.2)] = -np.inf
        x[(r >= 0.2) & (r < 0.25)] = np.inf
    else:
        raise AssertionError(kind)
    return x


KINDS = ["ties", "nan_scattered", "nan_window_edges", "neginf", "mixed"]

SPECIAL_CASES = GEOMETRY_CASES + [c for c in WIDTH_CASES if c.name.startswith(("w9_", "w16_", "w17_", "out8_"))] + [
    pool_case(n) for n in ("1d_k2_T2999_ceil", "1d_k3_s1_p1", "1d_k3_s2_p1_ceil", "1d_k2_s3", "1d_k5_s2_p2_d2",
                           "1d_T25_k3_s1_p1", "keycnn_2x2_25x26_ceil", "beat_1x3_over_26_ceil")]
