"""The beat tracker's CNN front end as one row (group d): conv, pool, conv, pool, conv in sequence.

x is (N, 1, T+2, 81); the layers are workloads.FrontEndShape.layers() (conv 1->16 3x3, max-pool
(1,3), conv 16->16 3x3, max-pool (1,3), conv 16->16 1x8, padding 'valid', no activations: the
chain of shared/cpu-baseline.md). Directions:
  fwd      the five ops in sequence; ictus into buffers allocated once, pools without indices.
  fwd+bwd  forward with the pools' indices (int32, as ictus.nn keeps them), then the gradients of
           sum(y) back through all five in reverse (grad_y = ones), the first conv without an input
           gradient; the outputs are the weights' and biases' gradients. torch: autograd,
           torch.autograd.grad on the weights and biases (the input needs no gradient).
FLOPs are the convolutions' (3 x fwd each in fwd+bwd, 2 x fwd for the first); pools not counted.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

import ictus

from . import conv2d
from .harness import MISMATCH_TOL, Case, Impl
from .optional_torch import conv_backend
from .workloads import Conv2dShape, FrontEndShape, PoolShape

OP = "front end"
DIRECTIONS = ("fwd", "fwd+bwd")
DIRECTION_TITLES = {"fwd": "forward",
                    "fwd+bwd": "forward + backward (weights' and biases' gradients)"}
# torch sums the bias gradients in plain fp32: against float64, its grad b2 (a sum over
# N * 2998 * 24 pooled positions) is off by 7e-4 (relative to its largest entry) at N=8, ictus'
# by 5e-8; the default 1e-3 would flag torch's rounding as an ictus mismatch.
BWD_TOLERANCE = 5e-3


def flop(shape: FrontEndShape, direction: str) -> int:
    return shape.fwd_flop if direction == "fwd" else shape.fwd_bwd_flop


def _pair(kernel: tuple[int, ...]) -> tuple[int, int]:
    kh, kw = kernel
    return kh, kw


def _ictus_kernels(shape: FrontEndShape, direction: str) -> str:
    """The kernels the chain runs, each once, in layer order (a conv may run Winograd)."""
    ops: list[str] = []
    layers = shape.layers()
    for i, layer in enumerate(layers):
        if isinstance(layer, Conv2dShape):
            pooled = i + 1 < len(layers) and isinstance(layers[i + 1], PoolShape)
            ops.extend(conv2d.kernel_ops(layer, direction, pooled_grad=pooled))
        else:
            ops.extend(("max_pool2d_fwd",) if direction == "fwd" else ("max_pool2d_fwd", "max_pool2d_bwd"))
    return conv2d.kernel_names(ops)


class _IctusChain:
    """ictus' front end on preallocated buffers: acts[i] is layer i's input, acts[-1] the output."""

    def __init__(self, layers: Sequence[Conv2dShape | PoolShape], x: np.ndarray,
                 params: Sequence[tuple[np.ndarray, np.ndarray]], with_grads: bool) -> None:
        self.layers = layers
        self.params = list(params)
        self.acts = [x]
        self.indices: list[np.ndarray | None] = []
        for layer in layers:
            if isinstance(layer, Conv2dShape):
                self.acts.append(np.empty((layer.n, layer.c_out, *layer.out_hw), np.float32))
                self.indices.append(None)
            else:
                self.acts.append(np.empty(layer.y_shape, np.float32))
                self.indices.append(np.empty(layer.y_shape, np.int32) if with_grads else None)
        if with_grads:
            # grads[i]: the gradient of acts[i] (grads[0], the input's, stays unused: the first
            # conv has no input gradient); param_grads: (grad w, grad b) per conv.
            self.grads = [np.empty_like(a) for a in self.acts]
            self.grads[-1].fill(1.0)
            self.param_grads = [(np.empty_like(w), np.empty_like(b)) for w, b in self.params]

    def forward(self) -> np.ndarray:
        params = iter(self.params)
        for i, layer in enumerate(self.layers):
            src, dst, idx = self.acts[i], self.acts[i + 1], self.indices[i]
            if isinstance(layer, Conv2dShape):
                w, b = next(params)
                ictus.conv2d(src, w, b, out=dst)
            elif idx is None:
                ictus.max_pool2d(src, _pair(layer.kernel), out=dst)
            else:
                ictus.max_pool2d(src, _pair(layer.kernel), return_indices=True, out=(dst, idx))
        return self.acts[-1]

    def backward(self) -> list[np.ndarray]:
        conv_i = len(self.params)
        for i in reversed(range(len(self.layers))):
            layer, grad_out = self.layers[i], self.grads[i + 1]
            if isinstance(layer, Conv2dShape):
                conv_i -= 1
                gw, gb = self.param_grads[conv_i]
                grad_in = self.grads[i] if layer.input_grad else None
                ictus.conv2d_backward(grad_out, self.acts[i], self.params[conv_i][0], bias=True,
                                      input_grad=layer.input_grad, out=(grad_in, gw, gb))
            else:
                ictus.max_pool2d_backward(grad_out, self.indices[i], self.acts[i].shape,
                                          kernel_size=_pair(layer.kernel), out=self.grads[i])
        return [g for pair in self.param_grads for g in pair]


def _torch_impl(torch: ModuleType, shape: FrontEndShape, direction: str, x: np.ndarray,
                params: Sequence[tuple[np.ndarray, np.ndarray]]) -> Impl:
    F = torch.nn.functional
    need_grad = direction == "fwd+bwd"
    xt = torch.from_numpy(x.copy())
    tparams = [tuple(torch.from_numpy(a.copy()).requires_grad_(need_grad) for a in pair) for pair in params]
    layers = shape.layers()
    kernel = conv_backend(torch, xt, tparams[0][0], stride=[1, 1], padding=[0, 0], dilation=[1, 1]) + " + ATen"

    def forward() -> Any:
        y, it = xt, iter(tparams)
        for layer in layers:
            if isinstance(layer, Conv2dShape):
                w, b = next(it)
                y = F.conv2d(y, w, b)
            else:
                y = F.max_pool2d(y, layer.kernel)
        return y

    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (forward(),)
        return Impl("torch", kernel, run)

    wrt = [t for pair in tparams for t in pair]
    last = shape.convs()[-1]
    ones = torch.ones(last.n, last.c_out, *last.out_hw)

    def run_bwd() -> Sequence[Any]:
        return tuple(torch.autograd.grad(forward(), wrt, grad_outputs=ones))
    return Impl("torch", kernel, run_bwd)


def make_case(shape: FrontEndShape, direction: str, torch: ModuleType | None, seed: int = 0) -> Case:
    """The row's implementations, each with its own buffers (allocated here, reused per call)."""
    rng = np.random.default_rng(seed)
    convs = shape.convs()
    x = conv2d.input_data(convs[0], rng)
    params = [conv2d.params(c, rng) for c in convs]
    chain = _IctusChain(shape.layers(), x, params, with_grads=direction == "fwd+bwd")
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (chain.forward(),)
    else:
        def run() -> Sequence[Any]:
            chain.forward()
            return chain.backward()
    impls = [Impl("ictus", _ictus_kernels(shape, direction), run)]
    if torch is not None:
        impls.append(_torch_impl(torch, shape, direction, x, params))
    return Case(OP, shape.group, shape.label, direction, tuple(impls), flop=flop(shape, direction),
                heavy=shape.heavy, tolerance=MISMATCH_TOL if direction == "fwd" else BWD_TOLERANCE)
