"""ictus: fast CPU (AVX2 / AVX-512) and CUDA kernels for beat, downbeat and tempo tracking networks.

Ops take NumPy float32 arrays (CPU kernels) or CuPy float32 arrays (CUDA kernels)::

    import numpy as np, ictus
    x = np.random.randn(1, 20, 3000).astype(np.float32)      # (N, C_in, T)
    w = np.random.randn(20, 20, 5).astype(np.float32)        # (C_out, C_in, K)
    y = ictus.conv1d(x, w, dilation=16, padding="same")      # (1, 20, 3000)
"""
from __future__ import annotations

from . import _core, cuda, nn, optim, train
from ._array import cpu_isas, use_cpu_isa
from .ops import (
    conv1d,
    conv1d_backward,
    conv1d_output_length,
    conv2d,
    conv2d_backward,
    conv2d_output_size,
    dropout,
    elu,
    elu_backward,
    gru,
    gru_backward,
    max_pool1d,
    max_pool1d_backward,
    max_pool2d,
    max_pool2d_backward,
)
from .serialization import load, save

__version__ = "0.1.0"

__all__ = [
    "conv1d",
    "conv1d_backward",
    "conv1d_output_length",
    "conv2d",
    "conv2d_backward",
    "conv2d_output_size",
    "cpu_isa",
    "cpu_isas",
    "cuda",
    "dropout",
    "elu",
    "elu_backward",
    "get_num_threads",
    "gru",
    "gru_backward",
    "kernel_name",
    "load",
    "max_pool1d",
    "max_pool1d_backward",
    "max_pool2d",
    "max_pool2d_backward",
    "nn",
    "optim",
    "output_cache_info",
    "save",
    "set_num_threads",
    "set_output_cache_limit",
    "train",
    "use_cpu_isa",
]

_CONV_OPS = ("conv1d_fwd", "conv1d_bwd_data", "conv1d_bwd_weight", "conv2d_fwd", "conv2d_bwd_data",
             "conv2d_bwd_data_scatter", "conv2d_bwd_weight", "conv2d_winograd", "conv2d_fwd_windows",
             "conv2d_bwd_data_windows", "conv2d_bwd_weight_sparse", "conv2d_bwd_data_sparse")
_POOL_OPS = ("max_pool1d_fwd", "max_pool2d_fwd", "max_pool1d_bwd", "max_pool2d_bwd")
_GRU_OPS = ("gru_fwd", "gru_bwd")
_ELU_OPS = ("elu_fwd", "elu_bwd")
_OPS = _CONV_OPS + _POOL_OPS + _GRU_OPS + _ELU_OPS + ("dropout",)


def cpu_isa() -> str:
    """The CPU kernel variant that ops dispatch to: "scalar", "portable", "avx2" or "avx512".

    Chosen once from CPUID and XGETBV; ``ICTUS_CPU_ISA=scalar|portable|avx2|avx512`` caps it and
    :func:`use_cpu_isa` overrides it inside a block.
    """
    from ._array import forced_isa

    return forced_isa() or _core.cpu_isa()


def kernel_name(op: str) -> str:
    """The CPU kernel that runs ``op``: "conv1d_fwd", "conv1d_bwd_data", "conv1d_bwd_weight", the
    same for conv2d (conv1d runs as conv2d of height 1, and the SIMD input gradients run the
    forward kernel with transposed weights), "conv2d_bwd_data_scatter" (the input gradient's
    kernel instead for stride-1 2-d convolutions whose grad_y rows hold a whole vector and whose
    kernel is wide against the rows, such as 1x10 on 26 bins, or that have fewer than 4 input
    channels), "conv2d_winograd" (the forward pass and input gradient instead for 3x3 stride-1
    convolutions without dilation with at least 16 channels in and out (40 on AVX2), 36
    tiles of 2x2 outputs and 4 tile columns (6 below 24 channels): Winograd's transforms, their
    products on the GEMM kernel), "conv2d_fwd_windows" (the forward pass instead for kernels as
    wide as their unpadded input, such as 1x8 on 8 bins: a GEMM over each output's windows),
    "conv2d_bwd_data_windows" (their input gradient where the windows do not overlap),
    "conv2d_bwd_weight_sparse" (the weight gradient instead for 3x3 stride-1 convolutions without
    dilation whose grad_y is at least half zeros, as a max-pool's backward pass leaves it, with
    outputs at least 8 wide, 12-32 input channels (6-32 on AVX2) and up to 64 output channels:
    only the nonzero values' products), "conv2d_bwd_data_sparse" (their input gradient too, with
    up to 32 output channels and input channels that fill one vector at least 3/4 or several
    vectors more than 3/4),
    "max_pool1d_fwd",
    "max_pool2d_fwd" and their "_bwd" (the gather for windows that do not overlap, given the window arguments; otherwise one
    scalar scatter for every variant), "gru_fwd" and "gru_bwd" (the GEMM kernel; the gate math
    is shared by all variants), "elu_fwd", "elu_bwd" and "dropout" (its forward and backward)."""
    if op not in _OPS:
        raise ValueError(f"kernel_name: unknown op {op!r}; use one of {', '.join(_OPS)}")
    if op in _ELU_OPS:
        return _core.elu_kernel_name(op[4:], cpu_isa())
    if op == "dropout":
        return _core.dropout_kernel_name(cpu_isa())
    if op in _GRU_OPS:
        return _core.gru_kernel_name(cpu_isa())
    if op in _POOL_OPS:
        return _core.max_pool_kernel_name(cpu_isa(), op.endswith("_fwd"))
    return _core.conv_kernel_name(op.split("_", 1)[1], cpu_isa())


def set_num_threads(n: int) -> None:
    """Sets how many threads the CPU kernels use (default: the CPUs this process may use)."""
    if isinstance(n, bool) or not isinstance(n, int):
        raise TypeError(f"set_num_threads: n must be an int, got {type(n).__name__}")
    if not 1 <= n <= 1024:
        raise ValueError(f"set_num_threads: n must be in [1, 1024], got {n}")
    _core.set_num_threads(n)


def get_num_threads() -> int:
    """How many threads the CPU kernels use."""
    return int(_core.get_num_threads())


def set_output_cache_limit(max_bytes: int) -> None:
    """Caps the memory ictus keeps from freed output arrays for reuse (default 512 MiB, or
    ``ICTUS_OUTPUT_CACHE_MB``); 0 frees it all and turns the cache off.

    The CPU ops allocate outputs of 128 KiB and more from this cache: when NumPy frees such an
    array, its memory waits for the next output of the same size instead of going back to the
    system, so repeated calls (a training loop) skip the page faults of fresh memory (about
    2.4 GB/s on first touch, slower than the kernels). Memory above the cap goes back at once.
    """
    if isinstance(max_bytes, bool) or not isinstance(max_bytes, int):
        raise TypeError(f"set_output_cache_limit: max_bytes must be an int, got {type(max_bytes).__name__}")
    if max_bytes < 0:
        raise ValueError(f"set_output_cache_limit: max_bytes must be >= 0 (0 turns the cache off), got {max_bytes}")
    _core.set_output_cache_limit(max_bytes)


def output_cache_info() -> dict[str, int]:
    """The output cache's state: ``cached_bytes`` (held for reuse now), ``limit_bytes``, and the
    ``hits`` and ``misses`` of the allocations it served since the process started."""
    return {k: int(v) for k, v in _core.output_cache_info().items()}
