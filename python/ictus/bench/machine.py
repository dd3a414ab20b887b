"""Machine facts for the report header, and the roofs rows are measured against: the FMA peak
('% of peak') and the copy bandwidth ('% of BW', memory-bound rows).

The peak is measured here, once per thread count at the start of a run, with the same ISA the
kernels dispatch to (ictus._core.measure_peak_gflops): a hard-coded number would be wrong on
another machine, and on a shared VM the peak available today is what the kernels can reach.
The bandwidth is measured once, at the start of runs with memory-bound rows, with one thread:
NumPy's copy of a 256 MiB float32 array into another, both allocated and touched beforehand
(fresh pages would time page faults), bytes read + written, best of 3. One core does not
saturate memory on every machine, so 2-thread rows can pass 100% of it.
"""
from __future__ import annotations

import datetime
import functools
import math
import os
import platform
import sys
import time
from dataclasses import dataclass, field
from types import ModuleType

import numpy as np

import ictus
import ictus._core as _core  # private: the FMA peak probe is for benchmarks, not the public API

from .noise import NoiseGuard

KERNEL_OPS = ("conv1d_fwd", "conv1d_bwd_data", "conv1d_bwd_weight")
BANDWIDTH_MIB = 256


@dataclass(frozen=True)
class Bandwidth:
    gbps: float  # 1 thread, bytes read + written per second
    contended: bool


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
    bandwidth: Bandwidth | None = None  # measured only for runs with memory-bound rows


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


def collect_facts(torch: ModuleType | None, missing_note: str, threads: list[int],
                  kernel_ops: tuple[str, ...] = KERNEL_OPS) -> MachineFacts:
    usable = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    return MachineFacts(
        date=datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        cpu_model=_cpu_model(),
        logical_cpus=os.cpu_count() or 1,
        usable_cpus=usable,
        isa=ictus.cpu_isa(),
        kernels={op: ictus.kernel_name(op) for op in kernel_ops},
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


def _copy_gbps(repeats: int) -> float:
    n = BANDWIDTH_MIB * 2**20 // 4
    src = np.empty(n, np.float32)
    dst = np.empty(n, np.float32)
    src.fill(1.0)  # touch every page of both, outside the timed copies
    dst.fill(0.0)
    np.copyto(dst, src)
    best = math.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        np.copyto(dst, src)
        best = min(best, time.perf_counter() - t0)
    return 2 * src.nbytes / best / 1e9


def measure_bandwidth(guard: NoiseGuard, repeats: int = 3) -> Bandwidth:
    """1-thread copy bandwidth (read + write bytes): the best of `repeats` 256 MiB np.copyto calls."""
    got = guard.run(functools.partial(_copy_gbps, repeats), what="copy bandwidth, 1 thread")
    return Bandwidth(got.value, got.contended)
