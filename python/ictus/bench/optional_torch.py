"""torch as an optional reference: the only bench module that imports it.

torch is never a dependency of ictus; without it the benchmark still runs and says so.
"""
from __future__ import annotations

from types import ModuleType

INSTALL_HINT = "pip install torch==2.13.0"


def load_torch(enabled: bool) -> tuple[ModuleType | None, str]:
    """(torch or None, a note for the report saying why there are no torch rows)."""
    if not enabled:
        return None, "torch rows skipped (--no-torch)"
    try:
        import torch
    except ImportError:
        return None, f"torch is not installed, so there are no torch rows ({INSTALL_HINT})"
    return torch, ""

