// The Winograd F(2x2, 3x3), F(4x2, 3x3) and F(6x2, 3x3) transforms (winograd.h), written once
// against the SIMD vocabulary S and the tile height M (2, 4 or 6, the F(M, 3) along the rows), and
// instantiated by winograd_<isa>.cpp. Weights: lanes are W input channels of one output channel;
// input and output: lanes are W tiles that are neighbours along a tile row, whose patches start
// two columns apart, so the patch columns 0..3 of the lanes are the even and odd phases of the
// row at column offsets 0 and 2 (S::split_phases), and the two output columns merge back the
// same way (S::merge_phases).
#pragma once

#include <algorithm>
#include <cstdint>
#include <cstring>

#include "common/finite.h"
#include "cpu/conv/conv_fwd_simd.h"  // lane_mask
#include "cpu/conv/winograd.h"

namespace ictus::cpu {
namespace {

// The 1D transforms of F(M, 3), M = 2, 4 or 6, along the columns of a tile (rows are F(2, 3) in
// the kernels below, vectorised through phases), for M + 2 values (Cook-Toom at the points 0, 1,
// -1, then 2, -2 for F(4, 3), 1/2, -1/2, 2, -2 for F(6, 3), and infinity):
//   G_2 = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]],
//   G_4 = [[1/4, 0, 0], [-1/6, -1/6, -1/6], [-1/6, 1/6, -1/6], [1/24, 1/12, 1/6],
//          [1/24, -1/12, 1/6], [0, 0, 1]];
//   B_2^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]],
//   B_4^T = [[4, 0, -5, 0, 1, 0], [0, -4, -4, 1, 1, 0], [0, 4, -4, -1, 1, 0], [0, -2, -1, 2, 1, 0],
//            [0, 2, -1, -2, 1, 0], [0, 4, 0, -5, 0, 1]];
//   A_2^T = [[1, 1, 1, 0], [0, 1, -1, -1]],
//   A_4^T = [[1, 1, 1, 1, 1, 0], [0, 1, -1, 2, -2, 0], [0, 1, 1, 4, 4, 0], [0, 1, -1, 8, -8, 1]];
//   G_6 = [[-1, 0, 0], [-2/9, -2/9, -2/9], [-2/9, 2/9, -2/9], [32/45, 16/45, 8/45],
//          [32/45, -16/45, 8/45], [1/90, 1/45, 2/45], [1/90, -1/45, 2/45], [0, 0, 1]],
//   B_6^T = [[-1, 0, 21/4, 0, -21/4, 0, 1, 0], [0, 1, 1, -17/4, -17/4, 1, 1, 0],
//            [0, -1, 1, 17/4, -17/4, -1, 1, 0], [0, 2, 4, -5/2, -5, 1/2, 1, 0],
//            [0, -2, 4, 5/2, -5, -1/2, 1, 0], [0, 1/2, 1/4, -5/2, -5/4, 2, 1, 0],
//            [0, -1/2, 1/4, 5/2, -5/4, -2, 1, 0], [0, -1, 0, 21/4, 0, -21/4, 0, 1]],
//   A_6^T = [[1, 1, 1, 1, 1, 1, 1, 0], [0, 1, -1, 1/2, -1/2, 2, -2, 0], [0, 1, 1, 1/4, 1/4, 4, 4, 0],
//            [0, 1, -1, 1/8, -1/8, 8, -8, 0], [0, 1, 1, 1/16, 1/16, 16, 16, 0],
//            [0, 1, -1, 1/32, -1/32, 32, -32, 1]].
// Every coefficient of B and A is exact in float32; G's rounding is the weights' own.
template <class S, int M>
inline void filter_times_g(const typename S::Vec (&g)[3], typename S::Vec (&out)[M + 2]) {
  using Vec = typename S::Vec;
  const Vec outer = S::add(g[0], g[2]);
  if constexpr (M == 2) {
    const Vec half = S::broadcast(0.5f);
    out[0] = g[0];
    out[1] = S::mul(S::add(outer, g[1]), half);
    out[2] = S::mul(S::sub(outer, g[1]), half);
    out[3] = g[2];
  } else if constexpr (M == 4) {
    const Vec sixth = S::broadcast(-1.0f / 6);
    const Vec fourth = S::fma(g[2], S::broadcast(1.0f / 6), S::mul(g[0], S::broadcast(1.0f / 24)));
    const Vec twelfth = S::mul(g[1], S::broadcast(1.0f / 12));
    out[0] = S::mul(g[0], S::broadcast(0.25f));
    out[1] = S::mul(S::add(outer, g[1]), sixth);
    out[2] = S::mul(S::sub(outer, g[1]), sixth);
    out[3] = S::add(fourth, twelfth);
    out[4] = S::sub(fourth, twelfth);
    out[5] = g[2];
  } else {
    static_assert(M == 6);
    const Vec ninths = S::broadcast(-2.0f / 9);
    const Vec half_pair = S::fma(g[0], S::broadcast(32.0f / 45), S::mul(g[2], S::broadcast(8.0f / 45)));
    const Vec half_odd = S::mul(g[1], S::broadcast(16.0f / 45));
    const Vec two_pair = S::fma(g[0], S::broadcast(1.0f / 90), S::mul(g[2], S::broadcast(2.0f / 45)));
    const Vec two_odd = S::mul(g[1], S::broadcast(1.0f / 45));
    out[0] = S::sub(S::zero(), g[0]);
    out[1] = S::mul(S::add(outer, g[1]), ninths);
    out[2] = S::mul(S::sub(outer, g[1]), ninths);
    out[3] = S::add(half_pair, half_odd);
    out[4] = S::sub(half_pair, half_odd);
    out[5] = S::add(two_pair, two_odd);
    out[6] = S::sub(two_pair, two_odd);
    out[7] = g[2];
  }
}

template <class S, int M>
inline void input_times_bt(const typename S::Vec (&d)[M + 2], typename S::Vec (&out)[M + 2]) {
  using Vec = typename S::Vec;
  if constexpr (M == 2) {
    out[0] = S::sub(d[0], d[2]);
    out[1] = S::add(d[1], d[2]);
    out[2] = S::sub(d[2], d[1]);
    out[3] = S::sub(d[1], d[3]);
  } else if constexpr (M == 4) {
    const Vec four = S::broadcast(4.0f), minus_four = S::broadcast(-4.0f), minus_five = S::broadcast(-5.0f),
              two = S::broadcast(2.0f);
    const Vec a = S::fma(d[2], minus_four, d[4]);  // d4 - 4 d2
    const Vec b = S::fma(d[1], minus_four, d[3]);  // d3 - 4 d1
    const Vec c = S::sub(d[4], d[2]);
    const Vec e = S::sub(d[3], d[1]);
    out[0] = S::fma(d[0], four, S::fma(d[2], minus_five, d[4]));
    out[1] = S::add(a, b);
    out[2] = S::sub(a, b);
    out[3] = S::fma(e, two, c);
    out[4] = S::sub(c, S::mul(e, two));
    out[5] = S::fma(d[1], four, S::fma(d[3], minus_five, d[5]));
  } else {
    static_assert(M == 6);
    const auto c = [](float v) { return S::broadcast(v); };
    const Vec one_even = S::fma(d[4], c(-4.25f), S::add(d[2], d[6]));  // d2 - 17/4 d4 + d6
    const Vec one_odd = S::fma(d[3], c(-4.25f), S::add(d[1], d[5]));   // d1 - 17/4 d3 + d5
    const Vec half_even = S::fma(d[2], c(4.0f), S::fma(d[4], c(-5.0f), d[6]));
    const Vec half_odd = S::fma(d[1], c(2.0f), S::fma(d[3], c(-2.5f), S::mul(d[5], c(0.5f))));
    const Vec two_even = S::fma(d[2], c(0.25f), S::fma(d[4], c(-1.25f), d[6]));
    const Vec two_odd = S::fma(d[1], c(0.5f), S::fma(d[3], c(-2.5f), S::mul(d[5], c(2.0f))));
    out[0] = S::fma(S::sub(d[2], d[4]), c(5.25f), S::sub(d[6], d[0]));
    out[1] = S::add(one_even, one_odd);
    out[2] = S::sub(one_even, one_odd);
    out[3] = S::add(half_even, half_odd);
    out[4] = S::sub(half_even, half_odd);
    out[5] = S::add(two_even, two_odd);
    out[6] = S::sub(two_even, two_odd);
    out[7] = S::fma(S::sub(d[3], d[5]), c(5.25f), S::sub(d[7], d[1]));
  }
}

template <class S, int M>
inline void products_times_a(const typename S::Vec (&m)[M + 2], typename S::Vec (&out)[M]) {
  using Vec = typename S::Vec;
  if constexpr (M == 2) {
    out[0] = S::add(S::add(m[0], m[1]), m[2]);
    out[1] = S::sub(S::sub(m[1], m[2]), m[3]);
  } else if constexpr (M == 4) {
    const Vec s12 = S::add(m[1], m[2]), d12 = S::sub(m[1], m[2]);
    const Vec s34 = S::add(m[3], m[4]), d34 = S::sub(m[3], m[4]);
    out[0] = S::add(S::add(m[0], s12), s34);
    out[1] = S::fma(d34, S::broadcast(2.0f), d12);
    out[2] = S::fma(s34, S::broadcast(4.0f), s12);
    out[3] = S::add(S::fma(d34, S::broadcast(8.0f), d12), m[M + 1]);
  } else {
    static_assert(M == 6);
    const auto c = [](float v) { return S::broadcast(v); };
    const Vec s12 = S::add(m[1], m[2]), d12 = S::sub(m[1], m[2]);
    const Vec s34 = S::add(m[3], m[4]), d34 = S::sub(m[3], m[4]);
    const Vec s56 = S::add(m[5], m[6]), d56 = S::sub(m[5], m[6]);
    out[0] = S::add(S::add(m[0], s12), S::add(s34, s56));
    out[1] = S::fma(d34, c(0.5f), S::fma(d56, c(2.0f), d12));
    out[2] = S::fma(s34, c(0.25f), S::fma(s56, c(4.0f), s12));
    out[3] = S::fma(d34, c(0.125f), S::fma(d56, c(8.0f), d12));
    out[4] = S::fma(s34, c(0.0625f), S::fma(s56, c(16.0f), s12));
    out[5] = S::add(S::fma(d34, c(0.03125f), S::fma(d56, c(32.0f), d12)), m[M + 1]);
  }
}

// U = G_M g G_2^T for the lanes' 3x3 filters g (g[3i + j] = tap (i, j)), element (i, j) at u[4i + j].
template <class S, int M>
void winograd_weights_tiles(const WinogradConv& p, int64_t begin, int64_t end) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  for (int64_t o = begin; o < end; ++o) {
    const float* filters = p.weight + o * p.weight_out_stride;
    for (int64_t c0 = 0; c0 < p.in_channels; c0 += W) {
      const int lanes = static_cast<int>(p.in_channels - c0 < W ? p.in_channels - c0 : W);
      // Lane l reads filter c0 + l (lanes past the channels read filter c0, and are not stored).
      typename S::IVec lane_offsets = S::iota_times(static_cast<int32_t>(p.weight_in_stride));
      if (lanes < W) lane_offsets = S::izero_from(lane_offsets, lanes);
      Vec g[9];
      for (int k = 0; k < 9; ++k) {
        g[k] = S::gather(filters + c0 * p.weight_in_stride + (p.flipped ? 8 - k : k), lane_offsets);
      }
      Vec gg[3][M + 2];  // gg[j]: G_M times column j of g
      for (int j = 0; j < 3; ++j) filter_times_g<S, M>({g[j], g[3 + j], g[6 + j]}, gg[j]);
      float* dst = p.u + o * p.in_channels + c0;
      for (int i = 0; i < M + 2; ++i) {
        Vec u[4];
        filter_times_g<S, 2>({gg[0][i], gg[1][i], gg[2][i]}, u);
        for (int j = 0; j < 4; ++j) {
          if (lanes == W) {
            S::store(dst + (4 * i + j) * p.u_stride, u[j]);
          } else {
            S::store_masked(dst + (4 * i + j) * p.u_stride, u[j], S::range_mask(0, lanes));
          }
        }
      }
    }
  }
}

template <class S>
void winograd_weights_simd(const WinogradConv& p, int64_t begin, int64_t end) {
  switch (p.tile_h) {
    case 6: return winograd_weights_tiles<S, 6>(p, begin, end);
    case 4: return winograd_weights_tiles<S, 4>(p, begin, end);
    default: return winograd_weights_tiles<S, 2>(p, begin, end);
  }
}

// Where lanes [0, lanes) of a block's local tiles t0.. of channel c go in each V_e's packed panels.
// Lanes past `lanes` that stay inside the panel are stored too: they land on later tiles of the
// block, which this channel's loop stores next, or past the block's last tile, zeroed at the end.
// A run that crosses into the next panel is split there: `first` lanes at `at`, the rest from the
// next panel's start.
struct TileStore {
  int64_t at, next;
  int first, lanes;
};

template <int W>
inline TileStore tile_store(const WinogradConv& p, const WinogradBlock& b, int64_t c, int64_t t0, int lanes) {
  const int64_t offset = t0 % b.panel, panel_floats = p.in_channels * b.panel;
  const int64_t at = (t0 / b.panel) * panel_floats + c * b.panel + offset;
  const int first = static_cast<int>(b.panel - offset < W ? b.panel - offset : W);
  // The second store's lane 0 sits `first` values before the next panel's start.
  return {at, at + panel_floats - offset - first, first, lanes};
}

// kWhole: the run lies in one panel (to.first == W), one plain store.
template <class S, bool kWhole>
inline void store_tiles(float* v_e, const TileStore& to, typename S::Vec value) {
  if constexpr (kWhole) {
    S::store(v_e + to.at, value);
    return;
  }
  S::store_masked(v_e + to.at, value, S::range_mask(0, to.first < to.lanes ? to.first : to.lanes));
  if (to.lanes > to.first) S::store_masked(v_e + to.next, value, S::range_mask(to.first, to.lanes));
}

// A block's tile rows [th_first, th_last] in batch item n (a block may span several items; its
// first and last rows may hold only some of their tiles, see row_tiles).
struct BlockRows {
  int64_t n, th_first, th_last;
};

template <class F>
inline void for_each_block_image(const WinogradConv& p, const WinogradBlock& b, F&& f) {
  const int64_t first = b.t_begin / p.tile_cols, last = (b.t_end - 1) / p.tile_cols;
  for (int64_t g = first; g <= last;) {
    const int64_t n = g / p.tile_rows;
    const int64_t g_end = last < (n + 1) * p.tile_rows - 1 ? last : (n + 1) * p.tile_rows - 1;
    f(BlockRows{n, g - n * p.tile_rows, g_end - n * p.tile_rows});
    g = g_end + 1;
  }
}

// Tiles of tile row th of batch item n in the block: [tw_begin, tw_end), and the local index of tw 0.
struct RowTiles {
  int64_t tw_begin, tw_end, local0;
};

inline RowTiles row_tiles(const WinogradConv& p, const WinogradBlock& b, int64_t n, int64_t th) {
  const int64_t t_row = (n * p.tile_rows + th) * p.tile_cols;
  return {b.t_begin > t_row ? b.t_begin - t_row : 0, b.t_end - t_row < p.tile_cols ? b.t_end - t_row : p.tile_cols,
          t_row - b.t_begin};
}

// Row r of the lanes' patches times B_2: columns 0..3 are the even and odd phases at column
// offsets 0 and 2 of the 2W + 2 values from `row` (zero where a load is masked: padding, columns
// past the input).
template <class S, bool kMasked>
inline void patch_row_times_b(const float* row, const typename S::Mask (&masks)[4], typename S::Vec (&db)[4]) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  Vec at0[2], at2[2];
  if constexpr (kMasked) {
    at0[0] = S::load_masked(row, masks[0]);
    at0[1] = S::load_masked(row + W, masks[1]);
    at2[0] = S::load_masked(row + 2, masks[2]);
    at2[1] = S::load_masked(row + 2 + W, masks[3]);
  } else {
    at0[0] = S::load(row);
    at0[1] = S::load(row + W);
    at2[0] = S::load(row + 2);
    at2[1] = S::load(row + 2 + W);
  }
  Vec d01[2], d23[2];
  S::split_phases(at0, d01);
  S::split_phases(at2, d23);
  input_times_bt<S, 2>({d01[0], d01[1], d23[0], d23[1]}, db);
}

