"""max_pool2d / max_pool1d forward and backward on the CPU: every kernel variant x the shape sweep
(tests/pool_reference.py), bit for bit against the NumPy reference and against torch.

Max is exact, so nothing here has a tolerance except the sums of torch's backward for overlapping
windows (1e-6): y, the int64 indices and (for the reference's sum order) grad_x must be identical,
bit for bit (signed zeros and NaNs included). Outputs are checked on the allocating path and on
caller arrays poisoned with a NaN of a payload no input has (y) and -7 (indices), so an element a
kernel forgets to write cannot pass. Data: fresh normal draws, then ties (rounded data, signed
zeros), NaNs (several per window, at window edges), -inf and whole planes of -inf.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ictus
import numpy as np
import pool_reference as pr
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pool_reference import (
    ALL_POOL_CASES,
    GEOMETRY_CASES,
    INDEX_POISON,
    KINDS,
    POISON,
    SPECIAL_CASES,
    PoolCase,
    assert_bits_equal,
    pool_case,
    special_data,
)

# out_int32: poisoned y and int32 indices (half the bytes; the backward pass then reads int32).
PATHS = ["alloc", "out_poisoned", "out_int32"]


def params(cases: list[PoolCase]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in cases]


def pool_fn(case: PoolCase) -> Callable[..., Any]:
    return ictus.max_pool1d if case.rank == 3 else ictus.max_pool2d


def backward_fn(case: PoolCase) -> Callable[..., Any]:
    return ictus.max_pool1d_backward if case.rank == 3 else ictus.max_pool2d_backward


def poisoned(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, POISON, dtype=np.float32)


def poisoned_indices(shape: tuple[int, ...], dtype: Any = np.int64) -> np.ndarray:
    return np.full(shape, INDEX_POISON, dtype=dtype)


def check_output(a: Any, shape: tuple[int, ...], dtype: Any, what: str) -> None:
    assert isinstance(a, np.ndarray), f"{what}: expected a NumPy array, got {type(a)}"
    assert a.dtype == dtype, f"{what}: dtype {a.dtype}"
    assert a.shape == shape, f"{what}: shape {a.shape} != {shape}"
    assert a.flags.c_contiguous, f"{what}: not C-contiguous"


def index_dtype(path: str) -> Any:
    return np.int32 if path == "out_int32" else np.int64


def forward(case: PoolCase, x: Any, path: str, return_indices: bool = True) -> Any:
    """ictus' forward on `path`, outputs checked for type, shape and (out=) identity."""
    fn = pool_fn(case)
    if path == "alloc":
        res = fn(x, **case.kwargs, return_indices=return_indices)
    elif return_indices:
        out = (poisoned(case.y_shape), poisoned_indices(case.y_shape, index_dtype(path)))
        res = fn(x, **case.kwargs, return_indices=True, out=out)
        assert isinstance(res, tuple) and res[0] is out[0] and res[1] is out[1], \
            "out=(y, indices) must return those arrays"
    else:
        out = poisoned(case.y_shape)
        res = fn(x, **case.kwargs, out=out)
        assert res is out, "out=y must return that array"
    if return_indices:
        assert isinstance(res, tuple) and len(res) == 2, "return_indices=True returns (y, indices)"
        check_output(res[0], case.y_shape, np.float32, "y")
        check_output(res[1], case.y_shape, index_dtype(path), "indices")
    else:
        check_output(res, case.y_shape, np.float32, "y")
    return res


