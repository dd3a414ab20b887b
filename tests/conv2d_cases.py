"""The conv2d shape sweep, shared by the CPU tests (every ISA) and the CUDA tests.

Spectrogram layout: H is time (frames), W is frequency (bins). Awkward on purpose: the beat
tracker's convolutional front end (1->16 3x3 on (T+2) x 81, 16->16 3x3 on T x 26, 16->16 1x8 on
T x 8), one input channel, 1xK and Kx1 kernels, the frequency widths of common filterbanks (24,
26, 79, 81, 105, 113), kernels as large as the input, one row / one column / one position, one
and several batch items, channel counts that fill no SIMD vector (1, 3, 7, 13, 17, 23), primes,
strides and dilations that differ between the axes, every padding mode ('same' with even kernels
too), no bias, widths around the register tiles (AVX2 forward tile 24 positions, AVX-512 and
portable 64), and layers whose weights exceed 16 KB (the forward pass's packed feed): the
key-CNN's 24->24 3x3 'same' and wider ones. Sizes stay small so that the scalar variant runs the
whole sweep in seconds.

stride and dilation are kept as given (an int or an (h, w) pair) so that both forms reach ictus;
`stride2` and `dilation2` are the pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from reference import conv2d_out_size, conv2d_padding

Size2 = Any  # an int or an (h, w) pair


def pair(v: Size2) -> tuple[int, int]:
    return (int(v[0]), int(v[1])) if isinstance(v, (tuple, list)) else (int(v), int(v))


@dataclass(frozen=True)
class Case:
    name: str
    n: int
    c_in: int
    c_out: int
    kh: int
    kw: int
    h: int
    w: int
    stride: Size2 = 1
    padding: Any = 0
    dilation: Size2 = 1
    bias: bool = True

    @property
    def stride2(self) -> tuple[int, int]:
        return pair(self.stride)

    @property
    def dilation2(self) -> tuple[int, int]:
        return pair(self.dilation)

    @property
    def pads(self) -> tuple[tuple[int, int], tuple[int, int]]:
        """((top, bottom), (left, right))."""
        return conv2d_padding(self.padding, (self.kh, self.kw), self.stride2, self.dilation2)

    @property
    def out_hw(self) -> tuple[int, int]:
        return conv2d_out_size((self.h, self.w), (self.kh, self.kw), self.stride2, self.pads, self.dilation2)

    @property
    def x_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_in, self.h, self.w)

    @property
    def w_shape(self) -> tuple[int, int, int, int]:
        return (self.c_out, self.c_in, self.kh, self.kw)

    @property
    def y_shape(self) -> tuple[int, int, int, int]:
        return (self.n, self.c_out, *self.out_hw)

    @property
    def kwargs(self) -> dict[str, Any]:
        return {"stride": self.stride, "padding": self.padding, "dilation": self.dilation}

    @property
    def geometry(self) -> dict[str, Any]:
        """The reference's keyword arguments."""
        return {"stride": self.stride2, "pads": self.pads, "dilation": self.dilation2}

    @property
    def weight_bytes(self) -> int:
        return 4 * self.c_out * self.c_in * self.kh * self.kw

    @property
    def id(self) -> str:
        def fmt(v: Any) -> str:
            return v if isinstance(v, str) else ("x".join(map(str, v)) if isinstance(v, (tuple, list)) else str(v))

        return (f"{self.name}-N{self.n}C{self.c_in}x{self.c_out}K{self.kh}x{self.kw}H{self.h}W{self.w}"
                f"-s{fmt(self.stride)}d{fmt(self.dilation)}p{fmt(self.padding)}{'' if self.bias else '-nobias'}")


C = Case
T = 37  # frames of the beat tracker's front-end cases

def by_name_in(cases: list[Case], name: str) -> Case:
    return next(c for c in cases if c.name == name)


