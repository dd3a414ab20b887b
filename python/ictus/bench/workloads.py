"""Shapes from real beat-tracking networks (float32, contiguous NCW / NCHW, stride 1).

conv1d (padding 'same'):
(a) the beat-tracking TCN (Davies & Boeck 2019; Boeck & Davies 2020): 20 channels, kernel 5,
    11 layers with dilations 1, 2, 4, ..., 1024, one track (N=1) of T frames at 100 frames/s:
    T=3000 is a 30 s excerpt (training), T=30000 a 5 min piece (inference). The whole stack is
    also reported as one "sum of 11 dilations" row, which is what a forward pass costs.
(b) a wider TCN on a batch: N=8, 64 channels, kernel 3, T=4096, dilations 1, 8 and 64.
(c) a large layer that should run near the FMA peak: N=16, 256 channels, kernel 3, T=1024, d=4.
conv2d and max-pool (H is time, W frequency for spectrograms):
(d) the beat tracker's CNN front end (Davies & Boeck 2019; madmom's model has 16 channels) on
    T=3000 frames of an 81-bin spectrogram, N=1 and N=8: the input is (N, 1, T+2, 81) so the
    first 3x3 conv gives T frames; conv 1->16 3x3 -> max-pool (1,3) -> conv 16->16 3x3 ->
    max-pool (1,3) -> conv 16->16 1x8, padding 'valid' throughout. Each op alone on its own
    input, and the whole chain as one row.
(e) key-CNN blocks (N=1, padding 'same'): 24->24 3x3 on 100x105 and 96->96 3x3 on 25x26.
(f) max-pool alone, memory-bound: max_pool2d (1,3) on (8, 20, 3000, 81) and max_pool1d k=2 on
    (8, 64, 30000).
GRU (time-major x (T, N, D), torch.nn.GRU's weights, with biases and h0):
(g) a bi-directional GRU with H=25 over T=3000 frames of 81 bins (a beat tracker's RNN), one
    track; unidirectional D=128 H=128 T=1000 N=1, D=128 H=256 T=1000 N=16 and D=512 H=512 T=500
    N=32 (a batch whose GEMMs should run near the FMA peak).
A whole network (ictus.examples.beats.model.BeatTCN, Boeck & Davies 2021: a 3-block CNN front end
with 20 channels, an 11-block TCN with parallel dilations d and 2d, beat, downbeat and tempo heads):
(h) inference (eval mode) on one 30 s track, x (1, 1, 3004, 81), against the same network built
    from torch.nn modules with the same weights, and against that torch network with
    ictus.torch.patch; a training step (forward, loss, backward, gradient clipping, RAdam) on a
    batch of 8 excerpts of 1000 frames, x (8, 1, 1004, 81).
"""
from __future__ import annotations

from dataclasses import dataclass, replace

TCN_DILATIONS = tuple(2**i for i in range(11))  # 1, 2, 4, ..., 1024
TCN_LENGTHS = (3000, 30000)
TCN_LENGTHS_QUICK = (3000,)

FRONT_END_T = 3000
FRONT_END_C = 16
FRONT_END_BATCHES = (1, 8)
FRONT_END_BATCHES_QUICK = (1,)
FRONT_END_POOL = (1, 3)
FRONT_END_KERNELS = ((3, 3), (3, 3), (1, 8))

BEAT_TCN_C = 20
BEAT_TCN_FRONT_END_KERNELS = ((3, 3), (1, 10), (3, 3))  # each conv is followed by a max-pool (1, 3)
BEAT_TCN_PARALLEL = (1, 2)  # each TCN block convolves at dilations d and 2d
BEAT_TCN_TEMPO_CLASSES = 300
BEAT_TCN_CONTEXT = 2  # frames the front end's two 3x3 convs consume at each end

GROUPS = ("a", "b", "c", "d", "e", "f", "g", "h")
GROUP_TITLES = {
    "a": "beat-tracking TCN: N=1 C=20 K=5, dilations 1..1024",
    "b": "wider TCN on a batch: N=8 C=64 K=3 T=4096",
    "c": "large layer: N=16 C=256 K=3 T=1024 d=4",
    "d": f"beat-tracker CNN front end: C={FRONT_END_C}, T={FRONT_END_T}, 81 bins, N=1 and N=8",
    "e": "key-CNN blocks: N=1 3x3 'same', C=24 on 100x105 and C=96 on 25x26",
    "f": "max-pool alone: max_pool2d (1,3) on (8,20,3000,81), max_pool1d k=2 on (8,64,30000)",
    "g": "GRU layers (time-major, with biases and h0)",
    "h": "the examples' beat-tracking TCN (BeatTCN), whole network",
}
BANDWIDTH_GROUPS = ("d", "f")  # groups with memory-bound (max-pool) rows: they need the bandwidth probe


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


