// The Winograd F(2x2, 3x3) transforms (winograd.h), written once against the SIMD vocabulary S and
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

// U = G g G^T, G = [[1, 0, 0], [1/2, 1/2, 1/2], [1/2, -1/2, 1/2], [0, 0, 1]], for the lanes' 3x3
// filters g (g[3i + j] = tap (i, j)).
template <class S>
inline void transform_filters(const typename S::Vec (&g)[9], typename S::Vec (&u)[16]) {
  using Vec = typename S::Vec;
  const Vec half = S::broadcast(0.5f);
  Vec gg[4][3];  // G g
  for (int j = 0; j < 3; ++j) {
    const Vec outer = S::add(g[j], g[6 + j]);
    gg[0][j] = g[j];
    gg[1][j] = S::mul(S::add(outer, g[3 + j]), half);
    gg[2][j] = S::mul(S::sub(outer, g[3 + j]), half);
    gg[3][j] = g[6 + j];
  }
  for (int i = 0; i < 4; ++i) {
    const Vec outer = S::add(gg[i][0], gg[i][2]);
    u[4 * i] = gg[i][0];
    u[4 * i + 1] = S::mul(S::add(outer, gg[i][1]), half);
    u[4 * i + 2] = S::mul(S::sub(outer, gg[i][1]), half);
    u[4 * i + 3] = gg[i][2];
  }
}

template <class S>
void winograd_weights_simd(const WinogradConv& p, int64_t begin, int64_t end) {
  constexpr int W = S::kWidth;
  for (int64_t o = begin; o < end; ++o) {
    const float* filters = p.weight + o * p.weight_out_stride;
    for (int64_t c0 = 0; c0 < p.in_channels; c0 += W) {
      const int lanes = static_cast<int>(p.in_channels - c0 < W ? p.in_channels - c0 : W);
      // Lane l reads filter c0 + l (lanes past the channels read filter c0, and are not stored).
      typename S::IVec lane_offsets = S::iota_times(static_cast<int32_t>(p.weight_in_stride));
      if (lanes < W) lane_offsets = S::izero_from(lane_offsets, lanes);
      typename S::Vec g[9], u[16];
      for (int k = 0; k < 9; ++k) {
        g[k] = S::gather(filters + c0 * p.weight_in_stride + (p.flipped ? 8 - k : k), lane_offsets);
      }
      transform_filters<S>(g, u);
      float* dst = p.u + o * p.in_channels + c0;
      for (int e = 0; e < 16; ++e) {
        if (lanes == W) {
          S::store(dst + e * p.u_stride, u[e]);
        } else {
          S::store_masked(dst + e * p.u_stride, u[e], S::range_mask(0, lanes));
        }
      }
    }
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

template <class S>
inline void store_tiles(float* v_e, const TileStore& to, typename S::Vec value) {
  if (to.first == S::kWidth) {
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

// Row r of the lanes' patches times B, B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0],
// [0, 1, 0, -1]]: columns 0..3 are the even and odd phases at column offsets 0 and 2 of the 2W + 2
// values from `row` (zero where a load is masked: padding, columns past the input).
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
  db[0] = S::sub(d01[0], d23[0]);
  db[1] = S::add(d01[1], d23[0]);
  db[2] = S::sub(d23[0], d01[1]);
  db[3] = S::sub(d01[1], d23[1]);
}

// V row i, columns 0..3, for the lanes' tiles.
template <class S>
inline void store_v_row(float* v_row, int64_t v_stride, const TileStore& to, const typename S::Vec (&row)[4]) {
  for (int j = 0; j < 4; ++j) store_tiles<S>(v_row + j * v_stride, to, row[j]);
}

// V = B^T d B for W tiles of one tile row th (from column tw0) of channel c: patch rows 2th + r -
// pad_top of the plane x. Masked loads (kMasked) read zeros for padding and past the input; plain
// loads are for vectors whose lanes' columns all lie inside the row and whose loads stay inside
// the plane (the lanes past the tile row then read the next row's values: finite or not, they land
// on tiles stored later or zeroed, see tile_store). Always inlined: as a call it kept rows of d B
// in memory (input transform 1.09 -> 0.93 ms, 16 channels of 3000x26).
template <class S, bool kMasked>
[[gnu::always_inline]] inline void transform_patches(const WinogradConv& p, const float* x, int64_t th,
                                                     int64_t col, const typename S::Mask (&masks)[4], float* v,
                                                     int64_t v_stride, const TileStore& to) {
  using Vec = typename S::Vec;
  const int64_t row0 = 2 * th - p.pad_top;
  const auto row_times_b = [&](int r, Vec (&db)[4]) {
    const int64_t in_row = row0 + r;
    if (kMasked && (in_row < 0 || in_row >= p.in_h)) {
      for (int j = 0; j < 4; ++j) db[j] = S::zero();
    } else {
      patch_row_times_b<S, kMasked>(x + in_row * p.in_w + col, masks, db);
    }
  };
  // B^T (d B): V rows 0 = e0 - e2, 1 = e1 + e2, 2 = e2 - e1, 3 = e1 - e3 (e_r = row r of d B),
  // in an order that keeps at most three rows of e live.
  Vec e_a[4], e_b[4], out[4];
  row_times_b(2, e_a);
  row_times_b(0, e_b);
  for (int j = 0; j < 4; ++j) out[j] = S::sub(e_b[j], e_a[j]);
  store_v_row<S>(v, v_stride, to, out);
  row_times_b(1, e_b);
  for (int j = 0; j < 4; ++j) out[j] = S::add(e_b[j], e_a[j]);
  store_v_row<S>(v + 4 * v_stride, v_stride, to, out);
  for (int j = 0; j < 4; ++j) out[j] = S::sub(e_a[j], e_b[j]);
  store_v_row<S>(v + 8 * v_stride, v_stride, to, out);
  row_times_b(3, e_a);
  for (int j = 0; j < 4; ++j) out[j] = S::sub(e_b[j], e_a[j]);
  store_v_row<S>(v + 12 * v_stride, v_stride, to, out);
}

template <class S>
bool winograd_input_simd(const WinogradConv& p, const WinogradBlock& b, int64_t c_begin, int64_t c_end) {
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
      const int64_t r_first = std::max<int64_t>(0, 2 * rows.th_first - p.pad_top);
      const int64_t r_end = std::min<int64_t>(in_h, 2 * rows.th_last + 4 - p.pad_top);
      if (r_end > r_first) finite = all_finite(x + r_first * in_w, (r_end - r_first) * in_w) && finite;
      // Each plane's rows are a stream of a few KiB, too short for the hardware prefetcher: fetch
      // those of the plane two channels on (input transform 0.93 -> 0.85 ms, 16 channels of 3000x26).
      if (c + 2 < c_end) {
        const float* ahead = x + 2 * in_h * in_w + r_first * in_w;
        for (int64_t i = 0; i < (r_end - r_first) * in_w; i += 16) __builtin_prefetch(ahead + i);
      }
      for (int64_t th = rows.th_first; th <= rows.th_last; ++th) {
        const RowTiles tiles = row_tiles(p, b, rows.n, th);
        const int64_t row0 = 2 * th - p.pad_top;
        for (int64_t tw0 = tiles.tw_begin; tw0 < tiles.tw_end; tw0 += W) {
          const int lanes = static_cast<int>(tiles.tw_end - tw0 < W ? tiles.tw_end - tw0 : W);
          const TileStore to = tile_store<W>(p, b, c, tiles.local0 + tw0, lanes);
          const int64_t col = 2 * tw0 - p.pad_left;
          const bool inside = col >= 0 && col + 2 * lanes + 2 <= in_w && row0 >= 0 && row0 + 4 <= in_h &&
                              (row0 + 3) * in_w + col + 2 * W + 2 <= in_h * in_w;
          if (inside) {
            const Mask none[4] = {};
            transform_patches<S, false>(p, x, th, col, none, b.v, b.v_stride, to);
          } else {
            if (col != mask_col) {  // the masks depend on the column only: rows reuse them
              // Lanes of the loads at columns col, col + W, col + 2, col + 2 + W inside [0, in_w).
              mask_col = col;
              masks[0] = lane_mask<S>(-col, in_w - col, 0);
              masks[1] = lane_mask<S>(-col, in_w - col, 1);
              masks[2] = lane_mask<S>(-col - 2, in_w - col - 2, 0);
              masks[3] = lane_mask<S>(-col - 2, in_w - col - 2, 1);
            }
            transform_patches<S, true>(p, x, th, col, masks, b.v, b.v_stride, to);
          }
        }
      }
    });
    // The last panel's columns past the block's tiles must be finite: the GEMM multiplies them
    // (into outputs it never stores).
    const int64_t tiles = b.t_end - b.t_begin, used = tiles % b.panel;
    if (used != 0) {
      for (int e = 0; e < 16; ++e) {
        float* last = b.v + e * b.v_stride + (tiles / b.panel) * p.in_channels * b.panel + c * b.panel;
        std::memset(last + used, 0, static_cast<size_t>(b.panel - used) * sizeof(float));
      }
    }
  }
  return finite;
}

