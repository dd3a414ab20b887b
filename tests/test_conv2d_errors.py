"""Bad arguments to conv2d / conv2d_backward / conv2d_output_size: each raises TypeError or
ValueError whose message starts with the op and names the argument ("conv2d: stride must be ..."),
and, where there is one, says the fix (CONVENTIONS, habit 8).

Every case starts from a valid call (x (2, 3, 6, 10), weight (4, 3, 3, 3), bias (4,), grad_y
(2, 4, 4, 8), stride 1, padding 0, dilation 1) and breaks one thing.
"""
from __future__ import annotations

import subprocess
import sys
import types
from pathlib import Path
from typing import Any

import ictus
import numpy as np
import pytest

X_SHAPE, W_SHAPE, B_SHAPE, Y_SHAPE = (2, 3, 6, 10), (4, 3, 3, 3), (4,), (2, 4, 4, 8)
OPS = ["conv2d", "conv2d_backward"]
TESTS_DIR = Path(__file__).resolve().parent


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
    if op == "conv2d":
        return ictus.conv2d(args["x"], args["weight"], args["bias"], **hyper, out=args["out"])
    return ictus.conv2d_backward(args["grad_y"], args["x"], args["weight"], **hyper, out=args["out"])


def case(changes: dict[str, Any], exc: type[Exception], match: str, id: str, ops: list[str] = OPS) -> list[Any]:
    return [pytest.param(op, changes, exc, match, id=f"{op}-{id}") for op in ops]


DTYPES = ["float64", "float16", "int32", "int64", "bool", "complex64", ">f4"]
BAD_INTS = [1.0, 2.5, True, False, "2", None, np.float32(2.0), {"h": 1}]
SPAN = r"kernel spans"

