"""`python -m ictus.bench`: parses the command line, runs the rows, prints the report."""
from __future__ import annotations

import argparse
import dataclasses
import functools
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from . import beats, conv1d, conv2d, frontend, gru, pool, report, targets, timing
from .harness import BenchCase, Result, Roofs, measure_case, series_sums
from .machine import KERNEL_OPS, collect_facts, measure_bandwidth, measure_peaks
from .noise import NoiseGuard
from .optional_torch import INSTALL_HINT, load_torch
from .workloads import (
    BANDWIDTH_GROUPS,
    GROUP_TITLES,
    GROUPS,
    BeatTcnShape,
    Conv1dShape,
    Conv2dShape,
    GruShape,
    PoolShape,
    Workload,
    workloads,
)

DESCRIPTION = f"""\
Benchmarks ictus' CPU kernels against torch (measured in the same run) on shapes from
beat-tracking networks, and prints markdown tables to stdout:

  shape | impl | median ms | GFLOP/s | % of peak | x vs torch | threads

one table per op and direction (forward; forward + backward with grad input, weight and bias;
max-pool: forward, forward with indices, backward), then the performance targets with the
measured numbers. Progress goes to stderr.

workload groups (float32; conv1d padding 'same'):
  a  {GROUP_TITLES['a']}; T=3000 and T=30000 (--quick: T=3000),
     a row per dilation and a "sum of 11 dilations" row
  b  {GROUP_TITLES['b']}; dilations 1, 8, 64
  c  {GROUP_TITLES['c']}
  d  {GROUP_TITLES['d']} (--quick: N=1):
     conv2d 1->16 3x3, max_pool2d (1,3), conv2d 16->16 3x3, max_pool2d (1,3), conv2d 16->16 1x8
     ('valid'), each alone and as one chain row (forward; forward + backward)
  e  {GROUP_TITLES['e']}
  f  {GROUP_TITLES['f']}
  g  {GROUP_TITLES['g']}: bi-directional D=81 H=25 T=3000 N=1,
     D=128 H=128 T=1000 N=1, D=128 H=256 T=1000 N=16, D=512 H=512 T=500 N=32 (--quick: the N=1
     rows); the bi-directional layer is two ictus calls (the second reverse=True) against one
     torch.nn.GRU(bidirectional=True)
  h  {GROUP_TITLES['h']}: ictus.nn against the same network built
     from torch.nn modules with the same weights: inference on one 30 s track (x 1x1x3004x81), a
     training step on N=8 x 1000 frames (forward, BCE + cross-entropy, backward, clip to norm 0.5,
     RAdam; ictus.nn + ictus.optim vs autograd + torch.optim), and the torch network with
     ictus.torch.patch against it unpatched (--quick: no patch row); outputs (and, with dropout 0,
     one step's gradients) compared with torch before timing

% of peak is against the fp32 FMA peak measured at the start for each thread count. Max-pool rows
are memory-bound and report GB/s (bytes read + written) and % of BW, against a 1-thread copy
bandwidth measured at the start (directions: fwd without indices, fwd+idx, bwd alone). x vs torch
is torch ms / ictus ms (> 1: ictus is faster). On a shared machine, rows during which other
processes used CPU are retried and, if that persists, marked with a dagger.
"""

EPILOG = f"""\
examples:
  python -m ictus.bench                        # everything at 1 and 2 threads (~10 min)
  python -m ictus.bench --quick                # fewer samples, T=3000 and N=1 only (~3 min)
  python -m ictus.bench --groups c --threads 2 --json c.json
  python -m ictus.bench --groups d,f --threads 1  # the CNN front end and the max-pools
  python -m ictus.bench --groups g --threads 1    # the GRU layers
  python -m ictus.bench --groups h --threads 1    # the whole beat-tracking TCN
  python -m ictus.bench --markdown benchmarks/RESULTS.md.new

torch rows need torch ({INSTALL_HINT}); without it they read '-'.
"""

