// The max-pool backward gather (pool.h) for one output row of a plane: which input rows it writes,
// its scalar loop, and the zeroing of positions no window covers. The scalar variant is these
// alone; the SIMD variants (max_pool_bwd_simd.h) use the scalar loop where a row holds no whole
// vector of outputs or its last windows overhang the input (ceil mode).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/pool/pool.h"

namespace ictus::cpu {
namespace {

// The input rows that output row h of a plane writes: the window rows [first, window_end), then
// rows no window covers [window_end, end) (the gap of a stride longer than the window, and after
// the plane's last window row the rest of the plane).
struct GatherRows {
  int64_t first, window_end, end;
};

inline GatherRows gather_rows(const PoolShape& s, int64_t h) {
  const int64_t first = h * s.stride_h;
  const int64_t end = h == s.out_h - 1 ? s.in_h : std::min(first + s.stride_h, s.in_h);
  return {first, std::min(first + s.kernel_h, s.in_h), end};
}

// Outputs [w_begin, w_end) of one row: their windows' columns on the window rows are zeroed, then
// each output's index gets 0 + grad_y (what the scatter's zeroed sum gives: -0 becomes +0). False
// when an index lies outside its window.
template <class Index>
inline bool gather_windows_scalar(const PoolShape& s, const float* gy, const Index* idx, float* gx,
                                  const GatherRows& rows, int64_t w_begin, int64_t w_end) {
  const int64_t c_begin = w_begin * s.stride_w, c_end = std::min(w_end * s.stride_w, s.in_w);
  int64_t hits = 0;
  for (int64_t r = rows.first; r < rows.window_end; ++r) {
    float* row = gx + r * s.in_w;
    std::memset(row + c_begin, 0, static_cast<size_t>(c_end - c_begin) * sizeof(float));
    for (int64_t w = w_begin; w < w_end; ++w) {
      const int64_t j = idx[w] - (r * s.in_w + w * s.stride_w);  // the index's tap on this row, if any
      if (j >= 0 && j < s.kernel_w && w * s.stride_w + j < s.in_w) {
        row[w * s.stride_w + j] = 0.0f + gy[w];
        ++hits;
      }
    }
  }
  return hits == w_end - w_begin;  // taps are distinct positions: one hit per output at most
}

// Zeroes the window rows' columns past the last window (fewer than stride_w) and the rows no
// window covers.
inline void zero_uncovered(const PoolShape& s, float* gx, const GatherRows& rows) {
  const int64_t covered = std::min(s.out_w * s.stride_w, s.in_w);
  for (int64_t r = rows.first; r < rows.window_end; ++r) {
    for (int64_t c = covered; c < s.in_w; ++c) gx[r * s.in_w + c] = 0.0f;
  }
  if (rows.end > rows.window_end) {
    std::memset(gx + rows.window_end * s.in_w, 0,
                static_cast<size_t>((rows.end - rows.window_end) * s.in_w) * sizeof(float));
  }
}

}  // namespace
}  // namespace ictus::cpu