CASES: list[Any] = [
    # dtypes: TypeError naming the argument and saying how to cast
    *[p for dt in DTYPES for p in case({"x": np.ones(X_SHAPE, dtype=dt)}, TypeError,
                                       r"^{op}: x must be float32.*x\.astype\(np\.float32\)", f"x_{dt}")],
    *[p for dt in ("float64", "int64") for p in case({"weight": np.ones(W_SHAPE, dtype=dt)}, TypeError,
                                                     r"^{op}: weight must be float32.*weight\.astype\(np\.float32\)",
                                                     f"weight_{dt}")],
    *case({"bias": np.ones(B_SHAPE, np.float64)}, TypeError,
          r"^{op}: bias must be float32.*bias\.astype\(np\.float32\)", "bias_float64", ["conv2d"]),
    *case({"bias": np.ones(B_SHAPE, np.int32)}, TypeError, r"^{op}: bias must be float32", "bias_int32", ["conv2d"]),
    *case({"grad_y": np.ones(Y_SHAPE, np.float64)}, TypeError,
          r"^{op}: grad_y must be float32.*grad_y\.astype\(np\.float32\)", "grad_y_float64", ["conv2d_backward"]),
    *case({"grad_y": np.ones(Y_SHAPE, np.int64)}, TypeError, r"^{op}: grad_y must be float32", "grad_y_int64",
          ["conv2d_backward"]),
    # not arrays: lists (refused, not converted), scalars, None
    *case({"x": np.ones(X_SHAPE).tolist()}, TypeError, r"^{op}: x must be a NumPy array.*np\.asarray\(x", "x_list"),
    *case({"x": None}, TypeError, r"^{op}: x must be a NumPy array", "x_None"),
    *case({"x": np.float32(1.0)}, TypeError, r"^{op}: x must be a NumPy array", "x_numpy_scalar"),
    *case({"weight": np.ones(W_SHAPE).tolist()}, TypeError, r"^{op}: weight must be a NumPy array", "weight_list"),
    *case({"bias": [0.0] * 4}, TypeError, r"^{op}: bias must be a NumPy array", "bias_list", ["conv2d"]),
    *case({"grad_y": None}, TypeError, r"^{op}: grad_y must be a NumPy array", "grad_y_None", ["conv2d_backward"]),
    # ranks: conv1d's rank-3 arrays are refused, not read as height 1
    *case({"x": f32(2, 3, 10)}, ValueError, r"^{op}: x must have rank 4 \(N, C_in, H, W\)", "x_rank3"),
    *case({"x": f32(1, 2, 3, 6, 10)}, ValueError, r"^{op}: x must have rank 4", "x_rank5"),
    *case({"x": np.array(1.0, dtype=np.float32)}, ValueError, r"^{op}: x must have rank 4", "x_rank0"),
    *case({"weight": f32(4, 3, 3)}, ValueError, r"^{op}: weight must have rank 4 \(C_out, C_in, KH, KW\)",
          "weight_rank3"),
    *case({"weight": f32(4, 3, 3, 3, 1)}, ValueError, r"^{op}: weight must have rank 4", "weight_rank5"),
    *case({"bias": f32(4, 1)}, ValueError, r"^{op}: bias must have rank 1", "bias_rank2", ["conv2d"]),
    *case({"grad_y": f32(2, 4, 32)}, ValueError, r"^{op}: grad_y must have rank 4", "grad_y_rank3",
          ["conv2d_backward"]),
    # empty dimensions
    *case({"x": f32(0, 3, 6, 10)}, ValueError, r"^{op}: x has an empty dimension", "x_N0"),
    *case({"x": f32(2, 0, 6, 10), "weight": f32(4, 0, 3, 3)}, ValueError, r"^{op}: x has an empty dimension", "x_C0"),
    *case({"x": f32(2, 3, 0, 10)}, ValueError, r"^{op}: x has an empty dimension", "x_H0"),
    *case({"x": f32(2, 3, 6, 0)}, ValueError, r"^{op}: x has an empty dimension", "x_W0"),
    *case({"weight": f32(0, 3, 3, 3)}, ValueError, r"^{op}: weight has an empty dimension", "weight_Cout0"),
    *case({"weight": f32(4, 3, 0, 3)}, ValueError, r"^{op}: weight has an empty dimension", "weight_KH0"),
    *case({"weight": f32(4, 3, 3, 0)}, ValueError, r"^{op}: weight has an empty dimension", "weight_KW0"),
    *case({"bias": f32(0)}, ValueError, r"^{op}: bias has an empty dimension", "bias_empty", ["conv2d"]),
    *case({"grad_y": f32(2, 4, 0, 8)}, ValueError, r"^{op}: grad_y has an empty dimension", "grad_y_empty",
          ["conv2d_backward"]),
    # shapes that do not fit together
    *case({"weight": f32(4, 5, 3, 3)}, ValueError,
          r"^{op}: weight has 5 input channels.*x has 3.*\(C_out, C_in, KH, KW\) = \(4, 3, 3, 3\)", "C_in_mismatch"),
    *case({"bias": f32(5)}, ValueError, r"^{op}: bias has 5 elements.*4 output channels", "bias_length", ["conv2d"]),
    *case({"bias": f32(3)}, ValueError, r"^{op}: bias has 3 elements.*4 output channels", "bias_short", ["conv2d"]),
    *[p for shape in ((2, 4, 4, 9), (2, 4, 5, 8), (2, 4, 3, 8), (2, 5, 4, 8), (1, 4, 4, 8), (2, 4, 8, 4)) for p in
      case({"grad_y": f32(*shape)}, ValueError,
           r"^{op}: grad_y must have the forward output's shape \(2, 4, 4, 8\)",
           "grad_y_shape_" + "x".join(map(str, shape)), ["conv2d_backward"])],
    # stride and dilation: ints >= 1 (bool and float refused), alone or as (h, w) pairs
    *[p for name in ("stride", "dilation") for v in (0, -1, -2**70, (1, 0), (0, 1), (2, -3), [1, 0]) for p in
      case({name: v}, ValueError, rf"^{{op}}: {name} must be >= 1", f"{name}_{v}")],
    *[p for name in ("stride", "dilation") for v in BAD_INTS for p in
      case({name: v}, TypeError, rf"^{{op}}: {name} must be an int", f"{name}_{type(v).__name__}_{v}")],
    *[p for name in ("stride", "dilation") for v in ((1, 2.0), (True, 1), (1, None), ("1", 1)) for p in
      case({name: v}, TypeError, rf"^{{op}}: {name} must be an int", f"{name}_pair_{v}")],
    *[p for name in ("stride", "dilation") for v in ((1, 2, 3), (1,), (), [2]) for p in
      case({name: v}, ValueError, rf"^{{op}}: {name} pair must be \(h, w\)", f"{name}_len{len(v)}_{v}")],
    # padding: ints >= 0, (h, w) pairs, 'valid' or 'same'
    *[p for v in (-1, (-1, 0), (0, -2), [-3, 1], -2**70) for p in
      case({"padding": v}, ValueError, r"^{op}: padding must be >= 0", f"padding_{v}")],
    *[p for v in ((1, 2, 3), (1,), (), [1, 1, 1, 1]) for p in
      case({"padding": v}, ValueError, r"^{op}: padding pair must be \(h, w\)", f"padding_len{len(v)}")],
    *[p for v in (1.5, True, None, b"same", {"h": 1}, (1.0, 1), (True, 0), (0, "1"), (0, None)) for p in
      case({"padding": v}, TypeError, r"^{op}: padding must be an int", f"padding_{type(v).__name__}_{v}")],
    *[p for v in ("causal", "full", "SAME", "", "same ", "valid_") for p in
      case({"padding": v}, ValueError, r"^{op}: padding unknown mode .*'valid' or 'same'", f"padding_str_{v!r}")],
    *[p for s in (2, (2, 1), (1, 2), (3, 3)) for p in
      case({"padding": "same", "stride": s}, ValueError, r"^{op}: padding 'same' needs stride 1", f"same_stride_{s}")],
    # kernel span longer than the padded input, along either axis; the message names the axis
    *case({"x": f32(2, 3, 2, 10)}, ValueError,
          r"^{op}: padding leaves 2 positions along the height \(2 \+ 0 \+ 0\) but the kernel spans 3", "span_H2"),
    *case({"x": f32(2, 3, 6, 2)}, ValueError,
          r"^{op}: padding leaves 2 positions along the width \(2 \+ 0 \+ 0\) but the kernel spans 3", "span_W2"),
    *case({"weight": f32(4, 3, 7, 3)}, ValueError, rf"^{{op}}: padding .*along the height.*{SPAN} 7", "span_KH7"),
    *case({"weight": f32(4, 3, 3, 11)}, ValueError, rf"^{{op}}: padding .*along the width.*{SPAN} 11", "span_KW11"),
    *case({"dilation": (3, 1)}, ValueError, rf"^{{op}}: padding .*along the height.*{SPAN} 7", "span_dilation_h3"),
    *case({"dilation": (1, 5)}, ValueError, rf"^{{op}}: padding .*along the width.*{SPAN} 11", "span_dilation_w5"),
    *case({"dilation": (1, 1024)}, ValueError, rf"^{{op}}: padding .*along the width.*{SPAN} 2049",
          "span_dilation_w1024"),
    *case({"weight": f32(4, 3, 9, 3), "padding": (1, 1)}, ValueError,
          rf"^{{op}}: padding leaves 8 positions along the height \(6 \+ 1 \+ 1\).*{SPAN} 9", "span_KH9_pad1"),
    *case({"weight": f32(4, 3, 3, 15), "padding": (5, 2)}, ValueError,
          rf"^{{op}}: padding leaves 14 positions along the width \(10 \+ 2 \+ 2\).*{SPAN} 15", "span_KW15_pad2"),
    *case({"dilation": (1, 6), "padding": "valid"}, ValueError, rf"^{{op}}: padding .*along the width.*{SPAN} 13",
          "span_valid_w"),
    # absurd sizes: refused before any allocation or index overflows
    *[p for v in (2**62, (0, 2**63), (2**100, 0), 2**63 - 1, (2**49, 1)) for p in
      case({"padding": v}, ValueError, r"^{op}: padding .*too large", f"padding_huge_{v}")],
    # both axes padded by 2**47: each fits an int, their product (the padded plane) does not
    *case({"padding": (2**47, 2**47)}, ValueError, r"^{op}: padding .*too large", "padding_plane_overflow"),
    *case({"padding": (2**30, 2**30)}, ValueError, r"^{op}: padding .*too large", "padding_plane_2e60"),
    *case({"dilation": (2**62, 1), "padding": "same"}, ValueError, r"^{op}: dilation .*too large",
          "dilation_huge_same_h"),
    *case({"dilation": (1, 2**63), "weight": f32(4, 3, 3, 1)}, ValueError, r"^{op}: dilation .*too large",
          "dilation_2e63_KW1"),
    *case({"stride": (2**63, 1)}, ValueError, r"^{op}: stride .*too large", "stride_h_2e63"),
    *case({"stride": (1, 2**100)}, ValueError, r"^{op}: stride .*too large", "stride_w_2e100"),
    *case({"stride": 2**64}, ValueError, r"^{op}: stride .*too large", "stride_2e64"),
]


