"""conv2d on CUDA (CuPy arrays): forward and all three gradients against the float64 reference on
the same shape sweep as the CPU tests (tests/conv2d_cases.py), out= (NaN-poisoned), agreement with
the CPU variants and with conv1d (height 1), errors for mixing CuPy and NumPy, and streams. Marked
`cuda`; skipped, with the reason, without CuPy, without a GPU, or when ictus was built without CUDA
kernels. Run only these with `pytest -m cuda`.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import conv1d_cases
import ictus
import numpy as np
import pytest
import reference as ref
from conv2d_cases import ALL_CASES, Case, by_name, params

pytestmark = pytest.mark.cuda

RTOL = 1e-5
PATHS = ["alloc", "out_nan"]
GRADS = ("grad_x", "grad_weight", "grad_bias")


def draw(case: Case, randn: Callable[..., np.ndarray]) -> tuple[np.ndarray, np.ndarray, np.ndarray | None, np.ndarray]:
    x, w = randn(*case.x_shape), randn(*case.w_shape)
    b = randn(case.c_out) if case.bias else None
    return x, w, b, randn(*case.y_shape)


def reference(case: Case, x: np.ndarray, w: np.ndarray, b: np.ndarray | None,
              gy: np.ndarray) -> tuple[np.ndarray, tuple[np.ndarray, np.ndarray, np.ndarray]]:
    return ref.conv2d_forward(x, w, b, **case.geometry), ref.conv2d_backward(gy, x, w, **case.geometry)


def to_gpu(cp: Any, *arrays: np.ndarray | None) -> list[Any]:
    return [None if a is None else cp.asarray(a) for a in arrays]


def check_gpu_output(cp: Any, a: Any, shape: tuple[int, ...], what: str, device: int = 0) -> np.ndarray:
    assert isinstance(a, cp.ndarray), f"{what}: expected a CuPy array, got {type(a)}"
    assert a.dtype == cp.float32 and a.shape == shape and a.flags.c_contiguous, (what, a.dtype, a.shape)
    assert a.device.id == device, f"{what}: on GPU {a.device.id}, expected {device}"
    return cp.asnumpy(a)


def nan_gpu(cp: Any, shape: tuple[int, ...]) -> Any:
    return cp.full(shape, cp.nan, dtype=cp.float32)


# ------------------------------------------------------------------------------ the sweep


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", params(ALL_CASES))
def test_forward_cuda(case: Case, path: str, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    x, w, b, gy = draw(case, randn)
    xd, wd, bd = to_gpu(cp, x, w, b)
    if path == "alloc":
        y = ictus.conv2d(xd, wd, bd, **case.kwargs)
    else:
        out = nan_gpu(cp, case.y_shape)
        y = ictus.conv2d(xd, wd, bd, **case.kwargs, out=out)
        assert y is out
    want, _ = reference(case, x, w, b, gy)
    ref.assert_close(check_gpu_output(cp, y, case.y_shape, "y"), want, RTOL, "y [cuda]")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", params(ALL_CASES))
def test_backward_cuda(case: Case, path: str, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    x, w, b, gy = draw(case, randn)
    gyd, xd, wd = to_gpu(cp, gy, x, w)
    if path == "alloc":
        grads = ictus.conv2d_backward(gyd, xd, wd, **case.kwargs, bias=case.bias)
    else:
        out = (nan_gpu(cp, case.x_shape), nan_gpu(cp, case.w_shape), nan_gpu(cp, (case.c_out,)) if case.bias else None)
        grads = ictus.conv2d_backward(gyd, xd, wd, **case.kwargs, bias=case.bias, out=out)
        for got, given in zip(grads, out):
            assert given is None or got is given
    _, (rgx, rgw, rgb) = reference(case, x, w, b, gy)
    gx, gw, gb = grads
    ref.assert_close(check_gpu_output(cp, gx, case.x_shape, "grad_x"), rgx, RTOL, "grad_x [cuda]")
    ref.assert_close(check_gpu_output(cp, gw, case.w_shape, "grad_weight"), rgw, RTOL, "grad_weight [cuda]")
    if case.bias:
        ref.assert_close(check_gpu_output(cp, gb, (case.c_out,), "grad_bias"), rgb, RTOL, "grad_bias [cuda]")
    else:
        assert gb is None


@pytest.mark.parametrize("input_grad,bias", [(False, True), (True, False), (False, False)],
                         ids=["no_input_grad", "no_bias", "weight_only"])
def test_backward_partial_cuda(input_grad: bool, bias: bool, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("primes_stride")
    x, w, b, gy = draw(case, randn)
    gyd, xd, wd = to_gpu(cp, gy, x, w)
    gx, gw, gb = ictus.conv2d_backward(gyd, xd, wd, **case.kwargs, bias=bias, input_grad=input_grad)
    _, (rgx, rgw, rgb) = reference(case, x, w, b, gy)
    if input_grad:
        ref.assert_close(check_gpu_output(cp, gx, case.x_shape, "grad_x"), rgx, RTOL, "grad_x")
    else:
        assert gx is None
    ref.assert_close(check_gpu_output(cp, gw, case.w_shape, "grad_weight"), rgw, RTOL, "grad_weight")
    if bias:
        ref.assert_close(check_gpu_output(cp, gb, (case.c_out,), "grad_bias"), rgb, RTOL, "grad_bias")
    else:
        assert gb is None


@pytest.mark.parametrize("name", ["bt_conv2", "keycnn", "wide_stride"])
def test_cuda_matches_cpu(name: str, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    """CUDA and the CPU variants agree with each other as well as with the reference."""
    case = by_name(name)
    x, w, b, gy = draw(case, randn)
    xd, wd, bd, gyd = to_gpu(cp, x, w, b, gy)
    gpu = [cp.asnumpy(ictus.conv2d(xd, wd, bd, **case.kwargs)),
           *[cp.asnumpy(g) for g in ictus.conv2d_backward(gyd, xd, wd, **case.kwargs)]]
    for isa in ictus.cpu_isas():
        with ictus.use_cpu_isa(isa):
            cpu = [ictus.conv2d(x, w, b, **case.kwargs), *ictus.conv2d_backward(gy, x, w, **case.kwargs)]
        for what, g, c in zip(("y", *GRADS), gpu, cpu):
            ref.assert_close(g, c, 2 * RTOL, f"{what}: cuda vs {isa}")


CONV1D_EQUIVALENT = [c for c in conv1d_cases.ALL_CASES if c.name in ("primes", "primes_stride3", "wide_channels",
                                                                      "tcn_d16")]


@pytest.mark.parametrize("case", conv1d_cases.params(CONV1D_EQUIVALENT))
def test_cuda_conv1d_is_conv2d_of_height_one(case: conv1d_cases.Case, cp: Any,
                                             randn: Callable[..., np.ndarray]) -> None:
    """conv1d on CUDA runs the conv2d launcher with height 1: the same bits, forward and backward."""
    x, w = randn(*case.x_shape), randn(*case.w_shape)
    b = randn(case.c_out) if case.bias else None
    gy = randn(*case.y_shape)
    xd, wd, bd, gyd = to_gpu(cp, x, w, b, gy)
    left, right = case.pads
    assert left == right or isinstance(case.padding, str)
    kw2 = {"stride": (1, case.stride), "dilation": (1, case.dilation),
           "padding": case.padding if isinstance(case.padding, str) else (0, left)}
    y1 = cp.asnumpy(ictus.conv1d(xd, wd, bd, **case.kwargs))
    y2 = cp.asnumpy(ictus.conv2d(xd[:, :, None, :], wd[:, :, None, :], bd, **kw2))
    np.testing.assert_array_equal(y2[:, :, 0, :], y1, err_msg="y: conv2d of height 1 differs from conv1d")
    g1 = ictus.conv1d_backward(gyd, xd, wd, **case.kwargs, bias=case.bias)
    g2 = ictus.conv2d_backward(gyd[:, :, None, :], xd[:, :, None, :], wd[:, :, None, :], **kw2, bias=case.bias)
    for what, a1, a2 in zip(GRADS, g1, g2):
        if a1 is None:
            assert a2 is None, what
            continue
        np.testing.assert_array_equal(cp.asnumpy(a2).reshape(a1.shape), cp.asnumpy(a1),
                                      err_msg=f"{what}: conv2d of height 1 differs from conv1d")


def test_cuda_deterministic(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("wide_64x64")
    x, w, b, gy = draw(case, randn)
    xd, wd, bd, gyd = to_gpu(cp, x, w, b, gy)
    runs = [[cp.asnumpy(ictus.conv2d(xd, wd, bd, **case.kwargs)),
             *[cp.asnumpy(g) for g in ictus.conv2d_backward(gyd, xd, wd, **case.kwargs)]] for _ in range(3)]
    for other in runs[1:]:
        for what, a, c in zip(("y", *GRADS), runs[0], other):
            assert np.array_equal(a, c), f"{what} differs between two identical CUDA calls"


def test_cuda_inputs_not_modified(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("stride_2x3")
    x, w, b, gy = draw(case, randn)
    xd, wd, bd, gyd = to_gpu(cp, x, w, b, gy)
    ictus.conv2d(xd, wd, bd, **case.kwargs)
    ictus.conv2d_backward(gyd, xd, wd, **case.kwargs)
    for what, d, h in zip(("x", "weight", "bias", "grad_y"), (xd, wd, bd, gyd), (x, w, b, gy)):
        np.testing.assert_array_equal(cp.asnumpy(d), h, err_msg=f"{what} was modified")


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed", "channels_last"])
def test_cuda_noncontiguous_inputs(layout: str, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    case = by_name("dilation_stride")
    x, w, b, gy = draw(case, randn)

    def view(a: np.ndarray) -> Any:
        d = cp.asarray(a)
        if layout == "transposed":
            v = cp.ascontiguousarray(d.T).T
        elif layout == "strided":
            big = cp.full(a.shape[:-1] + (2 * a.shape[-1],), cp.nan, cp.float32)
            big[..., ::2] = d
            v = big[..., ::2]
        elif layout == "channels_last" and a.ndim == 4:
            v = cp.ascontiguousarray(cp.moveaxis(d, 1, -1)).transpose(0, 3, 1, 2)
        else:
            v = cp.ascontiguousarray(d[..., ::-1])[..., ::-1]
        assert a.ndim == 1 and layout == "transposed" or not v.flags.c_contiguous
        return v

    xv, wv, bv, gyv = (view(a) for a in (x, w, b, gy))
    want, rgrads = reference(case, x, w, b, gy)
    ref.assert_close(cp.asnumpy(ictus.conv2d(xv, wv, bv, **case.kwargs)), want, RTOL, "y")
    for what, got, r in zip(GRADS, ictus.conv2d_backward(gyv, xv, wv, **case.kwargs), rgrads):
        ref.assert_close(cp.asnumpy(got), r, RTOL, what)


def test_cuda_on_a_non_default_stream(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    """Ops run on CuPy's current stream: results are right once that stream is synchronized."""
    case = by_name("wide_48x40")
    x, w, b, gy = draw(case, randn)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        xd, wd, bd, gyd = to_gpu(cp, x, w, b, gy)
        y = ictus.conv2d(xd, wd, bd, **case.kwargs)
        grads = ictus.conv2d_backward(gyd, xd, wd, **case.kwargs)
        y_host = cp.asnumpy(y, stream=stream)
        grads_host = [cp.asnumpy(g, stream=stream) for g in grads]
    stream.synchronize()
    want, rgrads = reference(case, x, w, b, gy)
    ref.assert_close(y_host, want, RTOL, "y")
    for what, got, r in zip(GRADS, grads_host, rgrads):
        ref.assert_close(got, r, RTOL, what)


