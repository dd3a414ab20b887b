"""Bad arguments to conv1d / conv1d_backward / conv1d_output_length: each raises TypeError or
ValueError whose message starts with the op and names the argument ("conv1d: stride must be ..."),
and, where there is one, says the fix (CONVENTIONS, habit 8).

Every case starts from a valid call (x (2, 3, 10), weight (4, 3, 3), bias (4,), grad_y (2, 4, 8),
stride 1, padding 0, dilation 1) and breaks one thing.
"""
from __future__ import annotations

import types
from typing import Any

import ictus
import numpy as np
import pytest

X_SHAPE, W_SHAPE, B_SHAPE, Y_SHAPE = (2, 3, 10), (4, 3, 3), (4,), (2, 4, 8)
OPS = ["conv1d", "conv1d_backward"]


def f32(*shape: int, fill: float = 0.5) -> np.ndarray:
    return np.full(shape, fill, dtype=np.float32)


def call(op: str, **changes: Any) -> Any:
    """The valid call with `changes` applied (x, weight, bias, grad_y, stride, padding, dilation, out)."""
    args: dict[str, Any] = {"x": f32(*X_SHAPE), "weight": f32(*W_SHAPE), "bias": f32(*B_SHAPE),
                            "grad_y": f32(*Y_SHAPE), "stride": 1, "padding": 0, "dilation": 1, "out": None}
    unknown = set(changes) - set(args)
    assert not unknown, unknown
    args.update(changes)
    hyper = {k: args[k] for k in ("stride", "padding", "dilation")}
    if op == "conv1d":
        return ictus.conv1d(args["x"], args["weight"], args["bias"], **hyper, out=args["out"])
    return ictus.conv1d_backward(args["grad_y"], args["x"], args["weight"], **hyper, out=args["out"])


def case(changes: dict[str, Any], exc: type[Exception], match: str, id: str, ops: list[str] = OPS) -> list[Any]:
    return [pytest.param(op, changes, exc, match, id=f"{op}-{id}") for op in ops]


DTYPES = ["float64", "float16", "int32", "int64", "bool", "complex64", ">f4"]
BAD_INTS = [1.0, 2.5, True, False, "2", None, np.float32(2.0), [2]]

