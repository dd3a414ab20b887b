"""conv1d forward and backward on the CPU: every kernel variant x the awkward shape sweep, against
the float64 reference (tests/reference.py), which is itself proven by finite differences and
compared with torch.autograd.

Outputs are checked on the allocating path and on caller arrays pre-filled with NaN, so an element
a kernel forgets to write cannot pass. Tolerance: float32 within 1e-5 relative (norm-wise) of
float64.
"""
from __future__ import annotations

import dataclasses
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import ictus
import numpy as np
import pytest
import reference as ref
from conftest import caps_address_space
from conv1d_cases import ALL_CASES, CASES, Case, params
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RTOL = 1e-5
TESTS_DIR = Path(__file__).resolve().parent
PATHS = ["alloc", "out_nan"]


def draw_case(case: Case, randn: Callable[..., np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None]:
    x = randn(*case.x_shape)
    w = randn(*case.w_shape)
    b = randn(case.c_out) if case.bias else None
    return x, w, b


def nan_array(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, np.nan, dtype=np.float32)


def check_output(a: Any, shape: tuple[int, ...], what: str) -> None:
    assert isinstance(a, np.ndarray), f"{what}: expected a NumPy array, got {type(a)}"
    assert a.dtype == np.float32, f"{what}: dtype {a.dtype}"
    assert a.shape == shape, f"{what}: shape {a.shape} != {shape}"
    assert a.flags.c_contiguous, f"{what}: not C-contiguous"


def forward(case: Case, x: Any, w: Any, b: Any, path: str) -> np.ndarray:
    if path == "alloc":
        y = ictus.conv1d(x, w, b, **case.kwargs)
    else:
        out = nan_array(case.y_shape)
        y = ictus.conv1d(x, w, b, **case.kwargs, out=out)
        assert y is out, "conv1d(out=...) must return the out array"
    check_output(y, case.y_shape, "y")
    return y


def backward(case: Case, gy: Any, x: Any, w: Any, path: str, *, bias: bool | None = None,
             input_grad: bool = True) -> tuple[Any, Any, Any]:
    bias = case.bias if bias is None else bias
    if path == "alloc":
        grads = ictus.conv1d_backward(gy, x, w, **case.kwargs, bias=bias, input_grad=input_grad)
    else:
        out = (nan_array(case.x_shape) if input_grad else None, nan_array(case.w_shape),
               nan_array((case.c_out,)) if bias else None)
        grads = ictus.conv1d_backward(gy, x, w, **case.kwargs, bias=bias, input_grad=input_grad, out=out)
        for got, given_out in zip(grads, out):
            assert given_out is None or got is given_out, "conv1d_backward(out=...) must return the out arrays"
    assert isinstance(grads, tuple) and len(grads) == 3
    gx, gw, gb = grads
    if input_grad:
        check_output(gx, case.x_shape, "grad_x")
    else:
        assert gx is None, "grad_x must be None when input_grad=False"
    check_output(gw, case.w_shape, "grad_weight")
    if bias:
        check_output(gb, (case.c_out,), "grad_bias")
    else:
        assert gb is None, "grad_bias must be None when bias=False"
    return gx, gw, gb


def reference_forward(case: Case, x: Any, w: Any, b: Any) -> np.ndarray:
    left, right = case.pads
    return ref.conv1d_forward(x, w, b, stride=case.stride, left=left, right=right, dilation=case.dilation)


def reference_backward(case: Case, gy: Any, x: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    left, right = case.pads
    return ref.conv1d_backward(gy, x, w, stride=case.stride, left=left, right=right, dilation=case.dilation)


# ------------------------------------------------------------------------------ the sweep


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", params(ALL_CASES))
def test_forward(case: Case, isa: str, path: str, randn: Callable[..., np.ndarray]) -> None:
    x, w, b = draw_case(case, randn)
    y = forward(case, x, w, b, path)
    ref.assert_close(y, reference_forward(case, x, w, b), RTOL, f"y [{isa}]")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", params(ALL_CASES))
def test_backward(case: Case, isa: str, path: str, randn: Callable[..., np.ndarray]) -> None:
    x, w, _ = draw_case(case, randn)
    gy = randn(*case.y_shape)
    ref.assert_grads_close(backward(case, gy, x, w, path), reference_backward(case, gy, x, w), RTOL, isa,
                           bias=case.bias)


PARTIAL_CASES = [c for c in CASES if c.name in ("k1_stride3", "ch13x17", "tile_T65", "primes_stride3",
                                                 "stride2_pair", "pad_asym_gt_span")]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("input_grad,bias", [(False, True), (True, False), (False, False)],
                         ids=["no_input_grad", "no_bias", "weight_only"])
@pytest.mark.parametrize("case", params(PARTIAL_CASES))
def test_backward_partial(case: Case, input_grad: bool, bias: bool, isa: str, path: str,
                          randn: Callable[..., np.ndarray]) -> None:
    """input_grad=False / bias=False give None in their slots; the other gradients stay right."""
    x, w, _ = draw_case(case, randn)
    gy = randn(*case.y_shape)
    ref.assert_grads_close(backward(case, gy, x, w, path, bias=bias, input_grad=input_grad),
                           reference_backward(case, gy, x, w), RTOL, isa, input_grad=input_grad, bias=bias)


@pytest.mark.parametrize("which", ["grad_x", "grad_weight", "grad_bias"])
def test_backward_out_mixed_with_none(which: str, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """out= may name some gradients and leave the others (None) to be allocated."""
    case = next(c for c in CASES if c.name == "primes_stride3")
    x, w, _ = draw_case(case, randn)
    gy = randn(*case.y_shape)
    shapes = {"grad_x": case.x_shape, "grad_weight": case.w_shape, "grad_bias": (case.c_out,)}
    order = ["grad_x", "grad_weight", "grad_bias"]
    out = tuple(nan_array(shapes[name]) if name == which else None for name in order)
    grads = ictus.conv1d_backward(gy, x, w, **case.kwargs, out=out)
    assert grads[order.index(which)] is out[order.index(which)]
    for name, got, want in zip(order, grads, reference_backward(case, gy, x, w)):
        check_output(got, shapes[name], name)
        ref.assert_close(got, want, RTOL, name)


def test_bias_none_is_no_bias(isa: str, randn: Callable[..., np.ndarray]) -> None:
    case = next(c for c in CASES if c.name == "ch13x17")
    x, w, b = draw_case(case, randn)
    y0 = ictus.conv1d(x, w, None, **case.kwargs)
    y1 = ictus.conv1d(x, w, b, **case.kwargs)
    ref.assert_close(y0, reference_forward(case, x, w, None), RTOL)
    ref.assert_close(y1 - y0, np.broadcast_to(b[None, :, None], y0.shape), 1e-5, "bias contribution")


def test_scalar_variant_is_exactly_rounded(randn: Callable[..., np.ndarray]) -> None:
    """The scalar variant accumulates in double: it must give float32(reference) almost everywhere
    (differences only from the order of float64 sums, at a rounding tie)."""
    case = next(c for c in CASES if c.name == "primes")
    x, w, b = draw_case(case, randn)
    with ictus.use_cpu_isa("scalar"):
        y = ictus.conv1d(x, w, b, **case.kwargs)
    want = reference_forward(case, x, w, b).astype(np.float32)
    assert np.mean(y == want) > 0.999, "scalar forward is not the correctly rounded float64 sum"


# ------------------------------------------------------------------------- shapes and torch


@pytest.mark.parametrize("case", params(ALL_CASES))
def test_output_length(case: Case) -> None:
    got = ictus.conv1d_output_length(case.t, case.k, **case.kwargs)
    assert type(got) is int and got == case.t_out


torch_cases = params([c for c in ALL_CASES if c.name not in ("large",) and not c.name.startswith("tcn_d")]
                     + [c for c in ALL_CASES if c.name in ("tcn_d1", "tcn_d64", "tcn_d1024")])


def torch_conv(torch: Any, case: Case, x: np.ndarray, w: np.ndarray, b: np.ndarray | None):
    """torch.autograd in float64: (y, grad_x, grad_w, grad_b) for L = sum(y * gy) (grads set later)."""
    import torch.nn.functional as F

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True) if b is not None else None
    left, right = case.pads
    y = F.conv1d(F.pad(xt, (left, right)), wt, bt, stride=case.stride, dilation=case.dilation)
    return xt, wt, bt, y


@pytest.mark.parametrize("case", torch_cases)
def test_against_torch_autograd(case: Case, randn: Callable[..., np.ndarray]) -> None:
    """ictus (dispatched variant) and the float64 reference both agree with torch.autograd."""
    torch = pytest.importorskip("torch")
    x, w, b = draw_case(case, randn)
    xt, wt, bt, yt = torch_conv(torch, case, x, w, b)
    gy = randn(*tuple(yt.shape))
    yt.backward(torch.from_numpy(gy.astype(np.float64)))

    assert tuple(yt.shape) == case.y_shape, "output shape differs from torch's"
    y = ictus.conv1d(x, w, b, **case.kwargs)
    assert y.shape == tuple(yt.shape)
    gx, gw, gb = ictus.conv1d_backward(gy, x, w, **case.kwargs, bias=case.bias)
    torch_grads = [("y", y, yt.detach()), ("grad_x", gx, xt.grad), ("grad_weight", gw, wt.grad)]
    if case.bias:
        torch_grads.append(("grad_bias", gb, bt.grad))
    for name, got, want in torch_grads:
        ref.assert_close(got, want.numpy(), RTOL, f"ictus {name} vs torch")

    ry = reference_forward(case, x, w, b)
    rgx, rgw, rgb = reference_backward(case, gy, x, w)
    ref_grads = [("y", ry, yt.detach()), ("grad_x", rgx, xt.grad), ("grad_weight", rgw, wt.grad)]
    if case.bias:
        ref_grads.append(("grad_bias", rgb, bt.grad))
    for name, got, want in ref_grads:
        ref.assert_close(got, want.numpy(), 1e-12, f"reference {name} vs torch")


FD_CASES = [
    Case("fd_same", 2, 2, 3, 3, 7, padding="same", dilation=2),
    Case("fd_stride2_asym", 2, 3, 2, 3, 9, stride=2, padding=(2, 1), dilation=2),
    Case("fd_stride3_pad_gt_span", 1, 2, 3, 2, 5, stride=3, padding=(4, 6)),
    Case("fd_reads_only_padding", 1, 2, 2, 1, 2, stride=7, padding=5),
]


@pytest.mark.parametrize("case", params(FD_CASES))
def test_reference_gradients_by_finite_differences(case: Case, rng: np.random.Generator) -> None:
    """Proves the float64 reference backward: central differences of L = sum(grad_y * y)."""
    x = rng.standard_normal(case.x_shape)
    w = rng.standard_normal(case.w_shape)
    b = rng.standard_normal(case.c_out)
    gy = rng.standard_normal(case.y_shape)

    def loss(x_: np.ndarray, w_: np.ndarray, b_: np.ndarray) -> float:
        return float(np.sum(gy * reference_forward(case, x_, w_, b_)))

    def numeric(arr: np.ndarray, f: Callable[[np.ndarray], float]) -> np.ndarray:
        h = 1e-3  # L is linear in each argument: central differences are exact up to rounding
        g = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += h
            minus[idx] -= h
            g[idx] = (f(plus) - f(minus)) / (2 * h)
        return g

    gx, gw, gb = reference_backward(case, gy, x, w)
    ref.assert_close(gx, numeric(x, lambda a: loss(a, w, b)), 1e-9, "grad_x vs finite differences")
    ref.assert_close(gw, numeric(w, lambda a: loss(x, a, b)), 1e-9, "grad_weight vs finite differences")
    ref.assert_close(gb, numeric(b, lambda a: loss(x, w, a)), 1e-9, "grad_bias vs finite differences")


def test_reference_forward_by_hand() -> None:
    """A case small enough to work out on paper: x = [1 2 3 4], w = [1 10], stride 2, padding (1, 0)."""
    x = np.array([[[1.0, 2.0, 3.0, 4.0]]])
    w = np.array([[[1.0, 10.0]]])
    # padded: [0 1 2 3 4]; t=0 reads frames 0,1 -> 0 + 10; t=1 reads 2,3 -> 2 + 30
    y = ref.conv1d_forward(x, w, np.array([0.5]), stride=2, left=1, right=0, dilation=1)
    np.testing.assert_array_equal(y, [[[10.5, 32.5]]])
    gx, gw, gb = ref.conv1d_backward(np.array([[[1.0, 2.0]]]), x, w, stride=2, left=1, right=0, dilation=1)
    np.testing.assert_array_equal(gx, [[[10.0, 2.0, 20.0, 0.0]]])
    np.testing.assert_array_equal(gw, [[[0 * 1 + 2 * 2, 1 * 1 + 3 * 2]]])
    np.testing.assert_array_equal(gb, [3.0])


def test_assert_close_reports_first_mismatch() -> None:
    want = np.arange(1.0, 11.0)
    got = want.astype(np.float32)
    ref.assert_close(got, want)
    got[7] = 0.0
    with pytest.raises(AssertionError, match=r"first mismatch at index \(7,\): got 0\.0, ref 8\.0"):
        ref.assert_close(got, want)
    got[7] = np.nan
    with pytest.raises(AssertionError, match=r"non-finite value at index \(7,\)"):
        ref.assert_close(got, want)
    ref.assert_close(np.zeros(3, np.float32), np.zeros(3))
    with pytest.raises(AssertionError, match="all zero"):
        ref.assert_close(np.array([0.0, 1.0, 0.0], np.float32), np.zeros(3))


# --------------------------------------------------------------------- inputs and aliasing


def test_inputs_not_modified(isa: str, randn: Callable[..., np.ndarray]) -> None:
    case = next(c for c in CASES if c.name == "primes_stride3")
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    copies = [a.copy() for a in (x, w, b, gy)]
    ictus.conv1d(x, w, b, **case.kwargs)
    ictus.conv1d(x, w, b, **case.kwargs, out=nan_array(case.y_shape))
    ictus.conv1d_backward(gy, x, w, **case.kwargs)
    ictus.conv1d_backward(gy, x, w, **case.kwargs,
                          out=(nan_array(case.x_shape), nan_array(case.w_shape), nan_array((case.c_out,))))
    for name, a, c in zip(("x", "weight", "bias", "grad_y"), (x, w, b, gy), copies):
        np.testing.assert_array_equal(a, c, err_msg=f"{name} was modified")


def test_out_is_overwritten_not_accumulated(isa: str, randn: Callable[..., np.ndarray]) -> None:
    case = next(c for c in CASES if c.name == "stride2_tiles")
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    out = randn(*case.y_shape) * 1e3
    ref.assert_close(ictus.conv1d(x, w, b, **case.kwargs, out=out), reference_forward(case, x, w, b), RTOL)
    gouts = (randn(*case.x_shape) * 1e3, randn(*case.w_shape) * 1e3, randn(case.c_out) * 1e3)
    grads = ictus.conv1d_backward(gy, x, w, **case.kwargs, out=gouts)
    for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), grads, reference_backward(case, gy, x, w)):
        ref.assert_close(got, want, RTOL, name)