def torch_forward(case: PoolCase, x: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    import torch
    import torch.nn.functional as F

    fn = F.max_pool1d if case.rank == 3 else F.max_pool2d
    y, idx = fn(torch.from_numpy(x), **case.kwargs, return_indices=True)
    return y.numpy(), idx.numpy()


def torch_backward(case: PoolCase, x: np.ndarray, gy: np.ndarray) -> np.ndarray:
    import torch
    import torch.nn.functional as F

    fn = F.max_pool1d if case.rank == 3 else F.max_pool2d
    xt = torch.from_numpy(x.copy()).requires_grad_(True)
    fn(xt, **case.kwargs).backward(torch.from_numpy(gy))
    return xt.grad.numpy()


def check_forward_all_paths(case: PoolCase, x: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
    """Allocating and poisoned-out paths, with and without indices: all bit for bit the reference."""
    ry, ri = pr.reference_forward(case, x)
    for path in PATHS:
        y, idx = forward(case, x, path)
        assert_bits_equal(y, ry, f"y [{label}, {path}]")
        assert_bits_equal(idx, ri.astype(index_dtype(path)), f"indices [{label}, {path}]")
        assert_bits_equal(forward(case, x, path, return_indices=False), ry,
                          f"y without indices [{label}, {path}]")
    return ry, ri


# ------------------------------------------------------------------------------ forward


@pytest.mark.parametrize("case", params(ALL_POOL_CASES))
def test_forward(case: PoolCase, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """y and indices bit for bit the reference's and torch's, on every path."""
    x = randn(*case.x_shape)
    ry, ri = check_forward_all_paths(case, x, isa)
    ty, ti = torch_forward(case, x)
    assert_bits_equal(ry, ty, "reference y vs torch")
    assert_bits_equal(ri, ti, "reference indices vs torch")
    y, idx = forward(case, x, "alloc")
    assert_bits_equal(y, ty, f"y vs torch [{isa}]")
    assert_bits_equal(idx, ti, f"indices vs torch [{isa}]")


@pytest.mark.parametrize("index_dtype", [None, "int64", np.int64, "int32", np.int32, np.dtype("int32")],
                         ids=["none", "int64", "np.int64", "int32", "np.int32", "dtype_int32"])
@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s2_p1", "w17_split3_k2_ceil", "1d_k3_s1_p1")]))
def test_index_dtype(case: PoolCase, index_dtype: Any, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """index_dtype picks the allocated indices' dtype (None: int64); their values, and the backward
    pass from them, are the same for both."""
    x, gy = randn(*case.x_shape), randn(*case.y_shape)
    ry, ri = pr.reference_forward(case, x)
    want = np.int64 if index_dtype is None else np.dtype(index_dtype).type
    y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True, index_dtype=index_dtype)
    check_output(idx, case.y_shape, want, "indices")
    assert_bits_equal(y, ry, f"y [{isa}, {index_dtype}]")
    assert_bits_equal(idx, ri.astype(want), f"indices [{isa}, {index_dtype}]")
    assert_bits_equal(backward_fn(case)(gy, idx, case.x_shape, **case.window_kwargs),
                      pr.max_pool_backward(gy, ri, case.x_shape), f"grad_x [{isa}, {index_dtype}]")
    y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True, index_dtype=index_dtype,
                           out=(poisoned(case.y_shape), poisoned_indices(case.y_shape, want)))
    assert_bits_equal(idx, ri.astype(want), f"indices into out [{isa}, {index_dtype}]")
    assert_bits_equal(pool_fn(case)(x, **case.kwargs, index_dtype=index_dtype), ry, "y without indices")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", params(SPECIAL_CASES))
def test_forward_special_values(case: PoolCase, kind: str, isa: str, rng: np.random.Generator) -> None:
    """Ties keep the first maximum; NaN wins (the last NaN's index); -inf windows keep their first
    position: exactly as torch."""
    x = special_data(kind, case, rng)
    ry, ri = check_forward_all_paths(case, x, f"{isa}, {kind}")
    ty, ti = torch_forward(case, x)
    assert_bits_equal(ry, ty, f"reference y vs torch [{kind}]")
    assert_bits_equal(ri, ti, f"reference indices vs torch [{kind}]")


@pytest.mark.parametrize("fill", [np.nan, -np.inf, np.inf, 0.0, -0.0, 1.0], ids=["nan", "-inf", "inf", "0", "-0", "1"])
@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s2_p1", "w17_split2_ceil", "w16_split3_ceil",
                                                               "w9_s1_k2x3_p1", "1d_k2_T17_ceil", "pair_e")]))
def test_forward_constant_input(case: PoolCase, fill: float, isa: str) -> None:
    """A constant plane: every window ties (or is all NaN / -inf), so each index is the window's
    first real position (all NaN: its last position)."""
    x = np.full(case.x_shape, fill, dtype=np.float32)
    ry, ri = check_forward_all_paths(case, x, f"{isa}, constant {fill}")
    ty, ti = torch_forward(case, x)
    assert_bits_equal(ry, ty, "reference y vs torch")
    assert_bits_equal(ri, ti, "reference indices vs torch")


@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s1", "k2_s2_odd_ceil", "pair_a", "1d_k3_s1_p1",
                                                               "w17_split3_k2_ceil")]))
