// The sparse gradient kernels (conv_sparse_grad.h), written once against the SIMD vocabulary S and
// instantiated by conv_sparse_grad_<isa>.cpp. Weight gradient: a chunk copies its rows of x
// channel-last, then per output channel walks its grad_y rows, finds the nonzero positions
// (S::nonzero_lanes, up to 64 at a time) and runs the 9 taps of each on the lanes / W channel
// vectors: 9 loads and 9 FMAs into sums in registers. Input gradient: conv_sparse_igrad_simd below.
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

// The rows x cols matrix at src (row i at src + i * src_stride) transposed into dst (row j at
// dst + j * dst_stride), in 8x8 blocks (S::transpose8): a row of channel planes into channel-last
// columns, or back.
template <class S>
void transpose(const float* src, int64_t src_stride, int64_t rows, int64_t cols, float* dst, int64_t dst_stride) {
  for (int64_t i0 = 0; i0 < rows; i0 += 8) {
    for (int64_t j0 = 0; j0 < cols; j0 += 8) {
      if (i0 + 8 <= rows && j0 + 8 <= cols) {
        S::transpose8(src + i0 * src_stride + j0, src_stride, dst + j0 * dst_stride + i0, dst_stride);
        continue;
      }
      for (int64_t i = i0; i < std::min(i0 + 8, rows); ++i) {
        for (int64_t j = j0; j < std::min(j0 + 8, cols); ++j) dst[j * dst_stride + i] = src[i * src_stride + j];
      }
    }
  }
}

// Rows [r_begin, r_end) of x's batch item n channel-last into dst: row r at (r - r_begin) * width,
// x's column col at column col + pad_left, lanes floats each; zeros for padding rows and columns
// and past in_channels. False when a row holds inf or NaN.
template <class S>
bool gather_rows_channel_last(const SparseGrad& p, int64_t n, int64_t r_begin, int64_t r_end, int64_t width, float* dst) {
  const int64_t lanes = p.lanes, plane = p.s.in_h * p.s.in_w, right = p.s.pad_left + p.s.in_w;
  const auto zero = [](float* at, int64_t count) { std::memset(at, 0, static_cast<size_t>(count) * sizeof(float)); };
  // Only the padding is zeroed where x's channels fill the lanes (the front end's 16->16 layer:
  // 5 MB of zeros less per call), all of it otherwise.
  const bool full_lanes = lanes == p.s.in_channels;
  if (!full_lanes) zero(dst, (r_end - r_begin) * width * lanes);
  bool finite = true;
  for (int64_t r = r_begin; r < r_end; ++r) {
    float* row = dst + (r - r_begin) * width * lanes;
    if (r < 0 || r >= p.s.in_h) {
      if (full_lanes) zero(row, width * lanes);
      continue;
    }
    if (full_lanes) {
      zero(row, p.s.pad_left * lanes);
      zero(row + right * lanes, (width - right) * lanes);
    }
    const float* src = p.x + n * p.s.in_channels * plane + r * p.s.in_w;
    transpose<S>(src, plane, p.s.in_channels, p.s.in_w, row + p.s.pad_left * lanes, lanes);
    // Checked channel-last, padding included: one contiguous span per row instead of one per channel.
    finite = all_finite(row, width * lanes) && finite;
  }
  return finite;
}

