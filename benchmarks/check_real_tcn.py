#!/usr/bin/env python3
"""Checks ictus's conv1d on a real, pretrained network: madmom's TCN beat and tempo tracker.

    python benchmarks/check_real_tcn.py DIR

DIR holds beats_tcn_1.npz (weights, inputs and madmom's outputs; see its README). Those files are
CC BY-NC-SA: they are read from where they lie and never copied into this project.

Every convolution and pooling layer runs through ictus: the front end's three conv2d layers (3x3
on 81 bins, 3x3, 1x8) and two (1, 3) max-pools, the 11 dilated convolutions (kernel 5, dilations
1..1024, most taps in the padding at d >= 512) and the 22 skip / residual 1x1 convolutions; the
elementwise ops (ELU, sums) and the dense heads run in NumPy float32. The script compares, with madmom's tolerance
for float32 (|got - ref| <= 1e-4 + 1e-3 |ref|), every stored intermediate (the TCN input, the
blocks' outputs, the TCN output and skip sum, each block from its stored input) and the network's
final beat and tempo outputs for both stored inputs, under every CPU kernel variant this machine
runs. Exit status 0 iff all checks pass.
"""
from __future__ import annotations

import sys
import time
from pathlib import Path

import numpy as np
import ictus

ATOL, RTOL = 1e-4, 1e-3
DILATIONS = [2**i for i in range(11)]


def elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0))).astype(np.float32)


class Network:
    """madmom's weights in PyTorch layouts (see the model README's mapping table)."""

    def __init__(self, arrays: np.lib.npyio.NpzFile) -> None:
        c = np.ascontiguousarray
        self.a = arrays
        self.conv2d = {k: c(arrays[k + "_weights"].transpose(1, 0, 2, 3)[:, :, ::-1, ::-1]) for k in ("L00", "L02", "L04")}
        self.blocks = []
        for i in range(11):
            p = f"L06_b{i:02d}_"
            self.blocks.append((
                c(arrays[p + "dconv_weights"][:, :, 0, ::-1].transpose(1, 0, 2)), arrays[p + "dconv_bias"],
                c(arrays[p + "skip_weights"].T[:, :, None]), arrays[p + "skip_bias"],
                c(arrays[p + "res_weights"].T[:, :, None]), arrays[p + "res_bias"],
            ))

    def front_end(self, spec: np.ndarray) -> np.ndarray:
        """(T+4, 81) spectrogram -> (1, 16, T) TCN input."""
        a = self.a
        h = elu(ictus.conv2d(np.ascontiguousarray(spec[None, None]), self.conv2d["L00"], a["L00_bias"]))
        h = ictus.max_pool2d(h, (1, 3))
        h = elu(ictus.conv2d(h, self.conv2d["L02"], a["L02_bias"]))
        h = ictus.max_pool2d(h, (1, 3))
        return np.ascontiguousarray(elu(ictus.conv2d(h, self.conv2d["L04"], a["L04_bias"]))[..., 0])

    def block(self, i: int, h: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One residual block through ictus.conv1d: returns (block output, skip output)."""
        wd, bd, ws, bs, wr, br = self.blocks[i]
        act = elu(ictus.conv1d(h, wd, bd, dilation=DILATIONS[i], padding="same"))
        skip = ictus.conv1d(act, ws, bs)
        return ictus.conv1d(h, wr, br) + skip, skip

    def tcn(self, h: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[np.ndarray]]:
        outs, skip_sum = [], np.zeros_like(h)
        for i in range(11):
            h, skip = self.block(i, h)
            outs.append(h)
            skip_sum += skip
        return elu(h), skip_sum, outs

    def heads(self, h: np.ndarray, skip_sum: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        a = self.a
        beats = 1 / (1 + np.exp(-(h[0].T @ a["L07_t0_weights"] + a["L07_t0_bias"])))[:, 0]
        logits = skip_sum[0].mean(axis=1) @ a["L07_t1_s1_weights"] + a["L07_t1_s1_bias"]
        e = np.exp(logits - logits.max())
        return beats, e / e.sum()


def madmom_layout(x: np.ndarray) -> np.ndarray:
    """(1, C, T) -> madmom's (T, 1, C)."""
    return x[0].T[:, None, :]


def run_checks(net: Network, arrays: np.lib.npyio.NpzFile) -> list[tuple[str, float, bool]]:
    results = []

    def check(name: str, got: np.ndarray, ref: np.ndarray) -> None:
        err = np.abs(got - ref)
        ok = bool(np.all(err <= ATOL + RTOL * np.abs(ref)))
        results.append((name, float(err.max()), ok))

    for clip in ("synth_a", "synth_b"):
        spec = arrays[f"io__{clip}__input"]
        h0 = net.front_end(spec)
        h, skip_sum, outs = net.tcn(h0)
        beats, tempo = net.heads(h, skip_sum)
        check(f"{clip}: beats (T={beats.shape[0]})", beats, arrays[f"io__{clip}__output__0"])
        check(f"{clip}: tempo (300 bins)", tempo, arrays[f"io__{clip}__output__1"])
        if clip != "synth_a":
            continue
        check("synth_a: TCN input (front end)", madmom_layout(h0), arrays["io__synth_a__L04_out"])
        check("synth_a: TCN output", madmom_layout(h), arrays["io__synth_a__L06_out__0"])
        check("synth_a: TCN skip sum", madmom_layout(skip_sum), arrays["io__synth_a__L06_out__1"])
        for i, out in enumerate(outs):
            key = f"io__synth_a__L06_b{i:02d}_out"
            if key in arrays:
                check(f"synth_a: block {i} (d={DILATIONS[i]}) chained", madmom_layout(out), arrays[key])
        # Each stored block on its own, from madmom's stored input to it.
        stored_in = {0: arrays["io__synth_a__L04_out"]}
        for i in range(1, 11):
            key = f"io__synth_a__L06_b{i - 1:02d}_out"
            if key in arrays:
                stored_in[i] = arrays[key]
        for i, x in stored_in.items():
            key = f"io__synth_a__L06_b{i:02d}_out"
            if key in arrays:
                got, _ = net.block(i, np.ascontiguousarray(x[:, 0, :].T[None]))
                check(f"synth_a: block {i} (d={DILATIONS[i]}) isolated", madmom_layout(got), arrays[key])
    return results


def main() -> int:
    if len(sys.argv) != 2:
        print(__doc__)
        return 2
    arrays = np.load(Path(sys.argv[1]) / "beats_tcn_1.npz")
    net = Network(arrays)
    failed = 0
    for isa in ictus.cpu_isas():
        with ictus.use_cpu_isa(isa):
            t0 = time.perf_counter()
            results = run_checks(net, arrays)
            dt = time.perf_counter() - t0
        bad = [r for r in results if not r[2]]
        failed += len(bad)
        worst = max(results, key=lambda r: r[1])
        print(f"{isa:9s} {len(results) - len(bad)}/{len(results)} checks pass; largest |error| "
              f"{worst[1]:.2e} ({worst[0]}); {dt:.2f} s")
        for name, err, _ in bad:
            print(f"  FAIL {name}: max |error| {err:.2e}")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