@dataclass(frozen=True)
class Conv2dShape:
    """One conv2d layer: x is (n, c_in, h, w), weight is (c_out, c_in, kh, kw), stride 1."""

    group: str
    n: int
    c_in: int
    c_out: int
    kh: int
    kw: int
    h: int
    w: int
    padding: str  # "valid" or "same"
    input_grad: bool = True  # False: the network's first layer (its input needs no gradient)
    heavy: bool = False  # long calls: the timing policy's fewer samples

    @property
    def label(self) -> str:
        c = f"C={self.c_in}" if self.c_in == self.c_out else f"C={self.c_in}->{self.c_out}"
        first = "" if self.input_grad else ", first layer"
        return f"N={self.n} {c} K={self.kh}x{self.kw} on {self.h}x{self.w} {self.padding}{first}"

    @property
    def out_hw(self) -> tuple[int, int]:
        if self.padding == "same":
            return self.h, self.w
        return self.h - self.kh + 1, self.w - self.kw + 1

    @property
    def fwd_flop(self) -> int:
        """2 * C_in * C_out * KH * KW * H_out * W_out * N."""
        h_out, w_out = self.out_hw
        return 2 * self.c_in * self.c_out * self.kh * self.kw * h_out * w_out * self.n


@dataclass(frozen=True)
class PoolShape:
    """One max-pool: x is (n, c, *size) with size (T,) (max_pool1d) or (H, W) (max_pool2d);
    stride = kernel, no padding."""

    group: str
    n: int
    c: int
    size: tuple[int, ...]
    kernel: tuple[int, ...]
    heavy: bool = False

    @property
    def op(self) -> str:
        return f"max_pool{len(self.size)}d"

    @property
    def label(self) -> str:
        size = f"T={self.size[0]}" if len(self.size) == 1 else "x".join(map(str, self.size))
        k = str(self.kernel[0]) if len(self.kernel) == 1 else f"({','.join(map(str, self.kernel))})"
        return f"N={self.n} C={self.c} {size} k={k}"

    @property
    def x_shape(self) -> tuple[int, ...]:
        return (self.n, self.c, *self.size)

    @property
    def y_shape(self) -> tuple[int, ...]:
        return (self.n, self.c, *(s // k for s, k in zip(self.size, self.kernel, strict=True)))


@dataclass(frozen=True)
class FrontEndShape:
    """The front-end chain of group d on (n, 1, t + 2, bins)."""

    n: int
    t: int = FRONT_END_T
    c: int = FRONT_END_C
    bins: int = 81
    group: str = "d"

    @property
    def heavy(self) -> bool:
        return self.n > 1

    @property
    def label(self) -> str:
        return f"N={self.n} C={self.c} on {self.t + 2}x{self.bins}, 5 ops"

    def layers(self) -> list[Conv2dShape | PoolShape]:
        """conv, pool, conv, pool, conv, each on the shape its predecessor outputs."""
        layers: list[Conv2dShape | PoolShape] = []
        c, h, w = 1, self.t + 2, self.bins
        for i, (kh, kw) in enumerate(FRONT_END_KERNELS):
            conv = Conv2dShape(self.group, self.n, c, self.c, kh, kw, h, w, "valid", input_grad=i > 0,
                               heavy=self.heavy)
            layers.append(conv)
            c, (h, w) = self.c, conv.out_hw
            if i + 1 < len(FRONT_END_KERNELS):
                pool = PoolShape(self.group, self.n, c, (h, w), FRONT_END_POOL, heavy=self.heavy)
                layers.append(pool)
                h, w = pool.y_shape[2:]
        return layers

    def convs(self) -> list[Conv2dShape]:
        return [s for s in self.layers() if isinstance(s, Conv2dShape)]

    @property
    def fwd_flop(self) -> int:
        """The convolutions' FLOPs (pools not counted)."""
        return sum(s.fwd_flop for s in self.convs())

    @property
    def fwd_bwd_flop(self) -> int:
        """3 x fwd per conv, 2 x fwd for the first (no input gradient)."""
        return sum((3 if s.input_grad else 2) * s.fwd_flop for s in self.convs())


@dataclass(frozen=True)
class GruShape:
    """One GRU layer: x is (t, n, d), h0 (n, h); bidirectional runs a second layer in reverse."""

    group: str
    d: int
    h: int
    t: int
    n: int
    bidirectional: bool = False
    heavy: bool = False

    @property
    def label(self) -> str:
        return f"{'bi-GRU ' if self.bidirectional else ''}D={self.d} H={self.h} T={self.t} N={self.n}"

    @property
    def directions(self) -> int:
        return 2 if self.bidirectional else 1

    @property
    def fwd_flop(self) -> int:
        """2 * T * N * (3H * D + 3H * H) per direction: the GEMMs only (gate math not counted)."""
        return self.directions * 2 * self.t * self.n * 3 * self.h * (self.d + self.h)


GRU_BI_DIRECTIONAL = GruShape("g", 81, 25, 3000, 1, bidirectional=True)
GRU_BATCH = GruShape("g", 128, 256, 1000, 16)
GRU_LARGE = GruShape("g", 512, 512, 500, 32, heavy=True)


@dataclass(frozen=True)
class BeatTcnShape:
    """The examples' BeatTCN on x (n, 1, t + 4, 81); ``directions`` are the rows this shape gets."""

    n: int
    t: int
    directions: tuple[str, ...]
    bins: int = 81
    group: str = "h"

    @property
    def heavy(self) -> bool:
        return self.n > 1

    @property
    def label(self) -> str:
        return f"N={self.n} T={self.t} (x {self.n}x1x{self.t + 2 * BEAT_TCN_CONTEXT}x{self.bins})"

    def convs(self) -> list[Conv1dShape | Conv2dShape]:
        """Every convolution of one forward pass, in order: front end, TCN blocks, the two heads."""
        convs: list[Conv1dShape | Conv2dShape] = []
        c, h, w = 1, self.t + 2 * BEAT_TCN_CONTEXT, self.bins
        for kh, kw in BEAT_TCN_FRONT_END_KERNELS:
            conv = Conv2dShape(self.group, self.n, c, BEAT_TCN_C, kh, kw, h, w, "valid")
            convs.append(conv)
            c, (h, w) = BEAT_TCN_C, conv.out_hw
            w //= 3
        for d in TCN_DILATIONS:
            convs += [Conv1dShape(self.group, self.n, c, c, 5, self.t, d * f) for f in BEAT_TCN_PARALLEL]
            convs += [Conv1dShape(self.group, self.n, len(BEAT_TCN_PARALLEL) * c, c, 1, self.t, 1),  # skip
                      Conv1dShape(self.group, self.n, c, c, 1, self.t, 1)]  # residual
        convs += [Conv1dShape(self.group, self.n, c, 1, 1, self.t, 1)] * 2  # beat and downbeat heads
        return convs

    @property
    def fwd_flop(self) -> int:
        """The convolutions' and the tempo Linear's multiply-adds x 2 (element-wise ops not counted)."""
        return sum(s.fwd_flop for s in self.convs()) + 2 * self.n * BEAT_TCN_C * BEAT_TCN_TEMPO_CLASSES


BEAT_TCN_INFERENCE = BeatTcnShape(1, 3000, ("fwd", "patch fwd"))  # one 30 s track
BEAT_TCN_TRAINING = BeatTcnShape(8, 1000, ("train step",))  # a batch of 10 s excerpts


Workload = Conv1dShape | Conv2dShape | PoolShape | FrontEndShape | GruShape | BeatTcnShape


def workloads(groups: tuple[str, ...], quick: bool) -> list[Workload]:
    """Every shape of the selected groups, in run order (conv1d first, as before)."""
    shapes: list[Workload] = list(conv1d_workloads(groups, quick))
    if "d" in groups:
        for n in FRONT_END_BATCHES_QUICK if quick else FRONT_END_BATCHES:
            front_end = FrontEndShape(n)
            shapes += front_end.layers()
            shapes.append(front_end)
    if "e" in groups:
        shapes += [Conv2dShape("e", 1, 24, 24, 3, 3, 100, 105, "same"),
                   Conv2dShape("e", 1, 96, 96, 3, 3, 25, 26, "same")]
    if "f" in groups:
        shapes += [PoolShape("f", 8, 20, (3000, 81), (1, 3), heavy=True),
                   PoolShape("f", 8, 64, (30000,), (2,), heavy=True)]
    if "g" in groups:
        shapes += [GRU_BI_DIRECTIONAL, GruShape("g", 128, 128, 1000, 1)]
        if not quick:  # the batched rows take seconds per call in torch
            shapes += [GRU_BATCH, GRU_LARGE]
    if "h" in groups:
        inference = replace(BEAT_TCN_INFERENCE, directions=("fwd",)) if quick else BEAT_TCN_INFERENCE
        shapes += [inference, BEAT_TCN_TRAINING]
    return shapes
