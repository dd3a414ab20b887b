"""Array interop: the only Python module that knows NumPy, CuPy and DLPack.

Ops pass their array arguments through `native`, then hand them to the compiled module, which
checks dtype, shapes and layout itself (one place, about a microsecond per call):

* NumPy float32 arrays run on the CPU kernels. Any other CPU object with ``__dlpack__`` (a torch
  CPU tensor, say) is wrapped with ``np.from_dlpack``, without a copy.
* CuPy float32 arrays run on the CUDA kernels, on CuPy's current stream for their device. Other
  GPU arrays with ``__cuda_array_interface__`` (torch, Numba) are wrapped with ``cupy.asarray``,
  without a copy.
* Inputs that are not C-contiguous are copied once to a contiguous array (the result is the same;
  hot paths should pass contiguous arrays). Outputs (``out=``) must be contiguous.
* Other dtypes are refused with a TypeError that says how to cast; ictus never converts silently.
"""
from __future__ import annotations

import contextlib
import contextvars
from collections.abc import Iterator
from typing import Any

import numpy as np

_DLPACK_CPU = 1  # kDLCPU
_ISAS = ("scalar", "portable", "avx2", "avx512")
_forced_isa: contextvars.ContextVar[str | None] = contextvars.ContextVar("ictus_cpu_isa", default=None)


def _is_cupy(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "cupy"


def native(op: str, name: str, obj: Any) -> Any:
    """``obj`` as a NumPy or CuPy array (or None), wrapping other array objects without copies."""
    if obj is None or type(obj) is np.ndarray or isinstance(obj, np.ndarray) or _is_cupy(obj):
        return obj
    if hasattr(obj, "__cuda_array_interface__"):
        try:
            import cupy
        except ImportError:
            raise TypeError(f"{op}: {name} is a GPU array ({type(obj).__module__}.{type(obj).__qualname__}); "
                            "ictus runs GPU arrays through CuPy: pip install cupy-cuda12x (or cupy-cuda13x)") from None
        return cupy.asarray(obj)
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        if obj.__dlpack_device__()[0] != _DLPACK_CPU:
            raise TypeError(f"{op}: {name} is on a device ictus cannot reach through DLPack; "
                            f"pass a NumPy array (CPU) or a CuPy array (GPU)")
        try:
            return np.from_dlpack(obj)
        except (BufferError, RuntimeError, TypeError) as err:
            raise TypeError(f"{op}: {name} cannot be shared through DLPack ({err}); pass {name}.detach() "
                            "for a torch tensor that requires grad, or a NumPy array") from None
    return obj  # the compiled module names the accepted types in its TypeError


def stream(x: Any) -> int:
    """The CUDA stream to run on for CuPy array ``x`` (its device's current stream), 0 for NumPy."""
    if type(x) is np.ndarray or not _is_cupy(x):
        return 0
    import cupy

    with cupy.cuda.Device(x.device.id):
        return int(cupy.cuda.get_current_stream().ptr)


def forced_isa() -> str | None:
    """The CPU ISA that `use_cpu_isa` forces in this context, or None for the dispatched one."""
    return _forced_isa.get()


@contextlib.contextmanager
def use_cpu_isa(name: str) -> Iterator[None]:
    """Runs the CPU ops inside the block with the kernels of ISA ``name``.

    ``name`` is one of :func:`ictus.cpu_isas` (``"scalar"``, ``"portable"``, ``"avx2"``,
    ``"avx512"``, as this CPU supports them). The choice is per thread / async context, so it is
    safe in concurrent code; ``ICTUS_CPU_ISA`` caps the dispatch for the whole process instead.
    """
    from . import _core

    if name not in _ISAS:
        raise ValueError(f"use_cpu_isa: unknown ISA {name!r}; use one of {cpu_isas()}")
    if not _core.isa_supported(name):
        raise ValueError(f"use_cpu_isa: this CPU cannot run {name!r}; it supports {cpu_isas()}")
    token = _forced_isa.set(name)
    try:
        yield
    finally:
        _forced_isa.reset(token)


def cpu_isas() -> list[str]:
    """The CPU kernel variants this machine can run, from the most portable to the fastest."""
    from . import _core

    return [n for n in _ISAS if _core.isa_supported(n)]
