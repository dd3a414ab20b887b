"""The one harness every op's benchmark goes through: a row is (shape, direction, threads).

A case (harness.Case, built by conv1d.py, conv2d.py, pool.py, frontend.py) gives the row's
implementations; the harness sets both libraries' thread counts, checks once that ictus agrees
with torch, times them interleaved under the noise guard, and turns the medians into Results:
GFLOP/s and % of the peak measured for that thread count for compute-bound rows, GB/s and % of
the measured copy bandwidth for memory-bound ones (a case with bytes but no FLOPs: max-pool), and
x vs torch (torch ms / ictus ms, > 1 means ictus is faster).
"""
from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from types import ModuleType
from typing import Any, Protocol

import numpy as np

import ictus

from .noise import NoiseGuard
from .timing import TimingPolicy, median_ms, time_interleaved


@dataclass(frozen=True)
class Impl:
    name: str  # "ictus" or "torch"
    kernel: str  # what runs: ictus' kernel names, torch's backend
    run: Callable[[], Sequence[Any]]  # one timed call; returns its outputs (for the check)


class BenchCase(Protocol):
    """What the harness needs from one row of an op's benchmark (read-only)."""

    @property
    def op(self) -> str: ...  # one table per op and direction

    @property
    def group(self) -> str: ...  # workload group: "a", "b", ...

    @property
    def label(self) -> str: ...  # the shape column

    @property
    def series(self) -> str | None: ...  # rows also reported summed under this label

    @property
    def direction(self) -> str: ...

    @property
    def flop(self) -> int: ...  # 0 for memory-bound rows

    @property
    def bytes(self) -> int: ...  # bytes read + written; reported instead of FLOPs when flop is 0

    @property
    def heavy(self) -> bool: ...  # long calls: timed with the policy's fewer samples

    @property
    def impls(self) -> tuple[Impl, ...]: ...

    @property
    def tolerance(self) -> float: ...  # check() above this is reported as a mismatch

    def check(self) -> float | None:
        """Largest relative difference between ictus' and torch's outputs (None: no reference)."""


MISMATCH_TOL = 1e-3  # max |ictus - torch| / max |torch| per output; fp32 sums over T*N stay far below


def max_rel_diff(got: Sequence[Any], ref: Sequence[Any]) -> float:
    """max over outputs of max|got - ref| / max|ref|; integer outputs (indices) must match exactly
    (any difference counts 1.0). Arrays are NumPy arrays or torch tensors (CPU)."""
    errs = []
    for g, r in zip(got, ref, strict=True):
        g, r = np.asarray(g), np.asarray(r.detach() if hasattr(r, "detach") else r)
        if np.issubdtype(r.dtype, np.integer):
            errs.append(0.0 if np.array_equal(g, r) else 1.0)
        else:
            errs.append(float(np.max(np.abs(g - r)) / max(float(np.max(np.abs(r))), 1e-30)))
    return max(errs)


@dataclass(frozen=True)
class Case:
    """One table row to time (a BenchCase): what the op modules build."""

    op: str
    group: str
    label: str
    direction: str
    impls: tuple[Impl, ...]
    flop: int = 0
    bytes: int = 0
    series: str | None = None
    heavy: bool = False
    tolerance: float = MISMATCH_TOL

    def check(self) -> float | None:
        """max_rel_diff of ictus' outputs against torch's; None without torch. One call each."""
        by_name = {impl.name: impl for impl in self.impls}
        if "torch" not in by_name:
            return None
        got = [np.array(a, copy=True) for a in by_name["ictus"].run()]  # copy: the buffers get reused
        return max_rel_diff(got, by_name["torch"].run())


@dataclass(frozen=True)
class Roofs:
    """What a row's rate is compared with at its thread count (None: not measured)."""

    peak_gflops: float | None
    bandwidth_gbps: float | None = None


@dataclass(frozen=True)
class Result:
    op: str
    group: str
    shape: str
    series: str | None
    direction: str
    threads: int
    impl: str
    kernel: str
    median_ms: float
    samples: int
    flop: int
    gflops: float | None  # None on memory-bound rows (no FLOPs)
    pct_peak: float | None
    x_vs_torch: float | None  # torch ms / ictus ms (1.0 on torch rows); None without torch
    contended: bool  # other processes kept using CPU while this row ran (after retries)
    others_cpu: float  # CPUs' worth they used
    retries: int
    max_rel_err: float | None = None  # ictus rows: vs torch's outputs
    mismatch: bool = False  # max_rel_err above the case's tolerance: the timing is of a wrong result
    is_sum: bool = False  # a series' sum of per-layer medians
    bytes: int = 0  # memory-bound rows: bytes read + written per call
    gbps: float | None = None  # bytes / time
    pct_bw: float | None = None  # of the measured copy bandwidth

    @property
    def memory_bound(self) -> bool:
        return self.flop == 0 and self.bytes > 0