template <class S>
void winograd_output_simd(const WinogradConv& p, const WinogradBlock& b, int64_t o_begin, int64_t o_end) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  for (int64_t o = o_begin; o < o_end; ++o) {
    const Vec bias = S::broadcast(p.bias ? p.bias[o] : 0.0f);
    for_each_block_image(p, b, [&](const BlockRows& rows) {
      float* y = p.y + (rows.n * p.out_channels + o) * p.out_h * p.out_w;
      for (int64_t th = rows.th_first; th <= rows.th_last; ++th) {
        const RowTiles tiles = row_tiles(p, b, rows.n, th);
        for (int64_t tw0 = tiles.tw_begin; tw0 < tiles.tw_end; tw0 += W) {
          const float* m = b.m + o * b.m_row_stride + tiles.local0 + tw0;  // rows padded: lanes past read inside
          Vec mm[16];
          for (int e = 0; e < 16; ++e) mm[e] = S::load(m + e * b.m_stride);
          // A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
          Vec am[2][4];
          for (int j = 0; j < 4; ++j) {
            am[0][j] = S::add(S::add(mm[j], mm[4 + j]), mm[8 + j]);
            am[1][j] = S::sub(S::sub(mm[4 + j], mm[8 + j]), mm[12 + j]);
          }
          // Only this block's tiles: the next tiles' outputs may belong to another thread's block.
          const int64_t lanes = tiles.tw_end - tw0 < W ? tiles.tw_end - tw0 : W;
          const int64_t cols = p.out_w - 2 * tw0 < 2 * lanes ? p.out_w - 2 * tw0 : 2 * lanes;
          for (int i = 0; i < 2 && 2 * th + i < p.out_h; ++i) {
            const Vec phases[2] = {S::add(S::add(S::add(am[i][0], am[i][1]), am[i][2]), bias),
                                   S::add(S::sub(S::sub(am[i][1], am[i][2]), am[i][3]), bias)};
            Vec out[2];
            S::merge_phases(phases, out);
            float* dst = y + (2 * th + i) * p.out_w + 2 * tw0;
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

}  // namespace
}  // namespace ictus::cpu