template <class S>
bool conv_sparse_wgrad_simd(const SparseGrad& p, int64_t chunk, bool first, float* sums, double* bias_sums) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const int64_t n = chunk / p.chunks, h_begin = (chunk % p.chunks) * kSparseGradRows;
  const int64_t h_end = std::min(p.s.out_h, h_begin + kSparseGradRows);
  const int64_t lanes = p.lanes, width = p.s.out_w + 2;  // output column w, tap j reads column w + j
  // The chunk's rows of x, then per output channel its grad_y rows' nonzero positions (64 a word).
  const int64_t row_floats = (h_end - h_begin + 2) * width * lanes, words = ceil_div(p.s.out_w, 64);
  float* rows =
      scratch_floats(ScratchSlot::kSparseGradRows, static_cast<size_t>(row_floats + 2 * kSparseGradRows * words));
  uint64_t* nonzeros = reinterpret_cast<uint64_t*>(rows + row_floats);  // row_floats is even: 8-byte aligned
  if (!gather_rows_channel_last<S>(p, n, h_begin - p.s.pad_top, h_end + 2 - p.s.pad_top, width, rows)) return false;
  // Output channels outer: each walks its rows of grad_y in one stream, its sums in registers.
  for (int64_t o = 0; o < p.s.out_channels; ++o) {
    double bias = 0.0;  // summed on the first channel vector's pass
    // The rows' nonzero positions first, in a loop of their own, so that finding them never
    // waits on the FMAs (one row of 64 positions at a time).
    const float* gy_o = p.grad_y + ((n * p.s.out_channels + o) * p.s.out_h + h_begin) * p.s.out_w;
    for (int64_t h = h_begin; h < h_end; ++h) {
      for (int64_t w0 = 0; w0 < p.s.out_w; w0 += 64) {
        nonzeros[(h - h_begin) * words + w0 / 64] =
            nonzero_positions<S>(gy_o + (h - h_begin) * p.s.out_w + w0, std::min<int64_t>(64, p.s.out_w - w0));
      }
    }
    for (int64_t v = 0; v < lanes; v += W) {
      Vec acc[kSparseGradTaps];
      for (int t = 0; t < kSparseGradTaps; ++t) acc[t] = first ? S::zero() : S::load(sums + (o * kSparseGradTaps + t) * lanes + v);
      for (int64_t h = h_begin; h < h_end; ++h) {
        const float* src = rows + (h - h_begin) * width * lanes + v;  // tap row i: i * width * lanes on
        const float* gy = gy_o + (h - h_begin) * p.s.out_w;
        for (int64_t w0 = 0; w0 < p.s.out_w; w0 += 64) {
          for (uint64_t bits = nonzeros[(h - h_begin) * words + w0 / 64]; bits != 0; bits &= bits - 1) {
            const int64_t w = w0 + __builtin_ctzll(bits);
            if (v == 0) bias += gy[w];
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
    if (bias_sums != nullptr) bias_sums[o] = first ? bias : bias_sums[o] + bias;
  }
  return true;
}

// Band `band` of grad_x (batch item band / bands, rows [a, b)): step h takes grad_y row
// r = h + pad_top, channel-last, and per position sums over its nonzero output channels the 9 tap
// vectors g * weight[o][tap] in registers, then adds them into grad_x rows h, h + 1 and stores
// them into row h + 2 (a ring of 3 channel-last rows; rows outside the band go to a 4th,
// discarded). After step h, row h has all its terms and goes out channel-first.
template <class S>
void conv_sparse_igrad_simd(const SparseInputGrad& p, int64_t band) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const ConvShape& s = p.s;
  const int64_t n = band / p.bands, a = (band % p.bands) * kSparseInputGradRows;
  const int64_t b = std::min(s.in_h, a + kSparseInputGradRows);
  const int64_t in_lanes = p.in_lanes, out_lanes = p.out_lanes, ring_row = (s.out_w + 2) * in_lanes;
  const int64_t out_plane = s.out_h * s.out_w, in_plane = s.in_h * s.in_w;
  float* ring = scratch_floats(ScratchSlot::kSparseGradRows,
                               static_cast<size_t>(4 * ring_row + s.out_w * out_lanes + 2 * s.out_w));
  float* discard = ring + 3 * ring_row;
  float* gy = ring + 4 * ring_row;  // grad_y row r channel-last, zeros past out_channels
  // Per position of that row, its nonzero output channels (out_lanes <= 64; an even offset in floats:
  // 8-byte aligned).
  uint64_t* nonzeros = reinterpret_cast<uint64_t*>(gy + s.out_w * out_lanes);
  std::memset(discard, 0, static_cast<size_t>(ring_row + s.out_w * out_lanes) * sizeof(float));  // and gy
  const auto ring_slot = [&](int64_t row) { return row >= a && row < b ? ring + ((row - a) % 3) * ring_row : discard; };
  for (int64_t h = a - 2; h < b; ++h) {
    // Row h + 2 gets its first terms at this step, stored rather than added (every column of it),
    // or, without a grad_y row here, starts as zeros.
    const int64_t r = h + s.pad_top;
    const bool has_row = r >= 0 && r < s.out_h;
    if (!has_row && h + 2 >= a && h + 2 < b) {
      std::memset(ring_slot(h + 2), 0, static_cast<size_t>(ring_row) * sizeof(float));
    }
    if (has_row) {
      transpose<S>(p.grad_y + n * s.out_channels * out_plane + r * s.out_w, out_plane, s.out_channels, s.out_w, gy,
                   out_lanes);
      // Found in a loop of their own, so that finding them never waits on the FMAs.
      for (int64_t w = 0; w < s.out_w; ++w) nonzeros[w] = nonzero_positions<S>(gy + w * out_lanes, out_lanes);
      for (int64_t v = 0; v < in_lanes; v += W) {
        float* const rows[3] = {ring_slot(h) + v, ring_slot(h + 1) + v, ring_slot(h + 2) + v};
        const float* const weight = p.weight + v;
        // acc[3i + j]: the terms for row h + i, column w + j (grad_x's column w + j - pad_left),
        // carried from position to position: after position w, column w has all its terms from
        // this grad_y row and is added into the ring once.
        Vec acc[kSparseGradTaps];
        for (int t = 0; t < kSparseGradTaps; ++t) acc[t] = S::zero();
        const auto retire_column = [&](int64_t w) {
          for (int i = 0; i < 3; ++i) {
            float* d = rows[i] + w * in_lanes;
            S::store(d, i == 2 ? acc[3 * i] : S::add(S::load(d), acc[3 * i]));
            acc[3 * i] = acc[3 * i + 1];
            acc[3 * i + 1] = acc[3 * i + 2];
            acc[3 * i + 2] = S::zero();
          }
        };
        for (int64_t w = 0; w < s.out_w; ++w) {
          const float* g = gy + w * out_lanes;
          for (uint64_t bits = nonzeros[w]; bits != 0; bits &= bits - 1) {
            const int64_t o = __builtin_ctzll(bits);
            const Vec go = S::broadcast(g[o]);
            const float* wt = weight + o * kSparseGradTaps * in_lanes;
            for (int t = 0; t < kSparseGradTaps; ++t) acc[t] = S::fma(go, S::load(wt + t * in_lanes), acc[t]);
          }
          retire_column(w);
        }
        retire_column(s.out_w);
        retire_column(s.out_w + 1);
      }
    }
    if (h >= a) {
      transpose<S>(ring_slot(h) + s.pad_left * in_lanes, in_lanes, s.in_w, s.in_channels,
                   p.grad_x + n * s.in_channels * in_plane + h * s.in_w, in_plane);
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