CASES: list[Any] = [
    # dtypes: TypeError naming the argument and saying how to cast
    *[p for dt in DTYPES for p in case({"x": np.ones(X_SHAPE, dtype=dt)}, TypeError,
                                       r"^{op}: x must be float32.*x\.astype\(np\.float32\)", f"x_{dt}")],
    *[p for dt in ("float64", "int64") for p in case({"weight": np.ones(W_SHAPE, dtype=dt)}, TypeError,
                                                     r"^{op}: weight must be float32.*weight\.astype\(np\.float32\)",
                                                     f"weight_{dt}")],
    *case({"bias": np.ones(B_SHAPE, np.float64)}, TypeError,
          r"^{op}: bias must be float32.*bias\.astype\(np\.float32\)", "bias_float64", ["conv1d"]),
    *case({"grad_y": np.ones(Y_SHAPE, np.float64)}, TypeError,
          r"^{op}: grad_y must be float32.*grad_y\.astype\(np\.float32\)", "grad_y_float64", ["conv1d_backward"]),
    # not arrays: lists (refused, not converted), scalars, None
    *case({"x": np.ones(X_SHAPE).tolist()}, TypeError, r"^{op}: x must be a NumPy array.*np\.asarray\(x", "x_list"),
    *case({"x": None}, TypeError, r"^{op}: x must be a NumPy array", "x_None"),
    *case({"x": 1.0}, TypeError, r"^{op}: x must be a NumPy array", "x_float"),
    *case({"x": np.float32(1.0)}, TypeError, r"^{op}: x must be a NumPy array", "x_numpy_scalar"),
    *case({"weight": np.ones(W_SHAPE).tolist()}, TypeError, r"^{op}: weight must be a NumPy array", "weight_list"),
    *case({"weight": None}, TypeError, r"^{op}: weight must be a NumPy array", "weight_None"),
    *case({"bias": [0.0] * 4}, TypeError, r"^{op}: bias must be a NumPy array", "bias_list", ["conv1d"]),
    *case({"bias": 0.5}, TypeError, r"^{op}: bias must be a NumPy array", "bias_float", ["conv1d"]),
    *case({"grad_y": np.ones(Y_SHAPE).tolist()}, TypeError, r"^{op}: grad_y must be a NumPy array", "grad_y_list",
          ["conv1d_backward"]),
    *case({"grad_y": None}, TypeError, r"^{op}: grad_y must be a NumPy array", "grad_y_None", ["conv1d_backward"]),
    # ranks
    *case({"x": f32(3, 10)}, ValueError, r"^{op}: x must have rank 3", "x_rank2"),
    *case({"x": f32(1, 2, 3, 10)}, ValueError, r"^{op}: x must have rank 3", "x_rank4"),
    *case({"x": np.array(1.0, dtype=np.float32)}, ValueError, r"^{op}: x must have rank 3", "x_rank0"),
    *case({"weight": f32(4, 3)}, ValueError, r"^{op}: weight must have rank 3", "weight_rank2"),
    *case({"weight": f32(4, 3, 3, 1)}, ValueError, r"^{op}: weight must have rank 3", "weight_rank4"),
    *case({"bias": f32(4, 1)}, ValueError, r"^{op}: bias must have rank 1", "bias_rank2", ["conv1d"]),
    *case({"bias": np.array(1.0, dtype=np.float32)}, ValueError, r"^{op}: bias must have rank 1", "bias_rank0",
          ["conv1d"]),
    *case({"grad_y": f32(4, 8)}, ValueError, r"^{op}: grad_y must have rank 3", "grad_y_rank2", ["conv1d_backward"]),
    # empty dimensions
    *case({"x": f32(0, 3, 10)}, ValueError, r"^{op}: x has an empty dimension", "x_N0"),
    *case({"x": f32(2, 0, 10), "weight": f32(4, 0, 3)}, ValueError, r"^{op}: x has an empty dimension", "x_C0"),
    *case({"x": f32(2, 3, 0)}, ValueError, r"^{op}: x has an empty dimension", "x_T0"),
    *case({"weight": f32(0, 3, 3)}, ValueError, r"^{op}: weight has an empty dimension", "weight_Cout0"),
    *case({"weight": f32(4, 3, 0)}, ValueError, r"^{op}: weight has an empty dimension", "weight_K0"),
    *case({"bias": f32(0)}, ValueError, r"^{op}: bias has an empty dimension", "bias_empty", ["conv1d"]),
    *case({"grad_y": f32(0, 4, 8)}, ValueError, r"^{op}: grad_y has an empty dimension", "grad_y_empty",
          ["conv1d_backward"]),
    # shapes that do not fit together
    *case({"weight": f32(4, 5, 3)}, ValueError, r"^{op}: weight has 5 input channels.*x has 3", "C_in_mismatch"),
    *case({"bias": f32(5)}, ValueError, r"^{op}: bias has 5 elements.*4 output channels", "bias_length",
          ["conv1d"]),
    *[p for shape in ((2, 4, 9), (2, 4, 7), (2, 5, 8), (1, 4, 8), (3, 4, 8)) for p in
      case({"grad_y": f32(*shape)}, ValueError, r"^{op}: grad_y must have the forward output's shape \(2, 4, 8\)",
           "grad_y_shape_" + "x".join(map(str, shape)), ["conv1d_backward"])],
    # stride and dilation: ints >= 1 (bool and float refused)
    *[p for name in ("stride", "dilation") for v in (0, -1, -2**70) for p in
      case({name: v}, ValueError, rf"^{{op}}: {name} must be >= 1", f"{name}_{v}")],
    *[p for name in ("stride", "dilation") for v in BAD_INTS for p in
      case({name: v}, TypeError, rf"^{{op}}: {name} must be an int", f"{name}_{type(v).__name__}_{v}")],
    # padding
    *[p for v in (-1, (-1, 0), (0, -2), [-3, 1]) for p in
      case({"padding": v}, ValueError, r"^{op}: padding must be >= 0", f"padding_{v}")],
    *[p for v in ((1, 2, 3), (1,), ()) for p in
      case({"padding": v}, ValueError, r"^{op}: padding pair must be \(left, right\)", f"padding_len{len(v)}")],
    *[p for v in (1.5, True, None, b"same", (1.0, 1), (True, 0), (0, "1"), {"left": 1}) for p in
      case({"padding": v}, TypeError, r"^{op}: padding must be an int", f"padding_{type(v).__name__}_{v}")],
    *[p for v in ("full", "SAME", "", "causal ", "same_") for p in
      case({"padding": v}, ValueError, r"^{op}: padding .*unknown", f"padding_str_{v!r}")],
    *case({"padding": "same", "stride": 2}, ValueError, r"^{op}: padding .*'same'.*stride", "same_stride2"),
    # kernel span longer than the padded input
    *case({"x": f32(2, 3, 4), "weight": f32(4, 3, 5)}, ValueError, r"^{op}: padding .*kernel spans 5",
          "span_K5_T4_valid"),
    *case({"dilation": 1024, "padding": "valid"}, ValueError, r"^{op}: padding .*kernel spans 2049",
          "span_d1024_T10_valid"),
    *case({"x": f32(2, 3, 3), "weight": f32(4, 3, 6), "padding": (1, 1)}, ValueError,
          r"^{op}: padding .*kernel spans 6", "span_K6_T3_pad1"),
    # absurd sizes: refused before any allocation or index overflows
    *[p for v in (2**62, (0, 2**63), (2**100, 0), 2**63 - 1) for p in
      case({"padding": v}, ValueError, r"^{op}: padding .*too large", f"padding_huge_{v}")],
    *case({"dilation": 2**62, "padding": "same"}, ValueError, r"^{op}: dilation .*too large", "dilation_huge_same"),
    *case({"dilation": 2**63, "weight": f32(4, 3, 1)}, ValueError, r"^{op}: dilation .*too large",
          "dilation_2e63_K1"),
    *case({"stride": 2**63}, ValueError, r"^{op}: stride .*too large", "stride_2e63"),
    *case({"stride": 2**100}, ValueError, r"^{op}: stride .*too large", "stride_2e100"),
]


