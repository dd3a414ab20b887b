"""Interleaved timing: samples several implementations of one row in alternating blocks.

Why interleave: on a shared VM the machine's speed drifts over seconds (neighbours, host
frequency, the L3 shared with other tenants). Timing ictus for a while and then torch compares two
different machines; alternating blocks (A B B A A B ...: the mirrored order also cancels a linear
drift) lets both see the same conditions.

Why settle between blocks: after a parallel region libgomp's workers (torch) spin for ~10 ms on
this box before sleeping, and ictus' pool spins 0.2 ms. A block that starts while the other
library's workers still spin shares the cores with them (measured: ictus 2-thread calls 4x slower
for the first ~15 ms). So each block starts with a short sleep, then a few untimed calls that wake
its own workers and reload its data into cache.

Each sample is one call timed with time.perf_counter; the statistic is the median. The garbage
collector is off while sampling, as in timeit, so a collection does not land in one sample.
"""
from __future__ import annotations

import gc
import math
import statistics
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass


@dataclass(frozen=True)
class TimingPolicy:
    min_runs: int = 10  # samples per implementation and row, at least
    min_time_s: float = 0.2  # and at least this much sampled time per implementation
    max_runs: int = 10_000  # bounds tiny ops (Python call overhead dominates there anyway)
    blocks: int = 4  # blocks per implementation, alternating with the others
    warmup_s: float = 0.05  # untimed calls before the first block (at least 2 calls)
    settle_s: float = 0.025  # sleep before each block: libgomp's ~10 ms spin, with margin
    block_warmup_s: float = 0.003  # untimed calls at the start of each block
    long_call_s: float = 0.02  # calls at least this long skip the per-block warm-up
    heavy_min_runs: int = 5  # min_runs for rows marked heavy (0.1-1 s calls on N=8 spectrograms)


DEFAULT = TimingPolicy()
QUICK = TimingPolicy(min_runs=5, min_time_s=0.05, blocks=2, warmup_s=0.02, heavy_min_runs=3)


def _warm_up(fn: Callable[[], object], seconds: float, min_calls: int) -> float:
    """Untimed calls (first touch of buffers, lazy init, waking threads); returns seconds per call."""
    calls = 0
    t0 = time.perf_counter()
    while calls < min_calls or time.perf_counter() - t0 < seconds:
        fn()
        calls += 1
    return (time.perf_counter() - t0) / calls


def _sample(fn: Callable[[], object], out: list[float], runs: int, seconds: float, cap: int) -> None:
    """Appends samples to out until it has `runs` of them and `seconds` in total (at most cap)."""
    total = math.fsum(out)
    while len(out) < cap and (len(out) < runs or total < seconds):
        t0 = time.perf_counter()
        fn()
        dt = time.perf_counter() - t0
        out.append(dt)
        total += dt


def time_interleaved(fns: Mapping[str, Callable[[], object]], policy: TimingPolicy) -> dict[str, list[float]]:
    """Samples (seconds per call) of each callable, taken in alternating blocks."""
    names = list(fns)
    samples: dict[str, list[float]] = {name: [] for name in names}
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        # Two calls at least: the first one pays one-time costs (allocation, page faults).
        cost = {name: _warm_up(fns[name], policy.warmup_s, min_calls=2) for name in names}
        for block in range(policy.blocks):
            share = (block + 1) / policy.blocks  # cumulative quota after this block
            for name in names if block % 2 == 0 else reversed(names):
                fn = fns[name]
                time.sleep(policy.settle_s)
                if cost[name] < policy.long_call_s:
                    _warm_up(fn, policy.block_warmup_s, min_calls=1)
                _sample(fn, samples[name], runs=math.ceil(policy.min_runs * share),
                        seconds=policy.min_time_s * share, cap=math.ceil(policy.max_runs * share))
    finally:
        if gc_was_enabled:
            gc.enable()
    return samples


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1e3