def test_nan_at_every_window_position(case: PoolCase, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """One NaN moved over every input position in turn: the windows that hold it give NaN and its
    index, the others are untouched."""
    base = randn(*case.x_shape)[:1, :1]
    plane_size = int(np.prod(base.shape[2:]))
    xs = np.repeat(base, plane_size, axis=1)  # channel c gets its NaN at flat position c
    xs.reshape(plane_size, plane_size)[np.arange(plane_size), np.arange(plane_size)] = np.nan
    wide = PoolCase(case.name, xs.shape, case.kernel_size, case.stride, case.padding, case.dilation, case.ceil_mode)
    check_forward_all_paths(wide, xs, f"{isa}, moving NaN")
    ty, ti = torch_forward(wide, xs)
    ry, ri = pr.reference_forward(wide, xs)
    assert_bits_equal(ry, ty, "reference y vs torch")
    assert_bits_equal(ri, ti, "reference indices vs torch")


def test_reference_by_window_equals_reference(rng: np.random.Generator) -> None:
    """Proves the tap-at-a-time reference against the literal loop over windows, on every small
    case and special data."""
    for case in GEOMETRY_CASES + [c for c in pr.POOL1D_CASES if c.x_shape[-1] <= 50]:
        for kind in KINDS:
            x = special_data(kind, case, rng)
            if case.rank == 3:
                k, s, p, d = case.geometry
                y2, i2 = pr.max_pool2d_by_window(x[:, :, None, :], k, s, p, d, case.ceil_mode)
                y2, i2 = y2[:, :, 0], i2[:, :, 0]
            else:
                y2, i2 = pr.max_pool2d_by_window(x, *case.geometry, case.ceil_mode)
            y, i = pr.reference_forward(case, x)
            assert_bits_equal(y, y2, f"y of {case.name} [{kind}]")
            assert_bits_equal(i, i2, f"indices of {case.name} [{kind}]")


def test_reference_by_hand() -> None:
    """Small enough to work out on paper."""
    x = np.array([[[[1, 5, 2, 2],
                    [3, np.nan, 0, 4],
                    [7, 7, -np.inf, 6]]]], dtype=np.float32)
    # kernel 2, stride 2, ceil: windows rows {0,1},{2}, columns {0,1},{2,3}
    y, i = pr.max_pool2d(x, 2, ceil_mode=True)
    np.testing.assert_array_equal(y, [[[[np.nan, 4], [7, 6]]]])
    np.testing.assert_array_equal(i, [[[[5, 7], [8, 11]]]])  # NaN wins; of the two 7s the first
    # kernel 3, stride 1, padding 1 along the width only: windows are padded rows
    y, i = pr.max_pool2d(x, (1, 3), 1, (0, 1))
    np.testing.assert_array_equal(i[0, 0, 0], [1, 1, 1, 2])  # 5 5 5, then 2 (first of the tied 2s)
    np.testing.assert_array_equal(i[0, 0, 2], [8, 8, 9, 11])  # 7 7 (first), then the second 7, then 6
    assert pr.pool_out_length(5, 2, 2, 1, 1, True) == 3  # ceil gives 4, the 4th starts in the padding
    assert pr.pool_out_length(5, 2, 2, 1, 1, False) == 3
    assert pr.pool_out_length(6, 3, 2, 0, 1, True) == 3 and pr.pool_out_length(6, 3, 2, 0, 1, False) == 2


@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s2_p1", "pair_a", "1d_k3_s1_p1", "k2_s2")]))
def test_stride_defaults_to_kernel_size(case: PoolCase, isa: str, randn: Callable[..., np.ndarray]) -> None:
    x = randn(*case.x_shape)
    fn = pool_fn(case)
    kw = {k: v for k, v in case.kwargs.items() if k != "stride"}
    y, idx = fn(x, **kw, return_indices=True)
    y2, idx2 = fn(x, **kw, stride=case.kernel_size, return_indices=True)
    y3, idx3 = fn(x, **kw, stride=None, return_indices=True)
    for got in ((y2, idx2), (y3, idx3)):
        assert_bits_equal(got[0], y, "y")
        assert_bits_equal(got[1], idx, "indices")


def test_argument_forms(isa: str, randn: Callable[..., np.ndarray]) -> None:
    """Ints, (h, w) tuples and lists, NumPy integers and 1-tuples (max_pool1d) mean the same;
    positional arguments follow torch's order (kernel_size, stride, padding, dilation)."""
    x = randn(2, 3, 11, 13)
    want = ictus.max_pool2d(x, (3, 3), (2, 2), (1, 1), (2, 2), return_indices=True)
    for args in [(3, 2, 1, 2), ([3, 3], [2, 2], [1, 1], [2, 2]), (np.int64(3), np.int32(2), np.int8(1), np.uint16(2)),
                 ((np.int64(3), 3), (2, np.int32(2)), (1, 1), (2, 2))]:
        got = ictus.max_pool2d(x, *args, return_indices=True)
        assert_bits_equal(got[0], want[0], f"y for {args}")
        assert_bits_equal(got[1], want[1], f"indices for {args}")
    got = ictus.max_pool2d(x, kernel_size=3, stride=2, padding=1, dilation=2, ceil_mode=False, return_indices=True)
    assert_bits_equal(got[1], want[1], "keywords")
    x1 = randn(2, 3, 29)
    want1 = ictus.max_pool1d(x1, 3, 2, 1, 2, ceil_mode=True, return_indices=True)
    for args in [((3,), (2,), (1,), (2,)), ([3], [2], [1], [2]), (np.int64(3), np.int64(2), np.int64(1), np.int64(2))]:
        got = ictus.max_pool1d(x1, *args, ceil_mode=True, return_indices=True)
        assert_bits_equal(got[0], want1[0], f"max_pool1d y for {args}")
        assert_bits_equal(got[1], want1[1], f"max_pool1d indices for {args}")
    ry, ri = pr.max_pool1d(x1, 3, 2, 1, 2, ceil_mode=True)
    assert_bits_equal(want1[0], ry, "max_pool1d y vs reference")
    assert_bits_equal(want1[1], ri, "max_pool1d indices vs reference")


@pytest.mark.parametrize("case", params([pool_case(n) for n in ("1d_k3_s2_p1_ceil", "1d_k2_T17_ceil", "1d_k5_s2_p2_d2")]))
def test_max_pool1d_is_max_pool2d_of_height_one(case: PoolCase, isa: str, randn: Callable[..., np.ndarray]) -> None:
    x = randn(*case.x_shape)
    k, s, p, d = case.geometry
    y1, i1 = ictus.max_pool1d(x, **case.kwargs, return_indices=True)
    y2, i2 = ictus.max_pool2d(x[:, :, None, :], (1, k[1]), (1, s[1]), (0, p[1]), (1, d[1]), ceil_mode=case.ceil_mode,
                              return_indices=True)
    assert_bits_equal(y1, y2[:, :, 0], "y")
    assert_bits_equal(i1, i2[:, :, 0], "indices")


def test_out_pair_may_leave_one_to_allocate(isa: str, randn: Callable[..., np.ndarray]) -> None:
    """out=(y, None) / (None, indices) / a list: the named array is written, the other allocated."""
    case = pool_case("k3_s2_p1")
    x = randn(*case.x_shape)
    ry, ri = pr.reference_forward(case, x)
    y_out, i_out = poisoned(case.y_shape), poisoned_indices(case.y_shape)
    y, idx = ictus.max_pool2d(x, **case.kwargs, return_indices=True, out=(y_out, None))
    assert y is y_out
    assert_bits_equal(y, ry, "y")
    assert_bits_equal(idx, ri, "indices")
    y, idx = ictus.max_pool2d(x, **case.kwargs, return_indices=True, out=(None, i_out))
    assert idx is i_out
    assert_bits_equal(y, ry, "y")
    assert_bits_equal(idx, ri, "indices")
    y_out, i_out = poisoned(case.y_shape), poisoned_indices(case.y_shape)
    y, idx = ictus.max_pool2d(x, **case.kwargs, return_indices=True, out=[y_out, i_out])
    assert y is y_out and idx is i_out
    assert_bits_equal(idx, ri, "indices")


def test_out_is_overwritten(isa: str, randn: Callable[..., np.ndarray]) -> None:
    """out= holding earlier results (finite values, valid indices) is overwritten, not merged."""
    case = pool_case("w17_split2_ceil")
    x = randn(*case.x_shape)
    ry, ri = pr.reference_forward(case, x)
    y_out = np.full(case.y_shape, 1e30, np.float32)
    i_out = np.zeros(case.y_shape, np.int64)
    y, idx = ictus.max_pool2d(x, **case.kwargs, return_indices=True, out=(y_out, i_out))
    assert_bits_equal(y, ry, "y")
    assert_bits_equal(idx, ri, "indices")
    gx_out = np.full(case.x_shape, 1e30, np.float32)
    gy = np.ones(case.y_shape, np.float32)
    gx = ictus.max_pool2d_backward(gy, idx, case.x_shape, out=gx_out)
    assert_bits_equal(gx, pr.max_pool_backward(gy, ri, case.x_shape), "grad_x")


ONLY_PADDING = {
    # name: (x shape, kernel_size, stride, padding, dilation)
    "past_the_plane": ((1, 1, 2, 2), 2, 1, 1, 3),  # the index is past the plane's end
    "column_past_the_row": ((1, 1, 4, 2), (2, 2), (2, 1), (0, 1), (1, 3)),  # the index is in the next row
    "1d_past_the_row": ((1, 1, 1), 2, None, 1, 2),
}


def only_padding_case(name: str) -> PoolCase:
    shape, k, s, p, d = ONLY_PADDING[name]
    case = PoolCase(name, shape, k, s, p, d)
    assert pr.has_window_of_only_padding(case)
    return case


@pytest.mark.parametrize("name", list(ONLY_PADDING))
def test_window_of_only_padding_is_refused(name: str, isa: str) -> None:
    """With dilation > the input size a window can skip every input position. torch returns -inf
    there with an index outside the window (its own backward pass then sends the gradient astray,
    or corrupts memory); ictus refuses such geometry, naming the dilation."""
    case = only_padding_case(name)
    x = np.arange(1, 1 + int(np.prod(case.x_shape)), dtype=np.float32).reshape(case.x_shape)
    ry, ri = pr.reference_forward(case, x)
    ty, ti = torch_forward(case, x)
    assert_bits_equal(ry, ty, "reference y vs torch")
    assert_bits_equal(ri, ti, "reference indices vs torch")
    assert (ry == -np.inf).any()
    for return_indices in (False, True):
        op = "max_pool1d" if case.rank == 3 else "max_pool2d"
        with pytest.raises(ValueError, match=rf"^{op}: dilation leaves window \d+.* with no input position"):
            pool_fn(case)(x, **case.kwargs, return_indices=return_indices)


# ------------------------------------------------------------------------------ backward


@pytest.mark.parametrize("case", params(ALL_POOL_CASES))
def test_backward(case: PoolCase, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """grad_x bit for bit the reference's scatter (in output order), with and without the window
    arguments, allocated and into a poisoned out=; against torch.autograd exactly for windows that
    do not overlap, within 1e-6 for sums of overlapping ones."""
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    _, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)  # this ISA's indices
    want = pr.max_pool_backward(gy, idx, case.x_shape)
    bwd = backward_fn(case)
    for window in (False, True):
        kw = case.window_kwargs if window else {}
        for path in PATHS:
            label = f"grad_x [{isa}, {'window args' if window else 'no window args'}, {path}]"
            indices = idx.astype(index_dtype(path))
            if path == "alloc":
                gx = bwd(gy, indices, case.x_shape, **kw)
            else:
                out = poisoned(case.x_shape)
                gx = bwd(gy, indices, case.x_shape, **kw, out=out)
                assert gx is out, "out= must be returned"
            check_output(gx, case.x_shape, np.float32, label)
            assert_bits_equal(gx, want, label)
    tgx = torch_backward(case, x, gy)
    if case.overlapping:
        np.testing.assert_allclose(want, tgx, rtol=1e-6, atol=1e-6 * float(np.abs(gy).max()),
                                   err_msg="grad_x vs torch.autograd (overlapping windows)")
    else:
        assert_bits_equal(want, tgx, "grad_x vs torch.autograd (windows do not overlap)")


@pytest.mark.parametrize("kind", ["ties", "nan_scattered", "mixed"])
@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s1", "k3_s2_p1", "k2_s2_odd_ceil", "pair_a",
                                                               "w17_split3_k2_ceil", "1d_k3_s1_p1",
                                                               "1d_k2_T17_ceil")]))
