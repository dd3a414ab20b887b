"""max-pool cases (max_pool2d and max_pool1d, stride = kernel, no padding): memory-bound rows.

x is (N, C, H, W) or (N, C, T); y and the int64 indices are (N, C, H_out, W_out) or (N, C, T_out).
Directions, and the bytes each row moves (read + written; rates are GB/s, not GFLOP/s):
  fwd      y = max_pool(x), as in inference: ictus without indices; torch's max_pool2d computes
           indices anyway, its max_pool1d has a no-indices path.      4 * x.size + 4 * y.size
  fwd+idx  (y, indices) = max_pool(x, return_indices=True), as in training.
                                                                       4 * x.size + 12 * y.size
  bwd      grad_x from grad_y (ones: the gradient of sum(y)) and the indices, backward alone:
           ictus.max_pool*_backward on indices computed once; torch.autograd.grad on one forward
           graph (retain_graph=True).                                  12 * y.size + 4 * x.size
"""
from __future__ import annotations

import math
from collections.abc import Sequence
from types import ModuleType
from typing import Any

import numpy as np

import ictus

from .harness import Case, Impl
from .workloads import PoolShape

DIRECTIONS = ("fwd", "fwd+idx", "bwd")
DIRECTION_TITLES = {
    "fwd": "forward without indices (inference)",
    "fwd+idx": "forward with int64 indices (training)",
    "bwd": "backward alone (grad input from grad_y and the indices)",
}
_F32, _I64 = 4, 8


def moved_bytes(shape: PoolShape, direction: str) -> int:
    nx, ny = math.prod(shape.x_shape), math.prod(shape.y_shape)
    if direction == "fwd":
        return _F32 * (nx + ny)
    return _F32 * nx + (_F32 + _I64) * ny  # fwd+idx writes y and indices; bwd reads them back


def _ictus_ops(shape: PoolShape) -> tuple[Any, Any]:
    if len(shape.size) == 1:
        return ictus.max_pool1d, ictus.max_pool1d_backward
    return ictus.max_pool2d, ictus.max_pool2d_backward


def _kernel(shape: PoolShape) -> Any:
    """The kernel_size argument: an int for max_pool1d, a pair for max_pool2d."""
    return shape.kernel[0] if len(shape.kernel) == 1 else shape.kernel


def _ictus_impl(shape: PoolShape, direction: str, x: np.ndarray) -> Impl:
    pool, pool_backward = _ictus_ops(shape)
    k = _kernel(shape)
    y = np.empty(shape.y_shape, np.float32)
    idx = np.empty(shape.y_shape, np.int64)
    kernel = ictus.kernel_name(f"{shape.op}_{'bwd' if direction == 'bwd' else 'fwd'}")
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (pool(x, k, out=y),)
    elif direction == "fwd+idx":
        def run() -> Sequence[Any]:
            return tuple(pool(x, k, return_indices=True, out=(y, idx)))
    else:
        pool(x, k, return_indices=True, out=(y, idx))
        grad_y = np.ones_like(y)
        grad_x = np.empty_like(x)

        def run() -> Sequence[Any]:
            return (pool_backward(grad_y, idx, x.shape, kernel_size=k, out=grad_x),)
    return Impl("ictus", kernel, run)


def _torch_impl(torch: ModuleType, shape: PoolShape, direction: str, x: np.ndarray) -> Impl:
    fn = getattr(torch.nn.functional, shape.op)
    k = _kernel(shape)
    xt = torch.from_numpy(x.copy())
    if direction == "fwd":
        def run() -> Sequence[Any]:
            return (fn(xt, k),)
        return Impl("torch", "ATen", run)
    if direction == "fwd+idx":
        def run_idx() -> Sequence[Any]:
            return tuple(fn(xt, k, return_indices=True))
        return Impl("torch", "ATen", run_idx)
    xt.requires_grad_(True)
    y = fn(xt, k)
    ones = torch.ones(shape.y_shape)

    def run_bwd() -> Sequence[Any]:
        return tuple(torch.autograd.grad(y, [xt], grad_outputs=ones, retain_graph=True))
    return Impl("torch", "ATen, autograd", run_bwd)


def make_case(shape: PoolShape, direction: str, torch: ModuleType | None, seed: int = 0) -> Case:
    """The row's implementations, each with its own buffers (allocated here, reused per call)."""
    x = np.random.default_rng(seed).standard_normal(shape.x_shape, dtype=np.float32)
    impls = [_ictus_impl(shape, direction, x)]
    if torch is not None:
        impls.append(_torch_impl(torch, shape, direction, x))
    return Case(shape.op, shape.group, shape.label, direction, tuple(impls),
                bytes=moved_bytes(shape, direction), heavy=shape.heavy)
