// The forward correlation kernel (see conv.h), written once against the SIMD vocabulary S and
// instantiated by conv_fwd_<isa>.cpp. A tile is V*W consecutive output positions of one output
// row; a work item is a run of tiles (tiles_per_item, in row-major order) of one batch item, and
// for each block of M output channels it sweeps the run's tiles.
//
// Micro-kernel: M x V vector accumulators; per (tap, in-channel) it loads V vectors of input
// values and broadcasts M weights: M*V FMAs per M+V loads (AVX-512: 6x4 = 24 accumulators, enough
// to hide the 4-cycle FMA latency on 2 ports). Two ways to feed it:
//  - direct (all weights fit in L1, e.g. the TCN's 20 channels): straight from the signal rows, a
//    run of one tile meeting every weight; taps whose values fall partly into the padding use
//    masked loads (one mask per tap, shared by all channels), taps that read only padding (or a
//    padding row) are skipped;
//  - packed (larger layers, and layers with few input channels, where the direct feed spends
//    more on each tap's window than on its FMAs): the run's input is first copied tap by tap into
//    a contiguous, zero-padded buffer [tile][tap][channel][values] and the weights (by the driver)
//    into [block][tap][channel][M], so the micro-kernel reads two sequential streams (as a GEMM
//    does with packed panels) instead of one short vector from each of hundreds of rows. When the
//    output rows are contiguous, tiles run over the flattened rows (flat_tiles in conv.h): a tile
//    may span row ends, so rows of 26 or 79 positions leave no lane idle.
#pragma once

#include <cstdint>

#include "common/scratch.h"
#include "cpu/conv/conv.h"

namespace ictus::cpu {
namespace {

// acc[m][v] = bias[o0 + m] (or 0).
template <class S, int M, int V>
inline void init_with_bias(typename S::Vec (&acc)[M][V], const float* bias, int64_t o0) {
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
    const typename S::Vec b = bias ? S::broadcast(bias[o0 + m]) : S::zero();
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[m][v] = b;
  }
}

// acc[m][v] += w[m] * x[v]: the packed micro-kernels' rank-1 update (M broadcasts, M * V FMAs).
template <class S, int M, int V>
inline void rank1_update(typename S::Vec (&acc)[M][V], const typename S::Vec (&x)[V], const float* w) {
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
    const typename S::Vec wb = S::broadcast(w[m]);
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[m][v] = S::fma(wb, x[v], acc[m][v]);
  }
}

// Stores the first nt positions of acc into rows out + m * row_stride.
template <class S, int M, int V>
inline void store_positions(const typename S::Vec (&acc)[M][V], float* out, int64_t row_stride, int64_t nt) {
  constexpr int W = S::kWidth;
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const int64_t left = nt - v * W;
      if (left >= W) {
        S::store(out + m * row_stride + v * W, acc[m][v]);
      } else if (left > 0) {
        S::store_masked(out + m * row_stride + v * W, acc[m][v], S::range_mask(0, static_cast<int>(left)));
      }
    }
  }
}

// The mask of vector v's lanes that read real values, given that lanes [lo, hi) of the tile do.
template <class S>
inline typename S::Mask lane_mask(int64_t lo, int64_t hi, int v) {
  constexpr int W = S::kWidth;
  const int64_t l = lo - v * W, h = hi - v * W;
  return S::range_mask(static_cast<int>(l < 0 ? 0 : (l > W ? W : l)), static_cast<int>(h < 0 ? 0 : (h > W ? W : h)));
}

// Where tap `tap` of output row h reads for a tile whose lane 0 is output position t0: the pointer
// under lane 0 (channel 0) and the lanes [lo, hi) that read real values; false when it reads only
// padding.
struct TapWindow {
  const float* row;
  int64_t lo, hi;
};