def test_backward_special_values(case: PoolCase, kind: str, rng: np.random.Generator) -> None:
    """Gradients go where the (NaN / first tied) maxima are, as torch.autograd sends them."""
    x = special_data(kind, case, rng)
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    _, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
    gx = backward_fn(case)(gy, idx, case.x_shape, **case.window_kwargs)
    assert_bits_equal(gx, pr.max_pool_backward(gy, idx, case.x_shape), "grad_x vs reference")
    np.testing.assert_allclose(gx, torch_backward(case, x, gy), rtol=1e-6, atol=1e-6 * float(np.abs(gy).max()),
                               err_msg="grad_x vs torch.autograd")


def test_backward_accumulates_in_output_order() -> None:
    """Many outputs pointing at one input add up in output order (float32 sums are not
    associative, so the order is visible): the sum of 1e8, 1, -1e8, 1 in that order is 1."""
    gy = np.array([[[1e8, 1.0, -1e8, 1.0]]], dtype=np.float32)
    idx = np.zeros((1, 1, 4), np.int64)
    gx = ictus.max_pool1d_backward(gy, idx, (1, 1, 3))
    want = np.float32(0)
    for v in gy.ravel():
        want = np.float32(want + v)
    assert_bits_equal(gx, np.array([[[want, 0, 0]]], np.float32), "grad_x")
    assert_bits_equal(gx, pr.max_pool_backward(gy, idx, (1, 1, 3)), "grad_x vs reference")