@pytest.mark.parametrize("op,changes,exc,match", CASES)
def test_bad_argument(op: str, changes: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match.format(op=op)):
        call(op, **changes)


def test_the_valid_call_is_valid() -> None:
    """The base call of this file works, so each case above fails for its one change."""
    y = call("conv1d")
    assert y.shape == Y_SHAPE
    gx, gw, gb = call("conv1d_backward")
    assert (gx.shape, gw.shape, gb.shape) == (X_SHAPE, W_SHAPE, B_SHAPE)


# ----------------------------------------------------------------------------------- out=


def shared(n_floats: int) -> np.ndarray:
    return np.zeros(n_floats, np.float32)


def unaligned(shape: tuple[int, ...]) -> np.ndarray:
    buf = np.zeros(int(np.prod(shape)) * 4 + 1, np.uint8)
    return buf[1:].view(np.float32).reshape(shape)


def readonly(shape: tuple[int, ...]) -> np.ndarray:
    a = f32(*shape)
    a.flags.writeable = False
    return a


def test_out_wrong_shape() -> None:
    with pytest.raises(ValueError, match=r"^conv1d: out must have shape \(2, 4, 8\), got \(2, 4, 9\)"):
        call("conv1d", out=f32(2, 4, 9))
    with pytest.raises(ValueError, match=r"^conv1d: out must have (shape|rank)"):
        call("conv1d", out=f32(2, 32))


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32", ">f4"])
def test_out_wrong_dtype(dtype: str) -> None:
    with pytest.raises(TypeError, match=r"^conv1d: out must be float32"):
        call("conv1d", out=np.zeros(Y_SHAPE, dtype))


@pytest.mark.parametrize("layout", ["strided", "fortran", "transposed", "unaligned"])
def test_out_not_contiguous(layout: str) -> None:
    if layout == "strided":
        out = f32(2, 4, 16)[:, :, ::2]
    elif layout == "fortran":
        out = np.asfortranarray(f32(*Y_SHAPE))
    elif layout == "transposed":
        out = f32(8, 4, 2).transpose(2, 1, 0)
    else:
        out = unaligned(Y_SHAPE)
    assert out.shape == Y_SHAPE
    with pytest.raises(ValueError, match=r"^conv1d: out must be C-contiguous"):
        call("conv1d", out=out)


def test_out_read_only() -> None:
    with pytest.raises(ValueError, match=r"^conv1d: out is read-only"):
        call("conv1d", out=readonly(Y_SHAPE))


def test_out_overlapping_an_input() -> None:
    x = f32(2, 3, 10)
    w1 = f32(3, 3, 1)  # y has x's shape
    with pytest.raises(ValueError, match=r"^conv1d: out overlaps an input"):
        ictus.conv1d(x, w1, out=x)
    buf = shared(200)
    w = buf[:36].reshape(W_SHAPE)
    with pytest.raises(ValueError, match=r"^conv1d: out overlaps an input"):
        call("conv1d", weight=w, out=buf[35:35 + 64].reshape(Y_SHAPE))  # one float shared
    buf = shared(100)
    with pytest.raises(ValueError, match=r"^conv1d: out overlaps an input"):
        call("conv1d", bias=buf[60:64], out=buf[:64].reshape(Y_SHAPE))
    buf = shared(200)
    x = buf[:60].reshape(X_SHAPE)
    with pytest.raises(ValueError, match=r"^conv1d: out overlaps an input"):
        call("conv1d", x=x, out=buf[59:59 + 64].reshape(Y_SHAPE))
    # adjacent but disjoint is fine
    buf = shared(200)
    y = call("conv1d", x=buf[:60].reshape(X_SHAPE), out=buf[60:124].reshape(Y_SHAPE))
    assert y.shape == Y_SHAPE