def test_torch_cpu_tensors_accepted(isa: str, randn: Callable[..., np.ndarray]) -> None:
    """torch CPU tensors go in through DLPack and give bit-for-bit the NumPy result."""
    torch = pytest.importorskip("torch")
    case = next(c for c in CASES if c.name == "stride2_tiles")
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    y_np = ictus.conv1d(x, w, b, **case.kwargs)
    y_t = ictus.conv1d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **case.kwargs)
    assert isinstance(y_t, np.ndarray)
    np.testing.assert_array_equal(y_t, y_np)
    g_np = ictus.conv1d_backward(gy, x, w, **case.kwargs)
    g_t = ictus.conv1d_backward(torch.from_numpy(gy), torch.from_numpy(x), torch.from_numpy(w), **case.kwargs)
    for a, c in zip(g_t, g_np):
        np.testing.assert_array_equal(a, c)
    # a mix of torch and NumPy is one device (the CPU)
    np.testing.assert_array_equal(ictus.conv1d(torch.from_numpy(x), w, b, **case.kwargs), y_np)
    # non-contiguous tensors are copied, and still right
    xt = torch.from_numpy(np.ascontiguousarray(x.transpose(2, 1, 0))).permute(2, 1, 0)
    assert not xt.is_contiguous()
    np.testing.assert_array_equal(ictus.conv1d(xt, w, b, **case.kwargs), y_np)