TITLES = {
    **{(conv1d.OP, d): f"{conv1d.OP}, {conv1d.DIRECTION_TITLES[d]}" for d in conv1d.DIRECTIONS},
    **{(conv2d.OP, d): f"{conv2d.OP}, {conv2d.DIRECTION_TITLES[d]}" for d in conv2d.DIRECTIONS},
    **{(frontend.OP, d): f"CNN front-end chain (conv, pool, conv, pool, conv), {frontend.DIRECTION_TITLES[d]}"
       for d in frontend.DIRECTIONS},
    **{(op, d): f"{op} (memory-bound: GB/s), {pool.DIRECTION_TITLES[d]}"
       for op in ("max_pool2d", "max_pool1d") for d in pool.DIRECTIONS},
    **{(gru.OP, d): f"GRU layer, {gru.DIRECTION_TITLES[d]}" for d in gru.DIRECTIONS},
    **{(beats.OP, d): f"beat-tracking TCN (BeatTCN), {beats.DIRECTION_TITLES[d]}" for d in beats.DIRECTIONS},
}
# The kernels named in the header, per op module that a run uses.
_KERNEL_OPS = {"conv1d": KERNEL_OPS,
               "conv2d": ("conv2d_fwd", "conv2d_bwd_data", "conv2d_bwd_data_scatter", "conv2d_bwd_weight",
                          "conv2d_winograd", "conv2d_fwd_windows", "conv2d_bwd_data_windows",
                          "conv2d_bwd_weight_sparse", "conv2d_bwd_data_sparse"),
               "pool": ("max_pool2d_fwd", "max_pool2d_bwd", "max_pool1d_fwd", "max_pool1d_bwd"),
               "gru": ("gru_fwd", "gru_bwd"), "elementwise": ("elu_fwd", "elu_bwd", "dropout")}


@dataclass(frozen=True)
class Job:
    """One shape: a case per direction (built when it runs), each timed at every thread count."""

    shape: Workload
    directions: tuple[str, ...]
    make: Callable[[str, ModuleType | None], BenchCase]

    @property
    def series(self) -> str | None:
        return self.shape.series if isinstance(self.shape, Conv1dShape) else None


def _job(shape: Workload) -> Job:
    if isinstance(shape, Conv1dShape):
        return Job(shape, conv1d.DIRECTIONS, functools.partial(conv1d.make_case, shape))
    if isinstance(shape, Conv2dShape):
        return Job(shape, conv2d.DIRECTIONS, functools.partial(conv2d.make_case, shape))
    if isinstance(shape, PoolShape):
        return Job(shape, pool.DIRECTIONS, functools.partial(pool.make_case, shape))
    if isinstance(shape, GruShape):
        return Job(shape, gru.DIRECTIONS, functools.partial(gru.make_case, shape))
    if isinstance(shape, BeatTcnShape):
        return Job(shape, shape.directions, functools.partial(beats.make_case, shape))
    return Job(shape, frontend.DIRECTIONS, functools.partial(frontend.make_case, shape))


def _kernel_ops(groups: tuple[str, ...]) -> tuple[str, ...]:
    modules = ((["conv1d"] if {"a", "b", "c", "h"} & set(groups) else [])
               + (["conv2d"] if {"d", "e", "h"} & set(groups) else [])
               + (["pool"] if {"d", "f", "h"} & set(groups) else [])
               + (["gru"] if "g" in groups else [])
               + (["elementwise"] if "h" in groups else []))
    return tuple(op for m in modules for op in _KERNEL_OPS[m])