@pytest.mark.parametrize("op,changes,exc,match", CASES)
def test_bad_argument(op: str, changes: dict[str, Any], exc: type[Exception], match: str) -> None:
    with pytest.raises(exc, match=match.format(op=op)):
        call(op, **changes)


def test_the_valid_call_is_valid() -> None:
    """The base call of this file works, so each case above fails for its one change."""
    y = call("conv2d")
    assert y.shape == Y_SHAPE
    gx, gw, gb = call("conv2d_backward")
    assert (gx.shape, gw.shape, gb.shape) == (X_SHAPE, W_SHAPE, B_SHAPE)
    # and the pair forms of the hyperparameters the cases break
    assert call("conv2d", stride=(1, 1), padding=(0, 0), dilation=[1, 1]).shape == Y_SHAPE


ARRAY_HYPER_SCRIPT = """
import numpy as np, ictus
x = np.full((2, 3, 6, 10), 0.5, np.float32)
w = np.full((4, 3, 3, 3), 0.5, np.float32)
for name, value in [("stride", np.array([1, 2])), ("padding", np.array([1, 1])), ("dilation", np.array([[1]])),
                    ("stride", np.ones(3, np.int64))]:
    try:
        ictus.conv2d(x, w, **{name: value})
    except (TypeError, ValueError) as err:
        assert str(err).startswith("conv2d: " + name), f"{name}={value!r}: message {err}"
    except BaseException as err:
        raise AssertionError(f"{name}={value!r} raised {type(err).__name__}: {err}") from None
    else:
        raise AssertionError(f"{name}={value!r} was accepted")
    y = ictus.conv2d(x, w)  # no Python error left pending by the refused call
    assert y.shape == (2, 4, 4, 8)
print("ok")
"""