@pytest.mark.parametrize("out", [[0.0] * 64, np.zeros(Y_SHAPE, np.float32).tolist(), 3.0, "out"],
                         ids=["flat_list", "nested_list", "float", "str"])
def test_out_not_an_array(out: Any) -> None:
    with pytest.raises(TypeError, match=r"^conv1d: out must be a NumPy array"):
        call("conv1d", out=out)


def test_out_torch_tensor_refused() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^conv1d: out must be a NumPy array"):
        call("conv1d", out=torch.zeros(Y_SHAPE))


@pytest.mark.parametrize("out", [f32(*X_SHAPE), (f32(*X_SHAPE), f32(*W_SHAPE)),
                                 (f32(*X_SHAPE), f32(*W_SHAPE), f32(*B_SHAPE), None), "out", 3],
                         ids=["array", "pair", "four", "str", "int"])
def test_backward_out_not_a_triple(out: Any) -> None:
    with pytest.raises(TypeError, match=r"^conv1d_backward: out must be a \(grad_x, grad_weight, grad_bias\)"):
        call("conv1d_backward", out=out)


def test_backward_out_entries_checked() -> None:
    gx, gw, gb = f32(*X_SHAPE), f32(*W_SHAPE), f32(*B_SHAPE)
    op = "conv1d_backward"
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[0\] must have shape \(2, 3, 10\)"):
        call(op, out=(f32(2, 3, 9), gw, gb))
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[1\] must have shape \(4, 3, 3\)"):
        call(op, out=(gx, f32(3, 4, 3), gb))
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[2\] must have shape \(4,\)"):
        call(op, out=(gx, gw, f32(5)))
    with pytest.raises(TypeError, match=r"^conv1d_backward: out\[1\] must be float32"):
        call(op, out=(gx, np.zeros(W_SHAPE), gb))
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[2\] is read-only"):
        call(op, out=(gx, gw, readonly(B_SHAPE)))
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[0\] must be C-contiguous"):
        call(op, out=(f32(2, 3, 20)[:, :, ::2], gw, gb))
    with pytest.raises(TypeError, match=r"^conv1d_backward: out\[2\] must be a NumPy array"):
        call(op, out=(gx, gw, [0.0] * 4))


def test_backward_out_overlaps() -> None:
    op = "conv1d_backward"
    x, gy = f32(*X_SHAPE), f32(*Y_SHAPE)
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[0\] overlaps an input"):
        call(op, x=x, out=(x, None, None))
    buf = shared(200)
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[0\] overlaps an input"):
        call(op, grad_y=buf[:64].reshape(Y_SHAPE), out=(buf[10:70].reshape(X_SHAPE), None, None))
    w = f32(*W_SHAPE)
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[1\] overlaps an input"):
        call(op, weight=w, out=(None, w, None))
    buf = shared(200)
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[1\] overlaps"):
        call(op, grad_y=gy, out=(buf[:60].reshape(X_SHAPE), buf[59:95].reshape(W_SHAPE), None))
    gw = f32(*W_SHAPE)
    with pytest.raises(ValueError, match=r"^conv1d_backward: out\[2\] overlaps"):
        call(op, out=(None, gw, gw.reshape(-1)[:4]))
    # disjoint pieces of one buffer are fine
    buf = shared(200)
    grads = call(op, out=(buf[:60].reshape(X_SHAPE), buf[60:96].reshape(W_SHAPE), buf[96:100]))
    assert [g.shape for g in grads] == [X_SHAPE, W_SHAPE, B_SHAPE]


# ------------------------------------------------------------------------------- devices


class FakeCupyArray:
    """Looks like a CuPy float32 array on GPU 0 to ictus (module name, __cuda_array_interface__,
    device.id) but owns no memory: used only where the call must fail before any kernel runs."""

    def __init__(self, shape: tuple[int, ...]) -> None:
        self.shape = shape
        self.dtype = np.dtype(np.float32)
        self.device = types.SimpleNamespace(id=0)
        self.__cuda_array_interface__ = {"shape": shape, "typestr": "<f4", "data": (0, False), "version": 3,
                                         "strides": None}