CASES: list[Case] = [
    # the beat tracker's convolutional front end (N=1): 81 bins -> 3x3 valid -> pool 1x3 -> 26
    # bins -> 3x3 padded in time -> pool 1x3 -> 8 bins -> 1x8 valid
    C("bt_conv1", 1, 1, 16, 3, 3, T + 2, 81, padding="valid"),
    C("bt_conv2", 1, 16, 16, 3, 3, T, 26, padding=(1, 0)),
    C("bt_conv3", 1, 16, 16, 1, 8, T, 8, padding="valid"),
    C("bt_conv1_batch", 3, 1, 16, 3, 3, 7, 81, padding="valid"),
    # rows of 11 outputs in rows of 70 values: a flat tile's vector can reach past the next row's
    # outputs into its dropped positions, so these tiles go through the tile buffer
    C("flat_short_rows", 2, 2, 3, 3, 60, 9, 70, padding="valid"),
    # the ISMIR 2021 tutorial's 1x10 on 26 bins (17 of 26 positions kept: the compact flat tiles)
    C("tutorial_1x10", 2, 5, 6, 1, 10, 9, 26, padding="valid"),
    # input gradients scattered from grad_y (kernels wide against the rows, or few input channels):
    # several row blocks per batch item, taps reaching across block edges, dilation and padding
    C("scatter_1x10_rows", 2, 4, 5, 1, 10, 41, 26, padding="valid"),
    C("scatter_3x9_rows", 1, 3, 4, 3, 9, 45, 27, padding=(1, 0)),
    C("scatter_dilated", 2, 5, 3, 2, 5, 23, 31, padding=(1, 2), dilation=(2, 3)),
    # one input channel
    C("cin1", 2, 1, 5, 3, 3, 11, 24, padding=1),
    C("cin1_cout1", 1, 1, 1, 2, 3, 6, 13, padding="same"),
    # One channel, 3x3 (the first layer's weight-gradient grid kernel): rows of exactly a vector
    # past the 16-row chunk; dilated rows with padding, the grid's span between padded vectors;
    C("cin1_grid_vector_rows", 2, 1, 4, 3, 3, 20, 18, padding="valid"),
    C("cin1_grid_dilated", 2, 1, 7, 3, 3, 40, 45, padding=(2, 1), dilation=(2, 1)),
    # stride and dilation 2 along W with even padding: every tap on phase 0, neighbouring offsets.
    C("cin1_grid_phase0", 2, 1, 5, 3, 3, 19, 75, stride=(1, 2), padding=(1, 2), dilation=(1, 2)),
    # 1xK, Kx1 and 1x1 kernels
    C("k1x1", 2, 7, 5, 1, 1, 5, 23),
    C("k1x1_stride", 2, 3, 4, 1, 1, 7, 11, stride=(2, 3)),
    C("k1x5_same", 2, 3, 4, 1, 5, 9, 26, padding="same"),
    C("k1x8", 1, 5, 6, 1, 8, 4, 30),
    # kernels as wide as the input: one output per row (the weight gradient runs down the rows)
    C("full_width_strided", 2, 6, 5, 3, 8, 11, 8, stride=(2, 1), padding=(1, 0)),
    C("full_width_dilated", 2, 5, 4, 3, 8, 13, 8, padding=(2, 0), dilation=(2, 1)),
    # unpadded ones take the windows feed: output channels over two or three vectors (the last
    # partly padding), tiles of 12 outputs with a partial last one, windows with gaps and overlaps
    C("windows_20ch", 2, 20, 20, 1, 8, 29, 8),
    C("windows_gaps", 2, 5, 7, 2, 6, 23, 6, stride=(3, 1)),
    C("windows_tail", 1, 4, 6, 2, 6, 23, 6, stride=(2, 1)),
    # over 1 MiB of weights: the folded strided feed instead
    C("full_width_large_weights", 1, 184, 184, 1, 8, 5, 8),
    C("windows_overlap", 1, 6, 17, 3, 5, 14, 5, padding=(0, 0)),
    C("k5x1_same", 2, 3, 4, 5, 1, 13, 17, padding="same"),
    C("k7x1_d2", 1, 4, 3, 7, 1, 20, 9, padding=(3, 0), dilation=(2, 1)),
    # the frequency widths of common filterbanks, few frames
    *[C(f"freq_W{w}", 2, 3, 5, 3, 3, 5, w, padding=(1, 0)) for w in (24, 26, 79, 81, 105, 113)],
    *[C(f"freq_W{w}_same", 1, 4, 3, 3, 5, 4, w, padding="same") for w in (79, 113)],
    # kernels as large as the input, and larger than it with padding
    C("k_eq_input", 2, 3, 4, 5, 7, 5, 7),
    C("k_eq_input_same", 1, 2, 3, 5, 7, 5, 7, padding="same"),
    C("k_eq_input_W", 2, 3, 2, 3, 26, 9, 26, padding=(1, 0)),
    C("k_gt_input_padded", 1, 3, 2, 7, 9, 3, 4, padding=(3, 4)),
    C("span_gt_input", 2, 2, 3, 3, 3, 4, 5, padding="same", dilation=(5, 8)),
    # one row / one column / one position
    C("h1", 2, 3, 5, 1, 3, 1, 29),
    C("h1_k3_pad", 1, 3, 4, 3, 3, 1, 17, padding=1),
    C("w1", 2, 3, 5, 3, 1, 19, 1),
    C("w1_k3_pad", 1, 4, 3, 3, 3, 11, 1, padding=(0, 1)),
    C("hw1", 1, 5, 7, 1, 1, 1, 1),
    C("hw1_k3_same", 3, 3, 4, 3, 3, 1, 1, padding="same"),
    C("reads_only_padding", 2, 3, 2, 1, 1, 2, 3, stride=(4, 5), padding=(2, 3)),
    # several batch items
    C("many_batch", 9, 2, 3, 2, 2, 4, 5, padding=(1, 0)),
    # channel counts that fill no SIMD vector
    C("ch1x23", 2, 1, 23, 3, 3, 5, 37, padding="same"),
    C("ch23x1", 2, 23, 1, 3, 3, 5, 37, padding="same", dilation=(1, 2)),
    C("ch3x7", 3, 3, 7, 2, 3, 6, 41, padding=(1, 1)),
    C("ch7x13", 1, 7, 13, 3, 2, 7, 43, padding="valid"),
    C("ch13x17", 2, 13, 17, 3, 3, 4, 47, padding="same"),
    C("ch17x23", 1, 17, 23, 3, 3, 5, 25, padding=(2, 1), dilation=2),
    C("ch23x13", 1, 23, 13, 2, 2, 6, 24),
    # primes everywhere
    C("primes", 3, 5, 7, 3, 5, 11, 37, padding=(2, 3), dilation=(2, 1)),
    C("primes_stride", 2, 7, 11, 5, 3, 13, 31, stride=(3, 2), padding=(1, 2), dilation=(1, 3)),
    # strides, the same and different per axis
    C("stride2", 2, 3, 5, 3, 3, 11, 26, stride=2, padding=1),
    C("stride_1x2", 2, 4, 6, 3, 3, 9, 81, stride=(1, 2), padding=(1, 0)),
    C("stride_2x1", 2, 5, 4, 3, 3, 17, 24, stride=(2, 1), padding=(0, 1)),
    C("stride_2x3", 2, 3, 7, 4, 5, 14, 65, stride=(2, 3), padding=2),
    C("stride_gt_input", 2, 3, 4, 2, 2, 3, 30, stride=(5, 40), padding=(1, 2)),
    C("stride2_k1x8", 1, 6, 5, 1, 8, 10, 26, stride=(2, 2)),
    # dilations, the same and different per axis
    C("dilation2", 2, 3, 4, 3, 3, 12, 30, padding=2, dilation=2),
    C("dilation_2x1", 2, 4, 5, 3, 3, 15, 26, padding=(2, 1), dilation=(2, 1)),
    C("dilation_1x3", 2, 5, 4, 3, 3, 9, 40, padding="same", dilation=(1, 3)),
    C("dilation_stride", 1, 3, 5, 3, 2, 21, 33, stride=(2, 3), padding=(1, 2), dilation=(3, 2)),
    # padding modes
    C("pad_int", 2, 3, 5, 3, 3, 8, 20, padding=1),
    C("pad_int_gt_span", 2, 3, 4, 3, 3, 5, 9, padding=4),
    C("pad_pair", 2, 4, 3, 3, 5, 7, 24, padding=(1, 2)),
    C("pad_pair_h_only", 2, 3, 4, 3, 3, 9, 26, padding=(1, 0)),
    C("pad_pair_w_only", 2, 3, 4, 3, 3, 9, 26, padding=(0, 1)),
    C("pad_pair_gt_span", 1, 3, 2, 2, 2, 4, 6, padding=(3, 5)),
    C("pad_list", 1, 3, 4, 3, 3, 6, 25, padding=[2, 1]),
    C("valid", 2, 6, 5, 3, 5, 10, 24, padding="valid", dilation=(2, 1)),
    C("same_odd", 2, 5, 6, 3, 5, 9, 26, padding="same"),
    C("same_even_2x4", 2, 5, 3, 2, 4, 8, 33, padding="same"),
    C("same_even_4x2_d", 1, 5, 3, 4, 2, 13, 25, padding="same", dilation=(1, 3)),
    C("same_even_6x6_d2", 1, 3, 4, 6, 6, 12, 24, padding="same", dilation=2),
    # no bias
    C("nobias_same", 2, 7, 5, 3, 3, 6, 26, padding="same", bias=False),
    C("nobias_stride", 3, 5, 7, 3, 3, 9, 24, stride=(2, 1), padding=(1, 1), bias=False),
    # widths around the register tiles (AVX2 24 positions, AVX-512 and portable 64)
    *[C(f"tile_W{w}", 2, 5, 7, 3, 3, 4, w, padding="same") for w in (23, 24, 25, 63, 64, 65)],
    # planes of 1024 floats (4 KiB: copied to an aliasing-safe stride by the direct feed)
    C("plane_4k", 1, 16, 24, 3, 3, 4, 256, padding="same"),
    # weights past 16 KB: the packed forward feed
    C("keycnn", 1, 24, 24, 3, 3, 7, 105, padding="same"),
    C("keycnn_batch", 2, 24, 24, 3, 3, 5, 24, padding="same"),
    *[C(f"packed_W{w}", 1, 24, 24, 3, 3, 3, w, padding=1) for w in (23, 25, 63, 65)],
    C("wide_48x40", 2, 48, 40, 3, 3, 6, 33, padding="same"),
    C("wide_64x64", 1, 64, 64, 3, 3, 5, 65, padding=1),
    C("wide_stride", 1, 32, 48, 3, 3, 11, 50, stride=(2, 2), padding=1),
    C("wide_1x8", 1, 40, 40, 1, 8, 6, 30, padding=(0, 2)),
    C("wide_dilated_nobias", 2, 29, 37, 3, 3, 9, 27, padding="same", dilation=(2, 3), bias=False),
    # Winograd F(2x2, 3x3), F(4x2, 3x3) or F(6x2, 3x3) (3x3, stride 1, >= 16 channels, >= 36 tiles of
    # 2x2 outputs, >= 256 below 24 channels on AVX2; the tile whose GEMMs multiply least in whole
    # panels, e.g. 13x13 takes F(2x2), 9x40 F(4x2), 200x26 F(6x2)): output rows 4k .. 4k + 3 and
    # 6k, 6k + 2, 6k + 3, odd widths (part tiles), tiles of several batch items crossing the GEMM's
    # panels and blocks, padding 0..2 per axis, one output row, channel counts that fill no vector
    C("wino_same_13x13", 1, 32, 32, 3, 3, 13, 13, padding="same"),
    C("wino_valid_batch", 3, 41, 40, 3, 3, 11, 23, padding="valid"),
    C("wino_pad_2x0", 1, 32, 35, 3, 3, 12, 19, padding=(2, 0)),
    C("wino_one_output_row", 2, 43, 40, 3, 3, 3, 70, padding=(0, 2)),
    C("wino_nobias_wide", 1, 47, 41, 3, 3, 9, 40, padding=1, bias=False),
    C("wino_blocks", 2, 24, 24, 3, 3, 50, 41, padding="same"),  # 5 blocks of tiles, split mid-row
    C("wino_rows_4k_plus_3", 1, 16, 20, 3, 3, 13, 30, padding=(2, 1)),
    C("wino_rows_4k", 1, 16, 16, 3, 3, 22, 26, padding="valid"),  # the last 2 input rows: the last patches' only
    C("wino_tall_40", 1, 40, 41, 3, 3, 41, 30, padding="valid"),  # F(4x2) on AVX2, F(6x2) on AVX-512
    # The front end's 16 -> 16 on 26 bins: 12 tiles per row (a vector's lanes run into the next row),
    # 5 blocks; odd widths and padding take the masked loads at both ends of every row.
    C("wino_front_end_16", 1, 16, 16, 3, 3, 200, 26, padding="valid"),
    C("wino_odd_16", 2, 16, 17, 3, 3, 37, 29, padding=1),
    # too few tile columns for the transforms' lanes: the direct kernels (BeatTCN's 20 -> 20 on 5 bins)
    C("wino_narrow_direct", 1, 20, 20, 3, 3, 60, 5, padding="valid"),
    C("wino_narrow_24", 1, 24, 24, 3, 3, 40, 9, padding="valid"),
]

