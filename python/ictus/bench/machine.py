"""Machine facts for the report header, and the FMA peak that '% of peak' is measured against.

The peak is measured here, once per thread count at the start of a run, with the same ISA the
kernels dispatch to (ictus._core.measure_peak_gflops): a hard-coded number would be wrong on
another machine, and on a shared VM the peak available today is what the kernels can reach.
"""
from __future__ import annotations

import datetime
import functools
import os
import platform
import sys
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

import ictus
import ictus._core as _core  # private: the FMA peak probe is for benchmarks, not the public API

from .noise import NoiseGuard

KERNEL_OPS = ("conv1d_fwd", "conv1d_bwd_data", "conv1d_bwd_weight")


@dataclass(frozen=True)
class Peak:
    gflops: float
    contended: bool  # other processes used CPU while it was measured: likely low


@dataclass
class MachineFacts:
    date: str
    cpu_model: str
    logical_cpus: int
    usable_cpus: int
    isa: str
    kernels: dict[str, str]
    ictus_version: str
    torch: str  # version and CPU capability, or why there is none
    python: str
    numpy: str
    cuda: str
    threads: list[int]
    peaks: dict[int, Peak] = field(default_factory=dict)


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def _torch_description(torch: ModuleType | None, missing_note: str) -> str:
    if torch is None:
        return missing_note
    try:
        capability = torch.backends.cpu.get_cpu_capability()
    except AttributeError:
        capability = "?"
    return f"{torch.__version__} (CPU capability {capability}, oneDNN {torch.backends.mkldnn.is_available()})"


def collect_facts(torch: ModuleType | None, missing_note: str, threads: list[int]) -> MachineFacts:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return MachineFacts(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpu_model=_cpu_model(),
        logical_cpus=os.cpu_count() or 1,
        usable_cpus=usable,
        isa=ictus.cpu_isa(),
        kernels={op: ictus.kernel_name(op) for op in KERNEL_OPS},
        ictus_version=ictus.__version__,
        torch=_torch_description(torch, missing_note),
        python=f"{platform.python_implementation()} {sys.version.split()[0]}",
        numpy=np.__version__,
        cuda="available (not benchmarked here)" if ictus.cuda.is_available() else "not available",
        threads=threads,
    )


def _best_peak(threads: int, repeats: int) -> float:
    return max(float(_core.measure_peak_gflops(threads, 0.3)) for _ in range(repeats))


def measure_peaks(threads: list[int], guard: NoiseGuard, repeats: int) -> dict[int, Peak]:
    """fp32 FMA peak per thread count: the best of `repeats` 0.3 s runs (noise only lowers it).

    On a shared VM a sibling tenant can hold a core for a while; n threads measuring below 90% of
    n times the 1-thread peak are measured again, a few times, before the best is kept.
    """
    peaks: dict[int, Peak] = {}
    for n in sorted(threads):
        got = guard.run(functools.partial(_best_peak, n, repeats), what=f"peak, {n} thread(s)")
        best, contended = got.value, got.contended
        single = peaks[1].gflops if 1 in peaks else None
        for _ in range(4):
            if single is None or best >= 0.9 * n * single:
                break
            best = max(best, _best_peak(n, repeats))
        peaks[n] = Peak(best, contended)
    return peaks
