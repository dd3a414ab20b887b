"""Property-based fuzzing of every CPU op (hypothesis): valid calls against the float64 references,
invalid calls against the promise that they raise TypeError or ValueError naming the op.

Run: ``python3 -m pytest tests/test_fuzz.py`` (the derandomized "ci" profile: about 14,000 ictus
calls, 1,000 to 1,500 per op, in 45 to 60 s on two busy cores; the summary line "ictus fuzz ...
calls" counts them), or a soak of 20 times the examples from a random seed:
``ICTUS_FUZZ=long python3 -m pytest tests/test_fuzz.py`` (see fuzz_settings.py).

Valid draws: conv1d / conv2d, max_pool1d / max_pool2d (values and indices) and elu with their
backward passes, and gru / gru_backward (both reset conventions, reverse, lengths, h0 and biases
None or given); shapes with 1 and primes; strides, paddings (ints, pairs, "same", "valid",
"causal"), dilations and ceil mode; every CPU ISA; inputs in any memory layout (Fortran order,
strided, negative strides, unaligned, read-only); out= arrays poisoned with NaN. Finite data is
checked as the op's own tests do (norm-wise 1e-5 with the rounding allowances of tests/reference.py;
pooling and its backward bit for bit). Data with NaN and infinities: the pools against their
reference bit for bit (it follows torch's NaN rules); conv against torch in float64 (NaN and
infinities where torch has them, the finite rest within float32 rounding of it), or without torch
only NaN where the float64 reference has NaN; gru and elu_backward: NaN where the float64 reference
has NaN (torch's GRU takes lengths only as packed sequences; its equations are the reference's).

Invalid draws break one thing in a valid call: a dtype (float64, int32, float16, bool), a rank, an
empty dimension, a non-array object, a shape that does not fit, a stride, dilation, padding or
window out of range, lengths out of [1, T], out= of the wrong shape, dtype or layout or
overlapping an input. A crash ends the run, and a call that hangs ends it with tracebacks
(fuzz_settings.counted's watchdog).
"""
from __future__ import annotations

import contextlib
import dataclasses
from collections.abc import Iterator
from typing import Any

import gru_reference as gr
import ictus
import numpy as np
import pool_reference as pr
import pytest
import reference as ref
import test_activation as act
import test_gru as tg
from fuzz_draws import (
    SPECIALS,
    Call,
    Data,
    bad_out,
    expect_error,
    generic_break,
    grown,
    poisoned,
    sizes,
)
from fuzz_settings import PROFILE, CallCountReport, counted, fuzz, watchdog
from hypothesis import given
from hypothesis import strategies as st

try:
    import torch
except ImportError:  # the non-finite conv checks fall back to the reference's NaN
    torch = None

RTOL = 1e-5
ISAS = st.sampled_from(ictus.cpu_isas())
U = 2.0**-24  # float32 unit roundoff


@pytest.fixture(scope="module", autouse=True)
def report_call_count(request: pytest.FixtureRequest) -> None:
    if request.config.pluginmanager.get_plugin("ictus_fuzz_call_count") is None:
        request.config.pluginmanager.register(CallCountReport(), "ictus_fuzz_call_count")


@pytest.fixture(autouse=True)
def hang_watchdog() -> Iterator[None]:
    with watchdog(2 * PROFILE.max_examples):  # the heaviest test draws twice the profile's examples
        yield


