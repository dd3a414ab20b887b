"""The conv1d shape sweep, shared by the CPU tests (every ISA) and the CUDA tests.

Awkward on purpose: kernel size 1, one frame, one batch item, receptive fields wider than the
input, channel counts that fill no SIMD vector (1, 3, 7, 13, 17, 20, 23), frame counts around the
register tiles (AVX2 forward tile 24 frames, AVX-512/portable 64, weight-gradient chunks of 128),
primes, strides 2, 3, 5 and larger than the input, every padding mode, no bias; then the
beat-tracking TCN layer (N=1, C=20, K=5, T=3000, dilations 1..1024, 'same') and one larger shape.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from reference import conv1d_out_length, conv1d_padding


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    c_in: int
    c_out: int
    k: int
    t: int
    stride: int = 1
    padding: Any = 0
    dilation: int = 1
    bias: bool = True

    @property
    def pads(self) -> tuple[int, int]:
        return conv1d_padding(self.padding, self.k, self.stride, self.dilation)

    @property
    def t_out(self) -> int:
        left, right = self.pads
        return conv1d_out_length(self.t, self.k, self.stride, left, right, self.dilation)

    @property
    def x_shape(self) -> tuple[int, int, int]:
        return (self.n, self.c_in, self.t)

    @property
    def w_shape(self) -> tuple[int, int, int]:
        return (self.c_out, self.c_in, self.k)

    @property
    def y_shape(self) -> tuple[int, int, int]:
        return (self.n, self.c_out, self.t_out)

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    @property
    def id(self) -> str:
        pad = self.padding if isinstance(self.padding, str) else (
            f"{self.padding[0]}+{self.padding[1]}" if isinstance(self.padding, tuple) else str(self.padding))
        return (f"{self.name}-N{self.n}C{self.c_in}x{self.c_out}K{self.k}T{self.t}"
                f"-s{self.stride}d{self.dilation}p{pad}{'' if self.bias else '-nobias'}")


C = Case
CASES: list[Case] = [
    # kernel size 1
    C("k1", 2, 3, 5, 1, 17),
    C("k1_stride3", 2, 7, 3, 1, 11, stride=3),
    C("k1_nobias", 1, 13, 17, 1, 29, bias=False),
    # one frame in
    C("t1", 1, 7, 13, 1, 1),
    C("t1_same", 3, 5, 3, 3, 1, padding="same"),
    C("t1_pad4", 1, 3, 2, 5, 1, padding=4),
    C("t1_causal_d7", 2, 3, 4, 3, 1, padding="causal", dilation=7),
    # receptive field as wide as or wider than the input
    C("span_gt_T", 2, 3, 5, 3, 10, padding="same", dilation=1024),
    C("span_gt_T_K5", 1, 20, 20, 5, 10, padding="same", dilation=1024),
    C("span_eq_T_causal", 1, 7, 7, 2, 9, padding="causal", dilation=9),
    C("one_frame_out", 2, 5, 3, 5, 13, padding="valid", dilation=3),
    C("reads_only_padding", 2, 3, 4, 1, 2, stride=7, padding=5),
    # channel counts that fill no SIMD vector
    C("ch1x1", 1, 1, 1, 3, 37, padding="same"),
    C("ch1x23", 2, 1, 23, 3, 37, padding="same", dilation=2),
    C("ch23x1", 2, 23, 1, 3, 37, padding="same", dilation=2),
    C("ch3x7", 3, 3, 7, 2, 41, padding=(1, 0)),
    C("ch7x13", 1, 7, 13, 3, 43, padding="causal", dilation=3),
    C("ch13x17", 2, 13, 17, 5, 47, padding="same"),
    C("ch17x20", 1, 17, 20, 3, 53, padding="same", dilation=5),
    C("ch20x23", 2, 20, 23, 4, 59, padding="same"),
    C("ch23x20", 1, 23, 20, 5, 61, padding="valid"),
    # frame counts around the register tiles and weight-gradient chunks
    *[C(f"tile_T{t}", 2, 5, 7, 3, t, padding="same", dilation=2) for t in (23, 24, 25, 63, 64, 65, 127, 129, 257)],
    # long kernels, kernels longer than the input, many small batch items
    C("K31_same", 2, 4, 5, 31, 40, padding="same"),
    C("K_gt_T", 2, 3, 4, 15, 5, padding=(7, 7)),
    C("many_batch", 17, 3, 5, 2, 3, padding=(1, 0)),
    # primes everywhere
    C("primes", 5, 11, 13, 7, 101, padding="same", dilation=3),
    C("primes_stride3", 3, 7, 11, 5, 97, stride=3, padding=2, dilation=2),
    # strides
    C("stride2_pair", 2, 4, 6, 4, 64, stride=2, padding=(3, 1)),
    C("stride2_valid", 3, 5, 7, 3, 50, stride=2, padding="valid"),
    C("stride2_odd_T", 1, 3, 5, 2, 31, stride=2, padding=1, dilation=3),
    C("stride2_tiles", 2, 9, 17, 3, 131, stride=2, padding=(2, 2), dilation=2),
    C("stride3_causal", 2, 5, 3, 3, 40, stride=3, padding="causal", dilation=2),
    C("stride3_pad_gt_span", 2, 3, 5, 3, 23, stride=3, padding=(11, 8)),
    C("stride5_k1", 2, 6, 3, 1, 29, stride=5, padding=(0, 3)),
    C("stride_gt_T", 2, 3, 4, 2, 5, stride=8, padding=(1, 3)),
    # padding modes
    C("pad_int", 2, 3, 5, 3, 30, padding=1),
    C("pad_int_gt_span", 2, 3, 5, 3, 30, padding=9),
    C("pad_left_only", 2, 6, 4, 4, 33, padding=(5, 0)),
    C("pad_right_only", 2, 4, 6, 4, 33, padding=(0, 7), dilation=2),
    C("pad_asym_gt_span", 2, 7, 5, 3, 19, padding=(20, 13), dilation=2),
    C("valid", 2, 6, 9, 5, 40, padding="valid", dilation=2),
    C("same_even_K", 2, 5, 3, 4, 33, padding="same"),
    C("same_even_K_d3", 1, 5, 3, 6, 50, padding="same", dilation=3),
    C("causal_d16", 1, 8, 8, 5, 100, padding="causal", dilation=16),
    # no bias
    C("nobias_same", 2, 9, 5, 3, 70, padding="same", dilation=4, bias=False),
    C("nobias_stride2", 3, 5, 9, 3, 45, stride=2, padding=(1, 2), bias=False),
    # several register blocks of output and input channels, odd counts
    C("wide_channels", 2, 29, 67, 3, 70, stride=2, padding=(1, 1)),
    # rows whose stride is a multiple of 4 KiB (copied to an aliasing-safe stride by the kernels)
    C("rows_T1024", 2, 16, 24, 3, 1024, padding="same"),
    C("rows_Tout1024", 1, 9, 5, 3, 1026, padding="valid"),
    C("rows_T4096_stride2", 1, 6, 7, 3, 4096, stride=2, padding=(1, 1)),
    # larger (weights past L1: the forward pass runs several frame tiles per work item)
    C("large", 3, 64, 64, 3, 517, padding="same", dilation=2),
    C("large_span_gt_T", 2, 48, 40, 5, 50, padding="same", dilation=32),
    C("large_stride3_causal", 1, 40, 56, 4, 301, stride=3, padding="causal", dilation=5),
]

# The beat-tracking TCN layer: 20 channels, kernel 5, 30 s of frames at 100 fps, dilations 1..1024.
BEAT_TRACKER: list[Case] = [C(f"tcn_d{d}", 1, 20, 20, 5, 3000, padding="same", dilation=d)
                            for d in (1, 2, 4, 8, 16, 32, 64, 128, 256, 512, 1024)]

ALL_CASES = CASES + BEAT_TRACKER


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in cases]