// V = B_M^T (d B_2) for W tiles of one tile row (from column tw0) of channel c: patch rows
// row0 + r of the plane x (in_h x in_w). Masked loads (kMasked) read zeros for padding and past
// the input; plain loads are for vectors whose lanes' columns all lie inside the row and whose
// loads stay inside the plane (the lanes past the tile row then read the next row's values: finite
// or not, they land on tiles stored later or zeroed, see tile_store). Always inlined: as a call it
// kept rows of d B in memory (F(2x2): input transform 1.09 -> 0.93 ms, 16 channels of 3000x26).
// V is stored column by column of the patch as it is computed: F(4x2)'s 24 values held until the
// end went through the stack (0.97 -> 0.75 ms).
template <class S, int M, bool kMasked, bool kWhole>
[[gnu::always_inline]] inline void transform_patches(const float* x, int64_t in_h, int64_t in_w, int64_t row0,
                                                     int64_t col, const typename S::Mask (&masks)[4], float* v,
                                                     int64_t v_stride, const TileStore& to) {
  using Vec = typename S::Vec;
  Vec e[4][M + 2];  // e[j][r]: column j of patch row r times B_2
  for (int r = 0; r < M + 2; ++r) {
    const int64_t in_row = row0 + r;
    Vec db[4];
    if (kMasked && (in_row < 0 || in_row >= in_h)) {
      for (int j = 0; j < 4; ++j) db[j] = S::zero();
    } else {
      patch_row_times_b<S, kMasked>(x + in_row * in_w + col, masks, db);
    }
    for (int j = 0; j < 4; ++j) e[j][r] = db[j];
  }
  for (int j = 0; j < 4; ++j) {
    Vec column[M + 2];
    input_times_bt<S, M>(e[j], column);
    for (int i = 0; i < M + 2; ++i) store_tiles<S, kWhole>(v + (4 * i + j) * v_stride, to, column[i]);
  }
}

