// The input gradient at stride 1 (2-d), scattered from grad_y (ScatterInputGrad in conv.h), written
// once against the SIMD vocabulary S and instantiated by conv_bwd_data_<isa>.cpp.
//
// The forward kernel run on a zero-padded grad_y with transposed weights (what other shapes run)
// spends many of its FMAs on the padding where the kernel is wide against the rows: for the front end's
// 20->20 1x10 on 26 bins only 170 of 260 taps per row meet real values, and the 26 outputs of a
// padded row of 35 fill vectors only through blends (18% of peak at N=8, T=1000). Here lanes run
// over grad_y's own positions, every one real: for each tap t and block of M input channels,
//   acc[m] = sum_o W_t(o, c0 + m) grad_y[n][o][positions]       (M x V accumulators, plain loads)
// and each accumulator vector is added into grad_x at the tap's (row, column) shift: its lanes
// fall into one or more row segments of grad_x, each a contiguous run (a masked load, add and
// store where it is partial or leaves grad_x's columns). No buffer in between: one written
// before (a per-row shifted add from a stored tile) read the stores back at other offsets, which
// the store buffer cannot forward (about 1.6x slower than this). A work item owns rows [r0, r1) of grad_x
// of one batch item: it zeroes them and computes, per tap, only the grad_y rows that land there,
// so items never write the same element and no FMA is repeated. Every element sums its taps in
// order, each tap's output channels in order: the same bits for any thread count.
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "cpu/conv/conv.h"
#include "cpu/conv/conv_fwd_simd.h"  // init_with_bias, lane_mask, rank1_update

namespace ictus::cpu {
namespace {

// Adds acc[m] (lanes = grad_y positions first .. first + lanes - 1 of the plane) into grad_x
// channels gx + m * in_plane, at the tap's shift (dr, dc): a vector covers one or more row
// segments, each a contiguous run of grad_x (masked where it is partial or leaves grad_x's columns).
template <class S, int M>
inline void scatter_vector(const ScatterInputGrad& g, const typename S::Vec (&acc)[M], int64_t first, int64_t lanes,
                           float* gx, int64_t dr, int64_t dc) {
  constexpr int W = S::kWidth;
  const int64_t in_plane = g.in_h * g.in_w;
  int64_t h = first / g.out_w, w = first - h * g.out_w;
  for (int64_t la = 0; la < lanes;) {
    const int64_t len = std::min(g.out_w - w, lanes - la);
    // lane l of the segment lands in column w + (l - la) + dc: those inside [0, in_w) are written
    const int64_t lo = la + std::max<int64_t>(0, -dc - w), hi = la + std::min(len, g.in_w - dc - w);
    float* base = gx + (h + dr) * g.in_w + dc + w - la;  // under lane 0
    if (lo == 0 && hi == W) {
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) S::store(base + m * in_plane, S::add(S::load(base + m * in_plane), acc[m]));
    } else if (lo < hi) {
      const typename S::Mask mask = S::range_mask(static_cast<int>(lo), static_cast<int>(hi));
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) {
        float* p = base + m * in_plane;
        S::store_masked(p, S::add(S::load_masked(p, mask), acc[m]), mask);
      }
    }
    la += len;
    ++h;
    w = 0;
  }
}

// For grad_y positions [p0, p0 + count) of batch item gy_n: acc[m] = sum_o W_t(o, c0 + m)
// grad_y[o][position] over V vectors at a time, each added into grad_x at once (scatter_vector).
template <class S, int M, int V>
void scatter_products(const ScatterInputGrad& g, const float* gy_n, const float* w, int64_t p0, int64_t count,
                      float* gx, int64_t dr, int64_t dc) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const int64_t plane = g.out_h * g.out_w;
  for (int64_t q = 0; q < count; q += V * W) {
    Vec acc[M][V];
    init_with_bias<S, M, V>(acc, nullptr, 0);
    const int64_t left = count - q;  // lanes past `left` read nothing (they may lie past the plane)
    typename S::Mask mask[V];
    for (int v = 0; v < V; ++v) mask[v] = lane_mask<S>(0, left, v);
    const bool whole = left >= V * W;
    const float* src = gy_n + p0 + q;
    const float* wo = w;
    for (int64_t o = 0; o < g.out_channels; ++o, src += plane, wo += M) {
      Vec x[V];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) x[v] = whole ? S::load(src + v * W) : S::load_masked(src + v * W, mask[v]);
      rank1_update<S, M, V>(acc, x, wo);
    }
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const int64_t lanes = left - v * W;
      if (lanes <= 0) break;
      Vec column[M];
#pragma GCC unroll 8
      for (int m = 0; m < M; ++m) column[m] = acc[m][v];
      scatter_vector<S, M>(g, column, p0 + q + v * W, lanes < W ? lanes : W, gx, dr, dc);
    }
  }
}

template <class S, int MMax, int V>
struct ScatterTable {
  using Products = void (*)(const ScatterInputGrad&, const float*, const float*, int64_t, int64_t, float*, int64_t,
                            int64_t);
  Products products[MMax];
  template <int M>
  constexpr void fill() {
    products[M - 1] = &scatter_products<S, M, V>;
    if constexpr (M < MMax) fill<M + 1>();
  }
  constexpr ScatterTable() : products{} { fill<1>(); }
};

template <class S, int MMax, int V>
void conv_bwd_data_simd(const ScatterInputGrad& g, int64_t begin, int64_t end) {
  static constexpr ScatterTable<S, MMax, V> table{};
  const int64_t chunk_rows = g.chunk_rows;
  const BalancedBlocks blocks(g.in_channels, MMax);
  const int64_t row_blocks = (g.in_h + g.rows_per_item - 1) / g.rows_per_item;
  const int64_t in_plane = g.in_h * g.in_w;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / row_blocks;
    const int64_t r0 = (item % row_blocks) * g.rows_per_item, r1 = std::min(g.in_h, r0 + g.rows_per_item);
    float* gx_n = g.grad_x + n * g.in_channels * in_plane;
    for (int64_t c = 0; c < g.in_channels; ++c) {
      std::memset(gx_n + c * in_plane + r0 * g.in_w, 0, static_cast<size_t>((r1 - r0) * g.in_w) * sizeof(float));
    }
    const float* gy_n = g.grad_y + n * g.out_channels * g.out_h * g.out_w;
    // grad_y rows that reach [r0, r1) through some tap
    const int64_t h_lo = std::max<int64_t>(0, r0 - g.max_row_offset);
    const int64_t h_hi = std::min(g.out_h, r1 - g.min_row_offset);
    for (int64_t h0 = h_lo; h0 < h_hi; h0 += chunk_rows) {
      const int64_t h1 = std::min(h_hi, h0 + chunk_rows);
      for (int64_t t = 0; t < g.num_taps; ++t) {
        const int64_t dr = g.row_offsets[t], dc = g.col_offsets[t];
        const int64_t ha = std::max(h0, r0 - dr), hb = std::min(h1, r1 - dr);  // rows landing in [r0, r1)
        const int64_t wa = std::max<int64_t>(0, -dc), wb = std::min(g.out_w, g.in_w - dc);  // columns landing in grad_x
        if (ha >= hb || wa >= wb) continue;
        for (int64_t b = 0; b < blocks.count; ++b) {
          const int64_t c0 = blocks.begin(b), m = blocks.size(b);
          const float* w = g.packed_weight + (c0 * g.num_taps + t * m) * g.out_channels;
          table.products[m - 1](g, gy_n, w, ha * g.out_w, (hb - ha) * g.out_w, gx_n + c0 * in_plane, dr, dc);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
