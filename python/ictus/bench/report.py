"""The report: a machine header, one markdown table per op and direction, and the JSON dump.

Table columns (CONVENTIONS habit 7): shape | impl | median ms | GFLOP/s | % of peak | x vs torch |
threads; memory-bound tables (max-pool) have GB/s | % of BW in place of GFLOP/s | % of peak.
x vs torch = torch ms / ictus ms, so > 1 means ictus is faster. A † after the time marks a row
during which other processes kept using CPU (after retries): treat it as a lower bound.
"""
from __future__ import annotations

import dataclasses
import json
from collections.abc import Collection, Sequence
from typing import Any

from .beats import OP as BEAT_TCN_OP
from .frontend import OP as FRONT_END_OP
from .harness import Result
from .machine import BANDWIDTH_MIB, Bandwidth, MachineFacts
from .timing import TimingPolicy

CONTENDED_MARK = "†"


def fmt(v: float | None) -> str:
    """Three significant figures or so, '-' for missing."""
    if v is None:
        return "-"
    if abs(v) >= 100:
        return f"{v:.0f}"
    if abs(v) >= 10:
        return f"{v:.1f}"
    if abs(v) >= 1:
        return f"{v:.2f}"
    return f"{v:.3f}"


def fmt_x(v: float | None) -> str:
    return "-" if v is None else f"{v:.2f}x"


def fmt_pct(v: float | None) -> str:
    return "-" if v is None else f"{v:.1f}%"


def header(facts: MachineFacts, command: str, policy: TimingPolicy, torch_note: str,
           ops: Collection[str] = ("conv1d",)) -> str:
    peaks = "; ".join(f"{n} thread{'s' if n > 1 else ''}: {fmt(p.gflops)} GFLOP/s"
                      + (f" {CONTENDED_MARK}" if p.contended else "") for n, p in facts.peaks.items())
    kernels = ", ".join(f"{op} -> `{name}`" for op, name in facts.kernels.items())
    rows = [
        ("date", facts.date),
        ("CPU", f"{facts.cpu_model}; {facts.logical_cpus} logical CPUs, {facts.usable_cpus} usable"),
        ("ictus", f"{facts.ictus_version}, ISA {facts.isa}; kernels: {kernels}"),
        (f"fp32 FMA peak ({facts.isa}, measured now)", peaks),
        *([("copy bandwidth (measured now)", _bandwidth(facts.bandwidth))] if facts.bandwidth else []),
        ("torch", facts.torch),
        ("threads", ", ".join(map(str, facts.threads)) + " (ictus.set_num_threads and torch.set_num_threads)"),
        ("Python / NumPy", f"{facts.python} / {facts.numpy}"),
        ("CUDA", facts.cuda),
        ("command", f"`{command}`"),
    ]
    lines = ["# ictus benchmarks", "", "| | |", "|---|---|"]
    lines += [f"| {k} | {v} |" for k, v in rows]
    lines += ["", _method(policy, with_torch=not torch_note, ops=ops)]
    if torch_note:
        lines += ["", f"**Note:** {torch_note}."]
    return "\n".join(lines) + "\n"


def _bandwidth(bw: Bandwidth) -> str:
    return (f"1-thread copy bandwidth (read + write bytes): {fmt(bw.gbps)} GB/s"
            + (f" {CONTENDED_MARK}" if bw.contended else "")
            + f" (np.copyto of {BANDWIDTH_MIB} MiB float32 into a touched buffer, best of 3)")


