"""conv1d shapes from real beat-tracking networks (float32, NCW, padding 'same', stride 1).

(a) the beat-tracking TCN (Davies & Boeck 2019; Boeck & Davies 2020): 20 channels, kernel 5,
    11 layers with dilations 1, 2, 4, ..., 1024, one track (N=1) of T frames at 100 frames/s:
    T=3000 is a 30 s excerpt (training), T=30000 a 5 min piece (inference). The whole stack is
    also reported as one "sum of 11 dilations" row, which is what a forward pass costs.
(b) a wider TCN on a batch: N=8, 64 channels, kernel 3, T=4096, dilations 1, 8 and 64.
(c) a large layer that should run near the FMA peak: N=16, 256 channels, kernel 3, T=1024, d=4.
"""
from __future__ import annotations

from dataclasses import dataclass

TCN_DILATIONS = tuple(2**i for i in range(11))  # 1, 2, 4, ..., 1024
TCN_LENGTHS = (3000, 30000)
TCN_LENGTHS_QUICK = (3000,)

GROUPS = ("a", "b", "c")
GROUP_TITLES = {
    "a": "beat-tracking TCN: N=1 C=20 K=5, dilations 1..1024",
    "b": "wider TCN on a batch: N=8 C=64 K=3 T=4096",
    "c": "large layer: N=16 C=256 K=3 T=1024 d=4",
}


@dataclass(frozen=True)
class Conv1dShape:
    """One conv1d layer: x is (n, c_in, t), weight is (c_out, c_in, k), padding 'same'."""

    group: str
    n: int
    c_in: int
    c_out: int
    k: int
    t: int
    dilation: int
    series: str | None = None  # layers of one network: also reported summed under this label

    @property
    def label(self) -> str:
        c = f"C={self.c_in}" if self.c_in == self.c_out else f"C={self.c_in}->{self.c_out}"
        return f"N={self.n} {c} K={self.k} T={self.t} d={self.dilation}"

    @property
    def t_out(self) -> int:
        return self.t  # padding 'same' at stride 1 keeps the length

    @property
    def fwd_flop(self) -> int:
        """2 * C_in * C_out * K * T_out * N: a multiply-add per weight tap and output frame."""
        return 2 * self.c_in * self.c_out * self.k * self.t_out * self.n


def tcn_series_label(t: int) -> str:
    return f"N=1 C=20 K=5 T={t}, sum of {len(TCN_DILATIONS)} dilations (d=1..{TCN_DILATIONS[-1]})"


def conv1d_workloads(groups: tuple[str, ...], quick: bool) -> list[Conv1dShape]:
    """The shapes of the selected groups, in table order."""
    shapes: list[Conv1dShape] = []
    if "a" in groups:
        for t in TCN_LENGTHS_QUICK if quick else TCN_LENGTHS:
            shapes += [Conv1dShape("a", 1, 20, 20, 5, t, d, series=tcn_series_label(t))
                       for d in TCN_DILATIONS]
    if "b" in groups:
        shapes += [Conv1dShape("b", 8, 64, 64, 3, 4096, d) for d in (1, 8, 64)]
    if "c" in groups:
        shapes.append(Conv1dShape("c", 16, 256, 256, 3, 1024, 4))
    return shapes