@pytest.mark.parametrize("stride", [(2**40, 2**30), (7, 2**40)], ids=["2^40x2^30", "7x2^40"])
def test_cuda_huge_stride(stride: tuple[int, int], cp: Any, randn: Callable[..., np.ndarray]) -> None:
    case = Case("long_stride", 2, 3, 4, 2, 3, 5, 10, stride=stride, padding=(1, 2), dilation=(2, 3))
    assert case.out_hw == (1, 1)
    x, w, b, gy = draw(case, randn)
    xd, wd, bd, gyd = to_gpu(cp, x, w, b, gy)
    want, rgrads = reference(case, x, w, b, gy)
    ref.assert_close(cp.asnumpy(ictus.conv2d(xd, wd, bd, **case.kwargs)), want, RTOL, "y")
    for what, got, r in zip(GRADS, ictus.conv2d_backward(gyd, xd, wd, **case.kwargs), rgrads):
        ref.assert_close(cp.asnumpy(got), r, RTOL, what)


def test_torch_cuda_tensors(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    """Other GPU arrays (__cuda_array_interface__) are wrapped with cupy.asarray, without a copy."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    case = by_name("ch13x17")
    x, w, b, gy = draw(case, randn)
    xt, wt, bt = (torch.from_numpy(a).cuda() for a in (x, w, b))
    y = ictus.conv2d(xt, wt, bt, **case.kwargs)
    torch.cuda.synchronize()
    want, _ = reference(case, x, w, b, gy)
    ref.assert_close(cp.asnumpy(y), want, RTOL, "y from torch CUDA tensors")


# -------------------------------------------------------------------------------- errors


X_SHAPE, W_SHAPE, B_SHAPE, Y_SHAPE = (2, 3, 6, 10), (4, 3, 3, 3), (4,), (2, 4, 4, 8)


def gpu(cp: Any, shape: tuple[int, ...], dtype: Any = np.float32) -> Any:
    return cp.full(shape, 0.5, dtype=dtype)


def test_mixing_cupy_and_numpy(cp: Any) -> None:
    xd, wd, bd, gyd = gpu(cp, X_SHAPE), gpu(cp, W_SHAPE), gpu(cp, B_SHAPE), gpu(cp, Y_SHAPE)
    x, w, b, gy = (np.full(s, 0.5, np.float32) for s in (X_SHAPE, W_SHAPE, B_SHAPE, Y_SHAPE))
    with pytest.raises(ValueError, match=r"^conv2d: weight is a NumPy array \(CPU\) but x is a CuPy array on GPU 0"):
        ictus.conv2d(xd, w)
    with pytest.raises(ValueError, match=r"^conv2d: weight is a CuPy array on GPU 0 but x is a NumPy array"):
        ictus.conv2d(x, wd)
    with pytest.raises(ValueError, match=r"^conv2d: bias is a NumPy array \(CPU\) but x is a CuPy array"):
        ictus.conv2d(xd, wd, b)
    with pytest.raises(ValueError, match=r"^conv2d_backward: grad_y is a NumPy array \(CPU\) but x is a CuPy array"):
        ictus.conv2d_backward(gy, xd, wd)
    with pytest.raises(ValueError, match=r"^conv2d_backward: weight is a CuPy array on GPU 0 but x is a NumPy"):
        ictus.conv2d_backward(gy, x, wd)
    with pytest.raises(TypeError, match=r"^conv2d: out must be a CuPy array on GPU 0 like the inputs"):
        ictus.conv2d(xd, wd, bd, out=np.empty(Y_SHAPE, np.float32))
    with pytest.raises(TypeError, match=r"^conv2d: out must be a NumPy array \(CPU\) like the inputs"):
        ictus.conv2d(x, w, b, out=cp.empty(Y_SHAPE, cp.float32))
    with pytest.raises(TypeError, match=r"^conv2d_backward: out\[1\] must be a CuPy array on GPU 0"):
        ictus.conv2d_backward(gyd, xd, wd, out=(None, np.empty(W_SHAPE, np.float32), None))


def test_cuda_bad_arrays(cp: Any) -> None:
    xd, wd = gpu(cp, X_SHAPE), gpu(cp, W_SHAPE)
    with pytest.raises(TypeError, match=r"^conv2d: x must be float32.*x\.astype\(cupy\.float32\)"):
        ictus.conv2d(gpu(cp, X_SHAPE, cp.float64), wd)
    with pytest.raises(TypeError, match=r"^conv2d: weight must be float32"):
        ictus.conv2d(xd, gpu(cp, W_SHAPE, cp.float16))
    with pytest.raises(ValueError, match=r"^conv2d: x must have rank 4"):
        ictus.conv2d(gpu(cp, (2, 3, 10)), wd)
    with pytest.raises(ValueError, match=r"^conv2d: x has an empty dimension"):
        ictus.conv2d(gpu(cp, (2, 3, 0, 10)), wd)
    with pytest.raises(ValueError, match=r"^conv2d: weight has 5 input channels"):
        ictus.conv2d(xd, gpu(cp, (4, 5, 3, 3)))
    with pytest.raises(ValueError, match=r"^conv2d: padding .*along the width.*kernel spans 11"):
        ictus.conv2d(xd, gpu(cp, (4, 3, 3, 11)))
    with pytest.raises(ValueError, match=r"^conv2d: out must have shape \(2, 4, 4, 8\)"):
        ictus.conv2d(xd, wd, out=gpu(cp, (2, 4, 4, 9)))
    with pytest.raises(TypeError, match=r"^conv2d: out must be float32"):
        ictus.conv2d(xd, wd, out=gpu(cp, Y_SHAPE, cp.float64))
    with pytest.raises(ValueError, match=r"^conv2d: out must be C-contiguous"):
        ictus.conv2d(xd, wd, out=gpu(cp, (2, 4, 4, 16))[..., ::2])
    with pytest.raises(ValueError, match=r"^conv2d: out overlaps an input"):
        ictus.conv2d(xd, gpu(cp, (3, 3, 1, 1)), out=xd)
    with pytest.raises(ValueError, match=r"^conv2d_backward: grad_y must have the forward output's shape"):
        ictus.conv2d_backward(gpu(cp, (2, 4, 4, 9)), xd, wd)


def test_cuda_arrays_on_two_gpus(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    case = by_name("ch13x17")
    x, w, b, gy = draw(case, randn)
    with cp.cuda.Device(1):
        xd, wd, bd = to_gpu(cp, x, w, b)
        y = ictus.conv2d(xd, wd, bd, **case.kwargs)
    want, _ = reference(case, x, w, b, gy)
    ref.assert_close(check_gpu_output(cp, y, case.y_shape, "y", device=1), want, RTOL, "y on GPU 1")
    with cp.cuda.Device(0):
        w0 = cp.asarray(w)
    with pytest.raises(ValueError, match=r"^conv2d: weight is a CuPy array on GPU 0 but x is a CuPy array on GPU 1"):
        ictus.conv2d(xd, w0, **case.kwargs)
