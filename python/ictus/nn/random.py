"""The random source of ictus.nn: dropout masks and default weight initialisation.

One NumPy Generator for the process (``manual_seed`` resets it). Its state is part of a training
checkpoint (``get_rng_state``/``set_rng_state``), so a resumed run draws the same dropout masks as
an uninterrupted one. CuPy layers draw on the CPU and copy the mask: same masks on both devices.
"""
from __future__ import annotations

from typing import Any

import numpy as np

_generator = np.random.default_rng(0)


def generator() -> np.random.Generator:
    """The Generator the layers draw from."""
    return _generator


def manual_seed(seed: int) -> None:
    """Restarts the random source from ``seed`` (dropout masks and initial weights follow from it)."""
    global _generator
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"manual_seed: seed must be a non-negative int, got {seed!r}")
    _generator = np.random.default_rng(int(seed))


def get_rng_state() -> dict[str, Any]:
    """The generator's state (a JSON-serialisable dict), for checkpoints."""
    return _generator.bit_generator.state


def set_rng_state(state: dict[str, Any]) -> None:
    """Restores a state from :func:`get_rng_state`."""
    _generator.bit_generator.state = state


def uniform(shape: tuple[int, ...], bound: float) -> np.ndarray:
    """float32 draws from U(-bound, bound) off ictus.nn's generator (torch's default init)."""
    return _generator.uniform(-bound, bound, size=shape).astype(np.float32)
