// The Winograd F(2x2, 3x3) transforms (winograd.h), written once against the SIMD vocabulary S and
// instantiated by winograd_<isa>.cpp. Weights: lanes are W input channels of one output channel;
// input and output: lanes are W tiles that are neighbours along a tile row, whose patches start
// two columns apart, so the patch columns 0..3 of the lanes are the even and odd phases of the
// row at column offsets 0 and 2 (S::split_phases), and the two output columns merge back the
// same way (S::merge_phases).
#pragma once

#include <cstdint>
#include <cstring>

#include "common/finite.h"
#include "common/scratch.h"
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

template <class S>
bool winograd_input_simd(const WinogradConv& p, const WinogradBlock& b, int64_t c_begin, int64_t c_end) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  // The block's patch rows of one plane, zero-padded so that every vector of W patches reads inside.
  const int64_t pitch = 2 * p.tile_cols + 2 * W + 2;
  const int64_t max_rows = 2 * ((b.t_end - 1) / p.tile_cols - b.t_begin / p.tile_cols) + 4;
  float* plane = scratch_floats(ScratchSlot::kWinogradPlane, static_cast<size_t>(max_rows * pitch));
  bool finite = true;
  for (int64_t c = c_begin; c < c_end; ++c) {
    for_each_block_image(p, b, [&](const BlockRows& rows) {
      const float* x = p.x + (rows.n * p.in_channels + c) * p.in_h * p.in_w;
      const int64_t q0 = 2 * rows.th_first, q1 = 2 * rows.th_last + 4;  // padded rows; input row = q - pad_top
      for (int64_t q = q0; q < q1; ++q) {
        float* dst = plane + (q - q0) * pitch;
        std::memset(dst, 0, static_cast<size_t>(pitch) * sizeof(float));
        const int64_t r = q - p.pad_top;
        if (r >= 0 && r < p.in_h) {
          std::memcpy(dst + p.pad_left, x + r * p.in_w, static_cast<size_t>(p.in_w) * sizeof(float));
          finite = all_finite(x + r * p.in_w, p.in_w) && finite;
        }
      }
      for (int64_t th = rows.th_first; th <= rows.th_last; ++th) {
        const RowTiles tiles = row_tiles(p, b, rows.n, th);
        for (int64_t tw0 = tiles.tw_begin; tw0 < tiles.tw_end; tw0 += W) {
          // d[r][j]: column j of the lanes' patches on patch row r.
          Vec d[4][4];
          for (int r = 0; r < 4; ++r) {
            const float* row = plane + (2 * th - q0 + r) * pitch + 2 * tw0;
            const Vec at0[2] = {S::load(row), S::load(row + W)}, at2[2] = {S::load(row + 2), S::load(row + 2 + W)};
            Vec even_odd[2];
            S::split_phases(at0, even_odd);
            d[r][0] = even_odd[0];
            d[r][1] = even_odd[1];
            S::split_phases(at2, even_odd);
            d[r][2] = even_odd[0];
            d[r][3] = even_odd[1];
          }
          // B^T d B, B^T = [[1, 0, -1, 0], [0, 1, 1, 0], [0, -1, 1, 0], [0, 1, 0, -1]].
          Vec bd[4][4];
          for (int j = 0; j < 4; ++j) {
            bd[0][j] = S::sub(d[0][j], d[2][j]);
            bd[1][j] = S::add(d[1][j], d[2][j]);
            bd[2][j] = S::sub(d[2][j], d[1][j]);
            bd[3][j] = S::sub(d[1][j], d[3][j]);
          }
          const int lanes = static_cast<int>(tiles.tw_end - tw0 < W ? tiles.tw_end - tw0 : W);
          const TileStore to = tile_store<W>(p, b, c, tiles.local0 + tw0, lanes);
          for (int i = 0; i < 4; ++i) {
            float* v_row = b.v + 4 * i * b.v_stride;
            store_tiles<S>(v_row, to, S::sub(bd[i][0], bd[i][2]));
            store_tiles<S>(v_row + b.v_stride, to, S::add(bd[i][1], bd[i][2]));
            store_tiles<S>(v_row + 2 * b.v_stride, to, S::sub(bd[i][2], bd[i][1]));
            store_tiles<S>(v_row + 3 * b.v_stride, to, S::sub(bd[i][1], bd[i][3]));
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
