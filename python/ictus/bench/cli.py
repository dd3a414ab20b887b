"""`python -m ictus.bench`: parses the command line, runs the rows, prints the report."""
from __future__ import annotations

import argparse
import dataclasses
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType

from tqdm import tqdm

from . import conv1d, report, targets, timing
from .harness import Result, measure_case, series_sums
from .machine import collect_facts, measure_peaks
from .noise import NoiseGuard
from .optional_torch import INSTALL_HINT, load_torch
from .workloads import GROUP_TITLES, GROUPS, conv1d_workloads

DESCRIPTION = f"""\
Benchmarks ictus' CPU kernels against torch (measured in the same run) on shapes from
beat-tracking networks, and prints markdown tables to stdout:

  shape | impl | median ms | GFLOP/s | % of peak | x vs torch | threads

one table per op and direction (forward; forward + backward with grad input, weight and bias),
then the performance targets with the measured numbers. Progress goes to stderr.

workload groups (conv1d, float32, padding 'same'):
  a  {GROUP_TITLES['a']}; T=3000 and T=30000 (--quick: T=3000),
     a row per dilation and a "sum of 11 dilations" row
  b  {GROUP_TITLES['b']}; dilations 1, 8, 64
  c  {GROUP_TITLES['c']}

% of peak is against the fp32 FMA peak measured at the start for each thread count; x vs torch is
torch ms / ictus ms (> 1: ictus is faster). On a shared machine, rows during which other processes
used CPU are retried and, if that persists, marked with a dagger.
"""

EPILOG = f"""\
examples:
  python -m ictus.bench                        # everything at 1 and 2 threads (~5 min)
  python -m ictus.bench --quick                # fewer samples, T=3000 only (< 1 min)
  python -m ictus.bench --groups c --threads 2 --json c.json
  python -m ictus.bench --markdown benchmarks/RESULTS.md.new

torch rows need torch ({INSTALL_HINT}); without it they read '-'.
"""

TITLES = {(conv1d.OP, d): f"{conv1d.OP}, {conv1d.DIRECTION_TITLES[d]}" for d in conv1d.DIRECTIONS}


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
                   help="fewer samples per row and T=3000 only for group a (under a minute)")
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


def _run_rows(args: argparse.Namespace, torch: ModuleType | None, peaks: dict[int, float | None],
              policy: timing.TimingPolicy, guard: NoiseGuard) -> list[Result]:
    shapes = conv1d_workloads(args.groups, args.quick)
    results: list[Result] = []
    total = len(shapes) * len(conv1d.DIRECTIONS) * len(args.threads)
    with tqdm(total=total, file=sys.stderr, unit="row", dynamic_ncols=True, desc=conv1d.OP) as bar:
        guard.log = lambda msg: bar.write(f"  {msg}", file=sys.stderr)
        for i, shape in enumerate(shapes):
            for direction in conv1d.DIRECTIONS:
                # One set of buffers per shape and direction; the thread count changes under it.
                case = conv1d.make_case(shape, direction, torch)
                for n in args.threads:
                    bar.set_postfix_str(f"{shape.label} {direction} {n}T")
                    results += measure_case(case, n, peaks[n], policy, guard, torch)
                    bar.update()
                del case  # frees its buffers before the next case allocates its own
            last_of_series = i + 1 == len(shapes) or shapes[i + 1].series != shape.series
            if shape.series and last_of_series:
                results += series_sums(results, shape.series, peaks)
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
    facts = collect_facts(torch, torch_note, args.threads)
    facts.peaks = measure_peaks(args.threads, guard, repeats=2 if args.quick else 3)
    peaks: dict[int, float | None] = {n: p.gflops for n, p in facts.peaks.items()}

    results = _run_rows(args, torch, peaks, policy, guard)
    goals = targets.evaluate(results)
    runtime = time.monotonic() - t0

    command = "python -m ictus.bench" + "".join(f" {a}" for a in (sys.argv[1:] if argv is None else argv))
    text = (report.header(facts, command, policy, torch_note)
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
