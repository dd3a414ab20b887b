// The forward pass of a convolution whose kernel spans its input's width, unpadded (the front
// end's 1x8 on 8 bins), written once against the SIMD vocabulary S and instantiated by
// conv_fwd_windows_<isa>.cpp. Folded (fold_full_width in conv.cpp), output h of a plane reads one
// window of K contiguous values per input channel, x[c][h*stride + k], so the layer is a GEMM
// over (c, k) with no padding, masks or phase split (the strided feed of conv_fwd_simd.h copied
// x into its `stride` phases first: 37% of its time). Lanes run over output channels: a tile of
// R outputs h keeps R x W accumulators; per (c, k) one vector of packed weights [c][k][o] meets
// R broadcast input values (R FMAs per R+1 loads). A tile's sums are then stored transposed, one
// output row at a time, into y[n][o][h].
#pragma once

#include <cstdint>

#include "cpu/conv/conv.h"

namespace ictus::cpu {
namespace {

// kFull: all R outputs are real (every tile but a plane's last), so the FMAs run unconditionally.
template <class S, int R, bool kFull>
void windows_tile(const WindowForward& p, int64_t n, int64_t h0, int64_t rows) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const float* x = p.x + n * p.channels * p.plane + h0 * p.stride;
  if constexpr (kFull) {
    // The windows 4 tiles on, channel by channel: the hardware prefetcher follows few of the
    // channels' streams (N=8 16->16 1x8 on 2998x8, x 12 MiB: 2.3-3.1 -> 1.1-2.5 ms in four
    // alternating runs on a noisy guest; 1 or 2 tiles on gained less).
    const int64_t span = R * p.stride;
    if ((h0 + 5 * R) * p.stride <= p.plane) {
      for (int64_t c = 0; c < p.channels; ++c) {
        for (int64_t k = 0; k < span; k += 16) __builtin_prefetch(x + c * p.plane + 4 * span + k);
      }
    }
  }
  for (int64_t o0 = 0; o0 < p.out_channels; o0 += W) {
    const float* w = p.packed_weight + o0;
    Vec acc[R];
    const Vec bias = S::load(p.packed_bias + o0);
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) acc[r] = bias;
    for (int64_t c = 0; c < p.channels; ++c) {
      const float* xc = x + c * p.plane;
      for (int64_t k = 0; k < p.window; ++k, w += p.out_padded) {
        const Vec wv = S::load(w);
#pragma GCC unroll 16
        for (int r = 0; r < R; ++r) {
          if (kFull || r < rows) acc[r] = S::fma(wv, S::broadcast(xc[r * p.stride + k]), acc[r]);
        }
      }
    }
    alignas(64) float sums[R][W];
#pragma GCC unroll 16
    for (int r = 0; r < R; ++r) S::store(sums[r], acc[r]);
    const int64_t outs = p.out_channels - o0 < W ? p.out_channels - o0 : W;
    float* y = p.y + (n * p.out_channels + o0) * p.out_length + h0;
    for (int64_t o = 0; o < outs; ++o) {
      for (int64_t r = 0; r < rows; ++r) y[o * p.out_length + r] = sums[r][o];
    }
  }
}

// Work items: tiles of R outputs, batch item by batch item.
template <class S, int R>
void conv_fwd_windows_simd(const WindowForward& p, int64_t begin, int64_t end) {
  const int64_t tiles = (p.out_length + R - 1) / R;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / tiles, h0 = item % tiles * R;
    const int64_t rows = p.out_length - h0 < R ? p.out_length - h0 : R;
    if (rows == R) {
      windows_tile<S, R, true>(p, n, h0, rows);
    } else {
      windows_tile<S, R, false>(p, n, h0, rows);
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
