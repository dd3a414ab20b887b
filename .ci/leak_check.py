"""Leak check: thousands of calls of every CPU op must not grow the process.

Each round calls, under every CPU variant (``ictus.cpu_isas()``), conv1d and conv2d forward and
backward (fresh outputs and ``out=`` buffers), max_pool1d/2d forward and backward, GRU forward and
backward (with and without lengths), ELU forward and backward, the thread-count setter, and a set
of calls that raise from the compiled module (bad shapes, dtypes, hyper-parameters, out buffers),
so the error paths unwind whatever they allocated. Shapes are small and odd (vector tails, edge
tiles) so a round is quick.

Three checks, after ``--warmup`` rounds have filled the caches, scratch buffers and pool threads:

* the resident set size (``/proc/self/statm``) grows by at most ``--max-growth-mib`` over
  ``--rounds`` rounds (a per-call leak of even 100 bytes would show: rounds x calls is ~10^5);
* the reference counts of the inputs do not change (a binding that keeps a reference leaks the
  caller's arrays, which RSS alone would miss since the same inputs are reused);
* ``--reports DIR`` (after the loop ran in the ASan build with leak detection, as
  ``.ci/sanitize leaks`` does) reads the sanitizer reports in DIR instead: any ASan or UBSan
  error fails, and so does a leak whose allocation stack passes through ictus' compiled module
  (the leaks CPython leaves at exit do not).

Usage: ``python3 .ci/leak_check.py [--rounds 2000] [--warmup 200] [--max-growth-mib 2]``;
``--no-rss`` skips the RSS bound (ASan's quarantine holds freed memory, so RSS grows there).
"""
from __future__ import annotations

import argparse
import os
import re
import sys
import time
from collections.abc import Callable
from pathlib import Path

import ictus
import numpy as np

PAGE = os.sysconf("SC_PAGE_SIZE")
MIB = 1 << 20


def rss_bytes() -> int:
    with open("/proc/self/statm") as f:
        return int(f.read().split()[1]) * PAGE


