"""torch as an optional reference: the only bench module that imports it.

torch is never a dependency of ictus; without it the benchmark still runs and says so.
"""
from __future__ import annotations

from types import ModuleType
from typing import Any

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



def conv_backend(torch: ModuleType, x: Any, w: Any, *, stride: list[int], padding: list[int],
                 dilation: list[int]) -> str:
    """torch's conv backend for these arguments (Mkldnn, Slow2d, ...): a private API, so best effort."""
    try:
        backend = torch._C._select_conv_backend(x, w, None, stride, padding, dilation, False,
                                                [0] * len(stride), 1, None)
        return str(backend).split(".")[-1]
    except Exception:  # private API: any failure just means "unknown"
        return "?"