inline bool tap_window(const CorrelateSource& src, const float* src_n, const CorrelateTap& tap, int64_t row_step,
                       int64_t h, int64_t t0, int64_t lanes, TapWindow* out) {
  const int64_t r = h * row_step + tap.row_offset;
  if (r < 0 || r >= src.rows) return false;
  const int64_t first = t0 + tap.offset;
  out->lo = first < 0 ? -first : 0;
  out->hi = src.phase_length[tap.phase] - first;
  if (out->hi <= 0 || out->lo >= lanes) return false;
  out->row = src_n + r * src.row_stride + tap.phase * src.phase_stride + first;
  return true;
}

template <class S, int M, int V, class Load>
inline void fwd_accumulate_tap(typename S::Vec (&acc)[M][V], const float* row, int64_t channel_stride,
                               const float* w, int64_t weight_out_stride, int64_t weight_in_stride,
                               int64_t channels, Load load) {
  constexpr int W = S::kWidth;
  for (int64_t c = 0; c < channels; ++c) {
    typename S::Vec xv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) xv[v] = load(row + c * channel_stride + v * W, v);
    const float* wc = w + c * weight_in_stride;
#pragma GCC unroll 8
    for (int m = 0; m < M; ++m) {
      const typename S::Vec wb = S::broadcast(wc[m * weight_out_stride]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[m][v] = S::fma(wb, xv[v], acc[m][v]);
    }
  }
}

// Direct micro-kernel: output channels [o0, o0 + M) x positions [t0, t0 + nt) of row h of batch
// item n; nt <= V * W.
template <class S, int M, int V>
void fwd_block(const CorrelateForward& p, int64_t n, int64_t h, int64_t o0, int64_t t0, int64_t nt) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  Vec acc[M][V];
  init_with_bias<S, M, V>(acc, p.bias, o0);
  const CorrelateSource& src = p.src;
  const float* src_n = src.data + n * src.batch_stride;
  const float* w_o = p.weight + o0 * p.weight_out_stride;
  for (int64_t i = 0; i < src.num_taps; ++i) {
    const CorrelateTap tap = src.taps[i];
    TapWindow win;
    if (!tap_window(src, src_n, tap, p.row_step, h, t0, V * W, &win)) continue;
    const float* w = w_o + tap.weight_offset;
    if (win.lo == 0 && win.hi >= V * W) {
      fwd_accumulate_tap<S, M, V>(acc, win.row, src.channel_stride, w, p.weight_out_stride, p.weight_in_stride,
                                  src.channels, [](const float* q, int) { return S::load(q); });
    } else {
      typename S::Mask mask[V];
      for (int v = 0; v < V; ++v) mask[v] = lane_mask<S>(win.lo, win.hi, v);
      fwd_accumulate_tap<S, M, V>(acc, win.row, src.channel_stride, w, p.weight_out_stride, p.weight_in_stride,
                                  src.channels, [&mask](const float* q, int v) { return S::load_masked(q, mask[v]); });
    }
  }
  store_positions<S, M, V>(acc, p.out + n * p.out_batch_stride + o0 * p.out_channel_stride + h * p.out_row_stride + t0,
                           p.out_channel_stride, nt);
}

// Packed micro-kernel: output channels [o0, o0 + M) x nt positions from a packed tile (q_count rows
// of values, q_stride apart) and the block's packed weights (q_count rows of M).
template <class S, int M, int V>
void fwd_block_packed(const CorrelateForward& p, const float* tile_in, int64_t q_stride, const float* w,
                      int64_t q_count, float* out, int64_t nt, int64_t o0) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  Vec acc[M][V];
  init_with_bias<S, M, V>(acc, p.bias, o0);
  for (int64_t q = 0; q < q_count; ++q) {
    Vec xv[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) xv[v] = S::load(tile_in + q * q_stride + v * W);
    rank1_update<S, M, V>(acc, xv, w + q * M);
  }
  store_positions<S, M, V>(acc, out, p.out_channel_stride, nt);
}

// Tile `t` of a batch item (row-major over rows of tiles_per_row tiles): its output row and the
// output position of its lane 0.
struct TileSpot {
  int64_t h, t0;
};
inline TileSpot tile_spot(int64_t t, int64_t tiles_per_row, int64_t tile_len) {
  return {t / tiles_per_row, (t % tiles_per_row) * tile_len};
}