# Channels (in and out) from which each variant runs Winograd (csrc/cpu/conv/winograd.cpp).
WINOGRAD_MIN_CHANNELS = {"portable": 16, "avx2": 16, "avx512": 16}
# Tiles of 2x2 outputs each variant needs (36), and below 24 channels.
WINOGRAD_MIN_TILES_BELOW_24 = {"portable": 36, "avx2": 256, "avx512": 36}


def runs_winograd(case: Case, isa: str) -> bool:
    """Whether conv2d runs a wino_* case (3x3, stride 1) through Winograd under isa: enough channels,
    tiles of 2x2 outputs (36, or the variant's count below 24 channels), and tile columns for the
    transforms' lanes: 4, or 6 below 24 channels."""
    if isa == "scalar":
        return False
    channels = min(case.c_in, case.c_out)
    tile_rows, tile_cols = ((size + 1) // 2 for size in case.out_hw)
    min_tiles = WINOGRAD_MIN_TILES_BELOW_24[isa] if channels < 24 else 36
    return (channels >= WINOGRAD_MIN_CHANNELS[isa] and case.n * tile_rows * tile_cols >= min_tiles
            and tile_cols >= (6 if channels < 24 else 4))

WINOGRAD_CASES = [c for c in CASES if c.name.startswith("wino_")]

# The weight gradient from a grad_y that a max-pool's backward pass left mostly zero (3x3, stride 1,
# outputs >= 8 wide, 12..32 input channels (8 on AVX2), <= 64 output channels:
# csrc/cpu/conv/conv_sparse_grad.h), drawn by test_conv2d's sparse tests: the front end's 16 -> 16
# (37 output rows: chunks of 32 and 5), padding 2 and batch items whose 72 rows end in a short
# chunk, 13 and 31 channels (a vector and a part; two vectors), 70 output columns (two 64-position
# segments), 8 output columns, one output row, 20 channels (the beat TCN's), more chunks of 32 rows
# than work items.
SPARSE_CASES = [
    by_name_in(CASES, "bt_conv2"),
    C("sparse_pad2_batch", 2, 13, 7, 3, 3, 70, 11, padding=2),
    C("sparse_wide_20", 1, 20, 16, 3, 3, 9, 70, padding=1),
    C("sparse_eight_cols", 1, 12, 5, 3, 3, 40, 8, padding=(0, 1)),
    C("sparse_one_row", 3, 14, 4, 3, 3, 3, 17, padding="valid"),
    C("sparse_same_31", 1, 31, 9, 3, 3, 33, 33, padding="same", bias=False),
    C("sparse_pad_1x2", 2, 16, 16, 3, 3, 12, 24, padding=(1, 2)),
    C("sparse_many_chunks", 2, 12, 8, 3, 3, 290, 10, padding=1),  # 20 chunks of rows in 16 work items
    # grad_x in 3 bands of rows per batch item (the last 14 rows), on AVX2 too (16 channels).
    C("sparse_bands", 2, 16, 8, 3, 3, 270, 12, padding=(2, 1)),
    C("sparse_40_out", 1, 16, 40, 3, 3, 12, 20, padding="valid"),  # the input gradient stays dense
]
# The SIMD variants whose sparse input-gradient kernel takes each of the SPARSE_CASES: 16 lanes
# (AVX-512, portable) take input channels in one vector from 12, AVX2's 8 lanes take several
# filled more than 3/4 (20 of 24, not 12 of 16); none takes more than 32 output channels.
ALL_SIMD = {"portable", "avx2", "avx512"}
SPARSE_INPUT_ISAS = {"bt_conv2": ALL_SIMD, "sparse_pad2_batch": ALL_SIMD, "sparse_wide_20": {"avx2"},
                     "sparse_eight_cols": {"portable", "avx512"}, "sparse_one_row": ALL_SIMD,
                     "sparse_same_31": ALL_SIMD, "sparse_pad_1x2": ALL_SIMD,
                     "sparse_many_chunks": {"portable", "avx512"}, "sparse_bands": ALL_SIMD, "sparse_40_out": set()}
# 3x3 stride-1 shapes that keep the dense kernel: 5 input channels, 33, 65 output channels, outputs
# 7 wide (the beat TCN's 20 -> 20 on 5 bins: 3), a dilation, a stride.
SPARSE_DENSE_CASES = [
    C("sparse_5_channels", 1, 5, 16, 3, 3, 20, 26, padding="valid"),
    C("sparse_33_channels", 1, 33, 8, 3, 3, 12, 20, padding="valid"),
    C("sparse_65_out", 1, 16, 65, 3, 3, 10, 20, padding="valid"),
    C("sparse_7_wide", 2, 16, 16, 3, 3, 20, 9, padding="valid"),
    C("sparse_beat_tcn", 1, 20, 20, 3, 3, 30, 5, padding="valid"),
    C("sparse_dilated", 1, 16, 16, 3, 3, 20, 26, padding="same", dilation=2),
    C("sparse_strided", 1, 16, 16, 3, 3, 20, 26, padding=1, stride=(1, 2)),
]

ALL_CASES = CASES + SPARSE_CASES[1:] + SPARSE_DENSE_CASES


def by_name(name: str) -> Case:
    return by_name_in(ALL_CASES, name)


def params(cases: list[Case]) -> list[Any]:
    return [pytest.param(c, id=c.id) for c in cases]