def _int_list(text: str) -> list[int]:
    try:
        values = [int(v) for v in text.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a comma list of integers, got {text!r}") from None
    if not values or any(v < 1 for v in values):
        raise argparse.ArgumentTypeError(f"expected thread counts >= 1, got {text!r}")
    return list(dict.fromkeys(values))


def _group_list(text: str) -> tuple[str, ...]:
    groups = tuple(dict.fromkeys(g.strip() for g in text.split(",") if g.strip()))
    unknown = [g for g in groups if g not in GROUPS]
    if not groups or unknown:
        raise argparse.ArgumentTypeError(
            f"unknown group(s) {unknown or text!r}; use a comma list of {', '.join(GROUPS)}")
    return groups


def parse_args(argv: Sequence[str] | None) -> argparse.Namespace:
    p = argparse.ArgumentParser(prog="python -m ictus.bench", description=DESCRIPTION, epilog=EPILOG,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--threads", type=_int_list, default=[1, 2], metavar="LIST",
                   help="comma list of thread counts, set for ictus and torch alike (default: 1,2)")
    p.add_argument("--groups", type=_group_list, default=GROUPS, metavar="LIST",
                   help=f"comma list of workload groups to run (default: {','.join(GROUPS)})")
    p.add_argument("--quick", action="store_true",
                   help="fewer samples per row, T=3000 only for group a, N=1 only for group d, "
                        "the two N=1 GRUs of group g and no patch row in group h (about 3 minutes "
                        "for everything)")
    p.add_argument("--json", type=Path, metavar="FILE",
                   help="also write every row (with sample counts and contention flags), the machine "
                        "header and the targets as JSON")
    p.add_argument("--markdown", type=Path, metavar="FILE",
                   help="also write the header, tables and targets to FILE (for benchmarks/RESULTS.md)")
    p.add_argument("--no-torch", action="store_true", help="skip the torch rows even if torch is installed")
    p.add_argument("--max-wait", type=float, default=None, metavar="SECONDS",
                   help="how long to wait for other processes to go quiet before a row "
                        "(default: 20, or 5 with --quick)")
    p.add_argument("--wait-budget", type=float, default=None, metavar="SECONDS",
                   help="waiting and retrying for quiet, in all; once spent, contended rows are measured "
                        "once and tagged (default: 60, or 10 with --quick)")
    return p.parse_args(argv)


def _run_rows(args: argparse.Namespace, torch: ModuleType | None, roofs: dict[int, Roofs],
              policy: timing.TimingPolicy, guard: NoiseGuard) -> list[Result]:
    jobs = [_job(shape) for shape in workloads(args.groups, args.quick)]
    peaks = {n: r.peak_gflops for n, r in roofs.items()}
    results: list[Result] = []
    total = sum(len(job.directions) for job in jobs) * len(args.threads)
    with tqdm(total=total, file=sys.stderr, unit="row", dynamic_ncols=True, desc="rows") as bar:
        guard.log = lambda msg: bar.write(f"  {msg}", file=sys.stderr)
        for i, job in enumerate(jobs):
            for direction in job.directions:
                # One set of buffers per shape and direction; the thread count changes under it.
                case = job.make(direction, torch)
                for n in args.threads:
                    bar.set_postfix_str(f"{case.op} {case.label} {direction} {n}T")
                    results += measure_case(case, n, roofs[n], policy, guard, torch)
                    bar.update()
                del case  # frees its buffers before the next case allocates its own
            last_of_series = i + 1 == len(jobs) or jobs[i + 1].series != job.series
            if job.series and last_of_series:
                results += series_sums(results, job.series, peaks)
    return results


def _default(value: float | None, *, quick: float, full: float, is_quick: bool) -> float:
    if value is not None:
        return value
    return quick if is_quick else full


def main(argv: Sequence[str] | None = None) -> int:
    args = parse_args(argv)
    t0 = time.monotonic()
    policy = timing.QUICK if args.quick else timing.DEFAULT
    guard = NoiseGuard(
        attempts=2 if args.quick else 3,
        max_wait_s=_default(args.max_wait, quick=5.0, full=20.0, is_quick=args.quick),
        budget_s=_default(args.wait_budget, quick=10.0, full=60.0, is_quick=args.quick),
        log=lambda msg: print(f"  {msg}", file=sys.stderr, flush=True))
    torch, torch_note = load_torch(not args.no_torch)

    print(f"measuring the fp32 FMA peak at {','.join(map(str, args.threads))} thread(s)...",
          file=sys.stderr, flush=True)
    facts = collect_facts(torch, torch_note, args.threads, _kernel_ops(args.groups))
    facts.peaks = measure_peaks(args.threads, guard, repeats=2 if args.quick else 3)
    if set(BANDWIDTH_GROUPS) & set(args.groups):
        print("measuring the 1-thread copy bandwidth...", file=sys.stderr, flush=True)
        facts.bandwidth = measure_bandwidth(guard)
    bandwidth = facts.bandwidth.gbps if facts.bandwidth else None
    # The copy bandwidth is a 1-thread figure; every thread count's rows are compared with it.
    roofs = {n: Roofs(p.gflops, bandwidth) for n, p in facts.peaks.items()}

    results = _run_rows(args, torch, roofs, policy, guard)
    goals = targets.evaluate(results)
    runtime = time.monotonic() - t0

    command = "python -m ictus.bench" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    ops = dict.fromkeys(r.op for r in results)
    text = (report.header(facts, command, policy, torch_note, ops)
            + report.tables(results, TITLES, torch_missing=torch is None)
            + targets.format_targets(goals)
            + report.footer(results, runtime))
    sys.stdout.write(text)
    sys.stdout.flush()
    if args.markdown:
        args.markdown.write_text(text)
    if args.json:
        args.json.write_text(report.to_json(facts, results, [dataclasses.asdict(t) for t in goals], policy,
                                            command, runtime, torch_note))
    return 0