template <class S, int M>
bool winograd_input_tiles(const WinogradConv& p, const WinogradBlock& b, int64_t c_begin, int64_t c_end) {
  using Mask = typename S::Mask;
  constexpr int W = S::kWidth;
  const int64_t in_h = p.in_h, in_w = p.in_w;
  Mask masks[4] = {};
  int64_t mask_col = -1 - p.pad_left;  // no vector starts there
  bool finite = true;
  for (int64_t c = c_begin; c < c_end; ++c) {
    for_each_block_image(p, b, [&](const BlockRows& rows) {
      const float* x = p.x + (rows.n * p.in_channels + c) * in_h * in_w;
      // The input rows the block's patches read, contiguous in the plane: checked at once.
      const int64_t r_first = std::max<int64_t>(0, M * rows.th_first - p.pad_top);
      const int64_t r_end = std::min<int64_t>(in_h, M * rows.th_last + M + 2 - p.pad_top);
      if (r_end > r_first) finite = all_finite(x + r_first * in_w, (r_end - r_first) * in_w) && finite;
      // Each plane's rows are a stream of a few KiB, too short for the hardware prefetcher: fetch
      // those of the plane two channels on (input transform 0.93 -> 0.85 ms, 16 channels of 3000x26).
      if (c + 2 < c_end) {
        const float* ahead = x + 2 * in_h * in_w + r_first * in_w;
        for (int64_t i = 0; i < (r_end - r_first) * in_w; i += 16) __builtin_prefetch(ahead + i);
      }
      for (int64_t th = rows.th_first; th <= rows.th_last; ++th) {
        const RowTiles tiles = row_tiles(p, b, rows.n, th);
        const int64_t row0 = M * th - p.pad_top;
        for (int64_t tw0 = tiles.tw_begin; tw0 < tiles.tw_end; tw0 += W) {
          const int lanes = static_cast<int>(tiles.tw_end - tw0 < W ? tiles.tw_end - tw0 : W);
          const TileStore to = tile_store<W>(p, b, c, tiles.local0 + tw0, lanes);
          const int64_t col = 2 * tw0 - p.pad_left;
          const bool inside = col >= 0 && col + 2 * lanes + 2 <= in_w && row0 >= 0 && row0 + M + 2 <= in_h &&
                              (row0 + M + 1) * in_w + col + 2 * W + 2 <= in_h * in_w;
          if (inside) {
            const Mask none[4] = {};
            if (to.first == W) {
              transform_patches<S, M, false, true>(x, in_h, in_w, row0, col, none, b.v, b.v_stride, to);
            } else {
              transform_patches<S, M, false, false>(x, in_h, in_w, row0, col, none, b.v, b.v_stride, to);
            }
          } else {
            if (col != mask_col) {  // the masks depend on the column only: rows reuse them
              // Lanes of the loads at columns col, col + W, col + 2, col + 2 + W inside [0, in_w).
              mask_col = col;
              masks[0] = lane_mask<S>(-col, in_w - col, 0);
              masks[1] = lane_mask<S>(-col, in_w - col, 1);
              masks[2] = lane_mask<S>(-col - 2, in_w - col - 2, 0);
              masks[3] = lane_mask<S>(-col - 2, in_w - col - 2, 1);
            }
            if (to.first == W) {
              transform_patches<S, M, true, true>(x, in_h, in_w, row0, col, masks, b.v, b.v_stride, to);
            } else {
              transform_patches<S, M, true, false>(x, in_h, in_w, row0, col, masks, b.v, b.v_stride, to);
            }
          }
        }
      }
    });
    // The last panel's columns past the block's tiles must be finite: the GEMM multiplies them
    // (into outputs it never stores).
    const int64_t tiles = b.t_end - b.t_begin, used = tiles % b.panel;
    if (used != 0) {
      for (int e = 0; e < 4 * (M + 2); ++e) {
        float* last = b.v + e * b.v_stride + (tiles / b.panel) * p.in_channels * b.panel + c * b.panel;
        std::memset(last + used, 0, static_cast<size_t>(b.panel - used) * sizeof(float));
      }
    }
  }
  return finite;
}

