"""Bad arguments to max_pool2d / max_pool1d and their backward passes: each raises TypeError or
ValueError whose message starts with the op and names the argument ("max_pool2d: stride must be
..."), and, where there is one, says the fix (CONVENTIONS, habit 8).

Every case starts from a valid call and breaks one thing. max_pool2d: x (2, 3, 10, 12), kernel 2
-> y (2, 3, 5, 6); max_pool1d: x (2, 3, 10), kernel 2 -> y (2, 3, 5); the backward passes take
that grad_y, int64 indices and input_shape = x's shape.
"""
from __future__ import annotations

import types
from typing import Any

import ictus
import numpy as np
import pytest

X2, Y2 = (2, 3, 10, 12), (2, 3, 5, 6)
X1, Y1 = (2, 3, 10), (2, 3, 5)
FWD = ["max_pool2d", "max_pool1d"]
BWD = ["max_pool2d_backward", "max_pool1d_backward"]
SHAPES = {"max_pool2d": (X2, Y2), "max_pool1d": (X1, Y1), "max_pool2d_backward": (X2, Y2),
          "max_pool1d_backward": (X1, Y1)}


def f32(*shape: int, fill: float = 0.5) -> np.ndarray:
    return np.full(shape, fill, dtype=np.float32)


def i64(*shape: int, fill: int = 0) -> np.ndarray:
    return np.full(shape, fill, dtype=np.int64)


def call(op: str, **changes: Any) -> Any:
    """The valid call of `op` with `changes` applied (x, grad_y, indices, input_shape, kernel_size,
    stride, padding, dilation, ceil_mode, return_indices, index_dtype, out). Backward calls get no
    window arguments unless a change names one."""
    x_shape, y_shape = SHAPES[op]
    args: dict[str, Any] = {"x": f32(*x_shape), "grad_y": f32(*y_shape), "indices": i64(*y_shape),
                            "input_shape": x_shape, "kernel_size": 2, "stride": None, "padding": 0, "dilation": 1,
                            "ceil_mode": False, "return_indices": False, "index_dtype": None, "out": None}
    unknown = set(changes) - set(args)
    assert not unknown, unknown
    args.update(changes)
    window = {k: args[k] for k in ("kernel_size", "stride", "padding", "dilation")}
    if op in FWD:
        fn = ictus.max_pool2d if op == "max_pool2d" else ictus.max_pool1d
        return fn(args["x"], **window, ceil_mode=args["ceil_mode"], return_indices=args["return_indices"],
                  index_dtype=args["index_dtype"], out=args["out"])
    fn = ictus.max_pool2d_backward if op == "max_pool2d_backward" else ictus.max_pool1d_backward
    given = {k: v for k, v in window.items() if k in changes}
    return fn(args["grad_y"], args["indices"], args["input_shape"], **given, out=args["out"])


def case(changes: dict[str, Any], exc: type[Exception], match: str, id: str, ops: list[str]) -> list[Any]:
    return [pytest.param(op, changes, exc, match, id=f"{op}-{id}") for op in ops]


def per_op(make: Any, exc: type[Exception], match: str, id: str, ops: list[str]) -> list[Any]:
    """Like case(), with the changes built per op by make(op) (shapes differ between the ranks)."""
    return [pytest.param(op, make(op), exc, match, id=f"{op}-{id}") for op in ops]


def rank_of(op: str) -> int:
    return len(SHAPES[op][0])


DTYPES = ["float64", "float16", "int32", "int64", "bool", "complex64", ">f4"]
BAD_INTS = [1.0, 2.5, True, False, "2", np.float32(2.0), np.array([2, 2]), {"k": 2}]
WINDOW_ARGS = ["kernel_size", "stride", "padding", "dilation"]

