// The max-pool forward kernel, written once against the SIMD vocabulary S and instantiated by
// max_pool_fwd_<isa>.cpp. Work item = one output row of one plane. Lanes are W consecutive
// outputs of the row; each tap (i, j) of the window is one vector of the W values those outputs
// read, compared into a running (max, index) pair with torch's rule (greater or NaN replaces),
// taps in torch's order, so results and indices match torch exactly. Padding is -inf: lanes
// outside the row read -inf and rows outside the plane are skipped. A tap's vector comes
//  - for column stride 1: from one (masked) load;
//  - for the common non-overlapping windows (stride 2 or 3, kernel width <= stride, no column
//    padding or dilation, e.g. (1, 3) over frequency, (2, 2), max_pool1d(2)): from a contiguous
//    block of stride * W values split into its stride phases with shuffles (S::split_phases);
//  - otherwise: lane by lane;
// and rows of fewer than W outputs with windows along them run W outputs of several rows per
// vector, through gathers (pool_short_rows).
// Each way is its own loop, specialised on whether indices are kept (and as int64 or int32), so
// the per-vector work stays a handful of instructions (one generic loop spent ~10 cycles per
// output on bookkeeping).
#pragma once

#include <algorithm>
#include <cstdint>
#include <type_traits>

#include "cpu/pool/pool.h"