def set_threads(torch: ModuleType | None, n: int) -> None:
    """Both libraries on n threads, so a row compares like with like."""
    ictus.set_num_threads(n)
    if torch is not None:
        torch.set_num_threads(n)


def gflops(flop: int, ms: float) -> float:
    return flop / (ms * 1e-3) / 1e9


def _x_vs_torch(medians: dict[str, float], impl: str) -> float | None:
    return medians["torch"] / medians[impl] if "torch" in medians else None


def _pct(rate: float | None, roof: float | None) -> float | None:
    return 100 * rate / roof if rate is not None and roof else None


def measure_case(case: BenchCase, threads: int, roofs: Roofs, policy: TimingPolicy,
                 guard: NoiseGuard, torch: ModuleType | None) -> list[Result]:
    set_threads(torch, threads)
    if case.heavy:
        policy = replace(policy, min_runs=min(policy.min_runs, policy.heavy_min_runs))
    err = case.check()  # also a first call of each impl, outside the timed region
    what = f"{case.op} {case.label} {case.direction} {threads}T"
    got = guard.run(lambda: time_interleaved({i.name: i.run for i in case.impls}, policy), what)
    medians = {name: median_ms(s) for name, s in got.value.items()}
    results = []
    for impl in case.impls:
        ms = medians[impl.name]
        rate = gflops(case.flop, ms) if case.flop else None
        gbps = case.bytes / (ms * 1e-3) / 1e9 if case.bytes else None
        results.append(Result(
            op=case.op, group=case.group, shape=case.label, series=case.series,
            direction=case.direction, threads=threads, impl=impl.name, kernel=impl.kernel,
            median_ms=ms, samples=len(got.value[impl.name]), flop=case.flop, gflops=rate,
            pct_peak=_pct(rate, roofs.peak_gflops), x_vs_torch=_x_vs_torch(medians, impl.name),
            contended=got.contended, others_cpu=got.others_cpu, retries=got.retries,
            max_rel_err=err if impl.name == "ictus" else None,
            mismatch=impl.name == "ictus" and err is not None and err > case.tolerance,
            bytes=case.bytes, gbps=gbps, pct_bw=_pct(gbps, roofs.bandwidth_gbps)))
    return results


def series_sums(results: Sequence[Result], series: str, peaks: dict[int, float | None]) -> list[Result]:
    """One row per (direction, threads, impl): the sum of the series' per-layer medians and FLOPs.

    A network's forward pass runs its layers one after another, so the sum of the per-layer
    medians is what it costs (minus the other ops between layers).
    """
    members = [r for r in results if r.series == series and not r.is_sum]
    keys = list(dict.fromkeys((r.direction, r.threads) for r in members))
    sums = []
    for direction, threads in keys:
        rows = [r for r in members if (r.direction, r.threads) == (direction, threads)]
        by_impl: dict[str, list[Result]] = {}
        for r in rows:
            by_impl.setdefault(r.impl, []).append(r)
        medians = {impl: math.fsum(r.median_ms for r in rs) for impl, rs in by_impl.items()}
        for impl, rs in by_impl.items():
            flop = sum(r.flop for r in rs)
            rate = gflops(flop, medians[impl])
            peak = peaks.get(threads)
            errs = [r.max_rel_err for r in rs if r.max_rel_err is not None]
            sums.append(replace(
                rs[0], shape=series, median_ms=medians[impl], samples=sum(r.samples for r in rs),
                flop=flop, gflops=rate, pct_peak=100 * rate / peak if peak else None,
                x_vs_torch=_x_vs_torch(medians, impl), contended=any(r.contended for r in rs),
                others_cpu=max(r.others_cpu for r in rs), retries=sum(r.retries for r in rs),
                max_rel_err=max(errs) if errs else None, mismatch=any(r.mismatch for r in rs),
                is_sum=True))
    return sums