CASES: list[Any] = [
    # x: dtype (TypeError with the cast), not an array, rank, empty dimensions
    *[p for dt in DTYPES for p in per_op(lambda op, dt=dt: {"x": np.ones(SHAPES[op][0], dtype=dt)}, TypeError,
                                         r"^{op}: x must be float32.*x\.astype\(np\.float32\)", f"x_{dt}", FWD)],
    *case({"x": [[[[0.5] * 12] * 10] * 3] * 2}, TypeError, r"^{op}: x must be a NumPy array.*np\.asarray\(x", "x_list",
          FWD),
    *case({"x": None}, TypeError, r"^{op}: x must be a NumPy array", "x_None", FWD),
    *case({"x": 1.0}, TypeError, r"^{op}: x must be a NumPy array", "x_float", FWD),
    *case({"x": np.float32(1.0)}, TypeError, r"^{op}: x must be a NumPy array", "x_numpy_scalar", FWD),
    *case({"x": f32(3, 10)}, ValueError, r"^max_pool2d: x must have rank 4 \(N, C, H, W\)", "x_rank2",
          ["max_pool2d"]),
    *case({"x": f32(2, 3, 10)}, ValueError, r"^max_pool2d: x must have rank 4 \(N, C, H, W\)", "x_rank3",
          ["max_pool2d"]),
    *case({"x": f32(1, 2, 3, 10, 12)}, ValueError, r"^max_pool2d: x must have rank 4", "x_rank5", ["max_pool2d"]),
    *case({"x": f32(3, 10)}, ValueError, r"^max_pool1d: x must have rank 3 \(N, C, T\)", "x_rank2", ["max_pool1d"]),
    *case({"x": f32(2, 3, 10, 12)}, ValueError, r"^max_pool1d: x must have rank 3 \(N, C, T\)", "x_rank4",
          ["max_pool1d"]),
    *case({"x": np.array(1.0, np.float32)}, ValueError, r"^{op}: x must have rank", "x_rank0", FWD),
    *[p for axis in range(4) for p in
      case({"x": f32(*[0 if a == axis else s for a, s in enumerate(X2)])}, ValueError,
           r"^{op}: x has an empty dimension", f"x_empty_axis{axis}", ["max_pool2d"])],
    *[p for axis in range(3) for p in
      case({"x": f32(*[0 if a == axis else s for a, s in enumerate(X1)])}, ValueError,
           r"^{op}: x has an empty dimension", f"x_empty_axis{axis}", ["max_pool1d"])],
    # window arguments: ints >= 1 (padding >= 0), bool and float refused
    # (the backward pass checks them only with kernel_size: without it the CPU needs no window)
    *[p for name in ("kernel_size", "stride", "dilation") for v in (0, -1, -2**70) for p in
      case({"kernel_size": 2, name: v}, ValueError, rf"^{{op}}: {name} must be >= 1", f"{name}_{v}", FWD + BWD)],
    *case({"kernel_size": 2, "padding": -1}, ValueError, r"^{op}: padding must be >= 0", "padding_-1", FWD + BWD),
    *[p for name in WINDOW_ARGS for i, v in enumerate(BAD_INTS) for p in
      case({name: v}, TypeError, rf"^{{op}}: {name} must be an int", f"{name}_bad{i}_{type(v).__name__}", FWD)],
    *[p for name in ("kernel_size", "padding", "dilation") for p in
      case({name: None}, TypeError, rf"^{{op}}: {name} must be an int", f"{name}_None", FWD)],
    # pairs: (h, w) for max_pool2d, 1-tuples for max_pool1d; each entry checked
    *[p for name in WINDOW_ARGS for v in ((2, 2, 2), (2,), ()) for p in
      case({"kernel_size": 2, name: v}, ValueError, rf"^{{op}}: {name} pair must be \(h, w\)", f"{name}_len{len(v)}",
           ["max_pool2d", "max_pool2d_backward"])],
    *[p for name in WINDOW_ARGS for v in ((2, 2), ()) for p in
      case({"kernel_size": 2, name: v}, ValueError, rf"^{{op}}: {name} must be an int or a 1-tuple", f"{name}_len{len(v)}",
           ["max_pool1d", "max_pool1d_backward"])],
    *case({"kernel_size": (2, 0)}, ValueError, r"^{op}: kernel_size must be >= 1", "kernel_pair_0",
          ["max_pool2d"]),
    *case({"stride": (1, 0)}, ValueError, r"^{op}: stride must be >= 1", "stride_pair_0", ["max_pool2d"]),
    *case({"padding": (0, -1)}, ValueError, r"^{op}: padding must be >= 0", "padding_pair_neg", ["max_pool2d"]),
    *case({"kernel_size": (2, 1.5)}, TypeError, r"^{op}: kernel_size must be an int", "kernel_pair_float",
          ["max_pool2d"]),
    *case({"stride": (None, 2)}, TypeError, r"^{op}: stride must be an int", "stride_pair_None", ["max_pool2d"]),
    *case({"dilation": (True,)}, TypeError, r"^{op}: dilation must be an int", "dilation_1tuple_bool",
          ["max_pool1d"]),
    # padding at most half the kernel
    *case({"kernel_size": 3, "stride": 1, "padding": 2}, ValueError,
          r"^{op}: padding is 2 along the height but may be at most half the kernel size \(3 // 2 = 1\)",
          "padding_gt_half", ["max_pool2d", "max_pool2d_backward"]),
    *case({"kernel_size": 3, "stride": 1, "padding": (0, 2)}, ValueError,
          r"^{op}: padding is 2 along the width but may be at most half the kernel size", "padding_gt_half_w",
          ["max_pool2d"]),
    *case({"kernel_size": (3, 1), "stride": 1, "padding": (1, 1)}, ValueError,
          r"^{op}: padding is 1 along the width but may be at most half the kernel size \(1 // 2 = 0\)",
          "padding_with_kernel_1", ["max_pool2d"]),
    *case({"kernel_size": 2, "padding": 2}, ValueError,
          r"^{op}: padding is 2 but may be at most half the kernel size \(2 // 2 = 1\)", "padding_gt_half",
          ["max_pool1d", "max_pool1d_backward"]),
    *case({"kernel_size": 3, "padding": 2, "dilation": 3}, ValueError,
          r"^{op}: padding is 2 .*may be at most half the kernel size", "padding_gt_half_dilated", FWD),
    # the window longer than the padded input
    *case({"kernel_size": 11, "stride": 1}, ValueError,
          r"^{op}: kernel_size spans 11 positions .*along the height but the padded input has 10",
          "window_H", ["max_pool2d"]),
    *case({"kernel_size": (2, 13), "stride": 1}, ValueError,
          r"^{op}: kernel_size spans 13 positions .*along the width but the padded input has 12",
          "window_W", ["max_pool2d"]),
    *case({"kernel_size": 3, "stride": 1, "dilation": 6}, ValueError,
          r"^{op}: kernel_size spans 13 positions \(dilation \* \(kernel - 1\) \+ 1\).* padded input has 10",
          "window_dilated", FWD),
    *case({"kernel_size": 13, "stride": 1, "padding": 1}, ValueError,
          r"^{op}: kernel_size spans 13 positions .*the padded input has 12", "window_padded", ["max_pool2d"]),
    *case({"kernel_size": 11}, ValueError, r"^{op}: kernel_size spans 11 positions \(dilation \* \(kernel - 1\) \+ 1\) but the padded input has 10",
          "window_T", ["max_pool1d"]),
    *case({"kernel_size": 13, "stride": 1, "ceil_mode": True}, ValueError,
          r"^{op}: kernel_size spans 13 positions .*padded input has 1[02]", "window_ceil", FWD),
    # absurd sizes: refused before any index overflows
    *[p for v in (2**62, 2**70) for p in case({"stride": v}, ValueError, r"^{op}: stride is too large",
                                              f"stride_huge_{v}", FWD)],
    *[p for v in (2**62, 2**70) for p in case({"padding": v}, ValueError, r"^{op}: padding ",
                                              f"padding_huge_{v}", FWD)],
    *case({"kernel_size": 2**62}, ValueError, r"^{op}: kernel_size is too large", "kernel_huge", FWD),
    *case({"kernel_size": 2**41}, ValueError, r"^{op}: (kernel_size|dilation) .*too large", "kernel_2e41", FWD),
    *case({"kernel_size": 3, "dilation": 2**50}, ValueError, r"^{op}: dilation .*too large", "dilation_huge", FWD),
    # grad_y and indices
    *[p for dt in ("float64", "float16", "int64") for p in
      per_op(lambda op, dt=dt: {"grad_y": np.ones(SHAPES[op][1], dtype=dt)}, TypeError,
             r"^{op}: grad_y must be float32.*grad_y\.astype\(np\.float32\)", f"grad_y_{dt}", BWD)],
    *case({"grad_y": None}, TypeError, r"^{op}: grad_y must be a NumPy array", "grad_y_None", BWD),
    *per_op(lambda op: {"grad_y": f32(*SHAPES[op][1]).tolist()}, TypeError, r"^{op}: grad_y must be a NumPy array",
            "grad_y_list", BWD),
    *[p for dt in ("int16", "uint64", "float32", "float64", ">i8", ">i4", "bool") for p in
      per_op(lambda op, dt=dt: {"indices": np.zeros(SHAPES[op][1], dtype=dt)}, TypeError,
             r"^{op}: indices must be int64.*indices that the forward pass returned", f"indices_{dt}", BWD)],
    *case({"indices": None}, TypeError, r"^{op}: indices must be a NumPy array", "indices_None", BWD),
    *per_op(lambda op: {"grad_y": f32(*SHAPES[op][1][1:])}, ValueError, r"^{op}: grad_y must have rank",
            "grad_y_rank", BWD),
    *per_op(lambda op: {"indices": i64(*SHAPES[op][1][1:])}, ValueError, r"^{op}: indices must have rank",
            "indices_rank", BWD),
    *per_op(lambda op: {"grad_y": f32(*SHAPES[op][1], 1), "indices": i64(*SHAPES[op][1], 1)}, ValueError,
            r"^{op}: grad_y must have rank", "rank_plus_one", BWD),
    *per_op(lambda op: {"grad_y": f32(0, *SHAPES[op][1][1:]), "indices": i64(0, *SHAPES[op][1][1:])}, ValueError,
            r"^{op}: grad_y has an empty dimension", "grad_y_empty", BWD),
    *[p for axis in range(4) for p in
      case({"indices": i64(*[s + 1 if a == axis else s for a, s in enumerate(Y2)])}, ValueError,
           r"^{op}: indices must have grad_y's shape \(2, 3, 5, 6\)", f"indices_shape_axis{axis}",
           ["max_pool2d_backward"])],
    *case({"indices": i64(2, 3, 4)}, ValueError, r"^{op}: indices must have grad_y's shape \(2, 3, 5\)",
          "indices_shape", ["max_pool1d_backward"]),
    # indices outside the plane: -1, the plane size, huge, one bad among good ones
    *[p for v in (-1, -2**62, 2**62) for p in
      per_op(lambda op, v=v: {"indices": i64(*SHAPES[op][1], fill=v)}, ValueError,
             r"^{op}: indices holds positions outside the input planes", f"indices_{v}", BWD)],
    *case({"indices": i64(*Y2, fill=120)}, ValueError, r"^{op}: indices holds positions outside",
          "indices_plane_size", ["max_pool2d_backward"]),
    *case({"indices": i64(*Y1, fill=10)}, ValueError, r"^{op}: indices holds positions outside",
          "indices_plane_size", ["max_pool1d_backward"]),
    *case({"indices": np.where(np.arange(180).reshape(Y2) == 179, 120, 0)}, ValueError,
          r"^{op}: indices holds positions outside", "indices_last_one_bad", ["max_pool2d_backward"]),
    *case({"indices": np.where(np.arange(30).reshape(Y1) == 0, -1, 9)}, ValueError,
          r"^{op}: indices holds positions outside", "indices_first_one_bad", ["max_pool1d_backward"]),
    *case({"indices": i64(*Y2, fill=10 * 12 - 1), "input_shape": (2, 3, 10, 11)}, ValueError,
          r"^{op}: indices holds positions outside", "indices_for_a_larger_input", ["max_pool2d_backward"]),
    # input_shape
    *[p for v in (None, "2, 3, 10", 10, np.array([2, 3, 10, 12]), (2, 3), (2, 3, 10, 12, 1)) for p in
      case({"input_shape": v}, TypeError, r"^{op}: input_shape must be the forward input's shape, a tuple of 4 ints",
           f"input_shape_{type(v).__name__}_{np.size(v) if v is not None else 0}", ["max_pool2d_backward"])],
    *[p for v in ((2, 3), (2, 3, 10, 1)) for p in
      case({"input_shape": v}, TypeError, r"^{op}: input_shape must be the forward input's shape, a tuple of 3 ints",
           f"input_shape_len{len(v)}", ["max_pool1d_backward"])],
    *case({"input_shape": (2, 3, 0, 12)}, ValueError, r"^{op}: input_shape must be >= 1", "input_shape_0",
          ["max_pool2d_backward"]),
    *case({"input_shape": (2, 3, -10)}, ValueError, r"^{op}: input_shape must be >= 1", "input_shape_neg",
          ["max_pool1d_backward"]),
    *case({"input_shape": (2, 3, 10.0, 12)}, TypeError, r"^{op}: input_shape must be an int", "input_shape_float",
          ["max_pool2d_backward"]),
    *case({"input_shape": (2, 3, True)}, TypeError, r"^{op}: input_shape must be an int", "input_shape_bool",
          ["max_pool1d_backward"]),
    *case({"input_shape": (2, 3, 2**62)}, ValueError, r"^{op}: input_shape is too large", "input_shape_huge",
          ["max_pool1d_backward"]),
    *per_op(lambda op: {"input_shape": (3, *SHAPES[op][0][1:])}, ValueError,
            r"^{op}: input_shape has batch and channels \(3, 3\) but grad_y has \(2, 3\)", "input_shape_N", BWD),
    *per_op(lambda op: {"input_shape": (2, 4, *SHAPES[op][0][2:])}, ValueError,
            r"^{op}: input_shape has batch and channels \(2, 4\) but grad_y has \(2, 3\)", "input_shape_C", BWD),
    # window arguments given to the backward pass must give grad_y's shape
    *[p for kw in ({"kernel_size": 3}, {"kernel_size": 2, "stride": 1}, {"kernel_size": 2, "padding": 1},
                   {"kernel_size": 2, "dilation": 3}) for p in
      case(kw, ValueError, r"^{op}: grad_y has shape \(2, 3, 5(, 6)?\), which these pooling parameters do not give",
           "window_mismatch_" + "_".join(f"{k}{v}" for k, v in kw.items()), BWD)],
    *case({"kernel_size": 11}, ValueError, r"^{op}: kernel_size spans 11 positions", "window_too_long", BWD),
]


