// The max-pool forward kernel, written once against the SIMD vocabulary S and instantiated by
// max_pool_fwd_<isa>.cpp. Work item = one output row of one plane. Lanes are W consecutive
// outputs of the row; each tap (i, j) of the window is one vector of the W values those outputs
// read, compared into a running (max, index) pair with torch's rule (greater or NaN replaces),
// taps in torch's order, so results and indices match torch exactly. For a column stride s > 1
// each input row the window needs is first split into s phases in a small per-thread buffer
// (phase q holds columns q, q+s, ...), so that every tap reads contiguous values. Padding is -inf:
// lanes outside the row are masked to -inf and rows outside the plane are skipped.
#pragma once

#include <cstdint>

#include "common/scratch.h"
#include "cpu/pool/pool.h"

namespace ictus::cpu {
namespace {

template <class S>
void max_pool_fwd_simd(const PoolProblem& p, int64_t begin, int64_t end) {
  using Vec = typename S::Vec;
  using IVec = typename S::IVec;
  constexpr int W = S::kWidth;
  const PoolShape& s = p.shape;
  const int64_t sw = s.stride_w;
  const int64_t phases = sw < s.in_w ? sw : s.in_w, phase_stride = (s.in_w + sw - 1) / sw;
  const int64_t row_floats = phases * phase_stride;
  float* split = sw > 1 ? scratch_floats(ScratchSlot::kPoolRows, static_cast<size_t>(s.kernel_h * row_floats)) : nullptr;
  const IVec lane_columns = S::iota_times(static_cast<int32_t>(sw));  // lane l reads column (w0 + l) * sw + ...
  for (int64_t item = begin; item < end; ++item) {
    const int64_t plane = item / s.out_h, h = item % s.out_h;
    const float* x = p.x + plane * s.in_h * s.in_w;
    const int64_t i0 = pool_first_tap(h, s.stride_h, s.dilation_h, s.pad_top);
    const int64_t r0 = conv_input_index(h, i0, s.stride_h, s.dilation_h, s.pad_top);
    if (split) {
      for (int64_t i = i0; i < s.kernel_h; ++i) {
        const int64_t r = conv_input_index(h, i, s.stride_h, s.dilation_h, s.pad_top);
        if (r >= s.in_h) break;
        for (int64_t q = 0; q < phases; ++q) {
          float* to = split + i * row_floats + q * phase_stride;
          const float* from = x + r * s.in_w + q;
          const int64_t n = phase_length(s.in_w, sw, q);
          for (int64_t m = 0; m < n; ++m) to[m] = from[m * sw];
        }
      }
    }
    float* y = p.y + (plane * s.out_h + h) * s.out_w;
    int64_t* idx_out = p.indices ? p.indices + (plane * s.out_h + h) * s.out_w : nullptr;
    for (int64_t w0 = 0; w0 < s.out_w; w0 += W) {
      const int nt = static_cast<int>(s.out_w - w0 < W ? s.out_w - w0 : W);
      Vec m = S::neg_inf();
      // Each lane starts at its window's first real position, where torch starts (kept if all is -inf).
      IVec idx;
      if (w0 * sw - s.pad_left >= 0) {
        idx = S::iadd(S::ibroadcast(static_cast<int32_t>(r0 * s.in_w + w0 * sw - s.pad_left)), lane_columns);
      } else {
        int32_t first[W];
        for (int l = 0; l < W; ++l) {
          const int64_t j0 = pool_first_tap(w0 + l, sw, s.dilation_w, s.pad_left);
          first[l] = static_cast<int32_t>(r0 * s.in_w + conv_input_index(w0 + l, j0, sw, s.dilation_w, s.pad_left));
        }
        idx = S::iload(first);
      }
      for (int64_t i = i0; i < s.kernel_h; ++i) {
        const int64_t r = conv_input_index(h, i, s.stride_h, s.dilation_h, s.pad_top);
        if (r >= s.in_h) break;
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          const int64_t col0 = w0 * sw + j * s.dilation_w - s.pad_left;  // column under lane 0
          // src[l] is the value lane l reads; lanes [lo, hi) read real values.
          const float* src;
          int64_t lo, hi;
          if (sw == 1) {
            src = x + r * s.in_w + col0;
            lo = -col0;
            hi = s.in_w - col0;
          } else {
            const int64_t jj = j * s.dilation_w - s.pad_left, q = floor_mod(jj, sw), off = w0 + floor_div(jj, sw);
            if (q >= phases) continue;
            src = split + i * row_floats + q * phase_stride + off;
            lo = -off;
            hi = phase_length(s.in_w, sw, q) - off;
          }
          if (hi <= 0 || lo >= nt) continue;
          const Vec v = (lo <= 0 && hi >= W)
                            ? S::load(src)
                            : S::load_masked_fill(src,
                                                  S::range_mask(static_cast<int>(lo < 0 ? 0 : lo),
                                                                static_cast<int>(hi > W ? W : hi)),
                                                  S::neg_inf());
          if (idx_out) {
            S::max_update(m, idx, v, S::iadd(S::ibroadcast(static_cast<int32_t>(r * s.in_w + col0)), lane_columns));
          } else {
            m = S::max_nan(m, v);
          }
        }
      }
      if (nt == W) {
        S::store(y + w0, m);
      } else {
        S::store_masked(y + w0, m, S::range_mask(0, nt));
      }
      if (idx_out) S::store_index_lanes(idx_out + w0, idx, nt);
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
