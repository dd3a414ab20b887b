"""The project's performance targets, read off the measured rows (reported, never asserted).

  (a) TCN T=3000, sum of the 11 layers, 1 thread: fwd >= 3x torch and >= 60% of peak;
      fwd+bwd >= 3x torch.
  (b), (c) >= 1.3x torch on every row; (c) fwd >= 70% of peak.
  2 threads never slower than 1 (ictus, every row); (c) 2 threads >= 1.8x 1 thread.
  (d) the front-end chain, N=1 T=3000, 1 thread: fwd >= 5x torch, fwd+bwd >= 4x torch.
  (e) >= 1.3x torch and >= 60% of peak on every row.
  (f) max_pool2d (1,3) forward (with and without indices), 1 thread: >= 10x torch and >= 60% of
      the measured copy bandwidth.
  (g) GRU layers, 1 thread, fwd and fwd+bwd: bi-GRU D=81 H=25 T=3000 N=1 >= 10x torch;
      D=128 H=256 N=16 >= 1.2x torch; D=512 H=512 N=32 >= 1.2x torch and >= 60% of peak.
  (h) the beat-tracking TCN, 1 thread: inference (N=1 T=3000) >= 5x torch; training step (N=8
      T=1000) >= 3x torch; the torch model with ictus.torch.patch (inference, N=1 T=3000) >= 3x
      the unpatched torch model.
A target reads "n/a" when the run did not measure what it needs (group not run, no torch, no
1- and 2-thread pair, no bandwidth).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from .frontend import OP as FRONT_END_OP
from .harness import Result
from .report import CONTENDED_MARK, fmt_pct, fmt_x
from .workloads import (
    BEAT_TCN_INFERENCE,
    BEAT_TCN_TRAINING,
    GRU_BATCH,
    GRU_BI_DIRECTIONAL,
    GRU_LARGE,
    FrontEndShape,
    GruShape,
    tcn_series_label,
)


@dataclass(frozen=True)
class Target:
    name: str
    goal: str
    measured: str
    met: bool | None  # None: not measured in this run
    details: list[str] = field(default_factory=list)


def _ictus(results: Sequence[Result], *, group: str, direction: str, is_sum: bool | None = None,
           shape: str | None = None) -> list[Result]:
    return [r for r in results if r.impl == "ictus" and r.group == group and r.direction == direction
            and (is_sum is None or r.is_sum == is_sum) and (shape is None or r.shape == shape)]


def _contended_note(rows: Sequence[Result]) -> str:
    return f" ({CONTENDED_MARK} contended rows involved)" if any(r.contended for r in rows) else ""


def _distinct(shapes: Sequence[str]) -> dict[str, str]:
    """Each shape label without the words all of them share at the start and at the end
    ('N=8 C=64 K=3 T=4096 d=8' -> 'd=8' among the (b) rows); a lone label keeps its last word."""
    unique = list(dict.fromkeys(shapes))
    words = [s.split(" ") for s in unique]
    if len(words) == 1:
        return {unique[0]: words[0][-1]}
    lead = 0
    while all(len(w) > lead + 1 and w[lead] == words[0][lead] for w in words):
        lead += 1
    trail = 0
    while all(len(w) > lead + trail + 1 and w[-1 - trail] == words[0][-1 - trail] for w in words):
        trail += 1
    return {s: " ".join(w[lead:len(w) - trail]) for s, w in zip(unique, words, strict=True)}


def _tcn_sum_target(results: Sequence[Result], direction: str, min_pct: float | None) -> Target:
    label = tcn_series_label(3000)
    goal = ">= 3x torch" + (f" and >= {min_pct:g}% of peak" if min_pct else "")
    name = f"(a) T=3000, sum of 11 dilations, {direction}, 1 thread"
    rows = [r for r in _ictus(results, group="a", direction=direction, is_sum=True, shape=label) if r.threads == 1]
    if not rows:
        return Target(name, goal, "not measured (needs group a and 1 thread)", None)
    r = rows[0]
    measured = f"{fmt_x(r.x_vs_torch)} torch, {fmt_pct(r.pct_peak)} of peak" + _contended_note(rows)
    if r.x_vs_torch is None:
        return Target(name, goal, measured + "; no torch to compare with", None)
    met = r.x_vs_torch >= 3 and (min_pct is None or (r.pct_peak or 0.0) >= min_pct)
    return Target(name, goal, measured, met)


def _every_row_target(results: Sequence[Result], group: str, directions: tuple[str, ...], name: str,
                      goal: str, value: Callable[[Result], float | None], show: Callable[[float | None], str],
                      ok: Callable[[float], bool]) -> Target:
    rows = [r for d in directions for r in _ictus(results, group=group, direction=d, is_sum=False)]
    values = [(r, value(r)) for r in rows]
    if not rows or any(v is None for _, v in values):
        why = "not measured" if not rows else "no torch to compare with"
        return Target(name, goal, why, None)
    short = _distinct([r.shape for r in rows])
    measured = ", ".join(f"{short[r.shape]}{f' {r.direction}' if len(directions) > 1 else ''} "
                         f"@{r.threads}T {show(v)}" for r, v in values) + _contended_note(rows)
    return Target(name, goal, measured, all(ok(v) for _, v in values if v is not None))


def _front_end_target(results: Sequence[Result], direction: str, min_x: float) -> Target:
    name = f"(d) front end N=1 T=3000, {direction}, 1 thread"
    goal = f">= {min_x:g}x torch"
    rows = [r for r in _ictus(results, group="d", direction=direction, shape=FrontEndShape(1).label)
            if r.op == FRONT_END_OP]
    one = [r for r in rows if r.threads == 1]
    if not one:
        return Target(name, goal, "not measured (needs group d and 1 thread)", None)
    r = one[0]
    measured = f"{fmt_x(r.x_vs_torch)} torch, {fmt_pct(r.pct_peak)} of peak" + _contended_note(one)
    others = [f"{q.threads} threads: {fmt_x(q.x_vs_torch)} torch, {fmt_pct(q.pct_peak)} of peak"
              for q in rows if q.threads != 1]
    if r.x_vs_torch is None:
        return Target(name, goal, measured + "; no torch to compare with", None, others)
    return Target(name, goal, measured, r.x_vs_torch >= min_x, others)


def _pool_target(results: Sequence[Result], min_x: float, min_pct_bw: float) -> Target:
    name = "(f) max_pool2d (1,3) forward, 1 thread"
    goal = f">= {min_x:g}x torch and >= {min_pct_bw:g}% of the copy bandwidth"
    rows = [r for d in ("fwd", "fwd+idx") for r in _ictus(results, group="f", direction=d)
            if r.op == "max_pool2d" and r.threads == 1]
    if not rows:
        return Target(name, goal, "not measured (needs group f and 1 thread)", None)
    measured = "; ".join(f"{r.direction} {fmt_x(r.x_vs_torch)} torch, {fmt_pct(r.pct_bw)} of BW"
                         for r in rows) + _contended_note(rows)
    if any(r.x_vs_torch is None or r.pct_bw is None for r in rows):
        return Target(name, goal, measured + "; no torch or no bandwidth to compare with", None)
    met = all((r.x_vs_torch or 0.0) >= min_x and (r.pct_bw or 0.0) >= min_pct_bw for r in rows)
    return Target(name, goal, measured, met)


def _row_target(results: Sequence[Result], name: str, group: str, shape: str, direction: str, min_x: float,
                min_pct: float | None = None, skipped_by: str = "") -> Target:
    """One shape's 1-thread ictus row against torch (and the peak); skipped_by: what else leaves it out."""
    goal = f">= {min_x:g}x torch" + (f" and >= {min_pct:g}% of peak" if min_pct else "")
    rows = [r for r in _ictus(results, group=group, direction=direction, shape=shape) if r.threads == 1]
    if not rows:
        return Target(name, goal, f"not measured (needs group {group} and 1 thread{skipped_by})", None)
    r = rows[0]
    measured = f"{fmt_x(r.x_vs_torch)} torch, {fmt_pct(r.pct_peak)} of peak" + _contended_note(rows)
    if r.x_vs_torch is None:
        return Target(name, goal, measured + "; no torch to compare with", None)
    met = r.x_vs_torch >= min_x and (min_pct is None or (r.pct_peak or 0.0) >= min_pct)
    return Target(name, goal, measured, met)