@pytest.mark.parametrize("op,changes,exc,match", CASES)
def test_bad_argument(op: str, changes: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match.format(op=op)):
        call(op, **changes)


@pytest.mark.parametrize("op", FWD + BWD)
def test_the_valid_call_is_valid(op: str) -> None:
    """The base call of this file works, so each case above fails for its one change."""
    x_shape, y_shape = SHAPES[op]
    if op in FWD:
        assert call(op).shape == y_shape
        y, idx = call(op, return_indices=True)
        assert y.shape == idx.shape == y_shape
    else:
        assert call(op).shape == x_shape
        assert call(op, kernel_size=2, stride=2, padding=0, dilation=1).shape == x_shape
        last = int(np.prod(x_shape[2:])) - 1
        assert call(op, indices=i64(*y_shape, fill=last)).shape == x_shape  # the last position is in range


@pytest.mark.parametrize("op", FWD)
def test_window_that_fits_only_in_ceil_mode(op: str) -> None:
    """A window longer than the input by less than a stride is refused in floor mode and accepted
    in ceil mode (one output), as torch does."""
    with pytest.raises(ValueError, match=rf"^{op}: kernel_size spans 11 positions"):
        call(op, kernel_size=11)
    y = call(op, kernel_size=11, ceil_mode=True)
    assert y.shape[2:] == ((1, 2) if op == "max_pool2d" else (1,))


