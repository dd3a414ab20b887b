"""conv2d cases: the ictus and torch calls that one table row times (groups d and e).

Shapes: x is (N, C_in, H, W), weight is (C_out, C_in, KH, KW), bias is (C_out,), y and its
gradient are (N, C_out, H_out, W_out); stride 1, padding 'valid' or 'same'. Directions:
  fwd      y = conv2d(x, w, b).
  fwd+bwd  y = conv2d(x, w, b), then the gradients of sum(y) (grad_y = ones) with respect to x, w
           and b (torch.autograd.grad on [x, w, b]); a network's first layer (input_grad False)
           skips x: its input is the spectrogram. FLOPs: 3 x fwd, 2 x fwd for a first layer.
As in conv1d.py, ictus writes into buffers allocated once, torch allocates as its users do.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

import ictus
from ictus import _core

from .harness import Case, Impl
from .optional_torch import conv_backend
from .workloads import Conv2dShape

OP = "conv2d"
DIRECTIONS = ("fwd", "fwd+bwd")
DIRECTION_TITLES = {"fwd": "forward",
                    "fwd+bwd": "forward + backward (grad input, weight, bias; a first layer: weight, bias)"}


def flop(shape: Conv2dShape, direction: str) -> int:
    if direction == "fwd":
        return shape.fwd_flop
    return (3 if shape.input_grad else 2) * shape.fwd_flop


def kernel_ops(shape: Conv2dShape, direction: str, pooled_grad: bool = False) -> tuple[str, ...]:
    """The ictus ops (for ictus.kernel_name) that a direction runs on shape; `pooled_grad`: its
    grad_y comes from a max-pool's backward pass, mostly zeros (the sparse gradient kernels)."""
    x_shape, w_shape = (shape.n, shape.c_in, shape.h, shape.w), (shape.c_out, shape.c_in, shape.kh, shape.kw)
    winograd = _core.conv2d_winograd_tile_h(x_shape, w_shape, 1, shape.padding, 1, ictus.cpu_isa()) != 0
    # A kernel as wide as its unpadded input (1x8 on 8 bins) takes the windows feed (conv.cpp's
    # windows_feed); padding "same" pads the width too.
    windows = shape.kw == shape.w and shape.h > 1 and shape.padding == "valid"
    fwd = ("conv2d_winograd",) if winograd else ("conv2d_fwd_windows",) if windows else ("conv2d_fwd",)
    if direction == "fwd":
        return fwd
    # Its input gradient too where the windows do not overlap (one kernel row at stride 1).
    bwd_data = fwd if winograd else ("conv2d_bwd_data_windows",) if windows and shape.kh == 1 else ("conv2d_bwd_data",)
    query = (x_shape, w_shape, 1, shape.padding, 1, ictus.cpu_isa())
    if pooled_grad and _core.conv2d_sparse_input_grad_applies(*query):
        bwd_data = ("conv2d_bwd_data_sparse",)
    sparse = pooled_grad and _core.conv2d_sparse_weight_grad_applies(*query)
    bwd_weight = ("conv2d_bwd_weight_sparse",) if sparse else ("conv2d_bwd_weight",)
    return fwd + (bwd_data if shape.input_grad else ()) + bwd_weight


def kernel_names(ops: Sequence[str]) -> str:
    """'conv_fwd_avx2 + conv_bwd_weight_avx2': each kernel once, in order."""
    return " + ".join(dict.fromkeys(ictus.kernel_name(op) for op in ops))


def torch_padding(shape: Conv2dShape) -> tuple[int, int]:
    """'same' (odd kernels) or 'valid' as ints: the path torch models use."""
    if shape.padding == "same":
        return (shape.kh - 1) // 2, (shape.kw - 1) // 2
    return 0, 0


def input_data(shape: Conv2dShape, rng: np.random.Generator) -> np.ndarray:
    return rng.standard_normal((shape.n, shape.c_in, shape.h, shape.w), dtype=np.float32)


def params(shape: Conv2dShape, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    """weight (scaled like an initialised layer's: outputs keep the inputs' scale) and bias."""
    w = rng.standard_normal((shape.c_out, shape.c_in, shape.kh, shape.kw), dtype=np.float32)
    w *= np.float32(1 / np.sqrt(shape.c_in * shape.kh * shape.kw))
    b = np.float32(0.1) * rng.standard_normal(shape.c_out, dtype=np.float32)
    return w, b


def _ictus_impl(shape: Conv2dShape, direction: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Impl:
    pad = shape.padding
    y = np.empty((shape.n, shape.c_out, *shape.out_hw), np.float32)
    kernels = kernel_names(kernel_ops(shape, direction))
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (ictus.conv2d(x, w, b, padding=pad, out=y),)
        return Impl("ictus", kernels, run)

    grad_y = np.ones_like(y)
    grads = (np.empty_like(x) if shape.input_grad else None, np.empty_like(w), np.empty_like(b))

    def run_bwd() -> Sequence[Any]:
        ictus.conv2d(x, w, b, padding=pad, out=y)
        gx, gw, gb = ictus.conv2d_backward(grad_y, x, w, padding=pad, bias=True,
                                           input_grad=shape.input_grad, out=grads)
        return (gx, gw, gb) if shape.input_grad else (gw, gb)
    return Impl("ictus", kernels, run_bwd)


def _torch_impl(torch: ModuleType, shape: Conv2dShape, direction: str, x: np.ndarray, w: np.ndarray,
                b: np.ndarray) -> Impl:
    conv = torch.nn.functional.conv2d
    pad = torch_padding(shape)
    need_grad = direction == "fwd+bwd"
    xt = torch.from_numpy(x.copy()).requires_grad_(need_grad and shape.input_grad)
    wt, bt = (torch.from_numpy(a.copy()).requires_grad_(need_grad) for a in (w, b))
    kernel = conv_backend(torch, xt, wt, stride=[1, 1], padding=list(pad), dilation=[1, 1])
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (conv(xt, wt, bt, padding=pad),)
        return Impl("torch", kernel, run)

    ones = torch.ones(shape.n, shape.c_out, *shape.out_hw)
    wrt = [xt, wt, bt] if shape.input_grad else [wt, bt]

    def run_bwd() -> Sequence[Any]:
        return tuple(torch.autograd.grad(conv(xt, wt, bt, padding=pad), wrt, grad_outputs=ones))
    return Impl("torch", kernel, run_bwd)


def make_case(shape: Conv2dShape, direction: str, torch: ModuleType | None, seed: int = 0) -> Case:
    """The row's implementations, each with its own buffers (allocated here, reused per call)."""
    rng = np.random.default_rng(seed)
    x = input_data(shape, rng)
    w, b = params(shape, rng)
    impls = [_ictus_impl(shape, direction, x, w, b)]
    if torch is not None:
        impls.append(_torch_impl(torch, shape, direction, x, w, b))
    return Case(OP, shape.group, shape.label, direction, tuple(impls), flop=flop(shape, direction),
                heavy=shape.heavy)
