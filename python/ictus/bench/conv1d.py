"""conv1d cases: the ictus and torch calls that one table row times, and a check that they agree.

Shapes: x is (N, C_in, T), weight is (C_out, C_in, K), bias is (C_out,), y and its gradient are
(N, C_out, T_out); padding 'same'. Directions:
  fwd      y = conv1d(x, w, b).
  fwd+bwd  y = conv1d(x, w, b), then the gradients of sum(y) (grad_y = ones) with respect to x, w
           and b: ictus.conv1d_backward with all three; torch.autograd.grad on [x, w, b], exactly
           as shared/torch_baseline.py does. FLOPs: 3 x fwd (fwd + grad input + grad weight).
ictus writes into buffers allocated once (fresh large arrays page-fault on every call on this
machine, ~2.4 GB/s per core, which would time the kernel allocator, not the kernel); torch is
called the way torch users call it, allocating its outputs.
"""
from __future__ import annotations

from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

import ictus

from .harness import Case, Impl
from .optional_torch import conv_backend
from .workloads import Conv1dShape

OP = "conv1d"
DIRECTIONS = ("fwd", "fwd+bwd")
DIRECTION_TITLES = {"fwd": "forward", "fwd+bwd": "forward + backward (grad input, weight, bias)"}
_FLOP_FACTOR = {"fwd": 1, "fwd+bwd": 3}


def flop(shape: Conv1dShape, direction: str) -> int:
    return _FLOP_FACTOR[direction] * shape.fwd_flop


def ictus_kernels(direction: str) -> str:
    """The kernels a direction runs, e.g. 'conv_fwd_avx2 + conv_bwd_weight_avx2'."""
    ops = ("conv1d_fwd",) if direction == "fwd" else ("conv1d_fwd", "conv1d_bwd_data", "conv1d_bwd_weight")
    return " + ".join(dict.fromkeys(ictus.kernel_name(op) for op in ops))  # unique, in order


def _data(shape: Conv1dShape, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((shape.n, shape.c_in, shape.t), dtype=np.float32)
    w = 0.1 * rng.standard_normal((shape.c_out, shape.c_in, shape.k), dtype=np.float32)
    b = rng.standard_normal(shape.c_out, dtype=np.float32)
    return x, w, b


def _ictus_impl(shape: Conv1dShape, direction: str, x: np.ndarray, w: np.ndarray, b: np.ndarray) -> Impl:
    d = shape.dilation
    y = np.empty((shape.n, shape.c_out, shape.t_out), np.float32)
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (ictus.conv1d(x, w, b, padding="same", dilation=d, out=y),)
    else:
        grad_y = np.ones_like(y)
        grads = (np.empty_like(x), np.empty_like(w), np.empty_like(b))

        def run() -> Sequence[Any]:
            ictus.conv1d(x, w, b, padding="same", dilation=d, out=y)
            return ictus.conv1d_backward(grad_y, x, w, padding="same", dilation=d, bias=True,
                                         input_grad=True, out=grads)
    return Impl("ictus", ictus_kernels(direction), run)


def _torch_impl(torch: ModuleType, shape: Conv1dShape, direction: str, x: np.ndarray, w: np.ndarray,
                b: np.ndarray) -> Impl:
    conv = torch.nn.functional.conv1d
    d = shape.dilation
    pad = d * (shape.k - 1) // 2  # 'same' for odd K, as an int: the path torch models use
    need_grad = direction == "fwd+bwd"
    # Copies, so the two libraries do not share input memory.
    xt, wt, bt = (torch.from_numpy(a.copy()).requires_grad_(need_grad) for a in (x, w, b))
    kernel = conv_backend(torch, xt, wt, stride=[1], padding=[pad], dilation=[d])
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (conv(xt, wt, bt, padding=pad, dilation=d),)  # no input requires grad: no graph
    else:
        ones = torch.ones(shape.n, shape.c_out, shape.t_out)

        def run() -> Sequence[Any]:
            y = conv(xt, wt, bt, padding=pad, dilation=d)
            return tuple(torch.autograd.grad(y, [xt, wt, bt], grad_outputs=ones))
    return Impl("torch", kernel, run)


def make_case(shape: Conv1dShape, direction: str, torch: ModuleType | None, seed: int = 0) -> Case:
    """The row's implementations, each with its own buffers (allocated here, reused per call)."""
    x, w, b = _data(shape, seed)
    impls = [_ictus_impl(shape, direction, x, w, b)]
    if torch is not None:
        impls.append(_torch_impl(torch, shape, direction, x, w, b))
    return Case(OP, shape.group, shape.label, direction, tuple(impls), flop=flop(shape, direction),
                series=shape.series)

