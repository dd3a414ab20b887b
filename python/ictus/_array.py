"""Array handling: the only module that knows NumPy, CuPy and DLPack.

Every op hands its array arguments to `prepare`, which decides where the op runs and returns the
arrays ready for the kernels:

* NumPy float32 arrays run on the CPU kernels. Any other object with ``__dlpack__`` that lives on
  the CPU (a torch CPU tensor, say) is wrapped with ``np.from_dlpack``, without a copy.
* CuPy float32 arrays run on the CUDA kernels, on CuPy's current stream.
* Arrays that are not C-contiguous (or not aligned) are copied once to a contiguous buffer: the
  result is the same, but hot paths should pass contiguous arrays.
* Any other dtype is refused with a TypeError that says how to cast; ictus never converts silently.
"""
from __future__ import annotations

import contextlib
import contextvars
from dataclasses import dataclass
from typing import Any, Iterator

import numpy as np

_DLPACK_CPU = 1  # kDLCPU
_forced_isa: contextvars.ContextVar[str | None] = contextvars.ContextVar("ictus_cpu_isa", default=None)


@dataclass(frozen=True)
class Placement:
    """Where an op runs: ``device`` is "cpu" or "cuda"; ``index`` is the GPU ordinal."""

    device: str
    index: int = 0


def _is_cupy(obj: Any) -> bool:
    return type(obj).__module__.split(".")[0] == "cupy"


def _describe(obj: Any) -> str:
    if _is_cupy(obj):
        return f"a CuPy array on GPU {obj.device.id}"
    if isinstance(obj, np.ndarray):
        return "a NumPy array (CPU)"
    return f"a {type(obj).__module__}.{type(obj).__qualname__}"


def _to_numpy(op: str, name: str, obj: Any) -> np.ndarray:
    if isinstance(obj, np.ndarray):
        return obj
    if hasattr(obj, "__dlpack__") and hasattr(obj, "__dlpack_device__"):
        device_type, _ = obj.__dlpack_device__()
        if device_type != _DLPACK_CPU:
            raise TypeError(
                f"{op}: {name} is a GPU array that is not a CuPy array ({_describe(obj)}); "
                f"wrap it with cupy.asarray({name}) (no copy) or move it to the CPU"
            )
        try:
            return np.from_dlpack(obj)
        except (BufferError, RuntimeError, TypeError) as err:
            raise TypeError(
                f"{op}: {name} ({_describe(obj)}) cannot be shared through DLPack ({err}); "
                f"pass {name}.detach() for a torch tensor that requires grad, or a NumPy array"
            ) from None
    raise TypeError(
        f"{op}: {name} must be a NumPy array, a CuPy array or a CPU object with __dlpack__, "
        f"got {_describe(obj)}; wrap lists with np.asarray({name}, dtype=np.float32)"
    )


def _check_dtype(op: str, name: str, dtype: Any) -> None:
    if dtype != np.float32:
        raise TypeError(
            f"{op}: {name} must be float32, got {dtype}; "
            f"cast it with {name}.astype(np.float32)"
        )


def _check_rank(op: str, name: str, shape: tuple[int, ...], rank: int, layout: str) -> None:
    if len(shape) != rank:
        raise ValueError(f"{op}: {name} must have rank {rank} {layout}, got shape {tuple(shape)}")
    if 0 in shape:
        raise ValueError(f"{op}: {name} has an empty dimension (shape {tuple(shape)}); sizes must be >= 1")


def prepare(op: str, arrays: dict[str, tuple[Any, int, str]]) -> tuple[Placement, dict[str, Any]]:
    """Checks the named arrays and puts them where the kernels want them.

    ``arrays`` maps an argument name to ``(value, rank, layout words)``; None values pass through.
    All arrays must be on one device. Returns the placement and the ready arrays.
    """
    placement: Placement | None = None
    first = ""
    ready: dict[str, Any] = {}
    for name, (value, rank, layout) in arrays.items():
        if value is None:
            ready[name] = None
            continue
        if _is_cupy(value):
            here = Placement("cuda", value.device.id)
        else:
            value = _to_numpy(op, name, value)
            here = Placement("cpu")
        if placement is None:
            placement, first = here, name
        elif here != placement:
            raise ValueError(
                f"{op}: {name} is {_describe(value)} but {first} is {_describe(arrays[first][0])}; "
                "put all arrays on one device (numpy for the CPU, cupy for a GPU)"
            )
        _check_dtype(op, name, value.dtype)
        _check_rank(op, name, value.shape, rank, layout)
        if here.device == "cpu":
            if not (value.flags.c_contiguous and value.flags.aligned):
                value = np.ascontiguousarray(value)
        elif not value.flags.c_contiguous:
            value = value.copy(order="C")
        ready[name] = value
    assert placement is not None, "prepare needs at least one array"
    return placement, ready


def output(op: str, name: str, out: Any, shape: tuple[int, ...], placement: Placement,
           inputs: tuple[Any, ...]) -> Any:
    """The array an op writes: ``out`` after checks, or a fresh one of ``shape``."""
    if out is None:
        if placement.device == "cpu":
            return np.empty(shape, dtype=np.float32)
        import cupy

        with cupy.cuda.Device(placement.index):
            return cupy.empty(shape, dtype=cupy.float32)
    where = Placement("cuda", out.device.id) if _is_cupy(out) else (
        Placement("cpu") if isinstance(out, np.ndarray) else None)
    if where != placement:
        raise TypeError(
            f"{op}: {name} must be a {'NumPy' if placement.device == 'cpu' else 'CuPy'} array on the "
            f"inputs' device, got {_describe(out)}"
        )
    _check_dtype(op, name, out.dtype)
    if tuple(out.shape) != tuple(shape):
        raise ValueError(f"{op}: {name} must have shape {tuple(shape)}, got {tuple(out.shape)}")
    if not out.flags.c_contiguous:
        raise ValueError(f"{op}: {name} must be C-contiguous; allocate it with np.empty({tuple(shape)}, np.float32)")
    if placement.device == "cpu":
        if not out.flags.writeable:
            raise ValueError(f"{op}: {name} is read-only; pass a writable array")
        if not out.flags.aligned:
            raise ValueError(f"{op}: {name} is not aligned to 4 bytes; allocate it with np.empty")
        for other in inputs:
            if other is not None and np.may_share_memory(out, other):
                raise ValueError(f"{op}: {name} overlaps an input; write into a separate array")
    return out


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

    if name not in ("scalar", "portable", "avx2", "avx512"):
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

    return [n for n in ("scalar", "portable", "avx2", "avx512") if _core.isa_supported(n)]