# ----------------------------------------------------------------------------------- out=


def readonly(a: np.ndarray) -> np.ndarray:
    a.flags.writeable = False
    return a


def unaligned(shape: tuple[int, ...], dtype: Any) -> np.ndarray:
    dtype = np.dtype(dtype)
    buf = np.zeros(int(np.prod(shape)) * dtype.itemsize + 1, np.uint8)
    return buf[1:].view(dtype).reshape(shape)


@pytest.mark.parametrize("op", FWD)
def test_out_wrong_shape_or_dtype(op: str) -> None:
    _, y = SHAPES[op]
    shape_str = re_shape(y)
    bigger = (*y[:-1], y[-1] + 1)
    with pytest.raises(ValueError, match=rf"^{op}: out must have shape {shape_str}, got"):
        call(op, out=f32(*bigger))
    with pytest.raises(ValueError, match=rf"^{op}: out must have (shape|rank)"):
        call(op, out=f32(int(np.prod(y))))
    for dt in ("float64", "float16", "int64", ">f4"):
        with pytest.raises(TypeError, match=rf"^{op}: out must be float32"):
            call(op, out=np.zeros(y, dt))
    # with return_indices: out is a (y, indices) pair, each checked
    with pytest.raises(ValueError, match=rf"^{op}: out(\[0\])? must have shape {shape_str}"):
        call(op, return_indices=True, out=(f32(*bigger), i64(*y)))
    with pytest.raises(ValueError, match=rf"^{op}: out\[1\] must have shape {shape_str}"):
        call(op, return_indices=True, out=(f32(*y), i64(*bigger)))
    for dt in ("int16", "float32", "uint64", ">i8", ">i4"):
        with pytest.raises(TypeError, match=rf"^{op}: out\[1\] must be int64"):
            call(op, return_indices=True, out=(f32(*y), np.zeros(y, dt)))
    with pytest.raises(TypeError, match=rf"^{op}: out(\[0\])? must be float32"):
        call(op, return_indices=True, out=(np.zeros(y), i64(*y)))
    # index_dtype: int64 or int32, and out[1] of that dtype
    for bad in ("int16", "uint32", "float32", 5, "nonsense", object):
        with pytest.raises(ValueError, match=rf"^{op}: index_dtype must be int64 or int32"):
            call(op, return_indices=True, index_dtype=bad)
    with pytest.raises(TypeError, match=rf"^{op}: out\[1\] must be int32 \(index_dtype\), got int64"):
        call(op, return_indices=True, index_dtype="int32", out=(f32(*y), i64(*y)))
    with pytest.raises(TypeError, match=rf"^{op}: out\[1\] must be int64 \(index_dtype\), got int32"):
        call(op, return_indices=True, index_dtype=np.int64, out=(f32(*y), np.zeros(y, np.int32)))