// Packed tiles: tile_len values per (tap, channel) row, rows q_stride = tile_len + W apart, so
// that a full-vector store may run up to W - 1 values past a row's last lane.
template <class S>
constexpr int64_t packed_row_stride(int64_t tile_len) {
  return tile_len + S::kWidth;
}

// dst[k] = first[k] for lanes lo <= k < hi and 0 for the other lanes k < len; writes whole
// vectors, so up to W - 1 zeros land past dst[len - 1].
template <class S>
inline void copy_window(float* dst, const float* first, int64_t len, int64_t lo, int64_t hi) {
  constexpr int W = S::kWidth;
  for (int64_t k = 0; k < len; k += W) {
    if (k >= lo && k + W <= hi) {
      S::store(dst + k, S::load(first + k));
    } else {
      S::store(dst + k, S::load_masked(first + k, lane_mask<S>(lo - k, hi - k, 0)));
    }
  }
}

// Copies the input under tiles [first, last) of batch item n into dst as
// [tile][tap][channel][q_stride], with zeros where a tap reads the padding; per-row tiles. Each
// (tap, channel) is read tile after tile, front to back (a tile at a time from every row took a
// fifth of the forward time at N=8, C=64, T=4096; this order, about a seventh).
template <class S>
void pack_tiles(const CorrelateForward& p, int64_t n, int64_t first, int64_t last, int64_t tile_len,
                int64_t tiles_per_row, float* dst) {
  const CorrelateSource& src = p.src;
  const float* src_n = src.data + n * src.batch_stride;
  const int64_t q_stride = packed_row_stride<S>(tile_len);
  const int64_t tile_stride = src.num_taps * src.channels * q_stride;
  for (int64_t i = 0; i < src.num_taps; ++i) {
    const CorrelateTap tap = src.taps[i];
    for (int64_t c = 0; c < src.channels; ++c) {
      float* out = dst + (i * src.channels + c) * q_stride;
      for (int64_t t = first; t < last; ++t) {
        const TileSpot spot = tile_spot(t, tiles_per_row, tile_len);
        TapWindow win;
        if (!tap_window(src, src_n, tap, p.row_step, spot.h, spot.t0, tile_len, &win)) win = {src_n, 0, 0};
        copy_window<S>(out + (t - first) * tile_stride, win.row + c * src.channel_stride, tile_len, win.lo, win.hi);
      }
    }
  }
}

// As pack_tiles for flat tiles: tile t covers flattened output positions [t, t + 1) * tile_len
// (position f is column f % out_length of row f / out_length). Each (tap, channel) is copied in
// pieces that end at row ends and tile ends, walked with two cursors (no divisions), in order, so
// that a piece's overrun (zeros) is overwritten by the next piece or lands in the row's slack.
template <class S>
void pack_flat_tiles(const CorrelateForward& p, int64_t n, int64_t first, int64_t last, int64_t tile_len,
                     float* dst) {
  constexpr int W = S::kWidth;
  const CorrelateSource& src = p.src;
  const float* src_n = src.data + n * src.batch_stride;
  const int64_t q_stride = packed_row_stride<S>(tile_len);
  const int64_t tile_stride = src.num_taps * src.channels * q_stride;
  const int64_t total = p.out_rows * p.out_length;
  const int64_t f_begin = first * tile_len, f_end = total - f_begin < (last - first) * tile_len
                                                        ? total : f_begin + (last - first) * tile_len;
  const int64_t h_begin = f_begin / p.out_length, col_begin = f_begin % p.out_length;
  for (int64_t i = 0; i < src.num_taps; ++i) {
    const CorrelateTap tap = src.taps[i];
    for (int64_t c = 0; c < src.channels; ++c) {
      const float* src_c = src_n + c * src.channel_stride;
      float* tile_out = dst + (i * src.channels + c) * q_stride;
      int64_t h = h_begin, col = col_begin, lane = 0;
      for (int64_t f = f_begin; f < f_end;) {
        int64_t len = p.out_length - col;
        if (tile_len - lane < len) len = tile_len - lane;
        if (f_end - f < len) len = f_end - f;
        TapWindow win;
        if (!tap_window(src, src_c, tap, p.row_step, h, col, len, &win)) win = {src_c, 0, 0};
        copy_window<S>(tile_out + lane, win.row, len, win.lo, win.hi < len ? win.hi : len);
        f += len;
        col += len;
        lane += len;
        if (col == p.out_length) {
          col = 0;
          ++h;
        }
        if (lane == tile_len) {
          lane = 0;
          tile_out += tile_stride;
        }
      }
      // Lanes past the last position: zeros (their outputs are not stored).
      if (lane > 0) {
        for (int64_t k = (lane + W - 1) / W * W; k < tile_len; k += W) S::store(tile_out + k, S::zero());
      }
    }
  }
}

