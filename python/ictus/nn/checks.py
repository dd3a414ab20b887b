"""Argument checks shared by ictus.nn's layers: each raises a TypeError or ValueError whose message
names the layer, the argument and the fix."""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from .module import array_module

Pair = int | tuple[int, int]


def check_array(layer: str, name: str, a: Any, shape: Sequence[int | str]) -> None:
    """Refuses anything but a float32 NumPy/CuPy array of ``shape``.

    ``shape`` holds ints (sizes that must match) and letters (any size); a leading ``"..."`` stands
    for any number of leading axes. The message names the layer, the argument and the fix.
    """
    if not (hasattr(a, "dtype") and hasattr(a, "shape")):
        raise TypeError(f"{layer}: {name} must be a float32 NumPy or CuPy array, got {type(a).__name__}")
    wanted = "(" + ", ".join(str(s) for s in shape) + ")"
    got = tuple(int(s) for s in a.shape)
    any_leading = bool(shape) and shape[0] == "..."
    fixed = tuple(shape[1:]) if any_leading else tuple(shape)
    rank_ok = len(got) >= len(fixed) if any_leading else len(got) == len(fixed)
    tail = got[len(got) - len(fixed):]
    if not rank_ok or any(isinstance(s, int) and s != g for s, g in zip(fixed, tail, strict=False)):
        raise ValueError(f"{layer}: {name} must have shape {wanted}, got {got}")
    if a.dtype != np.float32:
        raise TypeError(f"{layer}: {name} must be float32, got {a.dtype}; cast it with {name}.astype(np.float32)")


def check_int(layer: str, name: str, value: Any, minimum: int = 1) -> int:
    """``value`` as an int >= ``minimum``, or a ValueError naming the argument."""
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < minimum:
        raise ValueError(f"{layer}: {name} must be an int >= {minimum}, got {value!r}")
    return int(value)


def check_pair(layer: str, name: str, value: Any, minimum: int = 1) -> tuple[int, int]:
    """An int or an (h, w) pair of ints >= ``minimum``, as an (h, w) tuple."""
    if isinstance(value, (tuple, list)):
        if len(value) != 2:
            raise ValueError(f"{layer}: {name} must be an int or an (h, w) pair, got {value!r}")
        return check_int(layer, name, value[0], minimum), check_int(layer, name, value[1], minimum)
    single = check_int(layer, name, value, minimum)
    return single, single


def check_floating(layer: str, x: Any, name: str = "x") -> Any:
    """The array module of ``x``, after checking that ``x`` is a floating-point NumPy or CuPy array."""
    dtype = getattr(x, "dtype", None)
    if dtype is None or not hasattr(x, "shape"):
        raise TypeError(f"{layer}: {name} must be a NumPy or CuPy array, got {type(x).__name__}")
    if dtype.kind != "f":
        raise TypeError(f"{layer}: {name} must be a floating-point array (float32), got {dtype}; "
                        f"cast with {name}.astype(np.float32)")
    return array_module(x)


def check_is_array(layer: str, x: Any) -> None:
    """Refuses anything but a NumPy or CuPy array (of any dtype: shape layers move any data)."""
    if not hasattr(x, "shape") or not hasattr(x, "reshape"):
        raise TypeError(f"{layer}: x must be a NumPy or CuPy array, got {type(x).__name__}")
