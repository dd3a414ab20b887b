"""max_pool2d / max_pool1d on CUDA (CuPy arrays): forward (values and indices) and backward bit for
bit against the NumPy reference on the CPU tests' shape sweep (tests/pool_reference.py), out=
(poisoned), special values, determinism, agreement with every CPU variant, layouts, streams, and
the errors that only GPU arrays can raise. Marked `cuda`; skipped, with the reason, without CuPy,
without a GPU, or when ictus was built without CUDA kernels. Run only these with `pytest -m cuda`.

The GPU backward pass gathers, for each input element, the gradients of the windows that hold it,
in output order: the CPU's scatter order, so its sums match the reference bit for bit too. It
needs the forward call's window arguments.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import ictus
import numpy as np
import pool_reference as pr
import pytest
from pool_reference import (
    ALL_POOL_CASES,
    FIELD_CASES,
    INDEX_POISON,
    KINDS,
    POISON,
    SPECIAL_CASES,
    PoolCase,
    assert_bits_equal,
    pool_case,
    special_data,
)

pytestmark = pytest.mark.cuda

# out_int32: poisoned y and int32 indices (the backward pass then reads int32).
PATHS = ["alloc", "out_poisoned", "out_int32"]


def params(cases: list[PoolCase]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in cases]


def pool_fn(case: PoolCase) -> Callable[..., Any]:
    return ictus.max_pool1d if case.rank == 3 else ictus.max_pool2d


def backward_fn(case: PoolCase) -> Callable[..., Any]:
    return ictus.max_pool1d_backward if case.rank == 3 else ictus.max_pool2d_backward


def check_gpu_output(cp: Any, a: Any, shape: tuple[int, ...], dtype: Any, what: str, device: int = 0) -> np.ndarray:
    assert isinstance(a, cp.ndarray), f"{what}: expected a CuPy array, got {type(a)}"
    assert a.dtype == dtype and a.shape == shape and a.flags.c_contiguous, (what, a.dtype, a.shape)
    assert a.device.id == device, f"{what}: on GPU {a.device.id}, expected {device}"
    return cp.asnumpy(a)


def index_dtype(path: str) -> Any:
    return np.int32 if path == "out_int32" else np.int64


def gpu_forward(cp: Any, case: PoolCase, xd: Any, path: str, return_indices: bool = True) -> Any:
    """ictus' forward on the GPU, on `path`; returns host copies ((y, indices) or y)."""
    fn = pool_fn(case)
    if path == "alloc":
        res = fn(xd, **case.kwargs, return_indices=return_indices)
    elif return_indices:
        out = (cp.full(case.y_shape, POISON, cp.float32), cp.full(case.y_shape, INDEX_POISON, index_dtype(path)))
        res = fn(xd, **case.kwargs, return_indices=True, out=out)
        assert res[0] is out[0] and res[1] is out[1], "out=(y, indices) must return those arrays"
    else:
        out = cp.full(case.y_shape, POISON, cp.float32)
        res = fn(xd, **case.kwargs, out=out)
        assert res is out, "out=y must return that array"
    if return_indices:
        return (check_gpu_output(cp, res[0], case.y_shape, cp.float32, "y"),
                check_gpu_output(cp, res[1], case.y_shape, index_dtype(path), "indices"))
    return check_gpu_output(cp, res, case.y_shape, cp.float32, "y")


def check_forward_cuda(cp: Any, case: PoolCase, x: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray]:
    ry, ri = pr.reference_forward(case, x)
    xd = cp.asarray(x)
    for path in PATHS:
        y, idx = gpu_forward(cp, case, xd, path)
        assert_bits_equal(y, ry, f"y [cuda, {label}, {path}]")
        assert_bits_equal(idx, ri.astype(index_dtype(path)), f"indices [cuda, {label}, {path}]")
        assert_bits_equal(gpu_forward(cp, case, xd, path, return_indices=False), ry,
                          f"y without indices [cuda, {label}, {path}]")
    return ry, ri


# ------------------------------------------------------------------------------ the sweep


