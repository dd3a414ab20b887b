// The sparse weight-gradient kernel (conv_sparse_grad.h), written once against the SIMD vocabulary
// S and instantiated by conv_sparse_grad_<isa>.cpp. A chunk copies its rows of x channel-last,
// then per output channel walks its grad_y rows, finds the nonzero positions (S::nonzero_lanes, up
// to 64 at a time) and runs the 9 taps of each on the lanes / W channel vectors: 9 loads and 9 FMAs
// into sums in registers.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/finite.h"
#include "common/scratch.h"
#include "cpu/conv/conv_sparse_grad.h"

namespace ictus::cpu {
namespace {

// Bit k set where value k of row[0, count) is nonzero (inf and NaN included), count <= 64.
template <class S>
inline uint64_t nonzero_positions(const float* row, int64_t count) {
  constexpr int W = S::kWidth;
  uint64_t bits = 0;
  for (int64_t k = 0; k < count; k += W) {
    const typename S::Vec v =
        count - k >= W ? S::load(row + k) : S::load_masked(row + k, S::range_mask(0, static_cast<int>(count - k)));
    bits |= static_cast<uint64_t>(S::nonzero_lanes(v)) << k;
  }
  return bits;
}

// Rows [r_begin, r_end) of x's batch item n channel-last into dst: row r at (r - r_begin) * width,
// x's column col at column col + pad_left, lanes floats each; zeros for padding rows and columns
// and past in_channels. False when a row holds inf or NaN.
template <class S>
bool gather_rows_channel_last(const SparseGrad& p, int64_t n, int64_t r_begin, int64_t r_end, int64_t width, float* dst) {
  const int64_t lanes = p.lanes, plane = p.s.in_h * p.s.in_w;
  std::memset(dst, 0, static_cast<size_t>((r_end - r_begin) * width * lanes) * sizeof(float));
  bool finite = true;
  for (int64_t r = std::max<int64_t>(0, r_begin); r < std::min(p.s.in_h, r_end); ++r) {
    const float* src = p.x + n * p.s.in_channels * plane + r * p.s.in_w;
    float* row = dst + ((r - r_begin) * width + p.s.pad_left) * lanes;
    for (int64_t c0 = 0; c0 < p.s.in_channels; c0 += 8) {
      for (int64_t col0 = 0; col0 < p.s.in_w; col0 += 8) {
        if (c0 + 8 <= p.s.in_channels && col0 + 8 <= p.s.in_w) {
          S::transpose8(src + c0 * plane + col0, plane, row + col0 * lanes + c0, lanes);
          continue;
        }
        for (int64_t c = c0; c < std::min(c0 + 8, p.s.in_channels); ++c) {
          for (int64_t col = col0; col < std::min(col0 + 8, p.s.in_w); ++col) row[col * lanes + c] = src[c * plane + col];
        }
      }
    }
    // Checked channel-last, padding included: one contiguous span per row instead of one per channel.
    finite = all_finite(dst + (r - r_begin) * width * lanes, width * lanes) && finite;
  }
  return finite;
}

template <class S>
bool conv_sparse_wgrad_simd(const SparseGrad& p, int64_t chunk, bool first, float* sums) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const int64_t n = chunk / p.chunks, h_begin = (chunk % p.chunks) * kSparseGradRows;
  const int64_t h_end = std::min(p.s.out_h, h_begin + kSparseGradRows);
  const int64_t lanes = p.lanes, width = p.s.out_w + 2;  // output column w, tap j reads column w + j
  float* rows = scratch_floats(ScratchSlot::kSparseGradRows, static_cast<size_t>((h_end - h_begin + 2) * width * lanes));
  if (!gather_rows_channel_last<S>(p, n, h_begin - p.s.pad_top, h_end + 2 - p.s.pad_top, width, rows)) return false;
  // Output channels outer: each walks its rows of grad_y in one stream, its sums in registers.
  for (int64_t o = 0; o < p.s.out_channels; ++o) {
    for (int64_t v = 0; v < lanes; v += W) {
      Vec acc[kSparseGradTaps];
      for (int t = 0; t < kSparseGradTaps; ++t) acc[t] = first ? S::zero() : S::load(sums + (o * kSparseGradTaps + t) * lanes + v);
      for (int64_t h = h_begin; h < h_end; ++h) {
        const float* src = rows + (h - h_begin) * width * lanes + v;  // tap row i: i * width * lanes on
        const float* gy = p.grad_y + ((n * p.s.out_channels + o) * p.s.out_h + h) * p.s.out_w;
        for (int64_t w0 = 0; w0 < p.s.out_w; w0 += 64) {
          for (uint64_t bits = nonzero_positions<S>(gy + w0, std::min<int64_t>(64, p.s.out_w - w0)); bits != 0;
               bits &= bits - 1) {
            const int64_t w = w0 + __builtin_ctzll(bits);
            const Vec g = S::broadcast(gy[w]);
            const float* at = src + w * lanes;
            for (int i = 0; i < 3; ++i) {
              for (int j = 0; j < 3; ++j) acc[3 * i + j] = S::fma(g, S::load(at + (i * width + j) * lanes), acc[3 * i + j]);
            }
          }
        }
      }
      for (int t = 0; t < kSparseGradTaps; ++t) S::store(sums + (o * kSparseGradTaps + t) * lanes + v, acc[t]);
    }
  }
  return true;
}

}  // namespace
}  // namespace ictus::cpu
