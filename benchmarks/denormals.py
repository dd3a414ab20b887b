"""Times conv1d, conv2d, GRU and ELU on inputs full of denormal floats against normal ones.

Denormals (|x| < 1.18e-38) can cost a microcode assist per operation on x86 when the flush-to-zero
and denormals-are-zero modes are off (ictus does not set them). Each op runs on data of the same
shape twice: standard-normal values, and the same values times 1e-39 (denormal inputs; products and
sums stay denormal). Prints the median times and their ratio per op and CPU variant.

    python3 benchmarks/denormals.py [--repeats 15] [--isa avx512]
"""
from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import ictus
import numpy as np

DENORMAL_SCALE = np.float32(1e-39)


def median_ms(run: Callable[[], object], repeats: int) -> float:
    run()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        run()
        times.append(time.perf_counter() - t0)
    return 1e3 * statistics.median(times)


def workloads(scale: np.float32) -> dict[str, Callable[[], object]]:
    """Each op's call on inputs drawn from the same seed and multiplied by scale (weights stay normal)."""
    rng = np.random.default_rng(0)

    def f32(*shape: int) -> np.ndarray:
        return rng.standard_normal(shape).astype(np.float32)

    x1, w1 = f32(1, 20, 3000) * scale, f32(20, 20, 5) * 0.1
    x2, w2 = f32(1, 16, 300, 81) * scale, f32(16, 16, 3, 3) * 0.1
    xg, w_ih, w_hh = f32(300, 8, 25) * scale, f32(75, 25) * 0.2, f32(75, 25) * 0.2
    xe = f32(4, 20, 3000) * scale
    return {
        "conv1d (1, 20, 3000) k5 d4": lambda: ictus.conv1d(x1, w1, padding="same", dilation=4),
        "conv2d (1, 16, 300, 81) 3x3": lambda: ictus.conv2d(x2, w2, padding=1),
        "gru T300 N8 D25 H25": lambda: ictus.gru(xg, None, w_ih, w_hh),
        "elu (4, 20, 3000)": lambda: ictus.elu(xe),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=15)
    parser.add_argument("--isa", choices=ictus.cpu_isas(), action="append",
                        help="CPU variant(s) to time (default: all this CPU runs)")
    args = parser.parse_args()
    assert 0 < abs(float(np.float32(1.5) * DENORMAL_SCALE)) < np.finfo(np.float32).tiny
    print(f"threads {ictus.get_num_threads()}; median of {args.repeats} runs; inputs times 1e-39 vs normal")
    print(f"{'op':32} {'isa':9} {'normal ms':>10} {'denormal ms':>12} {'ratio':>7}")
    normal_calls, denormal_calls = workloads(np.float32(1)), workloads(DENORMAL_SCALE)
    for name in normal_calls:
        for isa in args.isa or ictus.cpu_isas():
            with ictus.use_cpu_isa(isa):
                normal = median_ms(normal_calls[name], args.repeats)
                denormal = median_ms(denormal_calls[name], args.repeats)
            print(f"{name:32} {isa:9} {normal:10.3f} {denormal:12.3f} {denormal / normal:7.2f}", flush=True)


if __name__ == "__main__":
    main()