def _method(policy: TimingPolicy, with_torch: bool, ops: Collection[str] = ("conv1d",)) -> str:
    """The method paragraph; its conv1d sentences as before, one more per other kind of row run."""
    blocks = (f"ictus and torch sampled in {policy.blocks} alternating blocks each so both see the same "
              f"machine" if with_torch else f"sampled in {policy.blocks} blocks")
    conv1d = "conv1d" in ops
    layout = "contiguous NCW, padding 'same', " if conv1d else ""
    text = (f"Method: float32, {layout}with bias. Per row and implementation: "
            f"warm-up, then the median of >= {policy.min_runs} calls and >= {policy.min_time_s:g} s of "
            f"samples (time.perf_counter), {blocks}. ictus writes into preallocated `out=` buffers; torch "
            f"allocates as its users do. ")
    if conv1d:
        text += ("FLOPs: fwd = 2*C_in*C_out*K*T_out*N, fwd+bwd = 3 x fwd "
                 "(backward = grad input + weight + bias, grad_y = ones). % of peak is against the FMA "
                 "peak above for the row's thread count (FLOPs are nominal: where the dilated kernel spans "
                 "most of T, taps in the padding are skipped, so large dilations can pass 100%). ")
    else:
        text += "% of peak is against the FMA peak above for the row's thread count. "
    text += (f"x vs torch = torch ms / ictus ms. "
             f"{CONTENDED_MARK}: other processes used CPU during the row even after retries.")
    if {"conv2d", FRONT_END_OP} & set(ops):
        text += (" conv2d and the front-end chain: contiguous NCHW, stride 1, padding as the row says, "
                 "grad_y = ones; FLOPs fwd = 2*C_in*C_out*KH*KW*H_out*W_out*N, fwd+bwd = 3 x fwd, 2 x fwd "
                 "for a network's first layer (no input gradient); the chain counts its convolutions "
                 "only (pools not counted). Rows that run `winograd_*` (F(Mx2, 3x3), M = 2, 4 or 6: 4(M + 2) "
                 "multiplies per Mx2 outputs and channel pair instead of 18M) count the direct convolution's FLOPs, "
                 "so their GFLOP/s are effective ones and % of peak can pass 100%.")
    if {"max_pool1d", "max_pool2d"} & set(ops):
        text += (" Max-pool rows are memory-bound: GB/s = (bytes read + bytes written) / time, counting "
                 "x and y (fwd), x, y and the int64 indices (fwd+idx), grad_y, the indices and grad_x "
                 "(bwd); % of BW is against the 1-thread copy bandwidth above at every thread count "
                 "(2-thread rows can pass 100%).")
    if "gru" in ops:
        text += (" GRU rows: time-major (T, N, D), torch.nn.GRU's weights, with biases and h0, grad_y = ones; "
                 "ictus allocates its outputs (gru has no `out=` buffers); a bi-directional layer is two "
                 "ictus calls (the second reverse=True), concatenated; FLOPs fwd = 2*T*N*(3H*D + 3H*H) per "
                 "direction (the GEMMs; gate math not counted), fwd+bwd = 3 x fwd.")
    if BEAT_TCN_OP in ops:
        text += (" Beat TCN rows (group h): the whole network, ictus.nn (NumPy between the kernels; ictus "
                 "allocates as torch does) against its torch.nn twin with the same weights, each checked "
                 "first: outputs norm-wise (||ictus - torch|| / ||torch||), a training step by one "
                 "dropout-free step's gradients and weights; FLOPs fwd = the convolutions' and the "
                 "tempo Linear's (2 per multiply-add; element-wise ops, loss and optimizer not counted), "
                 "train step = 3 x fwd.")
    if {FRONT_END_OP, "max_pool1d", "max_pool2d", "gru", BEAT_TCN_OP} & set(ops):
        text += (f" Rows of group d at N=8, of group f, group g's D=512 row and group h's training step, "
                 f"whose calls take up to seconds, take >= {policy.heavy_min_runs} calls.")
    return text


def _table_keys(results: Sequence[Result], titles: dict[tuple[str, str], str]) -> list[tuple[str, str]]:
    """In the order of `titles`; tables without a title after them, in measurement order."""
    present = dict.fromkeys((r.op, r.direction) for r in results)
    return [k for k in titles if k in present] + [k for k in present if k not in titles]


def _row(r: Result) -> str:
    shape = f"**{r.shape}**" if r.is_sum else r.shape
    impl = f"{r.impl} `{r.kernel}`" if r.impl == "ictus" else f"{r.impl} ({r.kernel})"
    if r.mismatch:
        impl += f" **MISMATCH vs torch: rel err {r.max_rel_err:.1e}**"
    ms = fmt(r.median_ms) + (f" {CONTENDED_MARK}" if r.contended else "")
    rate, pct = (r.gbps, r.pct_bw) if r.memory_bound else (r.gflops, r.pct_peak)
    return (f"| {shape} | {impl} | {ms} | {fmt(rate)} | {fmt_pct(pct)} | "
            f"{fmt_x(r.x_vs_torch)} | {r.threads} |")


def tables(results: Sequence[Result], titles: dict[tuple[str, str], str], torch_missing: bool) -> str:
    """One markdown table per (op, direction) in the order of `titles`, rows in measurement order."""
    out = []
    for key in _table_keys(results, titles):
        memory_bound = any(r.memory_bound for r in results if (r.op, r.direction) == key)
        rate, roof = ("GB/s", "% of BW") if memory_bound else ("GFLOP/s", "% of peak")
        out += ["", f"## {titles.get(key, ' '.join(key))}", "",
                f"| shape | impl | median ms | {rate} | {roof} | x vs torch | threads |",
                "|---|---|---|---|---|---|---|"]
        for r in results:
            if (r.op, r.direction) != key:
                continue
            out.append(_row(r))
            if torch_missing:  # keep the row so the table says what is missing
                shape = f"**{r.shape}**" if r.is_sum else r.shape
                out.append(f"| {shape} | torch | - | - | - | - | {r.threads} |")
    return "\n".join(out) + "\n"


def footer(results: Sequence[Result], runtime_s: float) -> str:
    contended = sum(1 for r in results if r.contended and r.impl == "ictus" and not r.is_sum)
    retried = sum(1 for r in results if r.retries and r.impl == "ictus" and not r.is_sum)
    return (f"\nRows retried because other processes used CPU: {retried}; still contended "
            f"({CONTENDED_MARK}): {contended}. Run time: {runtime_s:.0f} s.\n")


def to_json(facts: MachineFacts, results: Sequence[Result], targets: Sequence[dict[str, Any]],
            policy: TimingPolicy, command: str, runtime_s: float, torch_note: str) -> str:
    doc = {
        "header": dataclasses.asdict(facts) | {"command": command, "torch_note": torch_note},
        "timing": dataclasses.asdict(policy),
        "runtime_s": runtime_s,
        "rows": [dataclasses.asdict(r) for r in results],
        "targets": list(targets),
    }
    return json.dumps(doc, indent=1)
