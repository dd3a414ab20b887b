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

// Where lanes [0, lanes) of tiles t0.. of channel c go in each V_e's packed panels. Lanes past
// `lanes` (up to `width`) that stay inside the panel are stored too: they land on the next tile
// row's tiles, which this item stores next, or past the last tile, which the item of the last batch
// item zeroes at the end. A run that crosses into the next panel is split there: `first` lanes at
// `at`, the rest from the next panel's start.
struct TileStore {
  int64_t at, next;
  int first, lanes;
};

inline TileStore tile_store(const WinogradConv& p, int64_t c, int64_t t0, int lanes, int width) {
  const int64_t offset = t0 % p.panel, panel_floats = p.in_channels * p.panel;
  const int64_t at = (t0 / p.panel) * panel_floats + c * p.panel + offset;
  const int first = static_cast<int>(p.panel - offset < width ? p.panel - offset : width);
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

template <class S>
bool winograd_input_simd(const WinogradConv& p, int64_t begin, int64_t end) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  // The plane zero-padded so that every patch, and every vector of W patches, reads inside it.
  const int64_t rows = 2 * p.tile_rows + 2, pitch = 2 * p.tile_cols + 2 * W + 2;
  float* plane = scratch_floats(ScratchSlot::kWinogradPlane, static_cast<size_t>(rows * pitch));
  bool finite = true;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / p.in_channels, c = item % p.in_channels;
    const float* x = p.x + item * p.in_h * p.in_w;
    finite = all_finite(x, p.in_h * p.in_w) && finite;
    std::memset(plane, 0, static_cast<size_t>(rows * pitch) * sizeof(float));
    for (int64_t r = 0; r < p.in_h; ++r) {
      std::memcpy(plane + (r + p.pad_top) * pitch + p.pad_left, x + r * p.in_w, static_cast<size_t>(p.in_w) * sizeof(float));
    }
    for (int64_t th = 0; th < p.tile_rows; ++th) {
      for (int64_t tw0 = 0; tw0 < p.tile_cols; tw0 += W) {
        // d[r][j]: column j of the lanes' patches on patch row r.
        Vec d[4][4];
        for (int r = 0; r < 4; ++r) {
          const float* row = plane + (2 * th + r) * pitch + 2 * tw0;
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
        const int lanes = static_cast<int>(p.tile_cols - tw0 < W ? p.tile_cols - tw0 : W);
        // The last tile row's extra lanes would land on the next batch item's tiles (another work item).
        const int width = th + 1 < p.tile_rows || n + 1 == p.batch ? W : lanes;
        const TileStore to = tile_store(p, c, (n * p.tile_rows + th) * p.tile_cols + tw0, lanes, width);
        for (int i = 0; i < 4; ++i) {
          float* v_row = p.v + 4 * i * p.v_stride;
          store_tiles<S>(v_row, to, S::sub(bd[i][0], bd[i][2]));
          store_tiles<S>(v_row + p.v_stride, to, S::add(bd[i][1], bd[i][2]));
          store_tiles<S>(v_row + 2 * p.v_stride, to, S::sub(bd[i][2], bd[i][1]));
          store_tiles<S>(v_row + 3 * p.v_stride, to, S::sub(bd[i][1], bd[i][3]));
        }
      }
    }
    // The last panel's columns past the last tile must be finite: the GEMM multiplies them (into
    // outputs it never stores). One item per channel writes them.
    const int64_t used = p.tiles % p.panel;
    if (n == p.batch - 1 && used != 0) {
      for (int e = 0; e < 16; ++e) {
        float* last = p.v + e * p.v_stride + (p.tiles / p.panel) * p.in_channels * p.panel + c * p.panel;
        std::memset(last + used, 0, static_cast<size_t>(p.panel - used) * sizeof(float));
      }
    }
  }
  return finite;
}

template <class S>
void winograd_output_simd(const WinogradConv& p, int64_t begin, int64_t end) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / p.out_channels, o = item % p.out_channels;
    const Vec bias = S::broadcast(p.bias ? p.bias[o] : 0.0f);
    float* y = p.y + item * p.out_h * p.out_w;
    for (int64_t th = 0; th < p.tile_rows; ++th) {
      for (int64_t tw0 = 0; tw0 < p.tile_cols; tw0 += W) {
        const int64_t t0 = (n * p.tile_rows + th) * p.tile_cols + tw0;
        const float* m = p.m + o * p.m_row_stride + t0;  // rows padded: lanes past the tiles read inside
        Vec mm[16];
        for (int e = 0; e < 16; ++e) mm[e] = S::load(m + e * p.m_stride);
        // A^T M A, A^T = [[1, 1, 1, 0], [0, 1, -1, -1]].
        Vec am[2][4];
        for (int j = 0; j < 4; ++j) {
          am[0][j] = S::add(S::add(mm[j], mm[4 + j]), mm[8 + j]);
          am[1][j] = S::sub(S::sub(mm[4 + j], mm[8 + j]), mm[12 + j]);
        }
        const int64_t cols = p.out_w - 2 * tw0 < 2 * W ? p.out_w - 2 * tw0 : 2 * W;
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
  }
}

}  // namespace
}  // namespace ictus::cpu