@pytest.mark.parametrize("case", params(ALL_POOL_CASES))
def test_forward_cuda(case: PoolCase, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    check_forward_cuda(cp, case, randn(*case.x_shape), "normal")


@pytest.mark.parametrize("kind", KINDS)
@pytest.mark.parametrize("case", params(SPECIAL_CASES))
def test_forward_special_values_cuda(case: PoolCase, kind: str, cp: Any, rng: np.random.Generator) -> None:
    check_forward_cuda(cp, case, special_data(kind, case, rng), kind)


BACKWARD_CASES = ALL_POOL_CASES


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("case", params(BACKWARD_CASES))
def test_backward_cuda(case: PoolCase, path: str, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    _, ri = pr.reference_forward(case, x)
    gyd, idxd = cp.asarray(gy), cp.asarray(ri.astype(index_dtype(path)))
    if path == "alloc":
        gx = backward_fn(case)(gyd, idxd, case.x_shape, **case.window_kwargs)
    else:
        out = cp.full(case.x_shape, POISON, cp.float32)
        gx = backward_fn(case)(gyd, idxd, case.x_shape, **case.window_kwargs, out=out)
        assert gx is out, "out= must be returned"
    assert_bits_equal(check_gpu_output(cp, gx, case.x_shape, cp.float32, "grad_x"),
                      pr.max_pool_backward(gy, ri, case.x_shape), f"grad_x [cuda, {path}]")


@pytest.mark.parametrize("kind", ["ties", "nan_scattered", "mixed"])
@pytest.mark.parametrize("case", params([pool_case(n) for n in ("k3_s1", "k3_s2_p1", "k2_s2_odd_ceil", "pair_a",
                                                               "w17_split3_k2_ceil", "1d_k3_s1_p1")]))
def test_backward_special_values_cuda(case: PoolCase, kind: str, cp: Any, rng: np.random.Generator) -> None:
    """The GPU's own indices (NaN, first of tied maxima) route the gradients as on the CPU."""
    x = special_data(kind, case, rng)
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    _, idx = pool_fn(case)(cp.asarray(x), **case.kwargs, return_indices=True)
    gx = backward_fn(case)(cp.asarray(gy), idx, case.x_shape, **case.window_kwargs)
    assert_bits_equal(cp.asnumpy(gx), pr.max_pool_backward(gy, cp.asnumpy(idx), case.x_shape), "grad_x [cuda]")


@pytest.mark.parametrize("case", params([c for c in ALL_POOL_CASES if not c.fits_without_ceil]))
def test_backward_overhanging_ceil_window_cuda(case: PoolCase, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    x = randn(*case.x_shape)
    y, idx = pool_fn(case)(cp.asarray(x), **case.kwargs, return_indices=True)
    gy = randn(*y.shape)
    gx = backward_fn(case)(cp.asarray(gy), idx, case.x_shape, **case.window_kwargs)
    assert_bits_equal(cp.asnumpy(gx), pr.max_pool_backward(gy, cp.asnumpy(idx), case.x_shape), "grad_x [cuda]")


def test_window_of_only_padding_refused_cuda(cp: Any) -> None:
    """A window that skips the whole input (dilation > input size) is refused, as on the CPU."""
    case = PoolCase("only_padding", (1, 1, 4, 2), (2, 2), (2, 1), (0, 1), (1, 3))
    assert pr.has_window_of_only_padding(case)
    x = cp.asarray(np.arange(1, 9, dtype=np.float32).reshape(case.x_shape))
    with pytest.raises(ValueError, match=r"^max_pool2d: dilation leaves window"):
        pool_fn(case)(x, **case.kwargs, return_indices=True)


@pytest.mark.parametrize("case", params(FIELD_CASES + [pool_case(n) for n in ("1d_k2_T30000", "pair_e",
                                                                              "w49_lanes_k3_s2_p1")]))
def test_cuda_matches_every_cpu_variant(case: PoolCase, cp: Any, rng: np.random.Generator) -> None:
    x = special_data("mixed", case, rng)
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    yd, idxd = pool_fn(case)(cp.asarray(x), **case.kwargs, return_indices=True)
    gxd = backward_fn(case)(cp.asarray(gy), idxd, case.x_shape, **case.window_kwargs)
    gpu = [cp.asnumpy(a) for a in (yd, idxd, gxd)]
    for isa in ictus.cpu_isas():
        with ictus.use_cpu_isa(isa):
            y, idx = pool_fn(case)(x, **case.kwargs, return_indices=True)
            gx = backward_fn(case)(gy, idx, case.x_shape)
        for name, g, c in zip(("y", "indices", "grad_x"), gpu, (y, idx, gx)):
            assert_bits_equal(g, c, f"{name}: cuda vs {isa}")


def test_cuda_deterministic(cp: Any, rng: np.random.Generator) -> None:
    """Repeated calls give the same bits (the backward pass gathers: no atomics)."""
    case = pool_case("k3_s1")  # overlapping windows: several gradients per input
    x = special_data("ties", case, rng)
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    xd, gyd = cp.asarray(x), cp.asarray(gy)
    runs = []
    for _ in range(3):
        y, idx = pool_fn(case)(xd, **case.kwargs, return_indices=True)
        gx = backward_fn(case)(gyd, idx, case.x_shape, **case.window_kwargs)
        runs.append([cp.asnumpy(a) for a in (y, idx, gx)])
    for other in runs[1:]:
        for name, a, b in zip(("y", "indices", "grad_x"), runs[0], other):
            assert_bits_equal(b, a, f"{name} differs between two identical CUDA calls")


def test_cuda_inputs_not_modified(cp: Any, rng: np.random.Generator) -> None:
    case = pool_case("k3_s2_p1")
    x = special_data("mixed", case, rng)
    gy = rng.standard_normal(case.y_shape).astype(np.float32)
    xd, gyd = cp.asarray(x), cp.asarray(gy)
    _, idx = pool_fn(case)(xd, **case.kwargs, return_indices=True)
    idx_host = cp.asnumpy(idx)
    backward_fn(case)(gyd, idx, case.x_shape, **case.window_kwargs)
    for name, d, h in (("x", xd, x), ("grad_y", gyd, gy), ("indices", idx, idx_host)):
        assert_bits_equal(cp.asnumpy(d), h, f"{name} was modified")


@pytest.mark.parametrize("layout", ["transposed", "strided", "reversed"])
def test_cuda_noncontiguous_inputs(layout: str, cp: Any, randn: Callable[..., np.ndarray]) -> None:
    case = pool_case("w17_split2_ceil")
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    ry, ri = pr.reference_forward(case, x)

    def view(a: np.ndarray) -> Any:
        d = cp.asarray(a)
        if layout == "transposed":
            v = cp.ascontiguousarray(d.T).T
        elif layout == "strided":
            big = cp.zeros(a.shape[:-1] + (2 * a.shape[-1],), d.dtype)
            big[..., ::2] = d
            v = big[..., ::2]
        else:
            v = cp.ascontiguousarray(d[..., ::-1])[..., ::-1]
        assert not v.flags.c_contiguous
        return v

    y, idx = pool_fn(case)(view(x), **case.kwargs, return_indices=True)
    assert_bits_equal(cp.asnumpy(y), ry, f"y from a {layout} x")
    assert_bits_equal(cp.asnumpy(idx), ri, f"indices from a {layout} x")
    gx = backward_fn(case)(view(gy), view(ri), case.x_shape, **case.window_kwargs)
    assert_bits_equal(cp.asnumpy(gx), pr.max_pool_backward(gy, ri, case.x_shape), f"grad_x from {layout} inputs")


def test_cuda_on_a_non_default_stream(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    """Ops run on CuPy's current stream: results are right once that stream is synchronized."""
    case = pool_case("beat_1x3_over_81")
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    stream = cp.cuda.Stream(non_blocking=True)
    with stream:
        xd, gyd = cp.asarray(x), cp.asarray(gy)
        y, idx = pool_fn(case)(xd, **case.kwargs, return_indices=True)
        gx = backward_fn(case)(gyd, idx, case.x_shape, **case.window_kwargs)
        host = [cp.asnumpy(a, stream=stream) for a in (y, idx, gx)]
    stream.synchronize()
    ry, ri = pr.reference_forward(case, x)
    for name, got, want in zip(("y", "indices", "grad_x"), host, (ry, ri, pr.max_pool_backward(gy, ri, case.x_shape))):
        assert_bits_equal(got, want, name)


def test_cuda_stride_longer_than_input(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    for case in (PoolCase("long_stride", (1, 2, 5, 7), 2, 2**40), PoolCase("long_stride_1d", (2, 2, 9), 4, 2**40, 2,
                                                                             2, True)):
        x = randn(*case.x_shape)
        _, ri = check_forward_cuda(cp, case, x, case.name)
        gy = randn(*case.y_shape)
        gx = backward_fn(case)(cp.asarray(gy), cp.asarray(ri), case.x_shape, **case.window_kwargs)
        assert_bits_equal(cp.asnumpy(gx), pr.max_pool_backward(gy, ri, case.x_shape), f"grad_x [{case.name}]")


def test_torch_cuda_tensors(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    """Other GPU arrays (__cuda_array_interface__) are wrapped with cupy.asarray, without a copy."""
    torch = pytest.importorskip("torch")
    if not torch.cuda.is_available():
        pytest.skip("torch has no CUDA here")
    import torch.nn.functional as F

    case = pool_case("keycnn_2x2_25x26_ceil")
    x = randn(*case.x_shape)
    xt = torch.from_numpy(x).cuda()
    y, idx = ictus.max_pool2d(xt, **case.kwargs, return_indices=True)
    ty, ti = F.max_pool2d(xt, **case.kwargs, return_indices=True)
    torch.cuda.synchronize()
    assert_bits_equal(cp.asnumpy(y), ty.cpu().numpy(), "y vs torch CUDA")
    assert_bits_equal(cp.asnumpy(idx), ti.cpu().numpy(), "indices vs torch CUDA")


# -------------------------------------------------------------------------------- errors


X2, Y2 = (2, 3, 10, 12), (2, 3, 5, 6)


def test_cuda_backward_needs_the_window(cp: Any) -> None:
    gy, idx = cp.zeros(Y2, cp.float32), cp.zeros(Y2, cp.int64)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: kernel_size is needed for CuPy arrays"):
        ictus.max_pool2d_backward(gy, idx, X2)
    with pytest.raises(ValueError, match=r"^max_pool1d_backward: kernel_size is needed for CuPy arrays"):
        ictus.max_pool1d_backward(cp.zeros((2, 3, 5), cp.float32), cp.zeros((2, 3, 5), cp.int64), (2, 3, 10))
    assert ictus.max_pool2d_backward(gy, idx, X2, kernel_size=2).shape == X2


def test_cuda_indices_outside_the_plane(cp: Any) -> None:
    gy = cp.ones(Y2, cp.float32)
    for bad in (-1, 120, 2**62):
        idx = cp.zeros(Y2, cp.int64)
        idx[1, 2, 4, 5] = bad
        with pytest.raises(ValueError, match=r"^max_pool2d_backward: indices holds positions outside"):
            ictus.max_pool2d_backward(gy, idx, X2, kernel_size=2)
    gy1, idx1 = cp.ones((2, 3, 5), cp.float32), cp.full((2, 3, 5), 10, cp.int64)
    with pytest.raises(ValueError, match=r"^max_pool1d_backward: indices holds positions outside"):
        ictus.max_pool1d_backward(gy1, idx1, (2, 3, 10), kernel_size=2)


def test_mixing_cupy_and_numpy(cp: Any) -> None:
    xd, gyd, idxd = cp.zeros(X2, cp.float32), cp.zeros(Y2, cp.float32), cp.zeros(Y2, cp.int64)
    x, gy, idx = np.zeros(X2, np.float32), np.zeros(Y2, np.float32), np.zeros(Y2, np.int64)
    with pytest.raises(TypeError, match=r"^max_pool2d: out must be a CuPy array on GPU 0 like the inputs"):
        ictus.max_pool2d(xd, 2, out=np.empty(Y2, np.float32))
    with pytest.raises(TypeError, match=r"^max_pool2d: out\[1\] must be a CuPy array on GPU 0"):
        ictus.max_pool2d(xd, 2, return_indices=True, out=(cp.empty(Y2, cp.float32), np.empty(Y2, np.int64)))
    with pytest.raises(TypeError, match=r"^max_pool2d: out must be a NumPy array \(CPU\) like the inputs"):
        ictus.max_pool2d(x, 2, out=cp.empty(Y2, cp.float32))
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: indices is a NumPy array \(CPU\) but grad_y is a "
                                         r"CuPy array on GPU 0"):
        ictus.max_pool2d_backward(gyd, idx, X2, kernel_size=2)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: indices is a CuPy array on GPU 0 but grad_y is a "
                                         r"NumPy array"):
        ictus.max_pool2d_backward(gy, idxd, X2, kernel_size=2)
    with pytest.raises(TypeError, match=r"^max_pool2d_backward: out must be a CuPy array on GPU 0"):
        ictus.max_pool2d_backward(gyd, idxd, X2, kernel_size=2, out=np.empty(X2, np.float32))


def test_cuda_bad_arrays(cp: Any) -> None:
    xd = cp.zeros(X2, cp.float32)
    gyd, idxd = cp.zeros(Y2, cp.float32), cp.zeros(Y2, cp.int64)
    with pytest.raises(TypeError, match=r"^max_pool2d: x must be float32.*x\.astype\(cupy\.float32\)"):
        ictus.max_pool2d(cp.zeros(X2, cp.float64), 2)
    with pytest.raises(ValueError, match=r"^max_pool2d: x must have rank 4"):
        ictus.max_pool2d(cp.zeros((3, 10, 12), cp.float32), 2)
    with pytest.raises(ValueError, match=r"^max_pool1d: x must have rank 3"):
        ictus.max_pool1d(xd, 2)
    with pytest.raises(ValueError, match=r"^max_pool2d: x has an empty dimension"):
        ictus.max_pool2d(cp.zeros((2, 3, 0, 12), cp.float32), 2)
    with pytest.raises(ValueError, match=r"^max_pool2d: padding is 2 along the height but may be at most half"):
        ictus.max_pool2d(xd, 3, 1, 2)
    with pytest.raises(ValueError, match=r"^max_pool2d: kernel_size spans 11 positions"):
        ictus.max_pool2d(xd, 11, 1)
    with pytest.raises(ValueError, match=r"^max_pool2d: out must have shape \(2, 3, 5, 6\)"):
        ictus.max_pool2d(xd, 2, out=cp.zeros((2, 3, 5, 7), cp.float32))
    with pytest.raises(TypeError, match=r"^max_pool2d: out\[1\] must be int64"):
        ictus.max_pool2d(xd, 2, return_indices=True, out=(cp.zeros(Y2, cp.float32), cp.zeros(Y2, cp.int32)))
    with pytest.raises(ValueError, match=r"^max_pool2d: out must be C-contiguous"):
        ictus.max_pool2d(xd, 2, out=cp.zeros((2, 3, 5, 12), cp.float32)[..., ::2])
    with pytest.raises(ValueError, match=r"^max_pool2d: out overlaps an input"):
        ictus.max_pool2d(xd, 1, out=xd)
    with pytest.raises(TypeError, match=r"^max_pool2d_backward: grad_y must be float32"):
        ictus.max_pool2d_backward(cp.zeros(Y2, cp.float64), idxd, X2, kernel_size=2)
    with pytest.raises(TypeError, match=r"^max_pool2d_backward: indices must be int64"):
        ictus.max_pool2d_backward(gyd, cp.zeros(Y2, cp.int32), X2, kernel_size=2)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: indices must have grad_y's shape"):
        ictus.max_pool2d_backward(gyd, cp.zeros((2, 3, 5, 5), cp.int64), X2, kernel_size=2)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: grad_y has shape \(2, 3, 5, 6\), which these"):
        ictus.max_pool2d_backward(gyd, idxd, X2, kernel_size=3)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: input_shape has batch and channels"):
        ictus.max_pool2d_backward(gyd, idxd, (3, 3, 10, 12), kernel_size=2)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: out must have shape \(2, 3, 10, 12\)"):
        ictus.max_pool2d_backward(gyd, idxd, X2, kernel_size=2, out=cp.zeros((2, 3, 10, 11), cp.float32))


def test_cuda_arrays_on_two_gpus(cp: Any, randn: Callable[..., np.ndarray]) -> None:
    if cp.cuda.runtime.getDeviceCount() < 2:
        pytest.skip("needs two GPUs")
    case = pool_case("k3_s2_p1")
    x = randn(*case.x_shape)
    gy = randn(*case.y_shape)
    ry, ri = pr.reference_forward(case, x)
    with cp.cuda.Device(1):
        xd, gyd = cp.asarray(x), cp.asarray(gy)
        y, idx = ictus.max_pool2d(xd, **case.kwargs, return_indices=True)
        gx = ictus.max_pool2d_backward(gyd, idx, case.x_shape, **case.window_kwargs)
    assert_bits_equal(check_gpu_output(cp, y, case.y_shape, cp.float32, "y", device=1), ry, "y on GPU 1")
    assert_bits_equal(check_gpu_output(cp, idx, case.y_shape, cp.int64, "indices", device=1), ri, "indices on GPU 1")
    assert_bits_equal(check_gpu_output(cp, gx, case.x_shape, cp.float32, "grad_x", device=1),
                      pr.max_pool_backward(gy, ri, case.x_shape), "grad_x on GPU 1")
    with cp.cuda.Device(0):
        idx0 = cp.asarray(ri)
    with pytest.raises(ValueError, match=r"^max_pool2d_backward: indices is a CuPy array on GPU 0 but grad_y is a "
                                         r"CuPy array on GPU 1"):
        ictus.max_pool2d_backward(gyd, idx0, case.x_shape, **case.window_kwargs)