template <class S>
bool winograd_input_simd(const WinogradConv& p, const WinogradBlock& b, int64_t c_begin, int64_t c_end) {
  switch (p.tile_h) {
    case 6: return winograd_input_tiles<S, 6>(p, b, c_begin, c_end);
    case 4: return winograd_input_tiles<S, 4>(p, b, c_begin, c_end);
    default: return winograd_input_tiles<S, 2>(p, b, c_begin, c_end);
  }
}

template <class S, int M>
void winograd_output_tiles(const WinogradConv& p, const WinogradBlock& b, int64_t o_begin, int64_t o_end) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  // In locals: through p the compiler reloads them after every store to y.
  const int64_t out_h = p.out_h, out_w = p.out_w, m_stride = b.m_stride;
  for (int64_t o = o_begin; o < o_end; ++o) {
    const Vec bias = S::broadcast(p.bias ? p.bias[o] : 0.0f);
    for_each_block_image(p, b, [&](const BlockRows& rows) {
      float* y = p.y + (rows.n * p.out_channels + o) * out_h * out_w;
      for (int64_t th = rows.th_first; th <= rows.th_last; ++th) {
        const RowTiles tiles = row_tiles(p, b, rows.n, th);
        for (int64_t tw0 = tiles.tw_begin; tw0 < tiles.tw_end; tw0 += W) {
          const float* m = b.m + o * b.m_row_stride + tiles.local0 + tw0;  // rows padded: lanes past read inside
          // A_M^T (M A_2) plus the bias: ma[k] is output column k (a phase) of every patch row.
          Vec ma[2][M + 2], rows_out[2][M];
          for (int i = 0; i < M + 2; ++i) {
            Vec mm[4], columns[2];
            for (int j = 0; j < 4; ++j) mm[j] = S::load(m + (4 * i + j) * m_stride);
            products_times_a<S, 2>(mm, columns);
            ma[0][i] = columns[0];
            ma[1][i] = columns[1];
          }
          for (int k = 0; k < 2; ++k) {
            products_times_a<S, M>(ma[k], rows_out[k]);
            for (int i = 0; i < M; ++i) rows_out[k][i] = S::add(rows_out[k][i], bias);
          }
          // Only this block's tiles: the next tiles' outputs may belong to another thread's block.
          const int64_t lanes = tiles.tw_end - tw0 < W ? tiles.tw_end - tw0 : W;
          const int64_t cols = out_w - 2 * tw0 < 2 * lanes ? out_w - 2 * tw0 : 2 * lanes;
          for (int i = 0; i < M && M * th + i < out_h; ++i) {
            Vec out[2];
            S::merge_phases({rows_out[0][i], rows_out[1][i]}, out);
            float* dst = y + (M * th + i) * out_w + 2 * tw0;
            for (int k = 0; k < 2; ++k) {
              const int64_t n_valid = cols - k * W;
              if (n_valid >= W) {
                S::store(dst + k * W, out[k]);
              } else if (n_valid > 0) {
                S::store_masked(dst + k * W, out[k], S::range_mask(0, static_cast<int>(n_valid)));
              }
            }
          }
        }
      }
    });
  }
}

template <class S>
void winograd_output_simd(const WinogradConv& p, const WinogradBlock& b, int64_t o_begin, int64_t o_end) {
  switch (p.tile_h) {
    case 6: return winograd_output_tiles<S, 6>(p, b, o_begin, o_end);
    case 4: return winograd_output_tiles<S, 4>(p, b, o_begin, o_end);
    default: return winograd_output_tiles<S, 2>(p, b, o_begin, o_end);
  }
}

}  // namespace
}  // namespace ictus::cpu
