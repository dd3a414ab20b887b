"""GRU cases: the ictus and torch calls that one table row times (group g).

Shapes (time-major, torch.nn.GRU's layout, float32, with biases and h0): x is (T, N, D), h0 is
(directions, N, H), per direction weight_ih (3H, D), weight_hh (3H, H), bias_ih and bias_hh (3H,);
y is (T, N, directions * H). A bi-directional row is two ictus calls, the second with reverse=True,
their outputs concatenated along the last axis as torch does. Directions:
  fwd      (y, h_n), as in inference (ictus training=False, torch under no_grad).
  fwd+bwd  forward with training=True, then ictus.gru_backward with grad_y = ones (the gradient of
           sum(y)) and no h_n gradient; the outputs are grad x and the weights' and biases'
           gradients (torch.autograd.grad on x and the parameters).
FLOPs: fwd = 2*T*N*(3H*D + 3H*H) per direction (the GEMMs; gate math not counted), fwd+bwd = 3 x fwd.
gru has no out= buffers: ictus allocates its outputs on every call, as torch does.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

import ictus

from .conv2d import kernel_names
from .harness import Case, Impl
from .workloads import GruShape

OP = "gru"
DIRECTIONS = ("fwd", "fwd+bwd")
DIRECTION_TITLES = {"fwd": "forward (inference)",
                    "fwd+bwd": "forward + backward (grad input, weights, biases)"}
# torch.nn.GRU's parameters per direction, in the order ictus.gru takes them.
_PARAM_NAMES = ("weight_ih_l0", "weight_hh_l0", "bias_ih_l0", "bias_hh_l0")

Params = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]  # weight_ih, weight_hh, bias_ih, bias_hh


def flop(shape: GruShape, direction: str) -> int:
    return shape.fwd_flop if direction == "fwd" else 3 * shape.fwd_flop


def params(shape: GruShape, rng: np.random.Generator) -> list[Params]:
    """Per direction, drawn as torch initialises them: uniform in +-1/sqrt(H)."""
    bound = 1 / np.sqrt(shape.h)

    def draw(*size: int) -> np.ndarray:
        return rng.uniform(-bound, bound, size).astype(np.float32)
    gates = 3 * shape.h
    return [(draw(gates, shape.d), draw(gates, shape.h), draw(gates), draw(gates)) for _ in range(shape.directions)]


def _ictus_impl(direction: str, x: np.ndarray, h0: np.ndarray, weights: list[Params]) -> Impl:
    if direction == "fwd":
        def run() -> Sequence[Any]:
            outs = [ictus.gru(x, h0[i], *p, reverse=i == 1) for i, p in enumerate(weights)]
            y = outs[0][0] if len(outs) == 1 else np.concatenate([o[0] for o in outs], axis=-1)
            return y, np.stack([o[1] for o in outs])
        return Impl("ictus", kernel_names(("gru_fwd",)), run)

    grad_y = np.ones((x.shape[0], x.shape[1], h0.shape[-1]), np.float32)

    def run_bwd() -> Sequence[Any]:
        grad_x, param_grads = None, []
        for i, (w_ih, w_hh, b_ih, b_hh) in enumerate(weights):
            reverse = i == 1
            *_, reserve = ictus.gru(x, h0[i], w_ih, w_hh, b_ih, b_hh, reverse=reverse, training=True)
            gx, _, *grads = ictus.gru_backward(grad_y, None, x, h0[i], w_ih, w_hh, reserve, reverse=reverse)
            grad_x = gx if grad_x is None else grad_x + gx  # both directions read the same x
            param_grads += grads
        return grad_x, *param_grads
    return Impl("ictus", kernel_names(("gru_fwd", "gru_bwd")), run_bwd)


def _torch_impl(torch: ModuleType, shape: GruShape, direction: str, x: np.ndarray, h0: np.ndarray,
                weights: list[Params]) -> Impl:
    gru = torch.nn.GRU(shape.d, shape.h, bidirectional=shape.bidirectional)
    names = [name + suffix for suffix in ("", "_reverse")[:len(weights)] for name in _PARAM_NAMES]
    with torch.no_grad():
        for name, value in zip(names, (a for p in weights for a in p), strict=True):
            getattr(gru, name).copy_(torch.from_numpy(value))
    xt, h0t = torch.from_numpy(x.copy()), torch.from_numpy(h0.copy())
    if direction == "fwd":
        def run() -> Sequence[Any]:
            with torch.no_grad():
                return tuple(gru(xt, h0t))
        return Impl("torch", "ATen", run)

    xt.requires_grad_(True)
    wrt = [xt, *(getattr(gru, name) for name in names)]
    ones = torch.ones(shape.t, shape.n, len(weights) * shape.h)

    def run_bwd() -> Sequence[Any]:
        return tuple(torch.autograd.grad(gru(xt, h0t)[0], wrt, grad_outputs=ones))
    return Impl("torch", "ATen, autograd", run_bwd)


def make_case(shape: GruShape, direction: str, torch: ModuleType | None, seed: int = 0) -> Case:
    """The row's implementations (ictus' and torch's inputs are separate copies of the same data)."""
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.t, shape.n, shape.d), dtype=np.float32)
    h0 = rng.standard_normal((shape.directions, shape.n, shape.h), dtype=np.float32)
    weights = params(shape, rng)
    impls = [_ictus_impl(direction, x, h0, weights)]
    if torch is not None:
        impls.append(_torch_impl(torch, shape, direction, x, h0, weights))
    return Case(OP, shape.group, shape.label, direction, tuple(impls), flop=flop(shape, direction),
                heavy=shape.heavy)
