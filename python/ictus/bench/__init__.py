"""ictus' benchmark runner: ``python -m ictus.bench [--quick] [--json FILE] [--markdown FILE]``.

One harness for every op (harness.py): each row times ictus and torch interleaved, on the same
thread count, under a guard against other processes' load (noise.py, timing.py); shapes come from
real beat-tracking networks (workloads.py); one markdown table per op and direction, then the
performance targets (report.py, targets.py). Modules:

  workloads.py  shapes, groups a-h          harness.py  cases -> rows -> results
  conv1d.py     conv1d calls per row (a-c)  conv2d.py   conv2d calls per row (d, e)
  pool.py       max-pool calls (d, f)       frontend.py the CNN front-end chain (d)
  gru.py        GRU layer calls (g)         beats.py    the whole beat-tracking TCN (h)
  beats_twin.py its torch.nn twin (h)
  timing.py     interleaving                noise.py    shared-machine guard
  machine.py    header, FMA peak, copy BW   optional_torch.py  torch if installed
  report.py     tables, JSON                targets.py  target summary
  cli.py        command line
"""
from __future__ import annotations

from collections.abc import Sequence

__all__ = ["main"]


def main(argv: Sequence[str] | None = None) -> int:
    """Runs the benchmark with command-line arguments ``argv`` (default: sys.argv[1:])."""
    from .cli import (
        main as cli_main,  # lazy: importing the package should not import tqdm, torch
    )

    return cli_main(argv)
