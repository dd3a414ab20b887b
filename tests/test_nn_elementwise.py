"""ictus.nn's element-wise, dropout, batch-norm, shape and loss layers against torch in float64.

Each layer runs on float32 data in ictus and on the same values in float64 in torch; outputs and
the gradients of the input and of every parameter must agree to 1e-5 relative (norm-wise). Shapes
include batch 1, length 1 and primes; every bad argument must raise with a clear message.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import numpy as np
import pytest

torch = pytest.importorskip("torch")
import reference as ref
from ictus import nn
from torch.nn import functional as F

RTOL = 1e-5
SHAPES = [(1, 1, 1), (2, 3, 7), (5, 13), (3, 2, 1, 11), (17,)]


def t64(a: np.ndarray, grad: bool = False) -> torch.Tensor:
    return torch.tensor(np.asarray(a), dtype=torch.float64, requires_grad=grad)


def torch_output_and_grad(fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray, grad_out: np.ndarray
                          ) -> tuple[np.ndarray, np.ndarray]:
    xt = t64(x, grad=True)
    y = fn(xt)
    y.backward(t64(grad_out))
    return y.detach().numpy(), xt.grad.numpy()


def check_layer(layer: nn.Module, fn: Callable[[torch.Tensor], torch.Tensor], x: np.ndarray,
                rng: np.random.Generator, grad_allowance: float = 0.0) -> np.ndarray:
    """Runs layer forward and backward on x and checks both against torch; returns the output.
    grad_allowance, in units of ||grad_out||, is added to grad_x's tolerance (see assert_close)."""
    y = layer(x)
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    grad_x = layer.backward(grad_out)
    y_ref, grad_ref = torch_output_and_grad(fn, x, grad_out)
    assert y.dtype == x.dtype and grad_x.dtype == x.dtype
    ref.assert_close(y, y_ref, RTOL, "output")
    ref.assert_close(grad_x, grad_ref, RTOL, "grad_x", allowance=grad_allowance * float(np.linalg.norm(grad_out)))
    return y


# ------------------------------------------------------------------------------ activations

ACTIVATIONS = {
    "elu": (lambda: nn.ELU(), F.elu),
    "elu_0.3": (lambda: nn.ELU(0.3), lambda t: F.elu(t, 0.3)),
    "elu_0": (lambda: nn.ELU(0.0), lambda t: F.elu(t, 0.0)),
    "relu": (nn.ReLU, F.relu),
    "tanh": (nn.Tanh, torch.tanh),
    "sigmoid": (nn.Sigmoid, torch.sigmoid),
    "softmax": (nn.Softmax, lambda t: torch.softmax(t, -1)),
    "softmax_dim0": (lambda: nn.Softmax(0), lambda t: torch.softmax(t, 0)),
}


