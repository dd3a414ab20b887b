"""conv2d forward and backward on the CPU: every kernel variant x the awkward shape sweep
(tests/conv2d_cases.py), against the float64 reference (tests/reference.py), which is itself proven
by finite differences and compared with torch.autograd.

Outputs are checked on the allocating path and on caller arrays pre-filled with NaN, so an element
a kernel forgets to write cannot pass. Tolerance: float32 within 1e-5 relative (norm-wise) of
float64. conv1d runs as conv2d of height 1: the two must agree bit for bit.
"""
from __future__ import annotations

import itertools
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import conv1d_cases
import ictus
import numpy as np
import pytest
import reference as ref
from conftest import caps_address_space
from conv2d_cases import (
    ALL_CASES,
    SPARSE_CASES,
    SPARSE_DENSE_CASES,
    SPARSE_INPUT_ISAS,
    WINOGRAD_CASES,
    Case,
    by_name,
    params,
    runs_winograd,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

RTOL = 1e-5
TESTS_DIR = Path(__file__).resolve().parent
PATHS = ["alloc", "out_nan"]
GRADS = ("grad_x", "grad_weight", "grad_bias")


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
        y = ictus.conv2d(x, w, b, **case.kwargs)
    else:
        out = nan_array(case.y_shape)
        y = ictus.conv2d(x, w, b, **case.kwargs, out=out)
        assert y is out, "conv2d(out=...) must return the out array"
    check_output(y, case.y_shape, "y")
    return y


def backward(case: Case, gy: Any, x: Any, w: Any, path: str, *, bias: bool | None = None,
             input_grad: bool = True) -> tuple[Any, Any, Any]:
    bias = case.bias if bias is None else bias
    if path == "alloc":
        grads = ictus.conv2d_backward(gy, x, w, **case.kwargs, bias=bias, input_grad=input_grad)
    else:
        out = (nan_array(case.x_shape) if input_grad else None, nan_array(case.w_shape),
               nan_array((case.c_out,)) if bias else None)
        grads = ictus.conv2d_backward(gy, x, w, **case.kwargs, bias=bias, input_grad=input_grad, out=out)
        for got, given_out in zip(grads, out):
            assert given_out is None or got is given_out, "conv2d_backward(out=...) must return the out arrays"
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
    return ref.conv2d_forward(x, w, b, **case.geometry)


def reference_backward(case: Case, gy: Any, x: Any, w: Any) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    return ref.conv2d_backward(gy, x, w, **case.geometry)


def check_backward(case: Case, gy: Any, x: Any, w: Any, path: str, isa: str) -> None:
    """All three gradients (grad_bias where the case has a bias) against the float64 reference."""
    ref.assert_grads_close(backward(case, gy, x, w, path), reference_backward(case, gy, x, w), RTOL, isa,
                           bias=case.bias)


def assert_special_values_like(got: np.ndarray, want: np.ndarray, what: str) -> None:
    """inf and NaN where the float64 reference has them, the finite values within RTOL."""
    np.testing.assert_array_equal(np.isnan(got), np.isnan(want), err_msg=f"{what} NaN positions")
    np.testing.assert_array_equal(np.isinf(got), np.isinf(want), err_msg=f"{what} inf positions")
    finite = np.isfinite(want)
    ref.assert_close(got[finite], want[finite], RTOL, f"{what} finite values")


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
    check_backward(case, randn(*case.y_shape), x, w, path, isa)


PARTIAL_CASES = [by_name(n) for n in ("bt_conv1", "k1x8", "primes_stride", "stride_2x3", "same_even_4x2_d",
                                      "keycnn")]


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


@pytest.mark.parametrize("which", GRADS)
def test_backward_out_mixed_with_none(which: str, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """out= may name some gradients and leave the others (None) to be allocated."""
    case = by_name("primes_stride")
    x, w, _ = draw_case(case, randn)
    gy = randn(*case.y_shape)
    shapes = {"grad_x": case.x_shape, "grad_weight": case.w_shape, "grad_bias": (case.c_out,)}
    out = tuple(nan_array(shapes[name]) if name == which else None for name in GRADS)
    grads = ictus.conv2d_backward(gy, x, w, **case.kwargs, out=out)
    assert grads[GRADS.index(which)] is out[GRADS.index(which)]
    for name, got, want in zip(GRADS, grads, reference_backward(case, gy, x, w)):
        check_output(got, shapes[name], name)
        ref.assert_close(got, want, RTOL, name)


def test_bias_none_is_no_bias(isa: str, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("ch13x17")
    x, w, b = draw_case(case, randn)
    y0 = ictus.conv2d(x, w, None, **case.kwargs)
    y1 = ictus.conv2d(x, w, b, **case.kwargs)
    ref.assert_close(y0, reference_forward(case, x, w, None), RTOL)
    ref.assert_close(y1 - y0, np.broadcast_to(b[None, :, None, None], y0.shape), 1e-5, "bias contribution")


def test_scalar_variant_is_exactly_rounded(randn: Callable[..., np.ndarray]) -> None:
    """The scalar variant accumulates in double: it must give float32(reference) almost everywhere."""
    case = by_name("primes")
    x, w, b = draw_case(case, randn)
    with ictus.use_cpu_isa("scalar"):
        y = ictus.conv2d(x, w, b, **case.kwargs)
    want = reference_forward(case, x, w, b).astype(np.float32)
    assert np.mean(y == want) > 0.999, "scalar forward is not the correctly rounded float64 sum"


def test_forced_variant_really_runs(randn: Callable[..., np.ndarray]) -> None:
    """use_cpu_isa switches the conv2d kernels too: only the scalar one rounds like float64, and
    kernel_name names the variant that runs."""
    case = by_name("keycnn")
    x, w, b = draw_case(case, randn)
    exact = reference_forward(case, x, w, b).astype(np.float32)
    for name in ictus.cpu_isas():
        with ictus.use_cpu_isa(name):
            assert ictus.kernel_name("conv2d_fwd") == f"conv_fwd_{name}"
            agree = float(np.mean(ictus.conv2d(x, w, b, **case.kwargs) == exact))
        if name == "scalar":
            assert agree > 0.999, f"scalar agrees with float32(exact) on only {agree:.1%}"
        else:
            assert agree < 0.95, f"{name} agrees with float32(exact) on {agree:.1%}: did the scalar kernel run?"


def test_windows_kernel_name(isa: str) -> None:
    """Full-width unpadded kernels (bt_conv3, windows_*) run the windows feed on the SIMD variants
    (the mutations of its kernels and zeroing that were tried failed test_forward / test_backward)."""
    expected = "conv_fwd_scalar" if isa == "scalar" else f"conv_fwd_windows_{isa}"
    assert ictus.kernel_name("conv2d_fwd_windows") == expected
    expected = "conv_bwd_data_scalar" if isa == "scalar" else f"conv_bwd_data_windows_{isa}"
    assert ictus.kernel_name("conv2d_bwd_data_windows") == expected


@pytest.mark.parametrize("case", params(WINOGRAD_CASES))
def test_winograd_cases_run_winograd(case: Case, isa: str) -> None:
    """The sweep's wino_* cases reach the Winograd transforms on every SIMD variant whose channel and
    tile-column thresholds they meet, and only there (the scalar variant computes textbook sums), so
    test_forward and test_backward check them; every variant has cases of each tile, 2, 4 and 6
    output rows (the GEMM's panel width, per variant, picks)."""
    from ictus import _core

    def tile_h(c: Case) -> int:
        return _core.conv2d_winograd_tile_h(c.x_shape, c.w_shape, c.stride, c.padding, c.dilation, isa)

    assert (tile_h(case) != 0) == runs_winograd(case, isa)
    if isa != "scalar":
        heights = [tile_h(c) for c in WINOGRAD_CASES]
        assert all(height in heights for height in (2, 4, 6)), heights
    assert ictus.kernel_name("conv2d_winograd") == ("conv_fwd_scalar" if isa == "scalar" else f"winograd_{isa}")


@pytest.mark.parametrize("case", params(WINOGRAD_CASES))
def test_winograd_shapes_keep_inf_and_nan_where_torch_does(case: Case, isa: str,
                                                          randn: Callable[..., np.ndarray]) -> None:
    """Winograd's transforms would turn an input inf into NaN (inf - inf) in outputs beside it, or
    spread a NaN to outputs that never read it: such inputs (x forward, grad_y for the input
    gradient) take the direct kernels, which give torch's (the float64 reference's) inf and NaN."""
    if not runs_winograd(case, isa):
        pytest.skip(f"{case.name} runs the direct kernels under {isa}")
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    # A third into the array, and its last value: in the last input row, which only the last tile
    # row's patches read.
    specials = ((x, np.inf), (gy, -np.inf), (x, np.nan), (gy, np.nan))
    for (arr, value), last in itertools.product(specials, (False, True)):
        where = arr.size - 1 if last else arr.size // 3
        arr.reshape(-1)[where] = value
        y = ictus.conv2d(x, w, b, **case.kwargs)
        gx, _, _ = ictus.conv2d_backward(gy, x, w, **case.kwargs, bias=case.bias)
        with np.errstate(invalid="ignore"):  # inf - inf in the reference's sums: the NaN being checked
            want_y, want_gx = reference_forward(case, x, w, b), reference_backward(case, gy, x, w)[0]
        for name, got, want in (("y", y, want_y), ("grad_x", gx, want_gx)):
            assert_special_values_like(got, want, f"{name} [{isa}]")
            np.testing.assert_array_equal(got[np.isinf(want)], want[np.isinf(want)], err_msg=f"{name} infs [{isa}]")
        arr.reshape(-1)[where] = 0.5


# ------------------------------------------------------------- grad_y left mostly zero by a pool


def pooled_grad(case: Case, pattern: str, rng: np.random.Generator) -> np.ndarray:
    """grad_y as a max-pool's backward pass leaves it: "pool", one nonzero value per window of 3
    along W (a (1, 3) pool; a window cut short by the row's end still has one); "random", each
    value zero with probability 0.6 (at least half of the sampled rows zero, as the kernel wants)."""
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    if pattern == "random":
        gy[rng.random(gy.shape) < 0.6] = 0.0
        return gy
    out_w = case.out_hw[1]
    keep = np.zeros(gy.shape, dtype=bool)
    for w0 in range(0, out_w, 3):
        width = min(3, out_w - w0)
        pick = w0 + rng.integers(0, width, size=gy.shape[:3])
        np.put_along_axis(keep, pick[..., None], True, axis=3)
    gy[~keep] = 0.0
    return gy


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("pattern", ["pool", "random"])
@pytest.mark.parametrize("case", params(SPARSE_CASES + SPARSE_DENSE_CASES))
def test_backward_from_pooled_grad(case: Case, pattern: str, isa: str, path: str, rng: np.random.Generator,
                                   randn: Callable[..., np.ndarray]) -> None:
    """All three gradients from a mostly zero grad_y (the weights', and the inputs' where
    SPARSE_INPUT_ISAS says, through the sparse kernels on the SPARSE_CASES, the dense ones on the
    others) against the float64 reference."""
    x, w, _ = draw_case(case, randn)
    check_backward(case, pooled_grad(case, pattern, rng), x, w, path, isa)


@pytest.mark.parametrize("case", params(SPARSE_CASES + SPARSE_DENSE_CASES))
def test_sparse_weight_grad_shapes(case: Case, isa: str) -> None:
    """The SPARSE_CASES take the sparse weight-gradient kernel on every SIMD variant (the scalar
    variant computes textbook sums), the SPARSE_DENSE_CASES nowhere."""
    from ictus import _core

    applies = _core.conv2d_sparse_weight_grad_applies(case.x_shape, case.w_shape, case.stride, case.padding,
                                                      case.dilation, isa)
    assert applies == (isa != "scalar" and case in SPARSE_CASES)
    # AVX2's vectors of 8 take 8 input channels; AVX-512's and portable's of 16 leave them dense.
    eight = (1, 8, 40, 40)
    assert _core.conv2d_sparse_weight_grad_applies(eight, (16, 8, 3, 3), 1, 1, 1, isa) == (isa == "avx2")
    expected = "conv_bwd_weight_scalar" if isa == "scalar" else f"conv_sparse_wgrad_{isa}"
    assert ictus.kernel_name("conv2d_bwd_weight_sparse") == expected


@pytest.mark.parametrize("case", params(SPARSE_CASES + SPARSE_DENSE_CASES))
def test_sparse_input_grad_shapes(case: Case, isa: str) -> None:
    """The input gradient takes the sparse kernel on the variants SPARSE_INPUT_ISAS lists, never on
    the SPARSE_DENSE_CASES."""
    from ictus import _core

    applies = _core.conv2d_sparse_input_grad_applies(case.x_shape, case.w_shape, case.stride, case.padding,
                                                     case.dilation, isa)
    assert applies == (isa in SPARSE_INPUT_ISAS.get(case.name, set()))
    expected = "conv_bwd_data_scalar" if isa == "scalar" else f"conv_sparse_igrad_{isa}"
    assert ictus.kernel_name("conv2d_bwd_data_sparse") == expected


@pytest.mark.parametrize("where", ["grad_y", "weight"])
@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_sparse_input_grad_keeps_inf_and_nan(where: str, value: float, isa: str, rng: np.random.Generator,
                                             randn: Callable[..., np.ndarray]) -> None:
    """An inf or NaN in grad_y is nonzero: the sparse kernel computes all its products. One in the
    weights times grad_y's zeros is NaN in the dense sums, so such weights take the scalar kernel.
    Either way grad_x's inf and NaN sit where the reference's do."""
    case = by_name("sparse_pad_1x2")
    x, w, _ = draw_case(case, randn)
    gy = pooled_grad(case, "pool", rng)
    if where == "grad_y":
        gy[1, 2, 5, 4] = value
    else:
        w[3, 7, 1, 2] = value
    gx, _, _ = ictus.conv2d_backward(gy, x, w, **case.kwargs, out=(nan_array(case.x_shape), None, None))
    with np.errstate(invalid="ignore"):  # the reference's own 0 * inf
        want = reference_backward(case, gy, x, w)[0]
    assert not np.isfinite(want).all(), "the planted value must reach the reference's gradient"
    assert_special_values_like(gx, want, f"grad_x [{isa}]")


@pytest.mark.parametrize("where", ["x_under_zeros", "x_anywhere", "grad_y"])
@pytest.mark.parametrize("value", [np.inf, np.nan])
def test_sparse_weight_grad_keeps_inf_and_nan(where: str, value: float, isa: str, rng: np.random.Generator,
                                              randn: Callable[..., np.ndarray]) -> None:
    """An inf or NaN in x times the zeros of grad_y is NaN in torch's dense sums (and the
    reference's); skipping the zeros would lose it, so such inputs take the dense kernel. An inf or
    NaN in grad_y is nonzero: the sparse kernel computes all its products, padding included."""
    case = by_name("sparse_pad_1x2")
    x, w, _ = draw_case(case, randn)
    gy = pooled_grad(case, "pool", rng)
    if where == "x_under_zeros":  # a value whose 3x3 neighbourhood in grad_y is all zero
        gy[0, :, 4:9, 8:13] = 0.0
        x[1, 3, 6, 10 - case.pads[1][0] + 1] = value
    elif where == "x_anywhere":
        x[0, 5, 7, 20] = value
    else:
        gy[1, 2, 5, 4] = value
    _, gw, _ = ictus.conv2d_backward(gy, x, w, **case.kwargs, out=(None, nan_array(case.w_shape), None),
                                     input_grad=False)
    with np.errstate(invalid="ignore"):  # the reference's own 0 * inf
        want = reference_backward(case, gy, x, w)[1]
    assert not np.isfinite(want).all(), "the planted value must reach the reference's gradient"
    assert_special_values_like(gw, want, f"grad_weight [{isa}]")


@pytest.mark.parametrize("case", params([by_name(n) for n in ("bt_conv2", "sparse_pad2_batch", "sparse_many_chunks",
                                                               "sparse_bands")]))
def test_sparse_grads_bitwise_deterministic(case: Case, isa: str, restore_num_threads: int, rng: np.random.Generator,
                                            randn: Callable[..., np.ndarray]) -> None:
    """Same bits for 1 and 2 threads and repeated calls: the weight and bias gradients' work items
    add up in item order and do not depend on the thread count; each row of grad_x is one band's,
    summed in a fixed order."""
    x, w, _ = draw_case(case, randn)
    gy = pooled_grad(case, "pool", rng)
    results = []
    for n in (1, 2, 1, 2):
        ictus.set_num_threads(n)
        results.append(ictus.conv2d_backward(gy, x, w, **case.kwargs, bias=True))
    for grads in results[1:]:
        for want, got in zip(results[0], grads, strict=True):
            assert np.array_equal(want, got)


# ------------------------------------------------------------------------- shapes and torch


@pytest.mark.parametrize("case", params(ALL_CASES))
def test_output_size(case: Case) -> None:
    got = ictus.conv2d_output_size((case.h, case.w), (case.kh, case.kw), **case.kwargs)
    assert type(got) is tuple and all(type(v) is int for v in got) and got == case.out_hw


def test_output_size_int_arguments() -> None:
    """An int size or kernel size means both axes."""
    assert ictus.conv2d_output_size(10, 3) == (8, 8)
    assert ictus.conv2d_output_size((10, 20), 3, stride=(1, 2), padding=(1, 0)) == (10, 9)
    assert ictus.conv2d_output_size(9, (2, 4), padding="same", dilation=(1, 3)) == (9, 9)
    assert ictus.conv2d_output_size([7, 5], [7, 5]) == (1, 1)


def torch_padding(case: Case) -> Any:
    """The case's padding as torch's conv2d takes it (the same meaning: that is what is tested)."""
    return tuple(case.padding) if isinstance(case.padding, list) else case.padding


def torch_conv(torch: Any, case: Case, x: np.ndarray, w: np.ndarray, b: np.ndarray | None):
    """torch.autograd in float64 with torch's own padding argument ('same' included)."""
    import torch.nn.functional as F

    xt = torch.tensor(x, dtype=torch.float64, requires_grad=True)
    wt = torch.tensor(w, dtype=torch.float64, requires_grad=True)
    bt = torch.tensor(b, dtype=torch.float64, requires_grad=True) if b is not None else None
    with warnings.catch_warnings():
        # torch warns that 'same' with an even kernel copies the input; that is no concern here
        warnings.filterwarnings("ignore", message=".*padding='same'.*", category=UserWarning)
        y = F.conv2d(xt, wt, bt, stride=case.stride, padding=torch_padding(case), dilation=case.dilation)
    return xt, wt, bt, y


@pytest.mark.parametrize("case", params(ALL_CASES))
def test_against_torch_autograd(case: Case, randn: Callable[..., np.ndarray]) -> None:
    """ictus (dispatched variant) and the float64 reference both agree with torch.autograd, and
    give torch's output shape."""
    torch = pytest.importorskip("torch")
    x, w, b = draw_case(case, randn)
    xt, wt, bt, yt = torch_conv(torch, case, x, w, b)
    gy = randn(*tuple(yt.shape))
    yt.backward(torch.from_numpy(gy.astype(np.float64)))

    assert tuple(yt.shape) == case.y_shape, "output shape differs from torch's"
    y = ictus.conv2d(x, w, b, **case.kwargs)
    assert y.shape == tuple(yt.shape), f"ictus y shape {y.shape} != torch's {tuple(yt.shape)}"
    gx, gw, gb = ictus.conv2d_backward(gy, x, w, **case.kwargs, bias=case.bias)
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


def test_padding_pair_is_height_width(randn: Callable[..., np.ndarray]) -> None:
    """conv2d's padding pair is (h, w), each on both sides (torch), not conv1d's (left, right)."""
    x, w = randn(1, 2, 5, 6), randn(3, 2, 3, 3)
    y = ictus.conv2d(x, w, padding=(1, 2))
    assert y.shape == (1, 3, 5, 8)
    ref.assert_close(y, ref.conv2d_forward(x, w, None, pads=((1, 1), (2, 2))), RTOL)
    np.testing.assert_array_equal(ictus.conv2d(x, w, padding=(2, 2)), ictus.conv2d(x, w, padding=2))


FD_CASES = [
    Case("fd_same_even", 2, 2, 3, 2, 3, 4, 5, padding="same", dilation=(2, 1)),
    Case("fd_stride_pair", 1, 3, 2, 3, 2, 7, 6, stride=(2, 3), padding=(2, 1), dilation=(1, 2)),
    Case("fd_pad_gt_span", 1, 2, 2, 2, 2, 3, 2, stride=(3, 2), padding=(3, 2)),
    Case("fd_reads_only_padding", 1, 2, 2, 1, 1, 2, 2, stride=(4, 5), padding=(2, 3)),
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
    """Small enough to work out on paper: x = [[1 2 3], [4 5 6]], w = [[1 10], [100 1000]],
    stride (2, 1), padding (1, 0) (one zero row above and below)."""
    x = np.array([[[[1.0, 2.0, 3.0], [4.0, 5.0, 6.0]]]])
    w = np.array([[[[1.0, 10.0], [100.0, 1000.0]]]])
    geo = dict(stride=(2, 1), pads=((1, 1), (0, 0)), dilation=(1, 1))
    # padded rows: [0 0 0], [1 2 3], [4 5 6], [0 0 0]; output row i reads padded rows 2i, 2i+1
    y = ref.conv2d_forward(x, w, np.array([0.5]), **geo)
    np.testing.assert_array_equal(y, [[[[2100.5, 3200.5], [54.5, 65.5]]]])
    gy = np.array([[[[1.0, 2.0], [3.0, 4.0]]]])
    gx, gw, gb = ref.conv2d_backward(gy, x, w, **geo)
    np.testing.assert_array_equal(gx, [[[[100.0, 1200.0, 2000.0], [3.0, 34.0, 40.0]]]])
    np.testing.assert_array_equal(gw, [[[[3 * 4 + 4 * 5, 3 * 5 + 4 * 6], [1 * 1 + 2 * 2, 1 * 2 + 2 * 3]]]])
    np.testing.assert_array_equal(gb, [10.0])


# ---------------------------------------------------------------------- conv1d as conv2d


def conv2d_kwargs_of(case: conv1d_cases.Case) -> dict[str, Any]:
    """conv1d's arguments as conv2d's for x[:, :, None, :] (height 1)."""
    left, right = case.pads
    padding = case.padding if isinstance(case.padding, str) else (0, left)
    assert left == right or isinstance(case.padding, str)
    return {"stride": (1, case.stride), "padding": padding, "dilation": (1, case.dilation)}


CONV1D_EQUIVALENT = [c for c in conv1d_cases.ALL_CASES
                     if c.name in ("k1_stride3", "ch13x17", "tile_T65", "primes", "primes_stride3", "stride2_valid",
                                   "nobias_same", "wide_channels", "large_span_gt_T", "span_gt_T", "tcn_d16")]


@pytest.mark.parametrize("case", conv1d_cases.params(CONV1D_EQUIVALENT))
def test_conv1d_is_conv2d_of_height_one(case: conv1d_cases.Case, isa: str, randn: Callable[..., np.ndarray]) -> None:
    """conv1d(x, w) == conv2d(x[:, :, None, :], w[:, :, None, :])[:, :, 0, :] bit for bit, forward
    and every gradient (one kernel runs both)."""
    x, w = randn(*case.x_shape), randn(*case.w_shape)
    b = randn(case.c_out) if case.bias else None
    gy = randn(*case.y_shape)
    kw2 = conv2d_kwargs_of(case)
    y1 = ictus.conv1d(x, w, b, **case.kwargs)
    y2 = ictus.conv2d(x[:, :, None, :], w[:, :, None, :], b, **kw2)
    assert y2.shape == (case.y_shape[0], case.y_shape[1], 1, case.y_shape[2])
    np.testing.assert_array_equal(y2[:, :, 0, :], y1, err_msg="y: conv2d of height 1 differs from conv1d")
    g1 = ictus.conv1d_backward(gy, x, w, **case.kwargs, bias=case.bias)
    g2 = ictus.conv2d_backward(gy[:, :, None, :], x[:, :, None, :], w[:, :, None, :], **kw2, bias=case.bias)
    for name, a1, a2 in zip(GRADS, g1, g2):
        if a1 is None:
            assert a2 is None, name
            continue
        np.testing.assert_array_equal(a2.reshape(a1.shape), a1,
                                      err_msg=f"{name}: conv2d of height 1 differs from conv1d")


# --------------------------------------------------------------------- inputs and aliasing


def test_inputs_not_modified(isa: str, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("primes_stride")
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    copies = [a.copy() for a in (x, w, b, gy)]
    ictus.conv2d(x, w, b, **case.kwargs)
    ictus.conv2d(x, w, b, **case.kwargs, out=nan_array(case.y_shape))
    ictus.conv2d_backward(gy, x, w, **case.kwargs)
    ictus.conv2d_backward(gy, x, w, **case.kwargs,
                          out=(nan_array(case.x_shape), nan_array(case.w_shape), nan_array((case.c_out,))))
    for name, a, c in zip(("x", "weight", "bias", "grad_y"), (x, w, b, gy), copies):
        np.testing.assert_array_equal(a, c, err_msg=f"{name} was modified")


@pytest.mark.parametrize("case", params([by_name("stride_2x3"), by_name("wide_48x40")]))
def test_out_is_overwritten_not_accumulated(case: Case, isa: str, randn: Callable[..., np.ndarray]) -> None:
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    out = randn(*case.y_shape) * 1e3
    ref.assert_close(ictus.conv2d(x, w, b, **case.kwargs, out=out), reference_forward(case, x, w, b), RTOL)
    gouts = (randn(*case.x_shape) * 1e3, randn(*case.w_shape) * 1e3, randn(case.c_out) * 1e3)
    grads = ictus.conv2d_backward(gy, x, w, **case.kwargs, out=gouts)
    for name, got, want in zip(GRADS, grads, reference_backward(case, gy, x, w)):
        ref.assert_close(got, want, RTOL, name)


def test_torch_cpu_tensors_accepted(isa: str, randn: Callable[..., np.ndarray]) -> None:
    """torch CPU tensors go in through DLPack and give bit-for-bit the NumPy result."""
    torch = pytest.importorskip("torch")
    case = by_name("stride_2x3")
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    y_np = ictus.conv2d(x, w, b, **case.kwargs)
    y_t = ictus.conv2d(torch.from_numpy(x), torch.from_numpy(w), torch.from_numpy(b), **case.kwargs)
    assert isinstance(y_t, np.ndarray)
    np.testing.assert_array_equal(y_t, y_np)
    g_np = ictus.conv2d_backward(gy, x, w, **case.kwargs)
    g_t = ictus.conv2d_backward(torch.from_numpy(gy), torch.from_numpy(x), torch.from_numpy(w), **case.kwargs)
    for a, c in zip(g_t, g_np):
        assert isinstance(a, np.ndarray)
        np.testing.assert_array_equal(a, c)
    # a mix of torch and NumPy is one device (the CPU)
    np.testing.assert_array_equal(ictus.conv2d(x, torch.from_numpy(w), b, **case.kwargs), y_np)
    # non-contiguous tensors (channels-last, as torch lays out NHWC) are copied, and still right
    xt = torch.from_numpy(x).contiguous(memory_format=torch.channels_last)
    assert not xt.is_contiguous()
    np.testing.assert_array_equal(ictus.conv2d(xt, w, b, **case.kwargs), y_np)


def test_torch_tensors_are_not_copied() -> None:
    """DLPack input shares memory: writing the tensor between calls changes the result."""
    torch = pytest.importorskip("torch")
    xt = torch.ones(1, 1, 4, 8)
    w = np.ones((1, 1, 1, 1), np.float32)
    np.testing.assert_array_equal(ictus.conv2d(xt, w), np.ones((1, 1, 4, 8), np.float32))
    xt[0, 0, 2, 3] = 5.0
    assert ictus.conv2d(xt, w)[0, 0, 2, 3] == 5.0


@pytest.mark.parametrize("arg", ["x", "weight", "bias"])
def test_torch_tensor_requiring_grad_raises(arg: str, randn: Callable[..., np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    args = {"x": randn(1, 3, 5, 10), "weight": randn(2, 3, 3, 3), "bias": randn(2)}
    args[arg] = torch.from_numpy(args[arg]).requires_grad_(True)
    with pytest.raises(TypeError, match=rf"^conv2d: {arg} .*\.detach\(\)"):
        ictus.conv2d(args["x"], args["weight"], args["bias"])


def test_torch_tensor_requiring_grad_raises_in_backward(randn: Callable[..., np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    gy = torch.from_numpy(randn(1, 2, 3, 8)).requires_grad_(True)
    with pytest.raises(TypeError, match=r"^conv2d_backward: grad_y .*\.detach\(\)"):
        ictus.conv2d_backward(gy, randn(1, 3, 5, 10), randn(2, 3, 3, 3))


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
    elif layout in ("channels_last", "row_strided") and a.ndim != 4:  # (bias) no such axes: reversed
        v = np.ascontiguousarray(a[..., ::-1])[..., ::-1]
    elif layout == "channels_last":  # NHWC memory, NCHW view (torch's channels_last)
        v = np.ascontiguousarray(np.moveaxis(a, 1, -1)).transpose(0, 3, 1, 2)
    elif layout == "row_strided":  # every other row of a taller array
        big = np.full(a.shape[:2] + (2 * a.shape[2], a.shape[3]), np.nan, np.float32)
        big[:, :, ::2] = a
        v = big[:, :, ::2]
    elif layout == "unaligned":
        buf = np.zeros(a.nbytes + 1, np.uint8)
        v = buf[1:].view(np.float32).reshape(a.shape)
        v[...] = a
    else:
        raise AssertionError(layout)
    np.testing.assert_array_equal(v, a)
    if a.ndim > 1 or layout not in ("transposed", "fortran"):
        assert not (v.flags.c_contiguous and v.flags.aligned), f"{layout} layout is contiguous and aligned"
    return v


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed", "fortran", "channels_last", "row_strided",
                                    "unaligned"])
@pytest.mark.parametrize("case", params([by_name("ch13x17"), by_name("stride_2x3")]))
def test_noncontiguous_inputs(case: Case, layout: str, isa: str, randn: Callable[..., np.ndarray]) -> None:
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    xv, wv, bv, gyv = (make_layout(a, layout) for a in (x, w, b, gy))
    ref.assert_close(ictus.conv2d(xv, wv, bv, **case.kwargs), reference_forward(case, x, w, b), RTOL, "y")
    grads = ictus.conv2d_backward(gyv, xv, wv, **case.kwargs)
    for name, got, want in zip(GRADS, grads, reference_backward(case, gy, x, w)):
        ref.assert_close(got, want, RTOL, name)
    for v, a in zip((xv, wv, bv, gyv), (x, w, b, gy)):
        np.testing.assert_array_equal(v, a)  # the views were not written


def test_integer_like_hyperparameters(randn: Callable[..., np.ndarray]) -> None:
    """NumPy integers are ints (operator.index) for stride, dilation and padding, alone or in pairs;
    lists are pairs."""
    case = Case("npint", 2, 3, 4, 3, 2, 11, 20, stride=(2, 3), padding=(2, 1), dilation=(3, 2))
    x, w, b = draw_case(case, randn)
    want = reference_forward(case, x, w, b)
    y = ictus.conv2d(x, w, b, stride=(np.int64(2), np.uint8(3)), padding=(np.int32(2), np.int8(1)),
                     dilation=(np.int16(3), np.uint16(2)))
    ref.assert_close(y, want, RTOL)
    ref.assert_close(ictus.conv2d(x, w, b, stride=[2, 3], padding=[2, 1], dilation=[3, 2]), want, RTOL)
    same = Case("npint_int", 2, 3, 4, 3, 2, 11, 20, stride=2, padding=1, dilation=2)
    y = ictus.conv2d(x, w, b, stride=np.int64(2), padding=np.int32(1), dilation=np.uint16(2))
    ref.assert_close(y, reference_forward(same, x, w, b), RTOL)


# ----------------------------------------------------------------- random shapes (hypothesis)


@st.composite
def conv_cases(draw: st.DrawFn) -> Case:
    def size2(lo: int, hi: int) -> Any:
        return draw(st.one_of(st.integers(lo, hi), st.tuples(st.integers(lo, hi), st.integers(lo, hi))))

    kh, kw = draw(st.integers(1, 4)), draw(st.integers(1, 5))
    stride, dilation = size2(1, 3), size2(1, 3)
    strides = stride if isinstance(stride, tuple) else (stride, stride)
    padding = draw(st.one_of(
        st.integers(0, 3), st.tuples(st.integers(0, 4), st.integers(0, 4)),
        st.sampled_from(["valid"] + (["same"] if strides == (1, 1) else []))))
    dilations = dilation if isinstance(dilation, tuple) else (dilation, dilation)
    (top, bottom), (left, right) = ref.conv2d_padding(padding, (kh, kw), strides, dilations)
    h_min = max(1, dilations[0] * (kh - 1) + 1 - top - bottom)
    w_min = max(1, dilations[1] * (kw - 1) + 1 - left - right)
    h = draw(st.integers(h_min, h_min + 8))
    w = draw(st.integers(w_min, w_min + 70))
    # now and then a layer whose weights pass 16 KB (the packed forward feed)
    wide = draw(st.integers(0, 9)) == 0 and kh * kw >= 4
    c_in, c_out = (draw(st.integers(24, 40)), draw(st.integers(24, 40))) if wide else (
        draw(st.integers(1, 9)), draw(st.integers(1, 11)))
    return Case("hyp", draw(st.integers(1, 2)), c_in, c_out, kh, kw, h, w, stride, padding, dilation,
                draw(st.booleans()))


@settings(max_examples=200, deadline=None, database=None, suppress_health_check=[HealthCheck.too_slow])
@given(case=conv_cases(), seed=st.integers(0, 2**32 - 1))
def test_random_shapes_every_isa(case: Case, seed: int) -> None:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(case.x_shape).astype(np.float32)
    w = rng.standard_normal(case.w_shape).astype(np.float32)
    b = rng.standard_normal(case.c_out).astype(np.float32) if case.bias else None
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    assert ictus.conv2d_output_size((case.h, case.w), (case.kh, case.kw), **case.kwargs) == case.out_hw
    ry = reference_forward(case, x, w, b)
    rgrads = reference_backward(case, gy, x, w)
    y_slack, slack = ref.conv_rounding_allowances(
        case.w_shape, case.y_shape, reference_forward(case, np.abs(x), np.abs(w), None if b is None else np.abs(b)),
        reference_backward(case, np.abs(gy), np.abs(x), np.abs(w)))
    for name in ictus.cpu_isas():
        with ictus.use_cpu_isa(name):
            y = forward(case, x, w, b, "out_nan")
            grads = backward(case, gy, x, w, "out_nan")
        ref.assert_close(y, ry, RTOL, f"y [{name}] {case.id}", y_slack)
        for what, got, want, allowance in zip(GRADS, grads, rgrads, slack):
            if got is not None:
                ref.assert_close(got, want, RTOL, f"{what} [{name}] {case.id}", allowance)


# --------------------------------------------------------------------------- determinism


DETERMINISM_CASES = ["bt_conv2", "primes_stride", "keycnn_batch", "wide_64x64", "wide_stride", "wide_dilated_nobias",
                     "wino_blocks", "wino_valid_batch", "wino_front_end_16", "windows_20ch", "windows_gaps"]


@pytest.mark.parametrize("case", params([by_name(n) for n in DETERMINISM_CASES]))
def test_bitwise_deterministic(case: Case, isa: str, restore_num_threads: int,
                               randn: Callable[..., np.ndarray]) -> None:
    """Same bits for 1 and 2 threads and for repeated calls (forward and all gradients)."""
    x, w, b = draw_case(case, randn)
    gy = randn(*case.y_shape)
    results = []
    for n in (1, 2, 1, 2):
        ictus.set_num_threads(n)
        results.append((n, [ictus.conv2d(x, w, b, **case.kwargs),
                            *ictus.conv2d_backward(gy, x, w, **case.kwargs, bias=case.bias)]))
    first_n, first = results[0]
    for n, other in results[1:]:
        for name, a, c in zip(("y", *GRADS), first, other):
            if a is None:
                assert c is None
                continue
            assert np.array_equal(a, c), (f"{name} differs between {first_n} and {n} threads "
                                          f"(first difference at {np.argwhere(a != c)[0].tolist()})")


# ------------------------------------------------------------------------- huge strides

HUGE_STRIDE_SCRIPT = """
import resource, sys
import numpy as np
sys.path.insert(0, {tests!r})
import ictus, reference as ref
resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))  # a tiny conv must not need more
rng = np.random.default_rng({seed})
x = rng.standard_normal((2, 3, 5, 10)).astype(np.float32)
w = rng.standard_normal((4, 3, 2, 3)).astype(np.float32)
b = rng.standard_normal(4).astype(np.float32)
gy = rng.standard_normal((2, 4, 1, 1)).astype(np.float32)
kw = dict(stride={stride}, padding=(1, 2), dilation=(2, 3))
geo = dict(stride={stride}, pads=((1, 1), (2, 2)), dilation=(2, 3))
with ictus.use_cpu_isa({isa!r}):
    y = ictus.conv2d(x, w, b, **kw)
    grads = ictus.conv2d_backward(gy, x, w, **kw)
ref.assert_close(y, ref.conv2d_forward(x, w, b, **geo), 1e-5, "y")
for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), grads, ref.conv2d_backward(gy, x, w, **geo)):
    ref.assert_close(got, want, 1e-5, name)
print("ok")
"""


@caps_address_space
@pytest.mark.parametrize("stride", [(2**40, 2**30), (7, 2**40)], ids=["2^40x2^30", "7x2^40"])
def test_huge_stride_needs_no_memory(stride: tuple[int, int], isa: str, rng: np.random.Generator) -> None:
    """Strides past the input leave one output position per axis: no allocation by the stride.
    Run in a child process capped at 1 GiB of address space."""
    script = HUGE_STRIDE_SCRIPT.format(tests=str(TESTS_DIR), seed=int(rng.integers(2**32)), stride=stride, isa=isa)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", (
        f"conv2d with stride={stride} (x (2, 3, 5, 10), weight (4, 3, 2, 3), padding (1, 2), dilation (2, 3)) "
        f"under ISA {isa} failed:\n{proc.stderr[-2000:]}")
