"""NaN and infinity propagate as in torch, for every op, forward and backward, on every CPU variant.

Inputs hold a few NaN, +inf and -inf among normal values; the outputs and gradients must be NaN, +inf
and -inf at exactly the places where torch's (float64, autograd) are. Which places those are does not
depend on the order of the sums (inf + finite = inf, inf - inf = NaN, 0 * inf = NaN in any order), so
SIMD variants must match too. Max-pooling must also return torch's indices: a NaN wins its window.
Denormal timings are measured by benchmarks/denormals.py, not asserted here.
"""
from __future__ import annotations

from collections.abc import Callable

import ictus
import numpy as np
import pytest

torch = pytest.importorskip("torch")


def poison(x: np.ndarray, rng: np.random.Generator, count: int = 3,
           values: tuple[float, ...] = (np.nan, np.inf, -np.inf)) -> np.ndarray:
    """x with `count` of each of `values` at random places (a copy)."""
    x = x.copy()
    flat = x.reshape(-1)
    places = rng.choice(flat.size, size=len(values) * count, replace=False)
    for i, value in enumerate(values):
        flat[places[i * count:(i + 1) * count]] = value
    return x


def assert_same_nonfinite(got: np.ndarray | None, want: torch.Tensor, what: str) -> None:
    assert got is not None, f"{what}: missing"
    want = want.detach().numpy()
    assert got.shape == want.shape, f"{what}: shape {got.shape}, torch {want.shape}"
    for name, test in (("NaN", np.isnan), ("+inf", np.isposinf), ("-inf", np.isneginf)):
        differ = np.argwhere(test(got) != test(want))
        assert differ.size == 0, (f"{what}: {name} at {differ.shape[0]} places where torch differs, first at "
                                  f"{differ[0].tolist()}: ictus {got[tuple(differ[0])]}, torch {want[tuple(differ[0])]}")
    finite = np.isfinite(want)
    assert np.any(~finite), f"{what}: no non-finite values reached the result (the test checks nothing)"


def t64(a: np.ndarray, grad: bool = True) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64, requires_grad=grad)