FakeCupyArray.__module__ = "cupy._fake"


@pytest.mark.parametrize("op,name,shape", [("conv1d", "weight", W_SHAPE), ("conv1d", "bias", B_SHAPE),
                                           ("conv1d_backward", "weight", W_SHAPE),
                                           ("conv1d_backward", "grad_y", Y_SHAPE)])
def test_mixing_cpu_and_gpu_arrays(op: str, name: str, shape: tuple[int, ...]) -> None:
    """A GPU array next to a NumPy x: ValueError naming both, before any kernel runs."""
    with pytest.raises(ValueError, match=rf"^{op}: {name} is a CuPy array on GPU 0 but x is a NumPy array"):
        call(op, **{name: FakeCupyArray(shape)})


def test_gpu_out_for_cpu_inputs() -> None:
    with pytest.raises(TypeError, match=r"^conv1d: out must be a NumPy array \(CPU\).*got a CuPy array on GPU 0"):
        call("conv1d", out=FakeCupyArray(Y_SHAPE))
    with pytest.raises(TypeError, match=r"^conv1d_backward: out\[1\] must be a NumPy array \(CPU\)"):
        call("conv1d_backward", out=(None, FakeCupyArray(W_SHAPE), None))


class ForeignDeviceArray:
    """A DLPack producer on a device that is neither the CPU nor CUDA-through-CuPy."""

    def __dlpack__(self, **kwargs: Any) -> Any:
        raise AssertionError("ictus must not ask a non-CPU array for its DLPack capsule")

    def __dlpack_device__(self) -> tuple[int, int]:
        return (14, 0)  # kDLOneAPI


@pytest.mark.parametrize("op", OPS)
def test_dlpack_on_another_device(op: str) -> None:
    with pytest.raises(TypeError, match=rf"^{op}: x is on a device"):
        call(op, x=ForeignDeviceArray())


class ForeignGpuArray:
    """A non-CuPy GPU array (as torch CUDA tensors or Numba arrays present themselves)."""

    __cuda_array_interface__ = {"shape": X_SHAPE, "typestr": "<f4", "data": (0, False), "version": 3, "strides": None}


@pytest.mark.parametrize("op", OPS)
def test_foreign_gpu_array_without_cupy(op: str) -> None:
    try:
        import cupy  # noqa: F401
    except ImportError:
        pass
    else:
        pytest.skip("CuPy is installed: the array would be wrapped, not refused")
    with pytest.raises(TypeError, match=rf"^{op}: x is a GPU array.*cupy"):
        call(op, x=ForeignGpuArray())


# ------------------------------------------------------------------- conv1d_output_length


@pytest.mark.parametrize("args,kwargs,exc,match", [
    ((0, 3), {}, ValueError, r"^conv1d_output_length: length must be >= 1"),
    ((-5, 3), {}, ValueError, r"^conv1d_output_length: length must be >= 1"),
    ((10.0, 3), {}, TypeError, r"^conv1d_output_length: length must be an int"),
    ((True, 3), {}, TypeError, r"^conv1d_output_length: length must be an int"),
    ((10, 0), {}, ValueError, r"^conv1d_output_length: kernel_size must be >= 1"),
    ((10, 1.0), {}, TypeError, r"^conv1d_output_length: kernel_size must be an int"),
    ((10, 3), {"stride": 0}, ValueError, r"^conv1d_output_length: stride must be >= 1"),
    ((10, 3), {"dilation": 1.5}, TypeError, r"^conv1d_output_length: dilation must be an int"),
    ((10, 3), {"padding": -1}, ValueError, r"^conv1d_output_length: padding must be >= 0"),
    ((10, 3), {"padding": "full"}, ValueError, r"^conv1d_output_length: padding .*unknown"),
    ((10, 3), {"padding": "same", "stride": 2}, ValueError, r"^conv1d_output_length: padding .*'same'.*stride"),
    ((4, 5), {}, ValueError, r"^conv1d_output_length: padding .*kernel spans 5"),
    ((10, 3), {"padding": 2**62}, ValueError, r"^conv1d_output_length: padding .*too large"),
], ids=["length0", "length_neg", "length_float", "length_bool", "K0", "K_float", "stride0", "dilation_float",
        "padding_neg", "padding_str", "same_stride2", "span", "padding_huge"])
def test_output_length_bad_argument(args: tuple[Any, ...], kwargs: dict[str, Any], exc: type[Exception],
                                    match: str) -> None:
    with pytest.raises(exc, match=match):
        ictus.conv1d_output_length(*args, **kwargs)
