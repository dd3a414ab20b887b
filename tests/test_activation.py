"""ictus.elu and ictus.elu_backward: every CPU variant (and CUDA where present) against a float64
NumPy reference, element by element (an element-wise op has no sums to excuse norm-wise slack), on
sizes around the vector widths and the threads' chunks, with NaN and infinities as torch treats
them, outputs poisoned first; the bad arguments; and nn.ELU on the kernels."""
from __future__ import annotations

from collections.abc import Callable

import ictus
import numpy as np
import pytest
import reference as ref_module
from reference import poisoned

SIZES = [1, 7, 15, 16, 17, 31, 64, 127, 16 * 1024 - 1, 16 * 1024 + 1, 3 * 16 * 1024 + 5]
SHAPES = [(1,), (2, 3), (1, 20, 3, 79), (5, 1, 13)]
ALPHAS = [1.0, 0.3, 0.0, 2.5]
# Relative error of a float32 result, elementwise: a few ulp (2**-24 each) for expm1's polynomial.
RTOL = 4e-7


def elu_reference(x: np.ndarray, alpha: float) -> np.ndarray:
    x64 = x.astype(np.float64)
    return np.where(x64 > 0, x64, alpha * np.expm1(np.minimum(x64, 0)))


def elu_grad_reference(grad_y: np.ndarray, x: np.ndarray, alpha: float) -> np.ndarray:
    x64 = x.astype(np.float64)
    return np.where(x64 > 0, grad_y, grad_y * alpha * np.exp(np.minimum(x64, 0)))


def assert_elementwise(got: np.ndarray, ref: np.ndarray, what: str) -> None:
    ref_module.assert_elementwise(got, ref, what, RTOL, atol=1e-37)


@pytest.mark.parametrize("n", SIZES)
@pytest.mark.parametrize("alpha", ALPHAS)
def test_elu_matches_reference(isa: str, n: int, alpha: float, rng: np.random.Generator) -> None:
    x = (rng.standard_normal(n) * 4).astype(np.float32)
    y = ictus.elu(x, alpha, out=poisoned(x.shape))
    assert_elementwise(y, elu_reference(x, alpha), f"{isa} elu n={n} alpha={alpha}")
    grad_y = rng.standard_normal(n).astype(np.float32)
    grad_x = ictus.elu_backward(grad_y, y, alpha, out=poisoned(x.shape))
    # the reference from x; the kernel from y: alpha e^x = y + alpha cancels where y is near -alpha,
    # an absolute error of a few ulp(alpha) |grad_y|
    ref = elu_grad_reference(grad_y, x, alpha)
    assert np.allclose(grad_x, ref, rtol=4 * RTOL, atol=4 * RTOL * max(alpha, 1.0) * np.abs(grad_y).max()), \
        f"{isa} elu_backward n={n} alpha={alpha}"


@pytest.mark.parametrize("shape", SHAPES)
def test_elu_keeps_any_shape_and_allocates(isa: str, shape: tuple[int, ...], randn: Callable[..., np.ndarray]) -> None:
    x = randn(*shape)
    y = ictus.elu(x)
    assert y.shape == shape and y.dtype == np.float32
    assert_elementwise(y, elu_reference(x, 1.0), f"{isa} elu {shape}")
    assert ictus.elu_backward(np.ones_like(x), y).shape == shape


def test_elu_tiny_and_special_values(isa: str) -> None:
    """expm1 without cancellation near 0; torch's NaN and infinity results, forward and backward."""
    x = np.array([-1e-8, -1e-30, -0.0, 0.0, 1e-30, -0.34, -0.35, -88.0, -200.0, np.inf, -np.inf, np.nan],
                 np.float32)
    y = ictus.elu(x, 0.5)
    assert_elementwise(y, elu_reference(x, 0.5), f"{isa} elu special values")
    grad = ictus.elu_backward(np.ones_like(x), y, 0.5)
    ref = elu_grad_reference(np.ones(x.shape), x, 0.5)
    assert np.isnan(grad[-1]) and np.isnan(ref[-1])  # NaN in, NaN gradient out (torch)
    np.testing.assert_allclose(grad[:-1], ref[:-1], rtol=4 * RTOL, atol=1e-37)


def test_elu_matches_torch(isa: str, randn: Callable[..., np.ndarray]) -> None:
    torch = pytest.importorskip("torch")
    x = randn(4, 7, 33) * 3
    x[0, 0, :3] = [np.nan, np.inf, -np.inf]
    xt = torch.from_numpy(x.astype(np.float64)).requires_grad_()
    yt = torch.nn.functional.elu(xt, 0.7)
    grad_y = randn(*x.shape)
    yt.backward(torch.from_numpy(grad_y.astype(np.float64)))
    y = ictus.elu(x, 0.7)
    assert_elementwise(y, yt.detach().numpy(), f"{isa} elu vs torch")
    got, want = ictus.elu_backward(grad_y, y, 0.7), xt.grad.numpy()
    assert np.array_equal(np.isnan(got), np.isnan(want))
    # from y, alpha e^x = y + alpha cancels where y is near -alpha: absolute error ~ ulp(alpha) |grad_y|
    atol = 4 * RTOL * 0.7 * float(np.abs(grad_y).max())
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=4 * RTOL, atol=atol)