def test_backward_arbitrary_indices(rng: np.random.Generator) -> None:
    """The CPU scatter needs only in-range indices, not ones a forward pass produced."""
    gy = rng.standard_normal((2, 3, 5, 6)).astype(np.float32)
    idx = rng.integers(0, 7 * 8, size=gy.shape)
    assert_bits_equal(ictus.max_pool2d_backward(gy, idx, (2, 3, 7, 8)), pr.max_pool_backward(gy, idx, (2, 3, 7, 8)),
                      "grad_x")
    gy1 = rng.standard_normal((2, 3, 9)).astype(np.float32)
    idx1 = rng.integers(0, 4, size=gy1.shape)
    assert_bits_equal(ictus.max_pool1d_backward(gy1, idx1, (2, 3, 4)), pr.max_pool_backward(gy1, idx1, (2, 3, 4)),
                      "grad_x (1d)")


GATHERED = [pool_case(n) for n in ("beat_1x3_over_81", "beat_1x3_over_79_ceil", "keycnn_2x2_25x26_ceil", "k2_s3_ceil",
                                   "gather_k2x3_s3x3_ceil", "gather_rows_k3x1_s4x1_ceil", "gather_k1x2_s1x3",
                                   "out17_split2_ceil", "1d_k2_T2999_ceil")]


