"""CUDA support: whether the CUDA kernels can run here.

The compiled module always builds; it carries the CUDA kernels when nvcc was found at build time
(``ICTUS_CUDA=AUTO``, the default) or demanded (``ICTUS_CUDA=ON``). Ops on CuPy arrays run on
CuPy's current stream of the arrays' device.
"""
from __future__ import annotations

from . import _core


def is_compiled() -> bool:
    """Whether this build of ictus carries CUDA kernels."""
    return bool(_core.cuda_compiled)


def device_count() -> int:
    """GPUs the CUDA kernels can use (0 without a driver or GPU, or in a CPU-only build)."""
    return int(_core.cuda_device_count())


def is_available() -> bool:
    """Whether ops on CuPy arrays can run: CUDA kernels compiled, a GPU present, CuPy importable."""
    if not is_compiled() or device_count() == 0:
        return False
    try:
        import cupy  # noqa: F401
    except ImportError:
        return False
    return True