def _gru_target(results: Sequence[Result], shape: GruShape, direction: str, min_x: float,
                min_pct: float | None = None) -> Target:
    return _row_target(results, f"(g) {shape.label}, {direction}, 1 thread", "g", shape.label, direction, min_x,
                       min_pct, skipped_by="; --quick skips the N>1 rows")


def _beat_tcn_targets(results: Sequence[Result]) -> list[Target]:
    inference, training = BEAT_TCN_INFERENCE.label, BEAT_TCN_TRAINING.label
    return [
        _row_target(results, f"(h) beat TCN {inference}, inference, 1 thread", "h", inference, "fwd", 5.0),
        _row_target(results, f"(h) beat TCN {training}, training step, 1 thread", "h", training, "train step", 3.0),
        _row_target(results, f"(h) torch beat TCN with ictus.torch.patch {inference}, inference, 1 thread "
                             "(x vs the unpatched torch model)", "h", inference, "patch fwd", 3.0,
                    skipped_by="; --quick and --no-torch skip it"),
    ]


SpeedupKey = tuple[str, str, str, str]  # group, op, shape, direction


def _speedups(results: Sequence[Result]) -> dict[SpeedupKey, tuple[float, Result, Result]]:
    """(group, op, shape, direction) -> (ictus 1-thread ms / 2-thread ms, the 1T row, the 2T row)."""
    rows = {(r.group, r.op, r.shape, r.direction, r.threads): r for r in results if r.impl == "ictus"}
    out = {}
    for (group, op, shape, direction, threads), r1 in rows.items():
        r2 = rows.get((group, op, shape, direction, 2))
        if threads == 1 and r2 is not None:
            out[(group, op, shape, direction)] = (r1.median_ms / r2.median_ms, r1, r2)
    return out