def re_shape(shape: tuple[int, ...]) -> str:
    return "\\(" + ", ".join(map(str, shape)) + ("," if len(shape) == 1 else "") + "\\)"


@pytest.mark.parametrize("op", FWD)
@pytest.mark.parametrize("out", ["array", "triple", "one", "str", "list_of_three"])
def test_out_not_a_pair_with_return_indices(op: str, out: str) -> None:
    _, y = SHAPES[op]
    given = {"array": f32(*y), "triple": (f32(*y), i64(*y), None), "one": (f32(*y),), "str": "out",
             "list_of_three": [0.0, 0.0, 0.0]}[out]
    with pytest.raises(TypeError, match=rf"^{op}: out must be a \(y, indices\) pair when return_indices=True"):
        call(op, return_indices=True, out=given)


@pytest.mark.parametrize("op", FWD)
def test_out_pair_without_return_indices(op: str) -> None:
    _, y = SHAPES[op]
    with pytest.raises(TypeError, match=rf"^{op}: out must be a NumPy array"):
        call(op, out=(f32(*y), i64(*y)))


@pytest.mark.parametrize("op", FWD + BWD)
@pytest.mark.parametrize("layout", ["strided", "fortran", "transposed", "unaligned"])
def test_out_not_contiguous(op: str, layout: str) -> None:
    shape = SHAPES[op][1] if op in FWD else SHAPES[op][0]
    if layout == "strided":
        out = f32(*shape[:-1], 2 * shape[-1])[..., ::2]
    elif layout == "fortran":
        out = np.asfortranarray(f32(*shape))
    elif layout == "transposed":
        out = f32(*shape[::-1]).T
    else:
        out = unaligned(shape, np.float32)
    assert out.shape == shape
    with pytest.raises(ValueError, match=rf"^{op}: out must be C-contiguous"):
        call(op, out=out)
    if op in FWD:
        idx = unaligned(shape, np.int64) if layout == "unaligned" else np.asfortranarray(i64(*shape))
        with pytest.raises(ValueError, match=rf"^{op}: out\[1\] must be C-contiguous"):
            call(op, return_indices=True, out=(f32(*shape), idx))