def test_elu_is_deterministic_across_threads(randn: Callable[..., np.ndarray], restore_num_threads: int) -> None:
    x = randn(5 * 16 * 1024 + 3)
    ictus.set_num_threads(1)
    one = ictus.elu(x)
    ictus.set_num_threads(2)
    assert np.array_equal(ictus.elu(x), one)


def test_kernel_names_follow_the_isa(isa: str) -> None:
    assert ictus.kernel_name("elu_fwd") == f"elu_fwd_{isa}"
    assert ictus.kernel_name("elu_bwd") == f"elu_bwd_{isa}"


@pytest.mark.parametrize(("call", "error", "match"), [
    (lambda x: ictus.elu(x.astype(np.float64)), TypeError, r"elu: x must be float32.*astype\(np.float32\)"),
    (lambda x: ictus.elu([1.0, 2.0]), TypeError, r"elu: x"),
    (lambda x: ictus.elu(x, -1.0), ValueError, r"elu: alpha must be a finite number >= 0"),
    (lambda x: ictus.elu(x, float("nan")), ValueError, r"elu: alpha must be a finite number >= 0"),
    (lambda x: ictus.elu(x, out=np.empty((3, 4), np.float32)), ValueError, r"elu: out must have the input's shape"),
    (lambda x: ictus.elu(x, out=np.empty((8, 4), np.float32)[::2]), ValueError, r"elu: out must be C-contiguous"),
    (lambda x: ictus.elu(np.empty((0, 4), np.float32)), ValueError, r"elu: x"),
    (lambda x: ictus.elu_backward(x, x[:3]), ValueError, r"elu_backward: y must have grad_y's shape"),
    (lambda x: ictus.elu_backward(x, x.astype(np.float64)), TypeError, r"elu_backward: y must be float32"),
])
def test_bad_arguments_raise_clearly(call: Callable[[np.ndarray], object], error: type, match: str) -> None:
    x = np.ones((4, 4), np.float32)
    with pytest.raises(error, match=match):
        call(x)


def test_non_contiguous_input_is_read_as_its_values(randn: Callable[..., np.ndarray]) -> None:
    x = randn(6, 10)[:, ::3]
    assert_elementwise(ictus.elu(x), elu_reference(x, 1.0), "elu of a strided view")


def test_nn_elu_runs_the_kernels_for_float32_and_the_array_math_otherwise(randn: Callable[..., np.ndarray]) -> None:
    layer = ictus.nn.ELU(0.4)
    x = randn(2, 3, 50)
    y = layer(x)
    np.testing.assert_array_equal(y, ictus.elu(x, 0.4))
    g = randn(*x.shape)
    np.testing.assert_array_equal(layer.backward(g), ictus.elu_backward(g, y, 0.4))
    x64 = x.astype(np.float64)
    assert_elementwise(layer(x64).astype(np.float32), elu_reference(x, 0.4).astype(np.float32), "nn.ELU float64")


@pytest.mark.cuda
def test_elu_cuda_matches_the_cpu(cp: object, randn: Callable[..., np.ndarray]) -> None:
    x = randn(3, 1000) * 4
    x[0, :3] = [np.nan, np.inf, -np.inf]
    y = ictus.elu(cp.asarray(x), 0.6)  # type: ignore[attr-defined]
    assert_elementwise(cp.asnumpy(y), elu_reference(x, 0.6), "CUDA elu")  # type: ignore[attr-defined]
    g = randn(*x.shape)
    got = cp.asnumpy(ictus.elu_backward(cp.asarray(g), y, 0.6))  # type: ignore[attr-defined]
    want = elu_grad_reference(g, x, 0.6)
    assert np.array_equal(np.isnan(got), np.isnan(want))
    atol = 4 * RTOL * 0.6 * float(np.abs(g).max())
    np.testing.assert_allclose(got[~np.isnan(got)], want[~np.isnan(want)], rtol=4 * RTOL, atol=atol)


def test_elu_in_place_and_partial_overlap_refused(isa: str, randn: Callable[..., np.ndarray]) -> None:
    x = randn(3, 40)
    want = ictus.elu(x, 0.8)
    assert ictus.elu(x, 0.8, out=x) is x
    np.testing.assert_array_equal(x, want)
    backing = randn(60)
    with pytest.raises(ValueError, match="elu: out overlaps an input"):
        ictus.elu(backing[:40], out=backing[20:])


def test_nn_elu_in_place_matches_the_copying_layer(randn: Callable[..., np.ndarray]) -> None:
    x, g = randn(2, 4, 33), randn(2, 4, 33)
    copying, in_place = ictus.nn.ELU(0.5), ictus.nn.ELU(0.5, inplace=True)
    want_y = copying(x)
    x_in = x.copy()
    got_y = in_place(x_in)
    assert got_y is x_in
    np.testing.assert_array_equal(got_y, want_y)
    np.testing.assert_array_equal(in_place.backward(g), copying.backward(g))
