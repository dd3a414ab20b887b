// The input gradient of a convolution on the windows feed (conv_fwd_windows_simd.h) whose windows
// do not overlap (stride >= window, the front end's 1x8 on 8 bins), written once against the
// SIMD vocabulary S and instantiated by conv_bwd_data_windows_<isa>.cpp:
//   grad_x[n][c][h * stride + k] = sum_o W[o][c][k] * grad_y[n][o][h],  k < window,
// a GEMM whose lanes run over r = c * window + k, so that each lane's value lands in one place and
// the lanes of one channel land side by side: a vector is stored as its channels' segments
// (WindowSegment, with masks where it holds several) straight into grad_x, with no phase scatter
// (the strided path correlated into phase planes, then copied every value to its place: 26% of
// its time). A tile is RH outputs x RV vectors of r: per output channel, RV weight vectors meet
// RH broadcast grad_y values (RH * RV FMAs per RH + RV loads). grad_x values under no window are
// zeroed by the driver.
#pragma once

#include <cstdint>

#include "cpu/conv/conv.h"

namespace ictus::cpu {
namespace {

template <class S, int RH, int RV, bool kFull>
void windows_grad_tile(const WindowInputGrad& p, int64_t n, int64_t h0, int64_t rows, int64_t v0, int64_t vectors) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  Vec acc[RH][RV];
#pragma GCC unroll 8
  for (int i = 0; i < RH; ++i) {
#pragma GCC unroll 8
    for (int v = 0; v < RV; ++v) acc[i][v] = S::zero();
  }
  const float* gy = p.grad_y + n * p.out_channels * p.out_length + h0;
  const float* w = p.packed_weight + v0 * p.out_channels * W;  // the block's [o][RV * W]
  for (int64_t o = 0; o < p.out_channels; ++o, gy += p.out_length, w += RV * W) {
    Vec g[RH];
#pragma GCC unroll 8
    for (int i = 0; i < RH; ++i) g[i] = S::broadcast(kFull || i < rows ? gy[i] : 0.0f);
#pragma GCC unroll 8
    for (int v = 0; v < RV; ++v) {
      if (!kFull && v >= vectors) break;
      const Vec wv = S::load_once(w + v * W);
#pragma GCC unroll 8
      for (int i = 0; i < RH; ++i) acc[i][v] = S::fma(wv, g[i], acc[i][v]);
    }
  }
  float* gx = p.grad_x + n * p.channels * p.plane + h0 * p.stride;
  // Unrolled over the tile, so that acc stays in registers (indexed at run time, it went through
  // the stack: the front end's 1x8 16->16 input gradient 0.19 -> 0.15 ms with AVX-512).
#pragma GCC unroll 8
  for (int v = 0; v < RV; ++v) {
    if (!kFull && v >= vectors) break;
    const WindowSegment* last = p.segments + p.segment_begin[v0 + v + 1];
    for (const WindowSegment* seg = p.segments + p.segment_begin[v0 + v]; seg != last; ++seg) {
      // Lane l of the vector goes to at + l (lanes outside the segment are masked off).
      float* at = gx + seg->offset - seg->lane_begin;
      const bool whole = seg->lane_begin == 0 && seg->lane_end == W;
      const auto mask = S::range_mask(seg->lane_begin, seg->lane_end);
#pragma GCC unroll 8
      for (int i = 0; i < RH; ++i) {
        if (!kFull && i >= rows) break;
        if (whole) {
          S::store(at + i * p.stride, acc[i][v]);
        } else {
          S::store_masked(at + i * p.stride, acc[i][v], mask);
        }
      }
    }
  }
}

// Work items: (batch item, block of RV vectors of r, tile of RH outputs), tiles fastest, so that a
// block's weights stay in L1 while its tiles pass.
template <class S, int RH, int RV>
void conv_bwd_data_windows_simd(const WindowInputGrad& p, int64_t begin, int64_t end) {
  const int64_t tiles = (p.out_length + RH - 1) / RH;
  const int64_t r_vectors = p.r_padded / S::kWidth, blocks = (r_vectors + RV - 1) / RV;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t tile = item % tiles, block = item / tiles % blocks, n = item / tiles / blocks;
    const int64_t h0 = tile * RH, rows = p.out_length - h0 < RH ? p.out_length - h0 : RH;
    const int64_t v0 = block * RV, vectors = r_vectors - v0 < RV ? r_vectors - v0 : RV;
    if (rows == RH && vectors == RV) {
      windows_grad_tile<S, RH, RV, true>(p, n, h0, rows, v0, vectors);
    } else {
      windows_grad_tile<S, RH, RV, false>(p, n, h0, rows, v0, vectors);
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
