"""CUDA support: whether the CUDA kernels can run here, and their launchers for CuPy arrays.

The compiled module always builds; it carries the CUDA kernels when nvcc was found at build time
(``ICTUS_CUDA=AUTO``, the default) or demanded (``ICTUS_CUDA=ON``). Ops on CuPy arrays run on
CuPy's current stream of the arrays' device.
"""
from __future__ import annotations

from typing import Any

from . import _core

_REBUILD = ("ictus was built without CUDA kernels; reinstall on a machine with nvcc on PATH, "
            "forcing them with: ICTUS_CUDA=ON pip install --no-binary ictus ictus (or pip install . "
            "from a checkout)")


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


def _require() -> Any:
    if not is_compiled():
        raise RuntimeError(_REBUILD)
    import cupy

    return cupy


def _ptr(a: Any) -> int:
    return 0 if a is None else int(a.data.ptr)


def _conv1d_forward(x, weight, bias, y, stride, dilation, left, right, device) -> None:
    cupy = _require()
    with cupy.cuda.Device(device):
        stream = cupy.cuda.get_current_stream().ptr
        _core.conv1d_forward_cuda(_ptr(x), tuple(x.shape), _ptr(weight), tuple(weight.shape), _ptr(bias),
                                  _ptr(y), tuple(y.shape), stride, dilation, left, right, device, stream)


def _conv1d_backward(grad_y, x, weight, gx, gw, gb, stride, dilation, left, right, device) -> None:
    cupy = _require()
    with cupy.cuda.Device(device):
        stream = cupy.cuda.get_current_stream().ptr
        _core.conv1d_backward_cuda(_ptr(grad_y), tuple(grad_y.shape), _ptr(x), tuple(x.shape), _ptr(weight),
                                   tuple(weight.shape), _ptr(gx), _ptr(gw), _ptr(gb), stride, dilation, left,
                                   right, device, stream)