@pytest.mark.parametrize("dims", [1, 2])
def test_conv(dims: int, isa: str, randn: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    shape, k = ((2, 5, 41), (3,)) if dims == 1 else ((2, 5, 13, 11), (3, 3))
    x, w, b = poison(randn(*shape), rng), randn(7, 5, *k), randn(7)
    conv, backward = (ictus.conv1d, ictus.conv1d_backward) if dims == 1 else (ictus.conv2d, ictus.conv2d_backward)
    torch_conv = torch.nn.functional.conv1d if dims == 1 else torch.nn.functional.conv2d
    xt, wt, bt = t64(x), t64(w), t64(b)
    # No padding: torch's im2col multiplies padding zeros by grad_y, so an infinite grad_y gives NaN
    # weight gradients that depend on the algorithm, not on the math (ictus skips padded taps).
    yt = torch_conv(xt, wt, bt, dilation=2)
    y = conv(x, w, b, dilation=2)
    assert_same_nonfinite(y, yt, "y")
    gy = poison(randn(*y.shape), rng, count=1)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    grads = backward(gy, x, w, dilation=2)
    for name, got, want in zip(("grad_x", "grad_weight", "grad_bias"), grads, (xt.grad, wt.grad, bt.grad)):
        assert_same_nonfinite(got, want, name)


@pytest.mark.parametrize("dims", [1, 2])
@pytest.mark.parametrize("kernel,stride", [(3, 1), (2, 2), (4, 3)])
def test_max_pool(dims: int, kernel: int, stride: int, isa: str, randn: Callable[..., np.ndarray],
                  rng: np.random.Generator) -> None:
    """A NaN wins its window (torch's rule), +inf wins over numbers, -inf loses to them."""
    x = poison(randn(*((2, 3, 37) if dims == 1 else (2, 3, 11, 9))), rng, count=4)
    pool, backward = (ictus.max_pool1d, ictus.max_pool1d_backward) if dims == 1 else (
        ictus.max_pool2d, ictus.max_pool2d_backward)
    torch_pool = torch.nn.functional.max_pool1d if dims == 1 else torch.nn.functional.max_pool2d
    xt = t64(x)
    yt, it = torch_pool(xt, kernel, stride, padding=1, return_indices=True)
    y, indices = pool(x, kernel, stride, padding=1, return_indices=True)
    assert_same_nonfinite(y, yt, "y")
    assert np.array_equal(indices, it.numpy()), f"indices differ at {np.argwhere(indices != it.numpy())[0].tolist()}"
    gy = poison(randn(*y.shape), rng, count=1)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    assert_same_nonfinite(backward(gy, indices, x.shape), xt.grad, "grad_x")


def test_elu(isa: str, randn: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    x = poison(randn(3, 67), rng)
    xt = t64(x)
    yt = torch.nn.functional.elu(xt, alpha=0.7)
    y = ictus.elu(x, 0.7)
    assert_same_nonfinite(y, yt, "y")
    np.testing.assert_array_equal(y[np.isinf(x)], np.where(x[np.isinf(x)] > 0, np.inf, np.float32(-0.7)))
    gy = poison(randn(3, 67), rng, count=1)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    # At a NaN input torch's own gradient depends on its code path (grad_y from float32 kernels and
    # scalar tails, NaN from float64 vector lanes); ictus' rule is NaN, as its docstring says.
    want = xt.grad.masked_fill(torch.tensor(np.isnan(x)), float("nan"))
    assert_same_nonfinite(ictus.elu_backward(gy, y, 0.7), want, "grad_x")


@pytest.mark.parametrize("where,values", [
    ("x", (np.nan, np.inf, -np.inf)), ("weight_hh", (np.nan,)), ("h0", (np.nan,))])
def test_gru(where: str, values: tuple[float, ...], isa: str, randn: Callable[..., np.ndarray], rng: np.random.Generator) -> None:
    """A NaN reaches every later step of its sequence (and, through weight_hh, every sequence); an
    infinite input saturates the gates (sigmoid, tanh of +-inf are finite) unless it meets a zero.
    An infinite h0 or weight_hh: see test_gru_infinite_h0."""
    t_len, batch, d, h = 9, 3, 5, 7
    args = {"x": randn(t_len, batch, d), "h0": randn(batch, h), "weight_ih": randn(3 * h, d) * 0.5,
            "weight_hh": randn(3 * h, h) * 0.5, "bias_ih": randn(3 * h), "bias_hh": randn(3 * h)}
    args[where] = poison(args[where], rng, 1, values)
    net = torch.nn.GRU(d, h, dtype=torch.float64)
    with torch.no_grad():
        for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh"):
            getattr(net, f"{name}_l0").copy_(torch.tensor(args[name]))
    xt, h0t = t64(args["x"]), t64(args["h0"][None])
    yt, hnt = net(xt, h0t)
    y, h_n, reserve = ictus.gru(*args.values(), training=True)
    assert_same_nonfinite(y, yt, "y")
    assert_same_nonfinite(h_n, hnt[0], "h_n")
    gy = randn(t_len, batch, h)
    yt.backward(torch.tensor(gy, dtype=torch.float64))
    grads = ictus.gru_backward(gy, None, args["x"], args["h0"], args["weight_ih"], args["weight_hh"], reserve)
    wants = (xt.grad, h0t.grad[0], net.weight_ih_l0.grad, net.weight_hh_l0.grad, net.bias_ih_l0.grad,
             net.bias_hh_l0.grad)
    for name, got, want in zip(("grad_x", "grad_h0", "grad_weight_ih", "grad_weight_hh", "grad_bias_ih",
                                "grad_bias_hh"), grads, wants):
        assert_same_nonfinite(got, want, name)


@pytest.mark.parametrize("value", [np.inf, -np.inf])
def test_gru_infinite_h0(value: float, isa: str, rng: np.random.Generator) -> None:
    """One infinite unit of h0 makes W_hh h infinite: torch's reset gates, all driven to -inf here,
    are exactly 0, and every output is NaN (0 * inf in r * (W_hn h))."""
    d, h = 2, 3
    x, h0 = rng.standard_normal((3, 1, d)), rng.standard_normal((1, h))
    h0[0, 1] = value
    weights = [rng.standard_normal(s) for s in ((3 * h, d), (3 * h, h), (3 * h,), (3 * h,))]
    weights[1][:h, 1] = -np.sign(value) * np.abs(weights[1][:h, 1])  # every reset gate sees -inf
    net = torch.nn.GRU(d, h, dtype=torch.float64)
    with torch.no_grad():
        for name, w in zip(("weight_ih", "weight_hh", "bias_ih", "bias_hh"), weights):
            getattr(net, f"{name}_l0").copy_(torch.tensor(w))
    yt, _ = net(torch.tensor(x), torch.tensor(h0[None]))
    y, _ = ictus.gru(*(a.astype(np.float32) for a in (x, h0, *weights)))
    assert_same_nonfinite(y, yt, "y")