def test_torch_tensors_are_not_copied() -> None:
    """DLPack input shares memory: writing the tensor between calls changes the result."""
    torch = pytest.importorskip("torch")
    xt = torch.ones(1, 1, 8)
    w = np.ones((1, 1, 1), np.float32)
    np.testing.assert_array_equal(ictus.conv1d(xt, w), np.ones((1, 1, 8), np.float32))
    xt[0, 0, 3] = 5.0
    assert ictus.conv1d(xt, w)[0, 0, 3] == 5.0


@pytest.mark.parametrize("arg", ["x", "weight", "bias"])
def test_torch_tensor_requiring_grad_raises(arg: str, randn: Callable[..., np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    args = {"x": randn(1, 3, 10), "weight": randn(2, 3, 3), "bias": randn(2)}
    args[arg] = torch.from_numpy(args[arg]).requires_grad_(True)
    with pytest.raises(TypeError, match=rf"conv1d: {arg} .*\.detach\(\)"):
        ictus.conv1d(args["x"], args["weight"], args["bias"])


def test_torch_tensor_requiring_grad_raises_in_backward(randn: Callable[..., np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    gy = torch.from_numpy(randn(1, 2, 8)).requires_grad_(True)
    with pytest.raises(TypeError, match=r"conv1d_backward: grad_y .*\.detach\(\)"):
        ictus.conv1d_backward(gy, randn(1, 3, 10), randn(2, 3, 3))


def make_layout(a: np.ndarray, layout: str) -> np.ndarray:
    """The values of `a` in a non-contiguous (or unaligned) array."""
    if layout == "transposed":
        v = np.ascontiguousarray(a.T).T
    elif layout == "strided":
        big = np.full(a.shape[:-1] + (2 * a.shape[-1],), np.nan, np.float32)
        big[..., ::2] = a
        v = big[..., ::2]
    elif layout == "reversed":
        v = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    elif layout == "fortran":
        v = np.asfortranarray(a)
    elif layout == "unaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        v = buf[1:].view(np.float32).reshape(a.shape)
        v[...] = a
    else:
        raise AssertionError(layout)
    np.testing.assert_array_equal(v, a)
    if a.ndim > 1 or layout in ("strided", "reversed", "unaligned"):
        assert not (v.flags.c_contiguous and v.flags.aligned), f"{layout} layout is contiguous and aligned"
    return v


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed", "fortran", "unaligned"])
@pytest.mark.parametrize("case", params([c for c in CASES if c.name in ("ch13x17", "stride3_causal")]))
def test_noncontiguous_inputs(case: Case, layout: str, isa: str, randn: Callable[..., np.ndarray]) -> None:
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    xv, wv, bv, gyv = (make_layout(a, layout) for a in (x, w, b, gy))
    ref.assert_close(ictus.conv1d(xv, wv, bv, **case.kwargs), reference_forward(case, x, w, b), RTOL, "y")
    grads = ictus.conv1d_backward(gyv, xv, wv, **case.kwargs)
    for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), grads, reference_backward(case, gy, x, w)):
        ref.assert_close(got, want, RTOL, name)
    for v, a in zip((xv, wv, bv, gyv), (x, w, b, gy)):
        np.testing.assert_array_equal(v, a)  # the views were not written


def test_integer_like_hyperparameters(randn: Callable[..., np.ndarray]) -> None:
    """NumPy integers are ints (operator.index) for stride, dilation and padding."""
    case = Case("npint", 2, 3, 4, 3, 20, stride=2, padding=(2, 1), dilation=3)
    x, w, b = draw_case(case, randn)
    y = ictus.conv1d(x, w, b, stride=np.int64(2), padding=(np.int32(2), np.int8(1)), dilation=np.uint16(3))
    ref.assert_close(y, reference_forward(case, x, w, b), RTOL)
    y = ictus.conv1d(x, w, b, stride=2, padding=[2, 1], dilation=3)  # a list pair is a pair
    ref.assert_close(y, reference_forward(case, x, w, b), RTOL)


# ----------------------------------------------------------------- random shapes (hypothesis)


@st.composite
def conv_cases(draw: st.DrawFn) -> Case:
    k = draw(st.integers(1, 6))
    dilation = draw(st.integers(1, 6))
    stride = draw(st.integers(1, 4))
    padding = draw(st.one_of(
        st.integers(0, 8), st.tuples(st.integers(0, 12), st.integers(0, 12)),
        st.sampled_from(["valid", "causal"] + (["same"] if stride == 1 else []))))
    left, right = ref.conv1d_padding(padding, k, stride, dilation)
    t_min = max(1, dilation * (k - 1) + 1 - left - right)
    t = draw(st.integers(t_min, t_min + 80))
    return Case("hyp", draw(st.integers(1, 3)), draw(st.integers(1, 19)), draw(st.integers(1, 19)), k, t,
                stride, padding, dilation, draw(st.booleans()))


@settings(max_examples=300, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_shapes_every_isa(case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x_shape).astype(np.float32)
    w = rng.standard_normal(case.w_shape).astype(np.float32)
    b = rng.standard_normal(case.c_out).astype(np.float32) if case.bias else None
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    ry = reference_forward(case, x, w, b)
    rgrads = reference_backward(case, gy, x, w)
    y_slack, slack = ref.conv_rounding_allowances(
        case.w_shape, case.y_shape, reference_forward(case, np.abs(x), np.abs(w), None if b is None else np.abs(b)),
        reference_backward(case, np.abs(gy), np.abs(x), np.abs(w)))
    for name in ictus.cpu_isas():
        with ictus.use_cpu_isa(name):
            y = forward(case, x, w, b, "out_nan")
            grads = backward(case, gy, x, w, "out_nan")
        ref.assert_close(y, ry, RTOL, f"y [{name}]", y_slack)
        for what, got, want, allowance in zip(("grad_x", "grad_weight", "grad_bias"), grads, rgrads, slack):
            if got is not None:
                ref.assert_close(got, want, RTOL, f"{what} [{name}]", allowance)


LONG_STRIDE = Case("long_stride", 2, 3, 4, 3, 10, stride=11, padding=(1, 2), dilation=2)


@pytest.mark.parametrize("stride", [11, 1000, 2**20])
def test_stride_longer_than_input(stride: int, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """A stride past the input leaves one output frame."""
    case = dataclasses.replace(LONG_STRIDE, stride=stride)
    assert case.t_out == 1
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    ref.assert_close(forward(case, x, w, b, "out_nan"), reference_forward(case, x, w, b), RTOL, "y")
    grads = backward(case, gy, x, w, "out_nan")
    for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), grads, reference_backward(case, gy, x, w)):
        ref.assert_close(got, want, RTOL, name)


HUGE_STRIDE_SCRIPT = """
import resource, sys
import numpy as np
sys.path.insert(0, {tests!r})
import ictus, reference as ref
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a tiny conv must not need more
rng = np.random.default_rng({seed})
x = rng.standard_normal((2, 3, 10)).astype(np.float32)
w = rng.standard_normal((4, 3, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
gy = rng.standard_normal((2, 4, 1)).astype(np.float32)
kw = dict(stride={stride}, padding=(1, 2), dilation=2)
with ictus.use_cpu_isa({isa!r}):
    y = ictus.conv1d(x, w, b, **kw)
    grads = ictus.conv1d_backward(gy, x, w, **kw)
ref.assert_close(y, ref.conv1d_forward(x, w, b, stride={stride}, left=1, right=2, dilation=2), 1e-5, "y")
for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), grads,
                           ref.conv1d_backward(gy, x, w, stride={stride}, left=1, right=2, dilation=2)):
    ref.assert_close(got, want, 1e-5, name)
print("ok")
"""


@caps_address_space
@pytest.mark.parametrize("stride", [2**30, 2**40], ids=["2^30", "2^40"])
def test_huge_stride_needs_no_memory(stride: int, isa: str, rng: np.random.Generator) -> None:
    """stride = 2**40 on a (2, 3, 10) input is one output frame: it must not allocate by the stride.
    Run in a child process capped at 1 GiB of address space, so a kernel that does fails fast
    (MemoryError) instead of swapping the machine."""
    script = HUGE_STRIDE_SCRIPT.format(tests=str(TESTS_DIR), seed=int(rng.integers(2**32)), stride=stride, isa=isa)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (
        f"conv1d with stride={stride} (x (2, 3, 10), weight (4, 3, 3), padding (1, 2), dilation 2) "
        f"under ISA {isa} failed:\n{proc.stderr[-2000:]}")