@pytest.mark.parametrize("shape", SHAPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
def test_activation_matches_torch(name: str, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    make, fn = ACTIVATIONS[name]
    x = (3 * rng.standard_normal(shape)).astype(np.float32)
    x.flat[0] = 0.0  # the kink of ELU and ReLU: torch's one-sided derivatives
    check_layer(make(), fn, x, rng)


@pytest.mark.parametrize("name", ["sigmoid", "tanh", "elu", "softmax"])
def test_activation_extreme_inputs_stay_accurate(name: str, rng: np.random.Generator) -> None:
    """|x| up to 100: no overflow, no NaN, and sigmoid's tiny values keep their relative accuracy.

    Softmax's gradient y (g - sum(g y)) cancels to a few ulps of |g| where y is nearly one-hot,
    so its gradient gets a float32 rounding allowance of 4 u ||g||, u = 2^-24.
    """
    make, fn = ACTIVATIONS[name]
    x = np.array([[-100.0, -80.0, -30.0, -1e-3, 0.0, 1e-3, 30.0, 80.0, 100.0]], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        y = check_layer(make(), fn, x, rng, grad_allowance=4 * 2.0**-24)
    y_ref = fn(t64(x)).numpy()
    tiny = (y_ref > np.finfo(np.float32).tiny) & (y_ref < 1e-6)  # float32 normal numbers only
    np.testing.assert_allclose(y[tiny], y_ref[tiny], rtol=1e-6)


def test_activation_backward_pops_in_reverse_order(rng: np.random.Generator) -> None:
    """Shared use in one pass: two forwards, then two backwards for the second and first call."""
    layer = nn.Tanh()
    a, b = rng.standard_normal((2, 4, 5)).astype(np.float32)
    layer(a)
    layer(b)
    grad = np.ones_like(a)
    np.testing.assert_allclose(layer.backward(grad), 1 - np.tanh(b) ** 2, rtol=1e-6)
    np.testing.assert_allclose(layer.backward(grad), 1 - np.tanh(a) ** 2, rtol=1e-6)


def test_activation_eval_backward_raises(rng: np.random.Generator) -> None:
    layer = nn.ELU().eval()
    x = rng.standard_normal((2, 3)).astype(np.float32)
    layer(x)
    with pytest.raises(RuntimeError, match="eval mode"):
        layer.backward(x)


def test_activation_bad_arguments() -> None:
    with pytest.raises(ValueError, match="alpha"):
        nn.ELU(-1.0)
    with pytest.raises(TypeError, match="dim"):
        nn.Softmax(1.5)
    with pytest.raises(ValueError, match="dim=2 is out of range"):
        nn.Softmax(2)(np.zeros((3, 4), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        nn.Sigmoid()(np.arange(6).reshape(2, 3))
    with pytest.raises(TypeError, match="NumPy or CuPy array"):
        nn.ReLU()([1.0, 2.0])


# ------------------------------------------------------------------------------ dropout

@pytest.mark.parametrize("p", [0.1, 0.5, 0.8])
def test_dropout_statistics(p: float) -> None:
    nn.manual_seed(11)
    x = np.ones((200, 500), dtype=np.float32)
    y = nn.Dropout(p)(x)
    kept = y != 0
    n = x.size
    # fraction dropped ~ Binomial(n, p) / n; 5 standard deviations
    assert abs((1 - kept.mean()) - p) < 5 * np.sqrt(p * (1 - p) / n)
    np.testing.assert_allclose(y[kept], 1 / (1 - p), rtol=1e-6)
    assert abs(y.mean() - 1) < 5 * np.sqrt(p / (1 - p) / n)


def test_spatial_dropout_drops_whole_channels() -> None:
    nn.manual_seed(5)
    p = 0.4
    x = np.random.default_rng(0).uniform(1, 2, (64, 50, 9)).astype(np.float32)
    y = nn.SpatialDropout1d(p)(x)
    dropped = (y == 0).all(axis=2)
    kept = (y != 0).all(axis=2)
    assert (dropped | kept).all(), "a channel was dropped in some frames only"
    np.testing.assert_allclose(y[kept], x[kept] / (1 - p), rtol=1e-6)
    assert abs(dropped.mean() - p) < 5 * np.sqrt(p * (1 - p) / dropped.size)


@pytest.mark.parametrize("layer_type", [nn.Dropout, nn.SpatialDropout1d])
def test_dropout_backward_uses_the_forward_mask(layer_type: type, rng: np.random.Generator) -> None:
    layer = layer_type(0.5)
    x = rng.uniform(1, 2, (3, 7, 11)).astype(np.float32)
    y = layer(x)
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    # y = x * mask, so the gradient is grad_out * mask = grad_out * y / x
    np.testing.assert_allclose(layer.backward(grad_out), grad_out * (y / x), rtol=1e-6)


@pytest.mark.parametrize("layer_type", [nn.Dropout, nn.SpatialDropout1d])
def test_dropout_reproducible_after_manual_seed(layer_type: type, rng: np.random.Generator) -> None:
    x = rng.uniform(1, 2, (4, 6, 5)).astype(np.float32)
    layer = layer_type(0.5)
    nn.manual_seed(123)
    first = layer(x)
    second = layer(x)
    nn.manual_seed(123)
    np.testing.assert_array_equal(layer(x), first)
    assert not np.array_equal(first, second), "two draws in a row gave the same mask"
    state = nn.get_rng_state()
    third = layer(x)
    nn.set_rng_state(state)
    np.testing.assert_array_equal(layer(x), third)


@pytest.mark.parametrize("layer_type", [nn.Dropout, nn.SpatialDropout1d])
def test_dropout_identity_in_eval_and_for_p0(layer_type: type, rng: np.random.Generator) -> None:
    x = rng.standard_normal((2, 3, 4)).astype(np.float32)
    assert layer_type(0.7).eval()(x) is x
    layer = layer_type(0.0)
    assert layer(x) is x
    assert layer.backward(x) is x


def test_dropout_bad_arguments() -> None:
    for p in (1.0, -0.1, 1.5, True, "0.5", None):
        with pytest.raises(ValueError, match=r"p must be a probability in \[0, 1\)"):
            nn.Dropout(p)
    with pytest.raises(ValueError, match="p must"):
        nn.SpatialDropout1d(1.0)
    for layer in (nn.SpatialDropout1d(0.5), nn.SpatialDropout1d(0.5).eval()):
        with pytest.raises(ValueError, match=r"SpatialDropout1d: x must have shape \(N, C, T\), got \(3, 7\)"):
            layer(np.zeros((3, 7), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        nn.Dropout(0.5)(np.ones((3, 3), dtype=np.int32))


# ------------------------------------------------------------------------------ batch norm

BN_CASES = [
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (7, 5)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (2, 5, 13)),
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (1, 3, 17)),    # batch 1
    (nn.BatchNorm1d, torch.nn.BatchNorm1d, (11, 2, 1)),    # length 1
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (2, 3, 5, 7)),
    (nn.BatchNorm2d, torch.nn.BatchNorm2d, (1, 2, 3, 1)),
]
BN_OPTIONS = [
    {},
    {"momentum": None},
    {"affine": False},
    {"track_running_stats": False},
    {"momentum": 0.3, "eps": 1e-3, "affine": False, "track_running_stats": False},
]


def bn_pair(ours_type: type, torch_type: type, channels: int, options: dict[str, Any], rng: np.random.Generator
            ) -> tuple[nn.Module, torch.nn.Module]:
    ours = ours_type(channels, **options)
    twin = torch_type(channels, **options).double()
    if ours.affine:
        with torch.no_grad():
            twin.weight.copy_(t64(rng.uniform(0.5, 2, channels).astype(np.float32)))
            twin.bias.copy_(t64(rng.standard_normal(channels).astype(np.float32)))
    ours.load_state_dict({k: v.numpy() for k, v in twin.state_dict().items()})
    return ours, twin


def check_bn_step(ours: nn.Module, twin: torch.nn.Module, x: np.ndarray, rng: np.random.Generator) -> None:
    """One forward and backward of both; outputs, every gradient and every buffer must agree."""
    for p in ours.parameters():
        p.grad = None
    twin.zero_grad()
    check_layer(ours, twin, x, rng)
    for name, p in ours.named_parameters():
        ref.assert_close(p.grad, dict(twin.named_parameters())[name].grad.numpy(), RTOL, f"grad of {name}")
    twin_state = twin.state_dict()
    assert list(ours.state_dict()) == list(twin_state)
    for name, value in ours.state_dict().items():
        if name == "num_batches_tracked":
            assert value.dtype == np.int64 and int(value) == int(twin_state[name])
        else:
            ref.assert_close(value, twin_state[name].numpy(), RTOL, name)


@pytest.mark.parametrize("options", BN_OPTIONS, ids=lambda o: ",".join(f"{k}={v}" for k, v in o.items()) or "default")
@pytest.mark.parametrize("ours_type, torch_type, shape", BN_CASES, ids=lambda c: str(c))
def test_batch_norm_matches_torch(ours_type: type, torch_type: type, shape: tuple[int, ...],
                                  options: dict[str, Any], rng: np.random.Generator) -> None:
    ours, twin = bn_pair(ours_type, torch_type, shape[1], options, rng)
    for step in range(3):  # the running statistics move with every training step
        x = (rng.standard_normal(shape) * (step + 1) + 2 * step).astype(np.float32)
        check_bn_step(ours, twin, x, rng)
    ours.eval()
    twin.eval()
    check_bn_step(ours, twin, (rng.standard_normal(shape) * 2 + 1).astype(np.float32), rng)


def test_batch_norm_far_from_zero_keeps_float32_accuracy(rng: np.random.Generator) -> None:
    """Data 1000 +- 1: a float32 mean alone would put a 3e-5 error on every deviation."""
    ours, twin = bn_pair(nn.BatchNorm1d, torch.nn.BatchNorm1d, 6, {}, rng)
    check_bn_step(ours, twin, (1000 + rng.standard_normal((8, 6, 101))).astype(np.float32), rng)


def test_batch_norm_frozen_in_eval_still_backpropagates(rng: np.random.Generator) -> None:
    """model.train(); bn.eval(): running statistics used and unchanged, gradients flow; one slot only."""
    ours, twin = bn_pair(nn.BatchNorm2d, torch.nn.BatchNorm2d, 3, {}, rng)
    x = rng.standard_normal((4, 3, 5, 5)).astype(np.float32)
    ours(x)
    twin(t64(x))
    ours.eval()
    twin.eval()
    before = ours.running_mean.copy()
    check_bn_step(ours, twin, x, rng)
    np.testing.assert_array_equal(ours.running_mean, before)
    with pytest.raises(RuntimeError, match="no forward pass"):
        ours.backward(x)


def test_batch_norm_bad_input() -> None:
    with pytest.raises(ValueError, match=r"BatchNorm1d: x must have shape \(N, 20\) or \(N, 20, L\), got \(3, 7\)"):
        nn.BatchNorm1d(20)(np.zeros((3, 7), dtype=np.float32))
    with pytest.raises(ValueError, match=r"BatchNorm2d: x must have shape \(N, 4, H, W\), got \(2, 4, 5\)"):
        nn.BatchNorm2d(4)(np.zeros((2, 4, 5), dtype=np.float32))
    with pytest.raises(ValueError, match="more than 1 value per channel"):
        nn.BatchNorm1d(5)(np.ones((1, 5), dtype=np.float32))
    with pytest.raises(TypeError, match="floating-point"):
        nn.BatchNorm1d(2)(np.ones((3, 2), dtype=np.int64))
    bad = [{"num_features": 0}, {"num_features": 2.0}, {"num_features": 2, "eps": 0},
           {"num_features": 2, "momentum": 1.5}, {"num_features": 2, "momentum": True}]
    for kwargs in bad:
        with pytest.raises(ValueError, match="BatchNorm1d: (num_features|eps|momentum) must"):
            nn.BatchNorm1d(**kwargs)
    with pytest.raises(TypeError, match="affine must be True or False"):
        nn.BatchNorm1d(2, affine=1)
    with pytest.raises(RuntimeError, match="no forward pass"):
        nn.BatchNorm1d(2).backward(np.ones((3, 2), dtype=np.float32))


# ------------------------------------------------------------------------------ shape layers

SHAPE_CASES = [
    (lambda: nn.Flatten(), torch.nn.Flatten(), (3, 4, 5)),
    (lambda: nn.Flatten(), torch.nn.Flatten(), (1, 1)),
    (lambda: nn.Flatten(0, 1), torch.nn.Flatten(0, 1), (2, 3, 7)),
    (lambda: nn.Flatten(-3, -2), torch.nn.Flatten(-3, -2), (2, 3, 5, 7)),
    (lambda: nn.Permute(0, 2, 1), lambda t: t.permute(0, 2, 1), (2, 3, 7)),
    (lambda: nn.Permute(3, 1, 0, 2), lambda t: t.permute(3, 1, 0, 2), (2, 3, 1, 5)),
    (lambda: nn.Reshape(16, -1), lambda t: t.reshape(t.shape[0], 16, -1), (3, 16, 8, 1)),
    (lambda: nn.Reshape(-1), lambda t: t.reshape(t.shape[0], -1), (1, 3, 5)),
    (lambda: nn.Reshape(5, 1, 3), lambda t: t.reshape(t.shape[0], 5, 1, 3), (2, 15)),
    (lambda: nn.Pad((2, 3)), lambda t: F.pad(t, (2, 3)), (2, 3, 7)),
    (lambda: nn.Pad((0, 1, 2, 0), value=-1.5), lambda t: F.pad(t, (0, 1, 2, 0), value=-1.5), (2, 3, 5, 7)),
    (lambda: nn.Pad((1, 1, 0, 0, 2, 1)), lambda t: F.pad(t, (1, 1, 0, 0, 2, 1)), (2, 3, 5, 7)),
    (lambda: nn.Pad((3, 2), "edge"), lambda t: F.pad(t, (3, 2), mode="replicate"), (2, 3, 7)),
    (lambda: nn.Pad((4, 4), "edge"), lambda t: F.pad(t, (4, 4), mode="replicate"), (1, 2, 1)),
    (lambda: nn.Pad((1, 2, 3, 0), "edge"), lambda t: F.pad(t, (1, 2, 3, 0), mode="replicate"), (2, 3, 5, 7)),
    (lambda: nn.Pad((0, 2, 1, 1), "edge"), lambda t: F.pad(t, (0, 2, 1, 1), mode="replicate"), (1, 1, 1, 1)),
]


@pytest.mark.parametrize("make, fn, shape", SHAPE_CASES, ids=lambda c: str(c) if isinstance(c, tuple) else "")
def test_shape_layer_matches_torch(make: Callable[[], nn.Module], fn: Callable[[torch.Tensor], torch.Tensor],
                                   shape: tuple[int, ...], rng: np.random.Generator) -> None:
    y = check_layer(make(), fn, rng.standard_normal(shape).astype(np.float32), rng)
    assert y.flags.c_contiguous


def test_pad_backward_leaves_grad_out_alone(rng: np.random.Generator) -> None:
    layer = nn.Pad((2, 2, 1, 1), "edge")
    y = layer(rng.standard_normal((2, 3, 4, 5)).astype(np.float32))
    grad_out = rng.standard_normal(y.shape).astype(np.float32)
    kept = grad_out.copy()
    layer.backward(grad_out)
    np.testing.assert_array_equal(grad_out, kept)


def test_shape_layers_bad_arguments() -> None:
    x = np.zeros((2, 3, 4), dtype=np.float32)
    with pytest.raises(ValueError, match="Flatten: start_dim=2, end_dim=1"):
        nn.Flatten(2, 1)(x)
    with pytest.raises(ValueError, match="Flatten: start_dim=3"):
        nn.Flatten(3)(x)
    with pytest.raises(TypeError, match="Flatten: start_dim and end_dim must be ints"):
        nn.Flatten(1.0)
    with pytest.raises(ValueError, match="Permute: dims must be a permutation"):
        nn.Permute(0, 2, 2)
    with pytest.raises(ValueError, match="Permute: x must have 4 axes"):
        nn.Permute(0, 1, 3, 2)(x)
    with pytest.raises(ValueError, match="at most one -1"):
        nn.Reshape(-1, -1)
    with pytest.raises(ValueError, match="Reshape: shape must be positive"):
        nn.Reshape(0, 3)
    with pytest.raises(ValueError, match=r"Reshape: cannot reshape x of shape \(2, 3, 4\) to \(N, 5, -1\)"):
        nn.Reshape(5, -1)(x)
    with pytest.raises(ValueError, match="values per batch item do not fit"):
        nn.Reshape(3, 3)(x)
    with pytest.raises(ValueError, match="Pad: padding must be a tuple"):
        nn.Pad((1, 2, 3))
    with pytest.raises(ValueError, match="Pad: padding must be >= 0"):
        nn.Pad((1, -1))
    with pytest.raises(ValueError, match="Pad: mode must be one of"):
        nn.Pad((1, 1), "reflect")
    with pytest.raises(ValueError, match="value is only used with mode='constant'"):
        nn.Pad((1, 1), "edge", value=2.0)
    with pytest.raises(ValueError, match="pads 4 axes"):
        nn.Pad((1, 1) * 4)(x)
    with pytest.raises(ValueError, match="non-empty"):
        nn.Pad((1, 1), "edge")(np.zeros((2, 0), dtype=np.float32))


# ------------------------------------------------------------------------------ losses

REDUCTIONS = ["mean", "sum", "none"]


def probabilities(rng: np.random.Generator, shape: tuple[int, ...]) -> np.ndarray:
    return rng.uniform(0.02, 0.98, shape).astype(np.float32)


def torch_reduce(elementwise: torch.Tensor, reduction: str, mask: np.ndarray | None) -> torch.Tensor:
    """torch's reduction of a reduction="none" loss, with the mask the way ictus defines it."""
    if mask is not None:
        weights = torch.broadcast_to(t64(mask), elementwise.shape)
        elementwise = elementwise * weights
    if reduction == "none":
        return elementwise
    if reduction == "sum":
        return elementwise.sum()
    return elementwise.sum() / (weights.sum() if mask is not None else elementwise.numel())


def check_loss(loss: nn.Module, torch_loss: Callable[[torch.Tensor], torch.Tensor], pred: np.ndarray,
               target: Any, mask: np.ndarray | None, rng: np.random.Generator) -> None:
    """value and gradient against torch_loss (pred -> per-element loss), for loss.reduction."""
    value = loss(pred, target, mask=mask)
    pred_t = t64(pred, grad=True)
    value_ref = torch_reduce(torch_loss(pred_t), loss.reduction, mask)
    if loss.reduction == "none":
        assert isinstance(value, np.ndarray) and value.dtype == pred.dtype
        grad_out = rng.standard_normal(value.shape).astype(np.float32)
        grad = loss.backward(grad_out)
        value_ref.backward(t64(grad_out))
    else:
        assert isinstance(value, float)
        grad = loss.backward()
        value_ref.backward()
    ref.assert_close(value, value_ref.detach().numpy(), 1e-12 if loss.reduction != "none" else 1e-7, "loss")
    assert grad.dtype == np.float32 and grad.shape == pred.shape
    ref.assert_close(grad, pred_t.grad.numpy(), RTOL, "grad_pred")


def masks_for(shape: tuple[int, ...], rng: np.random.Generator) -> list[np.ndarray | None]:
    """No mask, a 0/1 mask of the full shape (not all 0: torch's reference would be 0/0), weights
    broadcast along the first axis."""
    binary = (rng.uniform(size=shape) > 0.3).astype(np.float32)
    binary.flat[0] = 1
    return [None, binary, rng.uniform(0, 2, shape[1:]).astype(np.float32)]


LOSS_SHAPES = [(1, 1), (4, 1, 13), (3, 5, 7)]


@pytest.mark.parametrize("shape", LOSS_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_and_mse_match_torch(reduction: str, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    pred = probabilities(rng, shape)
    soft_target = rng.uniform(0, 1, shape).astype(np.float32)
    hard_target = (rng.uniform(size=shape) > 0.5).astype(np.float32)
    for mask in masks_for(shape, rng):
        for target in (soft_target, hard_target):
            check_loss(nn.BCELoss(reduction), lambda p, t=target: F.binary_cross_entropy(p, t64(t), reduction="none"),
                       pred, target, mask, rng)
        check_loss(nn.MSELoss(reduction), lambda p: F.mse_loss(p, t64(soft_target), reduction="none"),
                   pred, soft_target, mask, rng)


@pytest.mark.parametrize("shape", LOSS_SHAPES)
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_bce_with_logits_matches_torch(reduction: str, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    logits = (rng.standard_normal(shape) * 5).astype(np.float32)
    logits.flat[0] = 60.0  # saturated
    target = rng.uniform(0, 1, shape).astype(np.float32)
    pos_weights = [None, rng.uniform(0.5, 4, shape[-1]).astype(np.float32)]
    for mask in masks_for(shape, rng):
        for pos_weight in pos_weights:
            weight_t = None if pos_weight is None else t64(pos_weight)
            check_loss(nn.BCEWithLogitsLoss(pos_weight, reduction),
                       lambda p, w=weight_t: F.binary_cross_entropy_with_logits(p, t64(target), pos_weight=w,
                                                                             reduction="none"),
                       logits, target, mask, rng)


@pytest.mark.parametrize("shape", [(1, 2), (6, 5), (2, 3, 11), (2, 4, 3, 1)])
@pytest.mark.parametrize("reduction", REDUCTIONS)
def test_cross_entropy_matches_torch(reduction: str, shape: tuple[int, ...], rng: np.random.Generator) -> None:
    # exp(800) overflows even float64: the maximum must be subtracted first
    logits = (rng.standard_normal(shape) * 4 + 800).astype(np.float32)
    index_shape = (shape[0], *shape[2:])
    indices = rng.integers(0, shape[1], index_shape)
    soft = rng.uniform(0, 1, shape)
    soft = (soft / soft.sum(axis=1, keepdims=True)).astype(np.float32)
    for mask in masks_for(index_shape, rng):
        check_loss(nn.CrossEntropyLoss(reduction),
                   lambda p: F.cross_entropy(p, torch.from_numpy(indices), reduction="none"),
                   logits, indices, mask, rng)
        check_loss(nn.CrossEntropyLoss(reduction), lambda p: F.cross_entropy(p, t64(soft), reduction="none"),
                   logits, soft, mask, rng)


def test_bce_clamps_logs_at_probability_0_and_1(rng: np.random.Generator) -> None:
    pred = np.array([0.0, 1.0, 0.0, 1.0, 0.5], dtype=np.float32)
    target = np.array([1.0, 0.0, 0.0, 1.0, 1.0], dtype=np.float32)
    with np.errstate(over="raise", invalid="raise", divide="raise"):
        check_loss(nn.BCELoss("sum"), lambda p: F.binary_cross_entropy(p, t64(target), reduction="none"),
                   pred, target, None, rng)


@pytest.mark.parametrize("loss_type", [nn.BCELoss, nn.MSELoss, nn.BCEWithLogitsLoss])
def test_loss_all_masked_is_zero_not_nan(loss_type: type) -> None:
    loss = loss_type()
    pred = np.full((2, 3), 0.5, dtype=np.float32)
    assert loss(pred, np.ones_like(pred), mask=np.zeros((2, 3), dtype=np.float32)) == 0.0
    np.testing.assert_array_equal(loss.backward(), np.zeros_like(pred))


def test_loss_scales_gradient_by_grad_out(rng: np.random.Generator) -> None:
    loss = nn.MSELoss()
    pred, target = rng.standard_normal((2, 3, 4)).astype(np.float32)
    loss(pred, target)
    np.testing.assert_allclose(loss.backward(3.0), 3.0 * 2 * (pred - target) / pred.size, rtol=1e-6)


def test_loss_bad_input() -> None:
    pred = np.full((2, 3), 0.5, dtype=np.float32)
    with pytest.raises(ValueError, match="reduction must be one of"):
        nn.MSELoss("average")
    with pytest.raises(ValueError, match=r"BCELoss: target must have pred's shape \(2, 3\), got \(3, 2\)"):
        nn.BCELoss()(pred, np.ones((3, 2), dtype=np.float32))
    with pytest.raises(ValueError, match=r"pred must hold probabilities in \[0, 1\]"):
        nn.BCELoss()(pred + 1, np.ones_like(pred))
    with pytest.raises(TypeError, match="pred must be a floating-point array"):
        nn.MSELoss()(np.ones((2, 3), dtype=np.int32), pred)
    with pytest.raises(ValueError, match=r"mask of shape \(3, 3\) does not broadcast to pred's shape \(2, 3\)"):
        nn.MSELoss()(pred, pred, mask=np.ones((3, 3), dtype=np.float32))
    with pytest.raises(ValueError, match="pos_weight of shape"):
        nn.BCEWithLogitsLoss(np.ones(4, dtype=np.float32))(pred, pred)
    with pytest.raises(TypeError, match="pos_weight must be a numeric array"):
        nn.BCEWithLogitsLoss(np.array(["a"]))
    with pytest.raises(RuntimeError, match="call the loss first"):
        nn.MSELoss().backward()
    cross_entropy = nn.CrossEntropyLoss()
    with pytest.raises(ValueError, match=r"class indices must be in \[0, 3\)"):
        cross_entropy(pred, np.array([0, 3]))
    with pytest.raises(ValueError, match=r"target must be class indices \(an int array of shape \(2,\)\)"):
        cross_entropy(pred, np.array([[0], [1]]))
    with pytest.raises(ValueError, match="target must be class indices"):
        cross_entropy(pred, np.array([0.0, 1.0], dtype=np.float32))
    with pytest.raises(ValueError, match=r"pred must have shape \(N, C\)"):
        cross_entropy(np.zeros(3, dtype=np.float32), np.array([0]))
    with pytest.raises(ValueError, match=r"does not broadcast to the loss shape \(N, d1, ...\) = \(2,\)"):
        cross_entropy(pred, np.array([0, 2]), mask=np.ones((2, 3), dtype=np.float32))