def moved_indices(case: PoolCase, idx: np.ndarray, rng: np.random.Generator) -> list[tuple[str, np.ndarray]]:
    """Forward indices with some moved out of their windows but kept in their planes: to the next
    position in the plane (a neighbouring window, a gap or the next row: the position past a row's
    end that ceil mode's overhanging window would read), to the first and to the last position."""
    plane = int(np.prod(case.x_shape[2:]))
    variants = []
    for name, move in (("next position", lambda v: (v + case.geometry[1][1]) % plane),
                       ("first position", lambda v: np.zeros_like(v)), ("last position", lambda v: np.full_like(v, plane - 1))):
        moved = idx.copy()
        flat = moved.reshape(-1)
        picks = rng.choice(flat.size, size=max(1, flat.size // 50), replace=False)
        flat[picks] = move(flat[picks])
        variants.append((name, moved))
    # Only indices at a window's first column, moved to the next window's: every moved index is one
    # window on (a kernel that only checked that indices lie less than two windows on would pass
    # them; with any other index moved, the whole call takes the scatter).
    width, stride_w = case.x_shape[-1], case.geometry[1][-1]
    first_tap = idx.copy()
    flat = first_tap.reshape(-1)
    col = flat % width
    movable = np.flatnonzero((col % stride_w == 0) & (col + stride_w < width))
    if movable.size:
        picks = rng.choice(movable, size=max(1, movable.size // 50), replace=False)
        flat[picks] += stride_w
        variants.append(("next window's first column", first_tap))
    overhang = idx.copy()  # every index of the last window column moved one past it
    overhang[..., -1] += case.geometry[1][1]
    overhang[overhang >= plane] = plane - 1
    variants.append(("past the last windows", overhang))
    return variants


@pytest.mark.parametrize("case", params(GATHERED))
def test_backward_indices_outside_their_windows(case: PoolCase, isa: str, rng: np.random.Generator,
                                                randn: Callable[..., np.ndarray]) -> None:
    """With the window arguments, windows that do not overlap gather grad_x window by window; an
    index outside its window (not what a forward pass returns, but inside the plane) must still
    get the scatter's sum, and one outside the plane (negative, or wrapping to a window position
    in 32 bits) the error."""
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    _, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
    bwd = backward_fn(case)
    for name, moved in moved_indices(case, idx, rng):
        want = pr.max_pool_backward(gy, moved, case.x_shape)
        for dtype in (np.int64, np.int32):
            gx = bwd(gy, moved.astype(dtype), case.x_shape, **case.window_kwargs, out=poisoned(case.x_shape))
            assert_bits_equal(gx, want, f"grad_x [{isa}, {name}, {np.dtype(dtype).name}]")
    op = "max_pool1d_backward" if case.rank == 3 else "max_pool2d_backward"
    for name, offset in (("2^32 added", 2**32), ("2^63 - 2^32 added", 2**63 - 2**32), ("negative", None)):
        bad = idx.copy()
        flat = bad.reshape(-1)
        flat[flat.size // 2] = -1 if offset is None else flat[flat.size // 2] + offset
        with pytest.raises(ValueError, match=rf"^{op}: indices holds positions outside the input planes"):
            bwd(gy, bad, case.x_shape, **case.window_kwargs)
    for name, value in (("negative", -1), ("past the plane", int(np.prod(case.x_shape[2:])))):
        bad = idx.astype(np.int32)
        bad.reshape(-1)[bad.size // 2] = value
        with pytest.raises(ValueError, match=rf"^{op}: indices holds positions outside the input planes"):
            bwd(gy, bad, case.x_shape, **case.window_kwargs)


@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k2_s2_odd_ceil", "w17_split2_ceil", "k3_s2_ceil",
                                                               "1d_k2_T17_ceil", "ceil_drop_k2_s2_p1")]))
def test_backward_window_args_of_ceil_mode(case: PoolCase, randn: Callable[..., np.ndarray]) -> None:
    """max_pool*_backward has no ceil_mode: the window arguments accept grad_y of either rounding."""
    x = randn(*case.x_shape)
    y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
    gy = randn(*y.shape)
    gx = backward_fn(case)(gy, idx, case.x_shape, **case.window_kwargs)
    assert_bits_equal(gx, pr.max_pool_backward(gy, idx, case.x_shape), "grad_x")


OVERHANGING = [c for c in ALL_POOL_CASES if not c.fits_without_ceil]


@pytest.mark.parametrize("case", params(OVERHANGING))
def test_backward_window_args_overhanging_ceil_window(case: PoolCase, randn: Callable[..., np.ndarray]) -> None:
    """In ceil mode a window may be longer than the padded input (torch: output length 1); the
    backward pass must accept that forward call's window arguments."""
    assert case.ceil_mode
    x = randn(*case.x_shape)
    y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
    gy = randn(*y.shape)
    gx = backward_fn(case)(gy, idx, case.x_shape, **case.window_kwargs)
    assert_bits_equal(gx, pr.max_pool_backward(gy, idx, case.x_shape), "grad_x")


@pytest.mark.parametrize("stride", [2**20, 2**40], ids=["2^20", "2^40"])
def test_stride_longer_than_input(stride: int, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """A stride past the input leaves one output per axis (torch cannot take 2^40: no comparison)."""
    for case in (PoolCase("long_stride", (1, 2, 5, 7), 2, stride), PoolCase("long_stride_p", (1, 2, 5, 7), 3, stride, 1),
                 PoolCase("long_stride_ceil", (1, 2, 5, 7), (2, 3), (stride, 2), 0, 1, True),
                 PoolCase("long_stride_1d", (2, 2, 9), 4, stride, 2, 2, True)):
        x = randn(*case.x_shape)
        ry, ri = check_forward_all_paths(case, x, f"{isa}, {case.name}")
        gy = randn(*case.y_shape)
        for kw in ({}, case.window_kwargs):
            assert_bits_equal(backward_fn(case)(gy, ri, case.x_shape, **kw), pr.max_pool_backward(gy, ri, case.x_shape),
                              f"grad_x [{case.name}]")


# ------------------------------------------------------------------- threads and determinism


DETERMINISM_CASES = [pool_case(n) for n in ("beat_1x3_over_81", "keycnn_2x2_100x105", "1d_k2_T30000", "k3_s1",
                                            "pair_e", "w49_lanes_k3_s2_p1")]


@pytest.mark.parametrize("case", params(DETERMINISM_CASES))
def test_threads_and_repeats_bitwise(case: PoolCase, isa: str, rng: np.random.Generator,
                                     randn: Callable[..., np.ndarray], restore_num_threads: int) -> None:
    """1 and 2 threads, and repeated calls, give the same bits (forward and backward)."""
    x = special_data("mixed", case, rng)
    gy = randn(*case.y_shape)
    runs = []
    for threads in (1, 2, 2, 1):
        ictus.set_num_threads(threads)
        y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
        y_only = pool_fn(case)(x, **case.kwargs)
        gx = backward_fn(case)(gy, idx, case.x_shape)
        runs.append((threads, y, idx, y_only, gx))
    for threads, *results in runs[1:]:
        for name, a, b in zip(("y", "indices", "y without indices", "grad_x"), runs[0][1:], results):
            assert_bits_equal(b, a, f"{name} with {threads} thread(s) vs 1 thread")
    ry, ri = pr.reference_forward(case, x)
    assert_bits_equal(runs[0][1], ry, "y")
    assert_bits_equal(runs[0][2], ri, "indices")


# ---------------------------------------------------------------------- inputs and layouts


def test_inputs_not_modified(isa: str, rng: np.random.Generator, randn: Callable[..., np.ndarray]) -> None:
    for case in (pool_case("k3_s2_p1"), pool_case("w17_split3_ceil"), pool_case("1d_k2_T17_ceil")):
        x = special_data("mixed", case, rng)
        x_copy = x.copy()
        y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
        pool_fn(case)(x, **case.kwargs, out=poisoned(case.y_shape))
        gy = randn(*case.y_shape)
        gy_copy, idx_copy = gy.copy(), idx.copy()
        backward_fn(case)(gy, idx, case.x_shape)
        backward_fn(case)(gy, idx, case.x_shape, **case.window_kwargs, out=poisoned(case.x_shape))
        for name, a, c in (("x", x, x_copy), ("grad_y", gy, gy_copy), ("indices", idx, idx_copy)):
            assert_bits_equal(a, c, f"{name} was modified [{case.name}]")


def make_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The values of `a` (any dtype) in a non-contiguous or unaligned array."""
    if layout == "transposed":
        v = np.ascontiguousarray(a.T).T
    elif layout == "strided":
        big = np.zeros(a.shape[:-1] + (2 * a.shape[-1],), a.dtype)
        big[..., ::2] = a
        big[..., 1::2] = -12345  # what a kernel reading with the wrong stride would see
        v = big[..., ::2]
    elif layout == "reversed":
        v = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    elif layout == "fortran":
        v = np.asfortranarray(a)
    elif layout == "unaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        v = buf[1:].view(a.dtype).reshape(a.shape)
        v[...] = a
    else:
        raise AssertionError(layout)
    assert_bits_equal(v, a, f"{layout} copy")
    assert not (v.flags.c_contiguous and v.flags.aligned), f"{layout} layout is contiguous and aligned"
    return v


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed", "fortran", "unaligned"])
@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s2_p1", "w17_split2_ceil", "1d_k3_s1_p1")]))
def test_noncontiguous_inputs(case: PoolCase, layout: str, isa: str, randn: Callable[..., np.ndarray]) -> None:
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    ry, ri = pr.reference_forward(case, x)
    xv = make_layout(x, layout)
    y, idx = pool_fn(case)(xv, **case.kwargs, return_indices=True)
    assert_bits_equal(y, ry, f"y from a {layout} x")
    assert_bits_equal(idx, ri, f"indices from a {layout} x")
    assert_bits_equal(pool_fn(case)(xv, **case.kwargs), ry, f"y without indices from a {layout} x")
    gyv, idxv = make_layout(gy, layout), make_layout(ri, layout)
    gx = backward_fn(case)(gyv, idxv, case.x_shape, **case.window_kwargs)
    assert_bits_equal(gx, pr.max_pool_backward(gy, ri, case.x_shape), f"grad_x from {layout} grad_y and indices")
    assert_bits_equal(xv, x, "x view was written")


def test_torch_cpu_tensors_accepted(isa: str, randn: Callable[..., np.ndarray]) -> None:
    """torch CPU tensors go in through DLPack and give bit for bit the NumPy result; torch's own
    int64 indices feed the backward pass."""
    torch = pytest.importorskip("torch")
    import torch.nn.functional as F

    for case in (pool_case("k3_s2_p1"), pool_case("w16_split3_ceil"), pool_case("1d_k2_T17_ceil")):
        x = randn(*case.x_shape)
        gy = randn(*case.y_shape)
        want_y, want_i = pool_fn(case)(x, **case.kwargs, return_indices=True)
        y, idx = pool_fn(case)(torch.from_numpy(x), **case.kwargs, return_indices=True)
        assert isinstance(y, np.ndarray) and isinstance(idx, np.ndarray)
        assert_bits_equal(y, want_y, "y from a tensor")
        assert_bits_equal(idx, want_i, "indices from a tensor")
        fn = F.max_pool1d if case.rank == 3 else F.max_pool2d
        _, ti = fn(torch.from_numpy(x), **case.kwargs, return_indices=True)
        gx = backward_fn(case)(torch.from_numpy(gy), ti, tuple(torch.from_numpy(x).shape), **case.window_kwargs)
        assert_bits_equal(gx, pr.max_pool_backward(gy, want_i, case.x_shape), "grad_x from tensors")
        # non-contiguous tensors are right too
        xt = torch.from_numpy(np.ascontiguousarray(np.swapaxes(x, 0, -1))).transpose(0, -1)
        assert not xt.is_contiguous()
        assert_bits_equal(pool_fn(case)(xt, **case.kwargs), want_y, "y from a non-contiguous tensor")


def test_torch_tensors_are_not_copied() -> None:
    """DLPack input shares memory: writing the tensor between calls changes the result."""
    torch = pytest.importorskip("torch")
    xt = torch.zeros(1, 1, 4, 4) - 1
    assert ictus.max_pool2d(xt, 2)[0, 0, 1, 1] == -1.0
    xt[0, 0, 3, 3] = 5.0
    y, idx = ictus.max_pool2d(xt, 2, return_indices=True)
    assert y[0, 0, 1, 1] == 5.0 and idx[0, 0, 1, 1] == 15


# --------------------------------------------------------------------------- kernel names


def test_kernel_names(isa: str) -> None:
    assert ictus.kernel_name("max_pool2d_fwd") == f"max_pool_fwd_{isa}"
    assert ictus.kernel_name("max_pool1d_fwd") == f"max_pool_fwd_{isa}"
    assert ictus.kernel_name("max_pool2d_bwd") == f"max_pool_bwd_{isa}"
    assert ictus.kernel_name("max_pool1d_bwd") == f"max_pool_bwd_{isa}"


# ----------------------------------------------------------------- random shapes (hypothesis)


@st.composite
def pool_cases(draw: st.DrawFn) -> PoolCase:
    rank = draw(st.sampled_from([3, 4, 4]))
    axes = 1 if rank == 3 else 2
    k, s, p, d, size = [], [], [], [], []
    ceil = draw(st.booleans())
    default_stride = draw(st.integers(0, 4)) == 0  # stride=None: the kernel size

    def smallest(k: int, s: int, p: int, d: int) -> int:
        """The shortest input the window fits (in ceil mode it may overhang by up to s - 1)."""
        return max(1, d * (k - 1) + 1 - 2 * p - (s - 1 if ceil else 0))

    for axis in range(axes):
        k.append(draw(st.integers(1, 6)))
        s.append(k[-1] if default_stride else draw(st.sampled_from([1, 2, 2, 3, 3, 4, 5, 9])))
        p.append(draw(st.integers(0, k[-1] // 2)))
        d.append(draw(st.sampled_from([1, 1, 1, 2, 3])))
        low = smallest(k[-1], s[-1], p[-1], d[-1])
        size.append(draw(st.integers(low, low + (12 if axis == 0 and rank == 4 else 40))))
    n, c = draw(st.integers(1, 2)), draw(st.integers(1, 3))
    if rank == 3:
        stride: Any = None if default_stride else draw(st.sampled_from([s[0], (s[0],)]))
        return PoolCase("hyp", (n, c, size[0]), k[0], stride, p[0], d[0], ceil)
    pairs = draw(st.booleans())
    as_arg = (lambda v: tuple(v)) if pairs else (lambda v: v[0])
    if not pairs:  # ints: both axes equal
        k, s, p, d = [k[0]] * 2, [s[0]] * 2, [p[0]] * 2, [d[0]] * 2
        size = [max(v, smallest(k[0], s[0], p[0], d[0])) for v in size]
    stride = None if default_stride else as_arg(s)
    return PoolCase("hyp", (n, c, *size), as_arg(k), stride, as_arg(p), as_arg(d), ceil)


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=pool_cases(), kind=st.sampled_from(["normal", *KINDS]), seed=st.integers(0, 2**32 - 1),
       window=st.booleans())
def test_random_geometries_every_isa(case: PoolCase, kind: str, seed: int, window: bool) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x_shape).astype(np.float32) if kind == "normal" else special_data(kind, case, rng)
    ry, ri = pr.reference_forward(case, x)
    ty, ti = torch_forward(case, x)
    assert_bits_equal(ry, ty, f"reference y vs torch for {case}")
    assert_bits_equal(ri, ti, f"reference indices vs torch for {case}")
    if pr.has_window_of_only_padding(case):  # refused: see test_window_of_only_padding_is_refused
        with pytest.raises(ValueError, match=r"dilation leaves window"):
            pool_fn(case)(x, **case.kwargs)
        return
    for name in ictus.cpu_isas():
        with ictus.use_cpu_isa(name):
            y, idx = forward(case, x, "out_poisoned")
            y_only = forward(case, x, "out_poisoned", return_indices=False)
        assert_bits_equal(y, ry, f"y [{name}] for {case}")
        assert_bits_equal(idx, ri, f"indices [{name}] for {case}")
        assert_bits_equal(y_only, ry, f"y without indices [{name}] for {case}")
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    want = pr.max_pool_backward(gy, ri, case.x_shape)
    for name in ictus.cpu_isas():
        with ictus.use_cpu_isa(name):
            gx = backward_fn(case)(gy, ri, case.x_shape, **(case.window_kwargs if window else {}),
                                   out=poisoned(case.x_shape))
        assert_bits_equal(gx, want, f"grad_x [{name}] for {case}")
