"""Shared-machine guard: notice when other processes take CPU while a row is being timed.

The project's box is a 2-vCPU VM shared with other jobs. One other busy process halves what a
2-thread kernel can get (a worker loses its time slice and the whole call waits for it), so a
number taken then says nothing about the kernel. Like shared/torch_baseline.py, the guard reads
/proc/stat (all CPU time, steal included) and /proc/self/stat (this process: ictus' and torch's
threads alike) before and after a row; the difference is the CPU other processes used. A row
during which others used >= `limit` CPUs is retried, and tagged contended if it stays so.
Waiting and retrying draw on one run-wide budget: when another job keeps the box busy for minutes,
waiting does not help, so once the budget is spent rows are measured once and tagged.
Without /proc (not Linux) the guard measures nothing and never retries.
"""
from __future__ import annotations

import os
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Generic, TypeVar

T = TypeVar("T")

_HZ = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


@dataclass(frozen=True)
class _Snapshot:
    busy_ticks: int  # all CPUs: everything but idle and iowait (steal counts: the host took it)
    own_ticks: int  # this process: utime + stime + children's
    wall: float


def _snapshot() -> _Snapshot | None:
    try:
        with open("/proc/stat") as f:
            v = [int(x) for x in f.readline().split()[1:9]]
        with open("/proc/self/stat") as f:
            st = f.read().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return _Snapshot(busy_ticks=sum(v) - v[3] - v[4], own_ticks=sum(int(x) for x in st[11:15]),
                     wall=time.monotonic())


def _others_load(s0: _Snapshot | None, s1: _Snapshot | None) -> float:
    """CPUs' worth of time that other processes (and the hypervisor) used between s0 and s1."""
    if s0 is None or s1 is None:
        return 0.0
    dt = max(s1.wall - s0.wall, 1e-3)
    return max(0.0, ((s1.busy_ticks - s0.busy_ticks) - (s1.own_ticks - s0.own_ticks)) / _HZ / dt)


@dataclass(frozen=True)
class Guarded(Generic[T]):
    value: T
    others_cpu: float  # CPUs used by other processes during the kept attempt
    retries: int
    contended: bool


class NoiseGuard:
    """Runs measurements when the machine is quiet, retries contended ones, tags the rest."""

    def __init__(self, *, limit: float = 0.1, attempts: int = 3, max_wait_s: float = 20.0,
                 budget_s: float = 60.0, probe_s: float = 0.25,
                 log: Callable[[str], None] = lambda msg: None) -> None:
        self.limit = limit
        self.attempts = attempts
        self.max_wait_s = max_wait_s  # per row
        self.budget_s = budget_s  # for the whole run: waits plus the time of discarded attempts
        self.probe_s = probe_s
        self.log = log
        self._spent_s = 0.0
        # The load seen by the last measurement and when it ended: a quiet row just before lets the
        # next one skip the probe (a probe per row would add ~30 s to a full run).
        self._last_load = float("inf")
        self._last_end = 0.0

    def wait_quiet(self) -> float:
        """Waits (at most max_wait_s) until others use < limit CPU; returns the last load seen."""
        if self._last_load < self.limit and time.monotonic() - self._last_end < 1.0:
            return self._last_load
        if self._budget_left() == 0:
            return self._last_load
        start = time.monotonic()
        deadline = start + min(self.max_wait_s, self._budget_left())
        try:
            while True:
                s0 = _snapshot()
                time.sleep(self.probe_s)
                load = _others_load(s0, _snapshot())
                self._last_load, self._last_end = load, time.monotonic()
                if load < self.limit or time.monotonic() > deadline:
                    return load
                time.sleep(1.0)
        finally:
            self._spend(time.monotonic() - start)

    def _budget_left(self) -> float:
        return max(0.0, self.budget_s - self._spent_s)

    def _spend(self, seconds: float) -> None:
        had_budget = self._budget_left() > 0
        self._spent_s += seconds
        if had_budget and self._budget_left() == 0:
            self.log(f"spent the {self.budget_s:g} s budget for waiting out other processes: "
                     "from now on contended rows are measured once and tagged")

    def run(self, measure: Callable[[], T], what: str) -> Guarded[T]:
        """measure() under the guard; the kept result is the first quiet one, else the last."""
        attempt = 0
        while True:
            self.wait_quiet()
            s0 = _snapshot()
            value = measure()
            s1 = _snapshot()
            load = _others_load(s0, s1)
            self._last_load, self._last_end = load, time.monotonic()
            if load < self.limit:
                return Guarded(value, load, attempt, contended=False)
            if attempt + 1 >= self.attempts or self._budget_left() == 0:
                self.log(f"{what}: other processes used {load:.2f} CPU (attempt {attempt + 1}); tagged")
                return Guarded(value, load, attempt, contended=True)
            self.log(f"{what}: other processes used {load:.2f} CPU; retrying")
            self._spend(s1.wall - s0.wall if s0 and s1 else 0.0)
            attempt += 1