def test_array_hyperparameters_refused_cleanly() -> None:
    """A NumPy array of several ints for stride / padding / dilation is no int (operator.index
    refuses it): a TypeError or ValueError naming the argument, and nothing left for the next call.
    Run in a child process: a Python error left pending would break unrelated tests."""
    proc = subprocess.run([sys.executable, "-c", ARRAY_HYPER_SCRIPT], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr[-3000:]


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


@pytest.mark.parametrize("shape", [(2, 4, 4, 9), (2, 4, 8, 4), (2, 4, 5, 8), (1, 4, 4, 8), (2, 3, 4, 8)])
def test_out_wrong_shape(shape: tuple[int, ...]) -> None:
    want = r"\(2, 4, 4, 8\), got \(" + ", ".join(map(str, shape)) + r"\)"
    with pytest.raises(ValueError, match=r"^conv2d: out must have shape " + want):
        call("conv2d", out=f32(*shape))


def test_out_wrong_rank() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: out must have (shape|rank)"):
        call("conv2d", out=f32(2, 4, 32))
    with pytest.raises(ValueError, match=r"^conv2d: out must have (shape|rank)"):
        call("conv2d", out=f32(2, 4, 4, 8, 1))


@pytest.mark.parametrize("dtype", ["float64", "float16", "int32", ">f4"])
def test_out_wrong_dtype(dtype: str) -> None:
    with pytest.raises(TypeError, match=r"^conv2d: out must be float32"):
        call("conv2d", out=np.zeros(Y_SHAPE, dtype))


@pytest.mark.parametrize("layout", ["strided", "fortran", "transposed", "channels_last", "unaligned"])
def test_out_not_contiguous(layout: str) -> None:
    if layout == "strided":
        out = f32(2, 4, 4, 16)[..., ::2]
    elif layout == "fortran":
        out = np.asfortranarray(f32(*Y_SHAPE))
    elif layout == "transposed":
        out = f32(8, 4, 4, 2).transpose(3, 2, 1, 0)
    elif layout == "channels_last":
        out = f32(2, 4, 8, 4).transpose(0, 3, 1, 2)
    else:
        out = unaligned(Y_SHAPE)
    assert out.shape == Y_SHAPE
    with pytest.raises(ValueError, match=r"^conv2d: out must be C-contiguous"):
        call("conv2d", out=out)


def test_out_read_only() -> None:
    with pytest.raises(ValueError, match=r"^conv2d: out is read-only"):
        call("conv2d", out=readonly(Y_SHAPE))


def test_out_overlapping_an_input() -> None:
    x = f32(*X_SHAPE)
    with pytest.raises(ValueError, match=r"^conv2d: out overlaps an input"):
        ictus.conv2d(x, f32(3, 3, 1, 1), out=x)  # y has x's shape
    buf = shared(400)
    w = buf[:108].reshape(W_SHAPE)
    with pytest.raises(ValueError, match=r"^conv2d: out overlaps an input"):
        call("conv2d", weight=w, out=buf[107:107 + 256].reshape(Y_SHAPE))  # one float shared
    buf = shared(300)
    with pytest.raises(ValueError, match=r"^conv2d: out overlaps an input"):
        call("conv2d", bias=buf[250:254], out=buf[:256].reshape(Y_SHAPE))
    buf = shared(700)
    with pytest.raises(ValueError, match=r"^conv2d: out overlaps an input"):
        call("conv2d", x=buf[:360].reshape(X_SHAPE), out=buf[359:359 + 256].reshape(Y_SHAPE))
    # adjacent but disjoint is fine
    buf = shared(700)
    y = call("conv2d", x=buf[:360].reshape(X_SHAPE), out=buf[360:616].reshape(Y_SHAPE))
    assert y.shape == Y_SHAPE


@pytest.mark.parametrize("out", [[0.0] * 256, np.zeros(Y_SHAPE, np.float32).tolist(), 3.0, "out"],
                         ids=["flat_list", "nested_list", "float", "str"])
def test_out_not_an_array(out: Any) -> None:
    with pytest.raises(TypeError, match=r"^conv2d: out must be a NumPy array"):
        call("conv2d", out=out)


def test_out_torch_tensor_refused() -> None:
    torch = pytest.importorskip("torch")
    with pytest.raises(TypeError, match=r"^conv2d: out must be a NumPy array"):
        call("conv2d", out=torch.zeros(Y_SHAPE))


@pytest.mark.parametrize("out", [f32(*X_SHAPE), (f32(*X_SHAPE), f32(*W_SHAPE)),
                                 (f32(*X_SHAPE), f32(*W_SHAPE), f32(*B_SHAPE), None), "out", 3],
                         ids=["array", "pair", "four", "str", "int"])
def test_backward_out_not_a_triple(out: Any) -> None:
    with pytest.raises(TypeError, match=r"^conv2d_backward: out must be a \(grad_x, grad_weight, grad_bias\)"):
        call("conv2d_backward", out=out)


def test_backward_out_entries_checked() -> None:
    gx, gw, gb = f32(*X_SHAPE), f32(*W_SHAPE), f32(*B_SHAPE)
    op = "conv2d_backward"
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[0\] must have shape \(2, 3, 6, 10\)"):
        call(op, out=(f32(2, 3, 10, 6), gw, gb))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[1\] must have shape \(4, 3, 3, 3\)"):
        call(op, out=(gx, f32(3, 4, 3, 3), gb))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[1\] must have (shape|rank)"):
        call(op, out=(gx, f32(4, 3, 9), gb))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[2\] must have shape \(4,\)"):
        call(op, out=(gx, gw, f32(5)))
    with pytest.raises(TypeError, match=r"^conv2d_backward: out\[1\] must be float32"):
        call(op, out=(gx, np.zeros(W_SHAPE), gb))
    with pytest.raises(TypeError, match=r"^conv2d_backward: out\[0\] must be float32"):
        call(op, out=(np.zeros(X_SHAPE, np.int32), gw, gb))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[2\] is read-only"):
        call(op, out=(gx, gw, readonly(B_SHAPE)))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[0\] is read-only"):
        call(op, out=(readonly(X_SHAPE), gw, gb))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[0\] must be C-contiguous"):
        call(op, out=(f32(2, 3, 6, 20)[..., ::2], gw, gb))
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[1\] must be C-contiguous"):
        call(op, out=(gx, np.asfortranarray(f32(*W_SHAPE)), gb))
    with pytest.raises(TypeError, match=r"^conv2d_backward: out\[2\] must be a NumPy array"):
        call(op, out=(gx, gw, [0.0] * 4))


def test_backward_out_overlaps() -> None:
    op = "conv2d_backward"
    x, gy = f32(*X_SHAPE), f32(*Y_SHAPE)
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[0\] overlaps an input"):
        call(op, x=x, out=(x, None, None))
    buf = shared(700)
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[0\] overlaps an input"):
        call(op, grad_y=buf[:256].reshape(Y_SHAPE), out=(buf[10:370].reshape(X_SHAPE), None, None))
    w = f32(*W_SHAPE)
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[1\] overlaps an input"):
        call(op, weight=w, out=(None, w, None))
    buf = shared(700)
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[1\] overlaps"):
        call(op, grad_y=gy, out=(buf[:360].reshape(X_SHAPE), buf[359:467].reshape(W_SHAPE), None))
    gw = f32(*W_SHAPE)
    with pytest.raises(ValueError, match=r"^conv2d_backward: out\[2\] overlaps"):
        call(op, out=(None, gw, gw.reshape(-1)[:4]))
    # disjoint pieces of one buffer are fine
    buf = shared(700)
    grads = call(op, out=(buf[:360].reshape(X_SHAPE), buf[360:468].reshape(W_SHAPE), buf[468:472]))
    assert [g.shape for g in grads] == [X_SHAPE, W_SHAPE, B_SHAPE]


def test_backward_out_with_input_grad_false_ignores_slot_zero() -> None:
    """input_grad=False computes no grad_x: out[0] may be None and the result's slot is None."""
    gw = f32(*W_SHAPE)
    grads = ictus.conv2d_backward(f32(*Y_SHAPE), f32(*X_SHAPE), f32(*W_SHAPE), input_grad=False, bias=False,
                                  out=(None, gw, None))
    assert grads[0] is None and grads[1] is gw and grads[2] is None


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


@pytest.mark.parametrize("op,name,shape", [("conv2d", "weight", W_SHAPE), ("conv2d", "bias", B_SHAPE),
                                           ("conv2d_backward", "weight", W_SHAPE),
                                           ("conv2d_backward", "grad_y", Y_SHAPE)])
def test_mixing_cpu_and_gpu_arrays(op: str, name: str, shape: tuple[int, ...]) -> None:
    """A GPU array next to a NumPy x: ValueError naming both, before any kernel runs."""
    with pytest.raises(ValueError, match=rf"^{op}: {name} is a CuPy array on GPU 0 but x is a NumPy array"):
        call(op, **{name: FakeCupyArray(shape)})


def test_gpu_out_for_cpu_inputs() -> None:
    with pytest.raises(TypeError, match=r"^conv2d: out must be a NumPy array \(CPU\).*got a CuPy array on GPU 0"):
        call("conv2d", out=FakeCupyArray(Y_SHAPE))
    with pytest.raises(TypeError, match=r"^conv2d_backward: out\[1\] must be a NumPy array \(CPU\)"):
        call("conv2d_backward", out=(None, FakeCupyArray(W_SHAPE), None))


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


# --------------------------------------------------------------------- conv2d_output_size


@pytest.mark.parametrize("args,kwargs,exc,match", [
    (((0, 3), 3), {}, ValueError, r"^conv2d_output_size: size must be >= 1"),
    (((5, -1), 3), {}, ValueError, r"^conv2d_output_size: size must be >= 1"),
    ((0, 3), {}, ValueError, r"^conv2d_output_size: size must be >= 1"),
    (((10.0, 3), 3), {}, TypeError, r"^conv2d_output_size: size must be an int"),
    ((10.0, 3), {}, TypeError, r"^conv2d_output_size: size must be an int"),
    (((True, 3), 3), {}, TypeError, r"^conv2d_output_size: size must be an int"),
    ((None, 3), {}, TypeError, r"^conv2d_output_size: size must be an int"),
    (((10,), 3), {}, ValueError, r"^conv2d_output_size: size pair must be \(h, w\)"),
    (((1, 10, 10), 3), {}, ValueError, r"^conv2d_output_size: size pair must be \(h, w\)"),
    (((10, 10), (0, 3)), {}, ValueError, r"^conv2d_output_size: kernel_size must be >= 1"),
    (((10, 10), 1.0), {}, TypeError, r"^conv2d_output_size: kernel_size must be an int"),
    (((10, 10), (3, 3, 3)), {}, ValueError, r"^conv2d_output_size: kernel_size pair must be \(h, w\)"),
    (((10, 10), 3), {"stride": 0}, ValueError, r"^conv2d_output_size: stride must be >= 1"),
    (((10, 10), 3), {"stride": (1, 0)}, ValueError, r"^conv2d_output_size: stride must be >= 1"),
    (((10, 10), 3), {"stride": (1,)}, ValueError, r"^conv2d_output_size: stride pair must be \(h, w\)"),
    (((10, 10), 3), {"dilation": 1.5}, TypeError, r"^conv2d_output_size: dilation must be an int"),
    (((10, 10), 3), {"dilation": (1, 0)}, ValueError, r"^conv2d_output_size: dilation must be >= 1"),
    (((10, 10), 3), {"padding": -1}, ValueError, r"^conv2d_output_size: padding must be >= 0"),
    (((10, 10), 3), {"padding": (0, -1)}, ValueError, r"^conv2d_output_size: padding must be >= 0"),
    (((10, 10), 3), {"padding": (1, 1, 1, 1)}, ValueError, r"^conv2d_output_size: padding pair must be \(h, w\)"),
    (((10, 10), 3), {"padding": 1.0}, TypeError, r"^conv2d_output_size: padding must be an int"),
    (((10, 10), 3), {"padding": "full"}, ValueError, r"^conv2d_output_size: padding unknown mode"),
    (((10, 10), 3), {"padding": "causal"}, ValueError, r"^conv2d_output_size: padding unknown mode"),
    (((10, 10), 3), {"padding": "same", "stride": (1, 2)}, ValueError,
     r"^conv2d_output_size: padding 'same' needs stride 1"),
    (((2, 10), 3), {}, ValueError, r"^conv2d_output_size: padding .*along the height.*kernel spans 3"),
    (((10, 2), 3), {}, ValueError, r"^conv2d_output_size: padding .*along the width.*kernel spans 3"),
    (((10, 10), (3, 5)), {"dilation": (1, 3)}, ValueError,
     r"^conv2d_output_size: padding .*along the width.*kernel spans 13"),
    (((10, 10), 3), {"padding": 2**62}, ValueError, r"^conv2d_output_size: padding .*too large"),
    (((10, 10), 3), {"padding": (2**47, 2**47)}, ValueError, r"^conv2d_output_size: padding .*too large"),
    (((2**40, 2**40), 3), {}, ValueError, r"^conv2d_output_size: (size|padding) .*too large"),
    (((10, 10), 3), {"stride": 2**63}, ValueError, r"^conv2d_output_size: stride .*too large"),
], ids=["H0", "W_neg", "int0", "H_float", "float", "H_bool", "None", "size_len1", "size_len3", "KH0", "K_float",
        "K_len3", "stride0", "stride_w0", "stride_len1", "dilation_float", "dilation_w0", "padding_neg",
        "padding_w_neg", "padding_len4", "padding_float", "padding_str", "padding_causal", "same_stride_w2",
        "span_h", "span_w", "span_dilated_w", "padding_huge", "padding_plane_overflow", "size_plane_overflow",
        "stride_huge"])
def test_output_size_bad_argument(args: tuple[Any, ...], kwargs: dict[str, Any], exc: type[Exception],
                                  match: str) -> None:
    with pytest.raises(exc, match=match):
        ictus.conv2d_output_size(*args, **kwargs)