namespace ictus::cpu {
namespace {

// The Stride phases of the Stride * W block values under an output vector (see
// S::split_phases); values from `valid` on read as -inf (not loaded).
template <class S, int Stride>
inline void split_block(const float* block, int64_t valid, typename S::Vec (&phase)[Stride]) {
  constexpr int W = S::kWidth;
  typename S::Vec v[Stride];
#pragma GCC unroll 3
  for (int k = 0; k < Stride; ++k) {
    const int64_t n = valid - k * W;
    v[k] = n >= W ? S::load(block + k * W)
                  : S::load_masked_fill(block + k * W, S::range_mask(0, static_cast<int>(n > 0 ? n : 0)), S::neg_inf());
  }
  S::split_phases(v, phase);
}

// Whether a kernel keeps indices of type Index (void: none).
template <class Index>
inline constexpr bool kKeeps = !std::is_void_v<Index>;

// The running maximum of one output vector, with or without indices.
template <class S, bool kIndices>
struct RunningMax {
  typename S::Vec m = S::neg_inf();
  typename S::IVec idx;
  inline void take(typename S::Vec v, typename S::IVec vi) {
    if constexpr (kIndices) {
      S::max_update(m, idx, v, vi);
    } else {
      m = S::max_nan(m, v);
    }
  }
};

// Shape values of one output row of one plane, held in locals so that the loops keep them in
// registers (through a reference the compiler reloads them after every store).
struct RowJob {
  const float* x;  // the plane
  float* y;        // the output row
  void* idx;       // the output row's indices (Index), or null
  int64_t in_h, in_w, out_w, h;
  int64_t kernel_h, kernel_w, stride_h, stride_w, dilation_h, dilation_w, pad_top, pad_left;
  int64_t i0, r0;  // first real kernel row and its input row
};

// Where the output vector at w0 starts: a row's partial last vector moves back to end at the row's
// end when the row holds a whole vector. It recomputes some outputs of the vector before, the same
// values from the same reads, and needs no masked store (on AVX2 EPYCs vmaskmovps stores are slow).
template <int W>
inline int64_t last_vector_start(int64_t w0, int64_t out_w) {
  return w0 + W > out_w && out_w >= W ? out_w - W : w0;
}

template <class S, class Index>
inline void finish(const RowJob& job, int64_t w0, int nt, const RunningMax<S, kKeeps<Index>>& acc) {
  constexpr int W = S::kWidth;
  if (nt == W) {
    S::store(job.y + w0, acc.m);
  } else {
    S::store_masked(job.y + w0, acc.m, S::range_mask(0, nt));
  }
  if constexpr (kKeeps<Index>) S::store_index_lanes(static_cast<Index*>(job.idx) + w0, acc.idx, nt);
}

// Each lane starts at its window's first real position, where torch starts (kept if all is -inf).
template <class S>
inline typename S::IVec first_positions(const RowJob& job, int64_t w0, typename S::IVec lane_columns) {
  constexpr int W = S::kWidth;
  if (w0 * job.stride_w - job.pad_left >= 0) {
    return S::iadd(S::ibroadcast(static_cast<int32_t>(job.r0 * job.in_w + w0 * job.stride_w - job.pad_left)),
                   lane_columns);
  }
  int32_t first[W];
  for (int l = 0; l < W; ++l) {
    const int64_t j0 = pool_first_tap(w0 + l, job.stride_w, job.dilation_w, job.pad_left);
    first[l] = static_cast<int32_t>(job.r0 * job.in_w + conv_input_index(w0 + l, j0, job.stride_w, job.dilation_w,
                                                                         job.pad_left));
  }
  return S::iload(first);
}

// Any geometry, lane by lane.
template <class S, class Index>
void pool_vector_lanes(const RowJob& job, int64_t w0, typename S::IVec lane_columns) {
  constexpr int W = S::kWidth;
  const int nt = static_cast<int>(job.out_w - w0 < W ? job.out_w - w0 : W);
  RunningMax<S, kKeeps<Index>> acc;
  if constexpr (kKeeps<Index>) acc.idx = first_positions<S>(job, w0, lane_columns);
  for (int64_t i = job.i0; i < job.kernel_h; ++i) {
    const int64_t r = conv_input_index(job.h, i, job.stride_h, job.dilation_h, job.pad_top);
    if (r >= job.in_h) break;
    const float* row = job.x + r * job.in_w;
    for (int64_t j = 0; j < job.kernel_w; ++j) {
      const int64_t col0 = w0 * job.stride_w + j * job.dilation_w - job.pad_left;  // column under lane 0
      float lanes[W];
      for (int l = 0; l < W; ++l) {
        const int64_t c = col0 + l * job.stride_w;
        lanes[l] = l < nt && c >= 0 && c < job.in_w ? row[c] : -__builtin_inff();
      }
      acc.take(S::load(lanes), S::iadd(S::ibroadcast(static_cast<int32_t>(r * job.in_w + col0)), lane_columns));
    }
  }
  finish<S, Index>(job, w0, nt, acc);
}

// Column stride 1: every tap is one (masked) load.
template <class S, class Index>
void pool_row_contiguous(const RowJob& job, typename S::IVec lane_columns) {
  constexpr int W = S::kWidth;
  for (int64_t w0 = 0; w0 < job.out_w; w0 += W) {
    w0 = last_vector_start<W>(w0, job.out_w);
    const int nt = static_cast<int>(job.out_w - w0 < W ? job.out_w - w0 : W);
    RunningMax<S, kKeeps<Index>> acc;
    if constexpr (kKeeps<Index>) acc.idx = first_positions<S>(job, w0, lane_columns);
    for (int64_t i = job.i0; i < job.kernel_h; ++i) {
      const int64_t r = conv_input_index(job.h, i, job.stride_h, job.dilation_h, job.pad_top);
      if (r >= job.in_h) break;
      const float* row = job.x + r * job.in_w;
      for (int64_t j = 0; j < job.kernel_w; ++j) {
        const int64_t col0 = w0 + j * job.dilation_w - job.pad_left;
        const int64_t lo = -col0, hi = job.in_w - col0;  // lanes [lo, hi) read real values
        if (hi <= 0 || lo >= nt) continue;
        const typename S::Vec v =
            (lo <= 0 && hi >= W)
                ? S::load(row + col0)
                : S::load_masked_fill(row + col0,
                                      S::range_mask(static_cast<int>(lo < 0 ? 0 : lo), static_cast<int>(hi > W ? W : hi)),
                                      S::neg_inf());
        acc.take(v, S::iadd(S::ibroadcast(static_cast<int32_t>(r * job.in_w + col0)), lane_columns));
      }
    }
    finish<S, Index>(job, w0, nt, acc);
  }
}

// Non-overlapping windows of stride 2 or 3 (kernel width <= stride, no column padding or
// dilation): the tap j vector is phase j of the block under the output vector; past the row's end
// the block reads -inf, which also gives ceil mode's partial last window.
// Software prefetch 8 KiB ahead of the row's reads: on the Emerald Rapids guest the hardware
// prefetcher alone left (1, 3) on 8x16x3000x79 at 13.9 ms, 8.1-8.6 ms with it (1 KiB ahead:
// 9.1, 16 KiB: 8.5-10.4, 32 KiB: 10.5).
constexpr int64_t kPrefetchAhead = 2048;
template <class S, int Stride, class Index>
void pool_row_split(const RowJob& job, typename S::IVec lane_columns) {
  constexpr int W = S::kWidth;
  for (int64_t w0 = 0; w0 < job.out_w; w0 += W) {
    w0 = last_vector_start<W>(w0, job.out_w);
    const int nt = static_cast<int>(job.out_w - w0 < W ? job.out_w - w0 : W);
    RunningMax<S, kKeeps<Index>> acc;
    if constexpr (kKeeps<Index>) acc.idx = first_positions<S>(job, w0, lane_columns);
    for (int64_t i = job.i0; i < job.kernel_h; ++i) {
      const int64_t r = conv_input_index(job.h, i, job.stride_h, job.dilation_h, job.pad_top);
      if (r >= job.in_h) break;
      typename S::Vec phase[Stride];
#pragma GCC unroll 3
      for (int k = 0; k < Stride * W; k += 16) __builtin_prefetch(job.x + r * job.in_w + w0 * Stride + kPrefetchAhead + k);
      split_block<S, Stride>(job.x + r * job.in_w + w0 * Stride, job.in_w - w0 * Stride, phase);
      const typename S::IVec base = S::iadd(S::ibroadcast(static_cast<int32_t>(r * job.in_w + w0 * Stride)), lane_columns);
#pragma GCC unroll 3
      for (int j = 0; j < Stride; ++j) {
        if (j < job.kernel_w) acc.take(phase[j], S::iadd(base, S::ibroadcast(j)));
      }
    }
    finish<S, Index>(job, w0, nt, acc);
  }
}

template <class S, class Index>
void max_pool_rows(const PoolProblem& p, int64_t begin, int64_t end) {
  const PoolShape s = p.shape;
  const typename S::IVec lane_columns = S::iota_times(static_cast<int32_t>(s.stride_w));
  const bool split = s.kernel_w <= s.stride_w && s.dilation_w == 1 && s.pad_left == 0;
  // plane and h advance with item: a 64-bit division per row cost 9% of (1,3) on 16x3000x79 (2.60 -> 2.37 ms)
  int64_t plane = begin / s.out_h, h = begin % s.out_h;
  for (int64_t item = begin; item < end; ++item) {
    RowJob job{p.x + plane * s.in_h * s.in_w,
               p.y + item * s.out_w,
               kKeeps<Index> ? static_cast<void*>(static_cast<Index*>(p.indices.data) + item * s.out_w) : nullptr,
               s.in_h, s.in_w, s.out_w, h, s.kernel_h, s.kernel_w, s.stride_h, s.stride_w, s.dilation_h,
               s.dilation_w, s.pad_top, s.pad_left, 0, 0};
    job.i0 = pool_first_tap(h, s.stride_h, s.dilation_h, s.pad_top);
    job.r0 = conv_input_index(h, job.i0, s.stride_h, s.dilation_h, s.pad_top);
    if (s.stride_w == 1) {
      pool_row_contiguous<S, Index>(job, lane_columns);
    } else if (split && s.stride_w == 2) {
      pool_row_split<S, 2, Index>(job, lane_columns);
    } else if (split && s.stride_w == 3) {
      pool_row_split<S, 3, Index>(job, lane_columns);
    } else {
      for (int64_t w0 = 0; w0 < s.out_w; w0 += S::kWidth) pool_vector_lanes<S, Index>(job, w0, lane_columns);
    }
    if (++h == s.out_h) {
      h = 0;
      ++plane;
    }
  }
}

// Rows of fewer than W outputs whose windows lie along the row and inside it (kernel_h 1, stride_h
// 1, no padding, no ceil-mode overhang; the front end's (1, 3) over 17 bins -> 5): a row would
// fill a fraction of a vector, so lanes run over the plane's outputs across rows, each tap one
// gather. Item = input row = output row.
inline bool short_rows(const PoolShape& s, int width) {
  return s.kernel_h == 1 && s.stride_h == 1 && s.pad_top == 0 && s.pad_left == 0 && s.out_w < width &&
         (s.out_w - 1) * s.stride_w + (s.kernel_w - 1) * s.dilation_w < s.in_w &&
         (s.in_h + width) * s.in_w < (int64_t{1} << 31);  // a vector's int32 offsets, past lanes included
}

template <class S, class Index>
void pool_short_rows(const PoolProblem& p, int64_t begin, int64_t end) {
  constexpr int W = S::kWidth;
  const PoolShape& s = p.shape;
  // Vector q of a plane's outputs (from its row r0) reads row r0 + (q / out_w) * W plus lane
  // offsets that repeat every out_w vectors: pattern[q % out_w].
  int32_t pattern[W][W];
  for (int k = 0; k < s.out_w; ++k) {
    for (int l = 0; l < W; ++l) {
      const int64_t f = static_cast<int64_t>(k) * W + l;
      pattern[k][l] = static_cast<int32_t>((f / s.out_w) * s.in_w + (f % s.out_w) * s.stride_w);
    }
  }
  for (int64_t row = begin; row < end;) {
    const int64_t plane = row / s.in_h, r0 = row % s.in_h;
    const int64_t rows = std::min(end - row, s.in_h - r0);  // this plane's rows in the range
    const float* x = p.x + plane * s.in_h * s.in_w;
    const int64_t outputs = rows * s.out_w;
    int64_t base_row = r0, k = 0;  // vector q = (base_row - r0) / W * out_w + k
    for (int64_t f0 = 0; f0 < outputs; f0 += W) {
      const int nt = static_cast<int>(outputs - f0 < W ? outputs - f0 : W);
      typename S::IVec first = S::iadd(S::iload(pattern[k]), S::ibroadcast(static_cast<int32_t>(base_row * s.in_w)));
      if (++k == s.out_w) {
        k = 0;
        base_row += W;
      }
      if (nt < W) first = S::izero_from(first, nt);  // lanes past the rows read the plane's start
      RunningMax<S, kKeeps<Index>> acc;
      if constexpr (kKeeps<Index>) acc.idx = first;
      for (int64_t j = 0; j < s.kernel_w; ++j) {
        const int32_t tap = static_cast<int32_t>(j * s.dilation_w);
        acc.take(S::gather(x + tap, first), S::iadd(first, S::ibroadcast(tap)));
      }
      float* y = p.y + row * s.out_w + f0;
      if (nt == W) {
        S::store(y, acc.m);
      } else {
        S::store_masked(y, acc.m, S::range_mask(0, nt));
      }
      if constexpr (kKeeps<Index>) {
        S::store_index_lanes(static_cast<Index*>(p.indices.data) + row * s.out_w + f0, acc.idx, nt);
      }
    }
    row += rows;
  }
}

template <class S>
void max_pool_fwd_simd(const PoolProblem& p, int64_t begin, int64_t end) {
  const bool gathered = short_rows(p.shape, S::kWidth);
  const auto run = [&]<class Index>(Index*) {
    gathered ? pool_short_rows<S, Index>(p, begin, end) : max_pool_rows<S, Index>(p, begin, end);
  };
  if (p.indices.data == nullptr) {
    run(static_cast<void*>(nullptr));
  } else {
    with_index_type(p.indices, run);
  }
}

}  // namespace
}  // namespace ictus::cpu