def _speedup_details(results: Sequence[Result]) -> list[str]:
    """2 vs 1 thread per row group: a series' sum and its per-layer range, or each shape."""
    sp = _speedups(results)
    ops_per_group: dict[str, set[str]] = {}
    shapes_per_group: dict[str, list[str]] = {}
    for g, op, shape, _ in sp:
        ops_per_group.setdefault(g, set()).add(op)
        shapes_per_group.setdefault(g, []).append(shape)
    short = {g: _distinct(shapes) for g, shapes in shapes_per_group.items()}
    lines = []
    for group, op, direction in dict.fromkeys((g, o, d) for g, o, _, d in sp):
        entries = [(shape, s, r1) for (g, o, shape, d), (s, r1, _) in sp.items() if (g, o, d) == (group, op, direction)]
        what = f"{op} {direction}" if len(ops_per_group[group]) > 1 else direction
        sums = [e for e in entries if e[2].is_sum]
        if sums:
            for shape, s, r1 in sums:
                layers = [s2 for sh, s2, q in entries if q.series == r1.series and not q.is_sum]
                lines.append(f"({group}) {shape}, {what}: {s:.2f}x "
                             f"(per layer {min(layers):.2f}x-{max(layers):.2f}x)")
        else:
            parts = ", ".join(f"{short[group][shape]} {s:.2f}x" for shape, s, _ in entries)
            lines.append(f"({group}) {what}: {parts}")
    return lines


def _never_slower_target(results: Sequence[Result]) -> Target:
    name, goal = "2 threads never slower than 1 (ictus, every row)", "2-thread / 1-thread speedup >= 1.0x"
    sp = {k: v for k, v in _speedups(results).items() if not v[1].is_sum}
    if not sp:
        return Target(name, goal, "not measured (needs --threads with 1 and 2)", None)
    (group, _, shape, direction), (worst, _, _) = min(sp.items(), key=lambda kv: kv[1][0])
    involved = [r for _, r1, r2 in sp.values() for r in (r1, r2)]
    measured = f"slowest scaling {worst:.2f}x: ({group}) {shape} {direction}" + _contended_note(involved)
    return Target(name, goal, measured, worst >= 1.0, details=_speedup_details(results))


def _c_scaling_target(results: Sequence[Result]) -> Target:
    name, goal = "(c) 2 threads vs 1 thread (ictus)", ">= 1.8x"
    sp = [(d, s, r1, r2) for (g, _, _, d), (s, r1, r2) in _speedups(results).items() if g == "c"]
    if not sp:
        return Target(name, goal, "not measured (needs group c and threads 1 and 2)", None)
    measured = ", ".join(f"{d} {s:.2f}x" for d, s, _, _ in sp) + _contended_note(
        [r for _, _, r1, r2 in sp for r in (r1, r2)])
    return Target(name, goal, measured, all(s >= 1.8 for _, s, _, _ in sp))


def evaluate(results: Sequence[Result]) -> list[Target]:
    targets = [_tcn_sum_target(results, "fwd", 60.0), _tcn_sum_target(results, "fwd+bwd", None)]
    for group in ("b", "c"):
        for direction in ("fwd", "fwd+bwd"):
            targets.append(_every_row_target(
                results, group, (direction,), f"({group}) {direction} vs torch", ">= 1.3x torch on every row",
                value=lambda r: r.x_vs_torch, show=fmt_x, ok=lambda v: v >= 1.3))
    targets.append(_every_row_target(
        results, "c", ("fwd",), "(c) fwd % of peak", ">= 70% of peak", value=lambda r: r.pct_peak,
        show=fmt_pct, ok=lambda v: v >= 70.0))
    targets += [_front_end_target(results, "fwd", 5.0), _front_end_target(results, "fwd+bwd", 4.0)]
    both = ("fwd", "fwd+bwd")
    targets += [
        _every_row_target(results, "e", both, "(e) key-CNN blocks vs torch", ">= 1.3x torch on every row",
                          value=lambda r: r.x_vs_torch, show=fmt_x, ok=lambda v: v >= 1.3),
        _every_row_target(results, "e", both, "(e) key-CNN blocks % of peak", ">= 60% of peak on every row",
                          value=lambda r: r.pct_peak, show=fmt_pct, ok=lambda v: v >= 60.0),
        _pool_target(results, 10.0, 60.0),
    ]
    for direction in both:
        targets += [_gru_target(results, GRU_BI_DIRECTIONAL, direction, 10.0),
                    _gru_target(results, GRU_BATCH, direction, 1.2),
                    _gru_target(results, GRU_LARGE, direction, 1.2, 60.0)]
    targets += _beat_tcn_targets(results)
    targets += [_never_slower_target(results), _c_scaling_target(results)]
    return targets


def format_targets(targets: Sequence[Target]) -> str:
    lines = ["", "## Targets", ""]
    for t in targets:
        box, word = {True: ("[x]", "met"), False: ("[ ]", "MISSED"), None: ("[ ]", "n/a")}[t.met]
        lines.append(f"- {box} **{word}** {t.name}: {t.measured} (goal: {t.goal})")
        lines += [f"  - {d}" for d in t.details]
    return "\n".join(lines) + "\n"