def make_calls(rng: np.random.Generator) -> tuple[list[Callable[[], object]], list[np.ndarray]]:
    """The calls of one round and the input arrays whose reference counts must stay put."""
    def randn(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    # conv1d: x (N, C_in, T), w (C_out, C_in, K); dilation and odd sizes hit the vector tails.
    x1, w1, b1 = randn(2, 5, 37), randn(7, 5, 3), randn(7)
    gy1 = randn(2, 7, 37)
    y1_out = np.empty((2, 7, 37), np.float32)
    grads1 = (np.empty_like(x1), np.empty_like(w1), np.empty_like(b1))
    # conv2d: x (N, C_in, H, W), w (C_out, C_in, KH, KW).
    x2, w2, b2 = randn(2, 3, 11, 13), randn(4, 3, 3, 3), randn(4)
    gy2 = randn(2, 4, 11, 13)
    # pools: (N, C, T) and (N, C, H, W) with overlapping windows and padding.
    xp1, xp2 = randn(2, 3, 29), randn(2, 3, 9, 14)
    y_p1, i_p1 = ictus.max_pool1d(xp1, 3, 2, 1, return_indices=True)
    y_p2, i_p2 = ictus.max_pool2d(xp2, (3, 2), (2, 1), (1, 0), return_indices=True)
    y_13 = ictus.max_pool2d(xp2, (1, 3))
    gp1, gp2 = randn(*y_p1.shape), randn(*y_p2.shape)
    # GRU: x (T, N, D), h0 (N, H), weights (3H, D) and (3H, H).
    t, n, d, h = 9, 3, 5, 7
    xg, h0 = randn(t, n, d), randn(n, h)
    w_ih, w_hh, b_ih, b_hh = randn(3 * h, d), randn(3 * h, h), randn(3 * h), randn(3 * h)
    lengths = np.array([9, 4, 1], np.int64)
    _, _, reserve = ictus.gru(xg, h0, w_ih, w_hh, b_ih, b_hh, training=True)
    _, _, reserve_len = ictus.gru(xg, h0, w_ih, w_hh, b_ih, b_hh, training=True, lengths=lengths, reverse=True)
    gyg, ghn = randn(t, n, h), randn(n, h)
    # ELU on a length that is no multiple of any vector width.
    xe = randn(3, 67)
    ye = ictus.elu(xe, 0.7)
    ge = randn(3, 67)

    same = {"padding": "same", "dilation": 2}
    calls: list[Callable[[], object]] = [
        lambda: ictus.conv1d(x1, w1, b1, **same),
        lambda: ictus.conv1d(x1, w1, b1, **same, out=y1_out),
        lambda: ictus.conv1d(x1, w1, None, stride=2, padding="causal"),
        lambda: ictus.conv1d_backward(gy1, x1, w1, **same),
        lambda: ictus.conv1d_backward(gy1, x1, w1, **same, out=grads1),
        lambda: ictus.conv1d_backward(gy1, x1, w1, **same, bias=False, input_grad=False),
        lambda: ictus.conv2d(x2, w2, b2, padding="same"),
        lambda: ictus.conv2d(x2, w2, b2, stride=(2, 1), padding=(1, 0)),
        lambda: ictus.conv2d_backward(gy2, x2, w2, padding="same"),
        lambda: ictus.max_pool1d(xp1, 3, 2, 1, return_indices=True),
        lambda: ictus.max_pool1d(xp1, 4, ceil_mode=True),
        lambda: ictus.max_pool1d_backward(gp1, i_p1, xp1.shape),
        lambda: ictus.max_pool2d(xp2, (3, 2), (2, 1), (1, 0), return_indices=True),
        lambda: ictus.max_pool2d(xp2, (1, 3)),
        lambda: ictus.max_pool2d(xp2, (1, 3), return_indices=True, index_dtype="int32"),
        lambda: ictus.max_pool1d_backward(gp1, i_p1.astype(np.int32), xp1.shape, kernel_size=3, stride=2, padding=1),
        lambda: ictus.max_pool2d_backward(gp2, i_p2, xp2.shape, kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
        lambda: ictus.gru(xg, h0, w_ih, w_hh, b_ih, b_hh),
        lambda: ictus.gru(xg, None, w_ih, w_hh, None, None, linear_before_reset=False, training=True),
        lambda: ictus.gru_backward(gyg, ghn, xg, h0, w_ih, w_hh, reserve),
        lambda: ictus.gru_backward(gyg, None, xg, h0, w_ih, w_hh, reserve_len, reverse=True, lengths=lengths),
        lambda: ictus.elu(xe, 0.7),
        lambda: ictus.elu_backward(ge, ye, 0.7),
        lambda: ictus.dropout(xe, 0.3, 12345),
    ]
    bad_calls = [  # each raises TypeError or ValueError from the compiled module's checks
        lambda: ictus.conv1d(x1, w2),
        lambda: ictus.conv1d(x1.astype(np.float64), w1),
        lambda: ictus.conv1d(x1, w1, b1, out=np.empty((2, 7, 36), np.float32)),
        lambda: ictus.conv1d(x1, w1, stride=0),
        lambda: ictus.conv1d_backward(gy2, x1, w1),
        lambda: ictus.conv2d(x2, w2, padding="same", stride=2),
        lambda: ictus.conv2d_backward(gy2, x2, w2, padding="same", out=(None, np.empty((1,), np.float32), None)),
        lambda: ictus.max_pool1d(xp1, 3, padding=2),
        lambda: ictus.max_pool2d(xp2, (2, 0)),
        lambda: ictus.max_pool1d_backward(gp1, i_p1.astype(np.int16), xp1.shape),
        lambda: ictus.max_pool2d(xp2, (1, 3), return_indices=True, index_dtype="int32",
                                 out=(np.empty_like(y_13), np.empty(y_13.shape, np.int64))),
        lambda: ictus.max_pool2d_backward(gp2, i_p2, (2, 3, 9, 15), kernel_size=(3, 2), stride=(2, 1), padding=(1, 0)),
        lambda: ictus.gru(xg, h0, w_hh, w_hh),
        lambda: ictus.gru(xg, h0, w_ih, w_hh, lengths=np.array([0, 1, 2])),
        lambda: ictus.gru_backward(gyg, ghn, xg, h0, w_ih, w_hh, reserve[:1]),
        lambda: ictus.elu(xe.astype(np.float64)),
        lambda: ictus.elu_backward(ge, ye[:1]),
        lambda: ictus.dropout(xe.astype(np.float64), 0.5, 1),
        lambda: ictus.dropout(xe, 0.5, 1, out=xe),
        lambda: ictus.set_num_threads(0),
    ]
    calls += [raising(call) for call in bad_calls]
    inputs = [x1, w1, b1, gy1, y1_out, *grads1, x2, w2, b2, gy2, xp1, xp2, i_p1, i_p2, gp1, gp2,
              xg, h0, w_ih, w_hh, b_ih, b_hh, lengths, reserve, reserve_len, gyg, ghn, xe, ye, ge]
    return calls, inputs


def raising(call: Callable[[], object]) -> Callable[[], object]:
    def run() -> None:
        try:
            call()
        except (TypeError, ValueError):
            return
        raise AssertionError("a bad call did not raise")
    return run


def run_rounds(calls: list[Callable[[], object]], rounds: int) -> None:
    isas = ictus.cpu_isas()
    for i in range(rounds):
        ictus.set_num_threads(1 + i % 2)  # pool workers come and go
        for isa in isas:
            with ictus.use_cpu_isa(isa):
                for call in calls:
                    call()


def report_failures(report_dir: Path) -> list[str]:
    """What fails in the sanitizer reports of a LeakSanitizer run (ASAN_OPTIONS=log_path=DIR/asan
    writes DIR/asan.<pid>, UBSAN_OPTIONS=log_path=DIR/ubsan DIR/ubsan.<pid>): every ASan error and
    UBSan report, and the leaks that ictus caused."""
    failures = []
    for report in sorted(report_dir.iterdir()):
        text = report.read_text()
        if report.name.startswith("ubsan") or "ERROR: AddressSanitizer" in text:
            failures.append(f"{report}:\n{text}")
            continue
        for block in re.split(r"\n(?=(?:Direct|Indirect) leak of )", text):
            if block.startswith(("Direct", "Indirect")) and ("_core.cpython" in block or "/csrc/" in block):
                failures.append(block.strip())
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=2000, help="measured rounds (default 2000)")
    parser.add_argument("--warmup", type=int, default=200, help="rounds before the first RSS reading (default 200)")
    parser.add_argument("--max-growth-mib", type=float, default=2.0, help="RSS growth allowed (default 2 MiB)")
    parser.add_argument("--no-rss", action="store_true", help="skip the RSS bound (ASan builds)")
    parser.add_argument("--reports", type=Path, help="check the sanitizer reports in this folder instead of looping")
    args = parser.parse_args()
    if args.reports:
        failures = report_failures(args.reports)
        print(f"sanitizer reports in {args.reports}: {len(failures)} failure(s)")
        print("\n\n".join(failures))
        return 1 if failures else 0

    calls, inputs = make_calls(np.random.default_rng(0))
    per_round = len(calls) * len(ictus.cpu_isas())
    refcounts = [sys.getrefcount(a) for a in inputs]
    start = time.perf_counter()
    run_rounds(calls, args.warmup)
    before = rss_bytes()
    run_rounds(calls, args.rounds)
    growth = rss_bytes() - before
    seconds = time.perf_counter() - start
    changed = [i for i, (old, new) in enumerate(zip(refcounts, [sys.getrefcount(a) for a in inputs]))
               if new != old]
    print(f"leak check: {args.warmup} + {args.rounds} rounds x {per_round} calls "
          f"({len(calls)} calls x {len(ictus.cpu_isas())} variants {ictus.cpu_isas()}) in {seconds:.1f} s; "
          f"RSS {before / MIB:.1f} MiB after warm-up, growth {growth / MIB:+.2f} MiB "
          f"({growth / (args.rounds * per_round):+.1f} B/call)")
    ok = True
    if changed:
        print(f"FAIL: the reference counts of inputs {changed} changed: a binding keeps references")
        ok = False
    if not args.no_rss and growth > args.max_growth_mib * MIB:
        print(f"FAIL: RSS grew by {growth / MIB:.2f} MiB > {args.max_growth_mib} MiB")
        ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