@pytest.mark.parametrize("op", FWD + BWD)
def test_out_read_only(op: str) -> None:
    shape = SHAPES[op][1] if op in FWD else SHAPES[op][0]
    with pytest.raises(ValueError, match=rf"^{op}: out is read-only"):
        call(op, out=readonly(f32(*shape)))
    if op in FWD:
        with pytest.raises(ValueError, match=rf"^{op}: out\[1\] is read-only"):
            call(op, return_indices=True, out=(f32(*shape), readonly(i64(*shape))))


@pytest.mark.parametrize("op", FWD + BWD)
@pytest.mark.parametrize("out", ["list", "float", "str"])
def test_out_not_an_array(op: str, out: str) -> None:
    shape = SHAPES[op][1] if op in FWD else SHAPES[op][0]
    given = {"list": f32(*shape).tolist(), "float": 3.0, "str": "out"}[out]
    with pytest.raises(TypeError, match=rf"^{op}: out must be a NumPy array"):
        call(op, out=given)
    if op in FWD:
        with pytest.raises(TypeError, match=rf"^{op}: out\[1\] must be a NumPy array"):
            call(op, return_indices=True, out=(f32(*shape), given))


@pytest.mark.parametrize("op", FWD + BWD)
def test_out_torch_tensor_refused(op: str) -> None:
    torch = pytest.importorskip("torch")
    shape = SHAPES[op][1] if op in FWD else SHAPES[op][0]
    with pytest.raises(TypeError, match=rf"^{op}: out must be a NumPy array"):
        call(op, out=torch.zeros(shape))