template <class S, int MMax, int VMax>
struct FwdBlockTable {
  using Direct = void (*)(const CorrelateForward&, int64_t, int64_t, int64_t, int64_t, int64_t);
  using Packed = void (*)(const CorrelateForward&, const float*, int64_t, const float*, int64_t, float*, int64_t,
                          int64_t);
  Direct direct[MMax][VMax];
  Packed packed[MMax][VMax];
  template <int M, int V>
  constexpr void fill() {
    direct[M - 1][V - 1] = &fwd_block<S, M, V>;
    packed[M - 1][V - 1] = &fwd_block_packed<S, M, V>;
    if constexpr (V < VMax) fill<M, V + 1>();
    else if constexpr (M < MMax) fill<M + 1, 1>();
  }
  constexpr FwdBlockTable() : direct{}, packed{} { fill<1, 1>(); }
};

template <class S, int MMax, int VMax>
void conv_fwd_simd(const CorrelateForward& p, int64_t begin, int64_t end) {
  static constexpr FwdBlockTable<S, MMax, VMax> table{};
  constexpr int64_t tile = static_cast<int64_t>(VMax) * S::kWidth;
  const bool flat = flat_tiles(p);
  const int64_t tiles_per_row = (p.out_length + tile - 1) / tile;
  const int64_t tiles = correlate_tiles(p, tile);  // per batch item
  const BalancedBlocks blocks(p.out_channels, MMax);
  const int64_t runs = (tiles + p.tiles_per_item - 1) / p.tiles_per_item;
  const int64_t q_count = p.src.num_taps * p.src.channels;
  const int64_t q_stride = packed_row_stride<S>(tile);
  const size_t packed_floats = static_cast<size_t>(p.tiles_per_item * q_count * q_stride);
  float* packed_in = p.packed_weight ? scratch_floats(ScratchSlot::kPackedTiles, packed_floats) : nullptr;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / runs, first = (item % runs) * p.tiles_per_item;
    const int64_t last = tiles - first < p.tiles_per_item ? tiles : first + p.tiles_per_item;
    if (flat) pack_flat_tiles<S>(p, n, first, last, tile, packed_in);
    else if (packed_in) pack_tiles<S>(p, n, first, last, tile, tiles_per_row, packed_in);
    float* out_n = p.out + n * p.out_batch_stride;
    for (int64_t b = 0; b < blocks.count; ++b) {
      const int64_t o0 = blocks.begin(b), m = blocks.size(b);
      for (int64_t t = first; t < last; ++t) {
        // Lane 0's output: flat position t * tile, or column t0 of row h.
        const TileSpot spot = flat ? TileSpot{0, t * tile} : tile_spot(t, tiles_per_row, tile);
        const int64_t length = flat ? p.out_rows * p.out_length : p.out_length;
        const int64_t nt = length - spot.t0 < tile ? length - spot.t0 : tile;
        const int64_t vectors = (nt + S::kWidth - 1) / S::kWidth;
        if (packed_in) {
          float* out = out_n + o0 * p.out_channel_stride + spot.h * p.out_row_stride + spot.t0;
          table.packed[m - 1][vectors - 1](p, packed_in + (t - first) * q_count * q_stride, q_stride,
                                           p.packed_weight + o0 * q_count, q_count, out, nt, o0);
        } else {
          table.direct[m - 1][vectors - 1](p, n, spot.h, o0, spot.t0, nt);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