@contextlib.contextmanager
def torch_single_thread() -> Iterator[None]:
    """torch on one thread for the few small references (two threads on two busy cores spin: 70x
    slower)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def finite_copy(a: np.ndarray) -> np.ndarray:
    """|a| with NaN and infinities as 0: the magnitudes that bound the rounding of finite results."""
    return np.nan_to_num(np.abs(a), nan=0.0, posinf=0.0, neginf=0.0)


def check_nonfinite(got: np.ndarray, want: np.ndarray, what: str, *, exact: bool,
                    bound: np.ndarray | None = None, nan_pattern_varies: bool = False) -> None:
    """NaN wherever `want` has NaN; with `exact`, also nowhere else, the same infinities, and the
    finite elements within `bound` (elementwise) of want. nan_pattern_varies: NaN in got and want
    need not match (where the kernels and torch multiply a NaN or infinity by an implicit zero
    differently, see test_conv_nan_times_implicit_zero_*): the other checks, where neither is NaN."""
    got64 = np.asarray(got, np.float64)
    missing = np.isnan(want) & ~np.isnan(got64)
    assert nan_pattern_varies or not missing.any(), (
        f"{what}: NaN expected at {tuple(np.argwhere(missing)[0])}, "
        f"got {got64[tuple(np.argwhere(missing)[0])]!r} ({int(missing.sum())} such)")
    if not exact:
        return
    extra = np.isnan(got64) & ~np.isnan(want)
    assert nan_pattern_varies or not extra.any(), (
        f"{what}: NaN at {tuple(np.argwhere(extra)[0])} where the reference has "
        f"{want[tuple(np.argwhere(extra)[0])]!r} ({int(extra.sum())} such)")
    neither_nan = ~np.isnan(want) & ~np.isnan(got64)
    inf = (np.isinf(want) | np.isinf(got64)) & neither_nan
    assert np.array_equal(got64[inf], want[inf]), f"{what}: infinities differ: got {got64[inf]}, want {want[inf]}"
    finite = np.isfinite(want) & neither_nan
    if bound is not None:
        err = np.abs(got64[finite] - want[finite])
        assert np.all(err <= bound[finite]), f"{what}: finite elements off by up to {err.max():.3g}"


# ====================================================================================== conv


@dataclasses.dataclass(frozen=True)
class ConvGeometry:
    """One conv call's shapes and arguments (rank 1: conv1d over T; rank 2: conv2d over (H, W));
    stride, padding and dilation as passed to ictus, `strides` etc. per axis for the reference."""

    rank: int
    x_shape: tuple[int, ...]
    w_shape: tuple[int, ...]
    stride: Any
    padding: Any
    dilation: Any
    strides: tuple[int, ...]
    dilations: tuple[int, ...]
    pads: tuple[tuple[int, int], ...]

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    @property
    def y_shape(self) -> tuple[int, ...]:
        out = [ref.conv1d_out_length(self.x_shape[2 + a], self.w_shape[2 + a], self.strides[a], *self.pads[a],
                                     self.dilations[a]) for a in range(self.rank)]
        return (self.x_shape[0], self.w_shape[0], *out)

    @property
    def ops(self) -> tuple[Any, Any]:
        return (ictus.conv1d, ictus.conv1d_backward) if self.rank == 1 else (ictus.conv2d, ictus.conv2d_backward)

    def reference(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                  gy: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        if self.rank == 1:
            kw = {"stride": self.strides[0], "left": self.pads[0][0], "right": self.pads[0][1],
                  "dilation": self.dilations[0]}
            return ref.conv1d_forward(x, w, b, **kw), ref.conv1d_backward(gy, x, w, **kw)
        kw2 = {"stride": self.strides, "pads": self.pads, "dilation": self.dilations}
        return ref.conv2d_forward(x, w, b, **kw2), ref.conv2d_backward(gy, x, w, **kw2)

    def torch_reference(self, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                        gy: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, ...]]:
        """torch in float64 (zero padding made explicit, so that pairs and 'causal' pad as ictus)."""
        xt, wt = (torch.from_numpy(a.astype(np.float64)).requires_grad_() for a in (x, w))
        bt = torch.from_numpy(np.zeros(w.shape[0]) if b is None else b.astype(np.float64)).requires_grad_()
        flat_pads = [p for pair in reversed(self.pads) for p in pair]  # torch pads the last axis first
        conv = torch.nn.functional.conv1d if self.rank == 1 else torch.nn.functional.conv2d
        yt = conv(torch.nn.functional.pad(xt, flat_pads), wt, bt, stride=self.strides, dilation=self.dilations)
        yt.backward(torch.from_numpy(gy.astype(np.float64)))
        return yt.detach().numpy(), (xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy())


def int_or_pair(draw: st.DrawFn, values: list[int]) -> Any:
    """conv1d's int, or conv2d's int (both axes equal) or (h, w) pair."""
    if len(values) == 1:
        return values[0]
    return values[0] if values[0] == values[1] and draw(st.booleans()) else tuple(values)


@st.composite
def conv_geometries(draw: st.DrawFn, rank: int) -> ConvGeometry:
    k_high, extra = (7, 30) if rank == 1 else (4, 8)
    ks = [draw(sizes(k_high)) for _ in range(rank)]
    strides = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    dilations = tuple(draw(st.integers(1, 3)) for _ in range(rank))
    modes = ["valid"] + (["same"] if set(strides) == {1} else []) + (["causal"] if rank == 1 else [])
    kind = draw(st.sampled_from(["int", "pair", "mode"]))
    padding: Any = {"int": lambda: draw(st.integers(0, 4)),
                    "pair": lambda: (draw(st.integers(0, 5)), draw(st.integers(0, 5))),
                    "mode": lambda: draw(st.sampled_from(modes))}[kind]()
    if rank == 1:
        pads: tuple[tuple[int, int], ...] = (ref.conv1d_padding(padding, ks[0], strides[0], dilations[0]),)
    else:
        pads = ref.conv2d_padding(padding, tuple(ks), strides, dilations)
    spatial = []
    for a in range(rank):
        low = max(1, dilations[a] * (ks[a] - 1) + 1 - sum(pads[a]))
        spatial.append(draw(st.integers(low, low + extra)))
    c_high = 17 if rank == 1 else 7
    x_shape = (draw(st.integers(1, 3)), draw(sizes(c_high)), *spatial)
    w_shape = (draw(sizes(c_high)), x_shape[1], *ks)
    return ConvGeometry(rank, x_shape, w_shape, int_or_pair(draw, list(strides)), padding,
                        int_or_pair(draw, list(dilations)), strides, dilations, pads)


def optional_outs(hd: st.DataObject, shapes: list[tuple[int, ...] | None]) -> tuple[Any, ...] | None:
    """None, or a tuple holding a poisoned array or None for each shape (None: not computed)."""
    if not hd.draw(st.booleans(), label="use out"):
        return None
    return tuple(None if s is None or not hd.draw(st.booleans()) else poisoned(s) for s in shapes)


def check_returned(got: Any, out: Any, what: str) -> None:
    if out is not None:
        assert got is out, f"{what}: the result must be the out= array"


def conv_allowances(g: ConvGeometry, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                    gy: np.ndarray) -> tuple[float, list[float]]:
    y_abs, grads_abs = g.reference(finite_copy(x), finite_copy(w), None if b is None else finite_copy(b),
                                   finite_copy(gy))
    return ref.conv_rounding_allowances(g.w_shape, g.y_shape, y_abs, grads_abs)


def conv_elementwise_bounds(g: ConvGeometry, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
                            gy: np.ndarray) -> list[np.ndarray]:
    """Worst-case float32 rounding of y and each gradient, element by element: 2 n u times the sum
    of the |terms| (n terms each)."""
    y_abs, grads_abs = g.reference(finite_copy(x), finite_copy(w), None if b is None else finite_copy(b),
                                   finite_copy(gy))
    taps = int(np.prod(g.w_shape[2:]))
    positions = int(np.prod(g.y_shape)) // g.w_shape[0]
    terms = (g.x_shape[1] * taps + 1, g.w_shape[0] * taps, positions, positions)
    return [2 * (n + 1) * U * m for n, m in zip(terms, (y_abs, *grads_abs), strict=True)]


@pytest.mark.parametrize("rank", [1, 2], ids=["conv1d", "conv2d"])
@fuzz(1.5)
@given(hd=st.data())
def test_conv_valid(rank: int, hd: st.DataObject) -> None:
    g = hd.draw(conv_geometries(rank), label="geometry")
    d = Data.of(hd)
    special = hd.draw(st.sampled_from(SPECIALS), label="special")
    where = hd.draw(st.sampled_from(["x", "weight", "bias", "grad_y"]), label="special in")
    has_bias = hd.draw(st.booleans(), label="bias")

    def values(name: str, *shape: int, scale: float = 1.0) -> np.ndarray:
        return d.values(*shape, scale=scale, special=special if name == where else "finite")

    x = values("x", *g.x_shape)
    w = values("weight", *g.w_shape, scale=float(np.prod(g.w_shape[1:])) ** -0.5)
    b = values("bias", g.w_shape[0]) if has_bias else None
    gy = values("grad_y", *g.y_shape)
    input_grad, bias_grad = hd.draw(st.booleans(), label="input_grad"), hd.draw(st.booleans(), label="bias_grad")
    out = poisoned(g.y_shape) if hd.draw(st.booleans(), label="out") else None
    outs = optional_outs(hd, [g.x_shape if input_grad else None, g.w_shape, (g.w_shape[0],) if bias_grad else None])
    fwd, bwd = g.ops
    isa = hd.draw(ISAS, label="isa")
    with ictus.use_cpu_isa(isa):
        y = counted(fwd, d.layout(x), d.layout(w), None if b is None else d.layout(b), **g.kwargs, out=out)
        grads = counted(bwd, d.layout(gy), d.layout(x), d.layout(w), **g.kwargs, bias=bias_grad,
                        input_grad=input_grad, out=outs)
    check_returned(y, out, "y")
    assert grads[0] is None if not input_grad else grads[0].shape == g.x_shape
    assert grads[2] is None if not bias_grad else grads[2].shape == (g.w_shape[0],)
    for i, got in enumerate(grads):
        check_returned(got, None if outs is None else outs[i], f"grads[{i}]")
    names = ("y", "grad_x", "grad_weight", "grad_bias")
    results = (y, *grads)
    if special == "finite":
        ry, rgrads = g.reference(x, w, b, gy)
        y_slack, slacks = conv_allowances(g, x, w, b, gy)
        for name, got, want, slack in zip(names, results, (ry, *rgrads), (y_slack, *slacks), strict=True):
            if got is not None:
                ref.assert_close(got, want, RTOL, name, slack)
        return
    with np.errstate(all="ignore"):  # inf - inf, 0 * inf: the NaN being checked
        if torch is not None:
            with torch_single_thread():
                wants = g.torch_reference(x, w, b, gy)
        else:
            wants = g.reference(x, w, b, gy)
        bounds = conv_elementwise_bounds(g, x, w, b, gy)
    for name, got, want, bound in zip(names, results, (wants[0], *wants[1]), bounds, strict=True):
        if got is not None:
            check_nonfinite(got, want, f"{name} ({special} in {where})", exact=torch is not None, bound=bound,
                            nan_pattern_varies=where == "grad_y")


# Two findings of this file, kept as regression tests: a product with an implicit zero (the zero
# padding forward, grad_y's zero border backward) is computed as torch computes it, or not, in every
# kernel variant; it only shows when a weight or grad_y holds NaN or infinity.


def test_conv_nan_times_implicit_zero_forward() -> None:
    x, w = np.ones((1, 1, 1), np.float32), np.full((1, 1, 1), np.nan, np.float32)
    with ictus.use_cpu_isa("scalar"):
        y = ictus.conv1d(x, w, padding=1)
    assert np.isnan(y).all(), f"scalar conv1d(ones, NaN weight, padding=1) = {y.ravel()}; torch gives NaN"


@pytest.mark.parametrize("isa", [i for i in ictus.cpu_isas() if i != "scalar"])
def test_conv_nan_times_implicit_zero_backward(isa: str) -> None:
    x, w, gy = np.ones((1, 1, 2), np.float32), np.array([[[0.5, np.nan]]], np.float32), np.ones((1, 1, 1), np.float32)
    with ictus.use_cpu_isa(isa):
        grad_x = ictus.conv1d_backward(gy, x, w)[0]
    assert grad_x[0, 0, 0] == 0.5, f"{isa}: grad_x = {grad_x.ravel()}; torch gives [0.5, nan]"


@st.composite
def conv_invalid_calls(draw: st.DrawFn, rank: int) -> tuple[Call, Any, str]:
    g = draw(conv_geometries(rank))
    rng = np.random.default_rng(0)

    def f32(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    fwd, bwd = g.ops
    x, w, b = f32(*g.x_shape), f32(*g.w_shape), f32(g.w_shape[0])
    if draw(st.booleans()):
        call = Call(fwd.__name__, fwd, {"x": x, "weight": w, "bias": b, **g.kwargs, "out": None},
                    ("x", "weight", "bias"))
        arrays, required = ("x", "weight", "bias"), ("x", "weight")
        axes = [("x", 1), ("weight", 1), ("bias", 0)]
    else:
        call = Call(bwd.__name__, bwd, {"grad_y": f32(*g.y_shape), "x": x, "weight": w, **g.kwargs, "bias": True,
                                        "input_grad": True, "out": None}, ("grad_y", "x", "weight"))
        arrays = required = ("grad_y", "x", "weight")
        axes = [("grad_y", a) for a in range(rank + 2)] + [("x", 0), ("x", 1), ("weight", 0), ("weight", 1)]
    kind = draw(st.sampled_from(["array", "shape", "hyper", "hyper", "out"]))
    if kind == "array":
        return draw(generic_break(call, arrays, required))
    if kind == "shape":
        return draw(grown(call, axes))
    if kind == "hyper":
        return draw(conv_bad_hyper(call, g))
    if call.fn is fwd:
        call, out, exc, why = draw(bad_out(call, np.zeros(g.y_shape, np.float32), arrays))
        return call.with_(out=out), exc, why
    return draw(conv_bad_backward_out(call, g))


@st.composite
def conv_bad_hyper(draw: st.DrawFn, call: Call, g: ConvGeometry) -> tuple[Call, Any, str]:
    """A stride, dilation or padding out of range or of the wrong type, or a kernel span longer
    than the padded input."""
    bad_int = [(0, ValueError), (-1, ValueError), (-2**70, ValueError), (2**100, ValueError),
               (1.5, TypeError), (True, TypeError), ("2", TypeError), (None, TypeError)]
    bad_padding = [(-1, ValueError), ((0, -2), ValueError), ("full", ValueError), ((1, 2, 3), ValueError),
                   (1.5, TypeError), (2**62, ValueError), ("SAME", ValueError)]
    if g.rank == 2:
        bad_padding.append(("causal", ValueError))
    kind = draw(st.sampled_from(["stride", "dilation", "padding", "same_stride", "span"]))
    if kind in ("stride", "dilation"):
        value, exc = draw(st.sampled_from(bad_int))
        return call.with_(**{kind: value}), exc, f"{kind}={value!r}"
    if kind == "padding":
        value, exc = draw(st.sampled_from(bad_padding))
        return call.with_(padding=value), exc, f"padding={value!r}"
    if kind == "same_stride":
        return call.with_(padding="same", stride=2), ValueError, "padding='same' with stride 2"
    # the span of a kernel of 2 taps (or more) dilated past the unpadded input along one axis
    axis = draw(st.integers(0, g.rank - 1))
    w = np.ascontiguousarray(call.args["weight"])
    k = max(2, w.shape[2 + axis])
    w = np.ones((*w.shape[:2], *(k if a == axis else s for a, s in enumerate(w.shape[2:]))), np.float32)
    dilation = [1] * g.rank
    dilation[axis] = g.x_shape[2 + axis]
    return (call.with_(weight=w, padding="valid", stride=1, dilation=dilation[0] if g.rank == 1 else tuple(dilation)),
            ValueError, f"kernel span along axis {axis} longer than the input")


@st.composite
def conv_bad_backward_out(draw: st.DrawFn, call: Call, g: ConvGeometry) -> tuple[Call, Any, str]:
    """out= that is not a (grad_x, grad_weight, grad_bias) triple, or a triple with one bad entry."""
    if draw(st.booleans()):
        out = draw(st.sampled_from(["triple", 3, (None, None), (None, None, None, None)]))
        out = np.zeros(g.x_shape, np.float32) if out == "triple" else out
        return call.with_(out=out), TypeError, f"out={out!r}"
    i = draw(st.integers(0, 2))
    like = np.zeros((g.x_shape, g.w_shape, (g.w_shape[0],))[i], np.float32)
    call, entry, exc, why = draw(bad_out(call, like, ("grad_y", "x", "weight")))
    return call.with_(out=tuple(entry if j == i else None for j in range(3))), exc, f"out[{i}]: {why}"


@pytest.mark.parametrize("rank", [1, 2], ids=["conv1d", "conv2d"])
@fuzz(2)
@given(broken=st.data())
def test_conv_invalid(rank: int, broken: st.DataObject) -> None:
    call, exc, why = broken.draw(conv_invalid_calls(rank))
    expect_error(call, exc, why)


# ================================================================================== max_pool


def one_or_pair(draw: st.DrawFn, values: list[int], rank: int) -> Any:
    """max_pool1d's int or 1-tuple; max_pool2d's int (both axes equal) or (h, w) pair."""
    if rank == 1:
        return (values[0],) if draw(st.booleans()) else values[0]
    return int_or_pair(draw, values)


@st.composite
def pool_cases(draw: st.DrawFn, rank: int) -> pr.PoolCase:
    """A window that fits the (padded) input and reads it everywhere (ictus refuses a window of only
    padding, which only dilation can make: then the draw runs undilated)."""
    ks = [draw(sizes(5)) for _ in range(rank)]
    pads = [draw(st.integers(0, k // 2)) for k in ks]
    dilations = [draw(st.integers(1, 3)) for _ in range(rank)]
    strides = None if draw(st.booleans()) else [draw(st.integers(1, 4)) for _ in range(rank)]
    spatial = []
    for a, extra in enumerate([9, 40] if rank == 2 else [40]):  # rows short, rows long (vector tails)
        low = max(1, dilations[a] * (ks[a] - 1) + 1 - 2 * pads[a])
        spatial.append(draw(st.integers(low, low + extra)))
    case = pr.PoolCase("fuzz", (draw(st.integers(1, 3)), draw(sizes(5)), *spatial), one_or_pair(draw, ks, rank),
                       None if strides is None else one_or_pair(draw, strides, rank), one_or_pair(draw, pads, rank),
                       one_or_pair(draw, dilations, rank), draw(st.booleans()))
    if pr.has_window_of_only_padding(case):
        case = dataclasses.replace(case, dilation=1)
    return case


def pool_ops(rank: int) -> tuple[Any, Any]:
    return (ictus.max_pool1d, ictus.max_pool1d_backward) if rank == 1 else (ictus.max_pool2d, ictus.max_pool2d_backward)


def default_window(case: pr.PoolCase) -> bool:
    """Whether max_pool*_backward may be called without the window (stride = kernel, no padding or dilation)."""
    _, _, pads, dilations = case.geometry
    return case.stride is None and set(pads) == {0} and set(dilations) == {1}


def assert_same_floats(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """Bit for bit, except that any NaN matches any NaN (their payloads come from the hardware's
    choice of operand when a sum meets two)."""
    got, want = np.asarray(got), np.asarray(want)
    nan = np.isnan(got) & np.isnan(want)
    pr.assert_bits_equal(np.where(nan, 0, got), np.where(nan, 0, want), what)


@pytest.mark.parametrize("rank", [1, 2], ids=["max_pool1d", "max_pool2d"])
@fuzz(2)
@given(hd=st.data())
def test_pool_valid(rank: int, hd: st.DataObject) -> None:
    case = hd.draw(pool_cases(rank), label="case")
    d = Data.of(hd)
    kind = hd.draw(st.sampled_from(["normal", "normal", *pr.KINDS]), label="x kind")
    x = d.values(*case.x_shape) if kind == "normal" else pr.special_data(kind, case, d.rng)
    want_y, want_idx = pr.reference_forward(case, x)
    return_indices = hd.draw(st.booleans(), label="return_indices")
    out: Any = None
    if hd.draw(st.booleans(), label="out"):
        out = (poisoned(case.y_shape), poisoned(case.y_shape, np.int64)) if return_indices else poisoned(case.y_shape)
    fwd, bwd = pool_ops(rank)
    grad_y = d.values(*case.y_shape, special=hd.draw(st.sampled_from(SPECIALS), label="grad_y special"))
    window = case.window_kwargs if not default_window(case) or hd.draw(st.booleans()) else {}
    grad_out = poisoned(case.x_shape) if hd.draw(st.booleans(), label="grad out") else None
    with ictus.use_cpu_isa(hd.draw(ISAS, label="isa")):
        result = counted(fwd, d.layout(x), **case.kwargs, return_indices=return_indices, out=out)
        grad_x = counted(bwd, d.layout(grad_y), d.layout(want_idx), case.x_shape, **window, out=grad_out)
    y, idx = result if return_indices else (result, None)
    if out is not None:
        assert all(a is b for a, b in zip(result if return_indices else (result,),
                                          out if return_indices else (out,))), "the results must be the out= arrays"
    pr.assert_bits_equal(y, want_y, f"y ({kind})")
    if return_indices:
        pr.assert_bits_equal(idx, want_idx, f"indices ({kind})")
    check_returned(grad_x, grad_out, "grad_x")
    with np.errstate(invalid="ignore"):  # inf - inf in grad_y's sums
        want_grad_x = pr.max_pool_backward(grad_y, want_idx, case.x_shape)
    assert_same_floats(grad_x, want_grad_x, "grad_x")


@st.composite
def pool_invalid_calls(draw: st.DrawFn, rank: int) -> tuple[Call, Any, str]:
    case = draw(pool_cases(rank))
    fwd, bwd = pool_ops(rank)
    x = np.random.default_rng(0).standard_normal(case.x_shape).astype(np.float32)
    if draw(st.booleans()):
        return_indices = draw(st.booleans())
        call = Call(fwd.__name__, fwd, {"x": x, **case.kwargs, "return_indices": return_indices, "out": None}, ("x",))
        kind = draw(st.sampled_from(["array", "hyper", "hyper", "out"]))
        if kind == "array":
            return draw(generic_break(call, ("x",), ("x",)))
        if kind == "hyper":
            return draw(pool_bad_window(call, case))
        y = np.zeros(case.y_shape, np.float32)
        if not return_indices:
            call, out, exc, why = draw(bad_out(call, y, ("x",)))
            return call.with_(out=out), exc, why
        if draw(st.booleans()):
            return call.with_(out=y), TypeError, "out not a (y, indices) pair"
        i = draw(st.integers(0, 1))
        call, entry, exc, why = draw(bad_out(call, (y, y.astype(np.int64))[i], ("x",)))
        return call.with_(out=tuple(entry if j == i else p for j, p in enumerate((None, None)))), exc, f"out[{i}] {why}"
    _, idx = pr.reference_forward(case, x)
    call = Call(bwd.__name__, bwd, {"grad_y": np.ones(case.y_shape, np.float32), "indices": idx,
                                    "input_shape": case.x_shape, **case.window_kwargs, "out": None},
                ("grad_y", "indices", "input_shape"))
    kind = draw(st.sampled_from(["array", "indices", "shape", "input_shape", "out"]))
    if kind == "array":
        return draw(generic_break(call, ("grad_y",), ("grad_y",)))
    if kind == "indices":
        return draw(pool_bad_indices(call, case))
    if kind == "shape":
        return draw(grown(call, [("indices", a) for a in range(rank + 2)] + [("grad_y", 0), ("grad_y", 1)]))
    if kind == "input_shape":
        bad, exc = draw(st.sampled_from([((*case.x_shape, 1), TypeError), (case.x_shape[:-1], TypeError),
                                         ("shape", TypeError), (5, TypeError), (None, TypeError),
                                         ((*case.x_shape[:-1], 0), ValueError),
                                         ((*case.x_shape[:-1], 2**62), ValueError),
                                         ((case.x_shape[0] + 1, *case.x_shape[1:]), ValueError),
                                         ((*case.x_shape[:-1], 2.5), TypeError)]))
        return call.with_(input_shape=bad), exc, f"input_shape={bad!r}"
    call, out, exc, why = draw(bad_out(call, x, ("grad_y",)))
    return call.with_(out=out), exc, why


@st.composite
def pool_bad_indices(draw: st.DrawFn, call: Call, case: pr.PoolCase) -> tuple[Call, Any, str]:
    """indices of another dtype than int64 or int32, or with a position outside the input planes."""
    idx = call.args["indices"]
    if draw(st.booleans()):
        dtype = draw(st.sampled_from(["int16", "float32", "uint64", "float64"]))
        return call.with_(indices=idx.astype(dtype)), TypeError, f"indices as {dtype}"
    plane = int(np.prod(case.x_shape[2:]))
    bad = idx.copy()
    bad.flat[draw(st.integers(0, bad.size - 1))] = draw(st.sampled_from([plane, -1, 2**62, -(2**63)]))
    if draw(st.booleans()):
        bad = np.clip(bad, -(2**31), 2**31 - 1).astype(np.int32)  # still outside: plane, -1 or an end of int32
    return call.with_(indices=bad), ValueError, "an index outside the plane"


@st.composite
def pool_bad_window(draw: st.DrawFn, call: Call, case: pr.PoolCase) -> tuple[Call, Any, str]:
    """A kernel, stride or dilation < 1, padding over half the kernel, a window longer than the padded
    input, a window of only padding, or arguments of the wrong type or length."""
    rank = len(case.x_shape) - 2
    axis = draw(st.integers(0, rank - 1))
    ks, _, _, _ = case.geometry
    k = ks[axis - rank]  # geometry is (h, w); max_pool1d's axis is w

    def on_axis(value: int, others: int) -> Any:
        return value if rank == 1 else tuple(value if a == axis else others for a in range(2))

    spatial = case.x_shape[2 + axis]
    kind = draw(st.sampled_from(["zero", "padding", "long", "only_padding", "type", "length"]))
    if kind == "zero":
        name = draw(st.sampled_from(["kernel_size", "stride", "dilation"]))
        value = draw(st.sampled_from([0, -1, -2**70]))
        return call.with_(**{name: on_axis(value, 1)}), ValueError, f"{name} {value}"
    if kind == "padding":
        value = draw(st.sampled_from([k // 2 + 1, -1]))
        return call.with_(padding=on_axis(value, 0)), ValueError, f"padding {value} for kernel {k}"
    if kind == "long":
        return (call.with_(kernel_size=on_axis(spatial + 1, 1), stride=1, padding=0, dilation=1, ceil_mode=False),
                ValueError, "window longer than the input")
    if kind == "only_padding":  # window 0 reads position -1 and then `spatial`: both outside the input
        return (call.with_(kernel_size=on_axis(2, 1), stride=1, padding=on_axis(1, 0),
                           dilation=on_axis(spatial + 1, 1), ceil_mode=False), ValueError, "window of only padding")
    name = draw(st.sampled_from(["kernel_size", "stride", "padding", "dilation"]))
    if kind == "type":
        value, exc = draw(st.sampled_from([(2.5, TypeError), ("2", TypeError), (True, TypeError),
                                           ({"k": 2}, TypeError)]))
    else:
        value, exc = draw(st.sampled_from([((1, 1, 1), ValueError), ((), ValueError)] +
                                          ([((1, 1), ValueError)] if rank == 1 else [((1,), ValueError)])))
    return call.with_(**{name: value}), exc, f"{name}={value!r}"


@pytest.mark.parametrize("rank", [1, 2], ids=["max_pool1d", "max_pool2d"])
@fuzz(2)
@given(broken=st.data())
def test_pool_invalid(rank: int, broken: st.DataObject) -> None:
    call, exc, why = broken.draw(pool_invalid_calls(rank))
    expect_error(call, exc, why)


# ======================================================================================= gru


@dataclasses.dataclass
class GruDraw:
    """A gru call: test_gru's Case and Inputs (its references and allowances take them), and
    lengths as passed (None, a list of ints, or an int32 or int64 array)."""

    case: tg.Case
    inputs: tg.Inputs
    lengths_arg: Any

    def reference_args(self) -> tuple[Any, ...]:
        return tg.reference_args(self.case, self.inputs)


@st.composite
def gru_draws(draw: st.DrawFn, d: Data, special: str = "finite", where: str = "") -> GruDraw:
    t, n, dim, h = draw(sizes(8)), draw(sizes(4)), draw(sizes(9)), draw(sizes(17))
    flags = {name: draw(st.booleans()) for name in ("reverse", "linear_before_reset", "h0", "grad_h_n")}
    biases = draw(st.sampled_from(["both", "none", "ih", "hh"]))

    def values(name: str, *shape: int, scale: float = 1.0) -> np.ndarray:
        return d.values(*shape, scale=scale, special=special if name == where else "finite")

    lengths_kind = draw(st.sampled_from(["none", "array", "int32", "list"]))
    lengths = None if lengths_kind == "none" else d.rng.integers(1, t + 1, n)
    inputs = tg.Inputs(x=values("x", t, n, dim), h0=values("h0", n, h) if flags["h0"] else None,
                       w_ih=values("weight_ih", 3 * h, dim, scale=dim ** -0.5),
                       w_hh=values("weight_hh", 3 * h, h, scale=h ** -0.5),
                       b_ih=values("bias_ih", 3 * h, scale=0.5) if biases in ("both", "ih") else None,
                       b_hh=values("bias_hh", 3 * h, scale=0.5) if biases in ("both", "hh") else None,
                       lengths=lengths, grad_y=values("grad_y", t, n, h),
                       grad_h_n=values("grad_h_n", n, h) if flags["grad_h_n"] else None)
    case = tg.Case("fuzz", t, n, dim, h, flags["reverse"], flags["linear_before_reset"], flags["h0"],
                   bias=draw(st.booleans()), lengths="none" if lengths is None else "mixed",
                   grad_h_n=flags["grad_h_n"])
    lengths_arg = {"none": None, "array": lengths, "int32": None if lengths is None else lengths.astype(np.int32),
                   "list": None if lengths is None else lengths.tolist()}[lengths_kind]
    return GruDraw(case, inputs, lengths_arg)


def run_gru(g: GruDraw, d: Data, training: bool) -> tuple[Any, ...]:
    inp = g.inputs
    laid = [None if a is None else d.layout(a) for a in (inp.x, inp.h0, inp.w_ih, inp.w_hh, inp.b_ih, inp.b_hh)]
    return counted(ictus.gru, *laid, **g.case.options(), training=training, lengths=g.lengths_arg)


def run_gru_backward(g: GruDraw, d: Data, reserve: np.ndarray) -> tuple[Any, ...]:
    inp = g.inputs
    laid = [None if a is None else d.layout(a) for a in (inp.grad_y, inp.grad_h_n, inp.x, inp.h0, inp.w_ih, inp.w_hh)]
    return counted(ictus.gru_backward, *laid, d.layout(reserve), **g.case.options(), bias=g.case.bias,
                   lengths=g.lengths_arg)


GRU_INPUTS = ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh", "grad_y", "grad_h_n")


@fuzz(2)
@given(hd=st.data())
def test_gru_valid(hd: st.DataObject) -> None:
    d = Data.of(hd)
    special = hd.draw(st.sampled_from(SPECIALS), label="special")
    where = hd.draw(st.sampled_from(GRU_INPUTS), label="special in")
    g = hd.draw(gru_draws(d, special, where), label="gru")
    with ictus.use_cpu_isa(hd.draw(ISAS, label="isa")):
        y, h_n, reserve = run_gru(g, d, training=True)
        if hd.draw(st.booleans(), label="inference too"):
            y_inference, h_n_inference = run_gru(g, d, training=False)
            assert np.array_equal(y_inference, y, equal_nan=True), "training=True changes the bits of y"
            assert np.array_equal(h_n_inference, h_n, equal_nan=True), "training=True changes the bits of h_n"
        grads = run_gru_backward(g, d, reserve)
    results = (y, h_n, *grads)
    names = ("y", "h_n", *tg.GRADS)
    if not g.case.bias:
        assert grads[4] is None and grads[5] is None, "bias=False must give no bias gradients"
    if special == "finite":
        want = tg.expected(g.case, g.inputs)
        for name, got, ref_value, slack in zip(names, results, (want.y, want.h_n, *want.grads), want.allowances):
            if got is not None:
                ref.assert_close(got, ref_value, tg.RANDOM_RTOL, name, slack)
        return
    with np.errstate(all="ignore"):
        want_y, want_h_n = gr.gru_forward(*g.reference_args())
        want_grads = gr.gru_backward(g.inputs.grad_y, g.inputs.grad_h_n, *g.reference_args())
    # The kernels' sigmoid and tanh clamp their argument (to about +-88), so a gate that an infinity
    # saturates is exp(-88), not 0, and multiplies an infinite x or h0 to +-inf where float64 (and
    # torch) have 0 * inf = NaN: with infinities only the forward NaN are certain, and only while the
    # state stays finite (h0 finite); NaN propagates through every product.
    # At the steps a sequence skips (lengths), the reference's gate gradients are 0 * its state, NaN
    # once the state is NaN (the kernels' are 0): its grad_x is zeroed there and, with some skipped
    # step, its weight and bias gradients (sums over steps) are not checked for NaN.
    skipped = tg.skipped_steps(g.case, g.inputs.lengths)
    want_grads = (np.where(skipped[:, :, None], 0.0, want_grads[0]), *want_grads[1:])
    checked = list(zip(names, results, (want_y, want_h_n, *want_grads)))
    if special != "nan":
        checked = [] if where == "h0" else checked[:2]
    for name, got, ref_value in checked[:4] if skipped.any() else checked:
        if got is not None:
            check_nonfinite(got, ref_value, f"{name} ({special} in {where})", exact=False)


@st.composite
def gru_invalid_calls(draw: st.DrawFn) -> tuple[Call, Any, str]:
    d = Data(draw, np.random.default_rng(0))
    g = draw(gru_draws(d))
    t, n, h = g.case.t, g.case.n, g.case.h
    inp = g.inputs
    h0 = d.values(n, h) if inp.h0 is None else inp.h0
    b_ih, b_hh = (d.values(3 * h) if b is None else b for b in (inp.b_ih, inp.b_hh))
    lengths = np.full(n, t) if inp.lengths is None else inp.lengths
    weights = {"h0": h0, "weight_ih": inp.w_ih, "weight_hh": inp.w_hh}
    if draw(st.booleans()):
        call = Call("gru", ictus.gru, {"x": inp.x, **weights, "bias_ih": b_ih, "bias_hh": b_hh,
                                       **g.case.options(), "training": draw(st.booleans()), "lengths": lengths},
                    ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"))
        arrays, required = ("x", "h0", "weight_ih", "weight_hh", "bias_ih", "bias_hh"), ("x", "weight_ih", "weight_hh")
        axes = [("x", 2), ("h0", 0), ("h0", 1), ("weight_ih", 0), ("weight_ih", 1), ("weight_hh", 0),
                ("weight_hh", 1), ("bias_ih", 0), ("bias_hh", 0)]
    else:
        _, _, reserve = ictus.gru(inp.x, h0, inp.w_ih, inp.w_hh, b_ih, b_hh, **g.case.options(), training=True,
                                  lengths=lengths)
        call = Call("gru_backward", ictus.gru_backward,
                    {"grad_y": inp.grad_y, "grad_h_n": d.values(n, h), "x": inp.x, **weights, "reserve": reserve,
                     **g.case.options(), "bias": True, "lengths": lengths},
                    ("grad_y", "grad_h_n", "x", "h0", "weight_ih", "weight_hh", "reserve"))
        arrays = ("grad_y", "grad_h_n", "x", "h0", "weight_ih", "weight_hh", "reserve")
        required = ("grad_y", "x", "weight_ih", "weight_hh", "reserve")
        axes = [("grad_y", 0), ("grad_y", 1), ("grad_y", 2), ("grad_h_n", 0), ("grad_h_n", 1), ("x", 0), ("x", 1),
                ("x", 2), ("h0", 0), ("h0", 1), ("weight_ih", 0), ("weight_ih", 1), ("weight_hh", 0),
                ("weight_hh", 1), ("reserve", 0)]
    kind = draw(st.sampled_from(["array", "shape", "lengths"]))
    if kind == "array":
        return draw(generic_break(call, arrays, required))
    if kind == "shape":
        return draw(grown(call, axes))
    bad, exc = draw(st.sampled_from([
        (np.where(np.arange(n) == 0, 0, lengths), ValueError), (np.where(np.arange(n) == n - 1, t + 1, lengths), ValueError),
        (-lengths, ValueError), (np.append(lengths, 1), ValueError), (lengths[None], ValueError),
        (lengths.astype(np.float32), TypeError), (np.ones(n, bool), TypeError), ([1.5] * n, TypeError),
        (lengths.astype(np.float64).tolist(), TypeError), ("lengths", TypeError)]))
    return call.with_(lengths=bad), exc, f"lengths={bad!r}"


@fuzz(2)
@given(broken=st.data())
def test_gru_invalid(broken: st.DataObject) -> None:
    call, exc, why = broken.draw(gru_invalid_calls())
    expect_error(call, exc, why)


# ======================================================================================= elu


@st.composite
def elu_shapes(draw: st.DrawFn) -> tuple[int, ...]:
    """Any rank, small, or now and then one long row (the kernels split it among threads)."""
    if draw(st.integers(0, 9)) == 0:
        return (draw(st.sampled_from([16 * 1024 - 1, 16 * 1024 + 1, 3 * 16 * 1024 + 5])),)
    return tuple(draw(sizes(17)) for _ in range(draw(st.integers(1, 4))))


@fuzz(2)
@given(hd=st.data())
def test_elu_valid(hd: st.DataObject) -> None:
    d = Data.of(hd)
    shape = hd.draw(elu_shapes(), label="shape")
    alpha = hd.draw(st.one_of(st.sampled_from([0.0, 0.3, 1.0, 2.5]), st.floats(0, 4)), label="alpha")
    x = d.values(*shape, scale=4.0, special=hd.draw(st.sampled_from(SPECIALS), label="x special"))
    grad_y = d.values(*shape, special=hd.draw(st.sampled_from(SPECIALS), label="grad_y special"))
    out, grad_out = (poisoned(shape) if hd.draw(st.booleans()) else None for _ in range(2))
    with ictus.use_cpu_isa(hd.draw(ISAS, label="isa")):
        y = counted(ictus.elu, d.layout(x), alpha, out=out)
        grad_x = counted(ictus.elu_backward, d.layout(grad_y), d.layout(y), alpha, out=grad_out)
    check_returned(y, out, "y")
    check_returned(grad_x, grad_out, "grad_x")
    act.assert_elementwise(y, act.elu_reference(x, alpha), f"elu alpha={alpha}")
    with np.errstate(all="ignore"):
        want = act.elu_grad_reference(grad_y, x, alpha)
    if np.isfinite(x).all() and np.isfinite(grad_y).all():
        # as test_activation: from y, alpha e^x = y + alpha cancels where y is near -alpha
        atol = 4 * act.RTOL * max(alpha, 1.0) * float(np.abs(grad_y).max())
        np.testing.assert_allclose(grad_x, want, rtol=4 * act.RTOL, atol=atol, err_msg=f"elu_backward alpha={alpha}")
    else:
        check_nonfinite(grad_x, want, f"elu_backward alpha={alpha}", exact=False)


@st.composite
def elu_invalid_calls(draw: st.DrawFn) -> tuple[Call, Any, str]:
    shape = tuple(draw(sizes(7)) for _ in range(draw(st.integers(1, 3))))
    x = np.random.default_rng(0).standard_normal(shape).astype(np.float32)
    if draw(st.booleans()):
        call = Call("elu", ictus.elu, {"x": x, "alpha": 1.0, "out": None}, ("x", "alpha"))
        arrays: tuple[str, ...] = ("x",)
    else:
        call = Call("elu_backward", ictus.elu_backward, {"grad_y": x, "y": x.copy(), "alpha": 1.0, "out": None},
                    ("grad_y", "y", "alpha"))
        arrays = ("grad_y", "y")
    kind = draw(st.sampled_from(["array", "alpha", "out"] + (["shape"] if call.op == "elu_backward" else [])))
    if kind == "array":
        return draw(generic_break(call, arrays, arrays, fixed_rank=False))
    if kind == "shape":
        return draw(grown(call, [("y", a) for a in range(len(shape))]))
    if kind == "alpha":  # out of range; not a number: test_elu_alpha_not_a_number_named
        alpha = draw(st.sampled_from([-1.0, -1e-30, float("nan"), float("inf"), -float("inf")]))
        return call.with_(alpha=alpha), ValueError, f"alpha={alpha}"
    call, out, exc, why = draw(bad_out(call, x, arrays))
    return call.with_(out=out), exc, why


@fuzz(2)
@given(broken=st.data())
def test_elu_invalid(broken: st.DataObject) -> None:
    call, exc, why = broken.draw(elu_invalid_calls())
    expect_error(call, exc, why)


def test_elu_backward_non_array_y_named() -> None:
    with pytest.raises(TypeError, match=r"^elu_backward: y must be a NumPy array"):
        ictus.elu_backward(np.ones((2, 2), np.float32), [0.5, 1.5])


@pytest.mark.parametrize("alpha", ["a", None, [1.0]], ids=["str", "None", "list"])
def test_elu_alpha_not_a_number_named(alpha: Any) -> None:
    with pytest.raises((TypeError, ValueError), match=r"^elu: alpha"):
        ictus.elu(np.ones(3, np.float32), alpha)