def test_out_overlapping_an_input() -> None:
    x = f32(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"^max_pool2d: out overlaps an input"):
        ictus.max_pool2d(x, 1, out=x)  # y has x's shape
    x1 = f32(1, 1, 8)
    with pytest.raises(ValueError, match=r"^max_pool1d: out overlaps an input"):
        ictus.max_pool1d(x1, 1, out=x1)
    buf = np.zeros(2000, np.float32)
    x = buf[:240 * 3].reshape(X2)  # (2, 3, 10, 12) = 720 floats
    with pytest.raises(ValueError, match=r"^max_pool2d: out overlaps an input"):
        call("max_pool2d", x=x, out=buf[719:719 + 180].reshape(Y2))  # one float shared
    # y and indices in one buffer: the indices are taken first, so y is the one that overlaps
    raw = np.zeros(4000, np.uint8)
    y = raw[:720].view(np.float32).reshape(Y2)
    with pytest.raises(ValueError, match=r"^max_pool2d: out\[0\] overlaps"):
        call("max_pool2d", return_indices=True, out=(y, raw[712:712 + 1440].view(np.int64).reshape(Y2)))
    # adjacent but disjoint is fine
    got_y, got_i = call("max_pool2d", return_indices=True,
                        out=(y, raw[720:720 + 1440].view(np.int64).reshape(Y2)))
    assert got_y.shape == got_i.shape == Y2
    y2 = call("max_pool2d", x=x, out=buf[720:900].reshape(Y2))
    assert y2.shape == Y2


