// The max-pool backward gather (pool.h), written once against the SIMD vocabulary S and
// instantiated by max_pool_bwd_<isa>.cpp: the forward kernel's split run backwards. Lanes are W
// consecutive outputs of a row. On each window row, tap j of the lanes' windows gets grad_y where
// the index equals the tap's position, else 0 (one compare and one AND per tap); the stride_w taps
// are merged back into stride_w * W consecutive values (S::merge_phases) and stored: every
// position is written once, with no zeroing pass and no read-modify-write. A lane whose index
// matched no tap sends the whole call back to the scatter (pool.cpp). Windows 3 wide at stride 3
// on one window row (the front end's (1, 3)) take S::spread_windows3 where the variant has it
// (AVX-512): the gradients spread straight to their positions, no phases to merge (1x16x3000x79:
// 1.23-1.28 -> 1.05-1.09 ms in cache, 1.36-1.41 -> 1.22-1.28 out of it). Rows of fewer than W
// outputs, strides above 3 and the overhanging last windows of ceil mode run the scalar loop.
#pragma once

#include <cstdint>

#include "cpu/pool/max_pool_bwd_gather.h"

namespace ictus::cpu {
namespace {

template <class S, int Stride, class Index>
bool gather_row_split(const PoolShape& s, const float* gy, const Index* idx, float* gx, const GatherRows& rows,
                      typename S::IVec lane_columns) {
  using Vec = typename S::Vec;
  using IVec = typename S::IVec;
  constexpr int W = S::kWidth;
  bool in_windows = true;
  for (int64_t w0 = 0; w0 < s.out_w; w0 += W) {
    // A partial last vector moves back to end at the row's end: it rewrites some outputs' values.
    if (w0 + W > s.out_w) w0 = s.out_w - W;
    if ((w0 + W) * Stride > s.in_w) {
      in_windows = gather_windows_scalar(s, gy, idx, gx, rows, w0, s.out_w) && in_windows;
      break;
    }
    const Vec g = S::add(S::zero(), S::load(gy + w0));
    const IVec index = S::load_index_lanes(idx + w0);
    if constexpr (Stride == 3 && requires(Vec (&o)[3]) { S::spread_windows3(g, index, 0, o); }) {
      if (s.kernel_w == 3 && rows.window_end - rows.first == 1) {
        Vec out[3];
        const int32_t base = static_cast<int32_t>(rows.first * s.in_w + w0 * Stride);
        in_windows = S::spread_windows3(g, index, base, out) == 0xFFFF && in_windows;
        float* at = gx + rows.first * s.in_w + w0 * Stride;
#pragma GCC unroll 3
        for (int k = 0; k < Stride; ++k) S::store(at + k * W, out[k]);
        continue;
      }
    }
    IVec hits = S::ibroadcast(0);
    for (int64_t r = rows.first; r < rows.window_end; ++r) {
      const IVec first_tap = S::iadd(S::ibroadcast(static_cast<int32_t>(r * s.in_w + w0 * Stride)), lane_columns);
      Vec phase[Stride];
#pragma GCC unroll 3
      for (int j = 0; j < Stride; ++j) {
        if (j < s.kernel_w) {
          const IVec hit = S::iequal(index, S::iadd(first_tap, S::ibroadcast(j)));
          hits = S::ior(hits, hit);
          phase[j] = S::select_bits(hit, g);
        } else {
          phase[j] = S::zero();
        }
      }
      float* out = gx + r * s.in_w + w0 * Stride;
      if constexpr (Stride == 1) {
        S::store(out, phase[0]);
      } else {
        Vec merged[Stride];
        S::merge_phases(phase, merged);
#pragma GCC unroll 3
        for (int k = 0; k < Stride; ++k) S::store(out + k * W, merged[k]);
      }
    }
    in_windows = S::all_lanes_set(hits) && in_windows;
  }
  return in_windows;
}

template <class S, class Index>
bool max_pool_bwd_rows(const PoolGradProblem& p, int64_t begin, int64_t end) {
  const PoolShape s = p.shape;
  const typename S::IVec lane_columns = S::iota_times(static_cast<int32_t>(s.stride_w));
  const bool vectors = s.out_w >= S::kWidth && s.stride_w <= 3;
  bool in_windows = true;
  int64_t plane = begin / s.out_h, h = begin % s.out_h;
  for (int64_t item = begin; item < end; ++item) {
    float* gx = p.grad_x + plane * s.in_h * s.in_w;
    const float* gy = p.grad_y + item * s.out_w;
    const Index* idx = static_cast<const Index*>(p.indices.data) + item * s.out_w;
    const GatherRows rows = gather_rows(s, h);
    bool row_in_windows;
    if (vectors && s.stride_w == 1) {
      row_in_windows = gather_row_split<S, 1>(s, gy, idx, gx, rows, lane_columns);
    } else if (vectors && s.stride_w == 2) {
      row_in_windows = gather_row_split<S, 2>(s, gy, idx, gx, rows, lane_columns);
    } else if (vectors) {
      row_in_windows = gather_row_split<S, 3>(s, gy, idx, gx, rows, lane_columns);
    } else {
      row_in_windows = gather_windows_scalar(s, gy, idx, gx, rows, 0, s.out_w);
    }
    in_windows = row_in_windows && in_windows;
    zero_uncovered(s, gx, rows);
    if (++h == s.out_h) {
      h = 0;
      ++plane;
    }
  }
  return in_windows;
}

template <class S>
bool max_pool_bwd_simd(const PoolGradProblem& p, int64_t begin, int64_t end) {
  return with_index_type(p.indices, [&]<class Index>(Index*) { return max_pool_bwd_rows<S, Index>(p, begin, end); });
}

}  // namespace
}  // namespace ictus::cpu