def test_backward_out_overlapping_an_input() -> None:
    gy = f32(1, 1, 4, 4)
    idx = i64(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: out overlaps an input"):
        ictus.max_pool2d_backward(gy, idx, (1, 1, 4, 4), out=gy)
    raw = np.zeros(4000, np.uint8)
    idx_view = raw[:128].view(np.int64).reshape(1, 1, 4, 4)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: out overlaps an input"):
        ictus.max_pool2d_backward(gy, idx_view, (1, 1, 4, 4), out=raw[64:128].view(np.float32).reshape(1, 1, 4, 4))
    gy1 = f32(1, 1, 8)
    with pytest.raises(ValueError, match=r"^max_pool1d_backward: out overlaps an input"):
        ictus.max_pool1d_backward(gy1, i64(1, 1, 8), (1, 1, 8), out=gy1)


@pytest.mark.parametrize("op", BWD)
def test_backward_out_wrong_shape_or_dtype(op: str) -> None:
    x, _ = SHAPES[op]
    with pytest.raises(ValueError, match=rf"^{op}: out must have shape {re_shape(x)}, got"):
        call(op, out=f32(*x[:-1], x[-1] + 1))
    with pytest.raises(ValueError, match=rf"^{op}: out must have (shape|rank)"):
        call(op, out=f32(int(np.prod(x))))
    for dt in ("float64", "int64", "float16"):
        with pytest.raises(TypeError, match=rf"^{op}: out must be float32"):
            call(op, out=np.zeros(x, dt))


def test_backward_input_shape_too_large() -> None:
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: input_shape "):
        call("max_pool2d_backward", input_shape=(2, 3, 2**40, 2**40))


@pytest.mark.parametrize("where", ["indices", "out[1]"])
def test_index_list_fix_names_int64(where: str) -> None:
    if where == "indices":
        with pytest.raises(TypeError, match=r"^max_pool2d_backward: indices must be a NumPy array.*np\.int64"):
            call("max_pool2d_backward", indices=i64(*Y2).tolist())
    else:
        with pytest.raises(TypeError, match=r"^max_pool2d: out\[1\] must be a NumPy array.*np\.int64"):
            call("max_pool2d", return_indices=True, out=(f32(*Y2), i64(*Y2).tolist()))


# ------------------------------------------------------------------------------- devices


class FakeCupyArray:
    """Looks like a CuPy array on GPU 0 to ictus (module name, __cuda_array_interface__, device.id)
    but owns no memory: used only where the call must fail before any kernel runs."""

    def __init__(self, shape: tuple[int, ...], typestr: str = "<f4") -> None:
        self.shape = shape
        self.dtype = np.dtype(typestr)
        self.device = types.SimpleNamespace(id=0)
        self.__cuda_array_interface__ = {"shape": shape, "typestr": typestr, "data": (0, False), "version": 3,
                                         "strides": None}


FakeCupyArray.__module__ = "cupy._fake"


@pytest.mark.parametrize("op", BWD)
def test_gpu_indices_with_cpu_grad_y(op: str) -> None:
    _, y = SHAPES[op]
    with pytest.raises(ValueError, match=rf"^{op}: indices is a CuPy array on GPU 0 but grad_y is a NumPy array"):
        call(op, indices=FakeCupyArray(y, "<i8"), kernel_size=2)


@pytest.mark.parametrize("op", FWD)
def test_gpu_out_for_cpu_input(op: str) -> None:
    _, y = SHAPES[op]
    with pytest.raises(TypeError, match=rf"^{op}: out must be a NumPy array \(CPU\) like the inputs, got a CuPy array"):
        call(op, out=FakeCupyArray(y))
    with pytest.raises(TypeError, match=rf"^{op}: out\[1\] must be a NumPy array \(CPU\) like the inputs"):
        call(op, return_indices=True, out=(f32(*y), FakeCupyArray(y, "<i8")))


class ForeignDeviceArray:
    """A DLPack producer on a device that is neither the CPU nor CUDA-through-CuPy."""

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise AssertionError("ictus must not ask a non-CPU array for its DLPack capsule")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (14, 0)  # kDLOneAPI


@pytest.mark.parametrize("op,name", [("max_pool2d", "x"), ("max_pool1d", "x"), ("max_pool2d_backward", "grad_y"),
                                     ("max_pool2d_backward", "indices"), ("max_pool1d_backward", "grad_y")])
def test_dlpack_on_another_device(op: str, name: str) -> None:
    with pytest.raises(TypeError, match=rf"^{op}: {name} is on a device"):
        call(op, **{name: ForeignDeviceArray()})


@pytest.mark.parametrize("op,name", [("max_pool2d", "x"), ("max_pool1d", "x"), ("max_pool2d_backward", "grad_y"),
                                     ("max_pool1d_backward", "grad_y")])
def test_torch_tensor_requiring_grad_raises(op: str, name: str) -> None:
    torch = pytest.importorskip("torch")
    x, y = SHAPES[op]
    t = torch.zeros(x if name == "x" else y, requires_grad=True)
    with pytest.raises(TypeError, match=rf"^{op}: {name} .*\.detach\(\)"):
        call(op, **{name: t})


def test_kernel_name_unknown_op() -> None:
    with pytest.raises(ValueError, match=r"^kernel_name: unknown op 'max_pool3d_fwd'.*max_pool2d_fwd"):
        ictus.kernel_name("max_pool3d_fwd")
    with pytest.raises(ValueError, match=r"^kernel_name: unknown op 'max_pool2d'"):
        ictus.kernel_name("max_pool2d")
