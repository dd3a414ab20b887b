// The flat forward correlation (stride 1, 2-d; see FlatCorrelation in conv.h), written once against
// the SIMD vocabulary S and instantiated by conv_fwd_flat_<isa>.cpp.
//
// With stride 1, output (h, w) and tap (i, j) read source value (h + a_i, w + b_j). Seen as flat
// positions g = h * pitch + w over source rows of `pitch` values, every tap is one fixed offset:
// g + a_i * pitch + b_j. So a tile of V*W consecutive flat positions, spanning row ends, reads V
// contiguous vectors per (tap, channel), with no masks, no per-tap windows and no packing (the
// packed feed of conv_fwd_simd.h copied taps x channels values per position first: twice the
// cost of the FMAs it fed for 16 channels on 26 bins). The price: positions w >= out_length of
// each row are computed too and dropped when storing (2 of 26 for a valid 3x3 on 26 bins), and a
// padded conv reads a zero-padded copy of its source (one copy, not one per tap).
//
// Micro-kernel: M x V accumulators (AVX-512: 6 x 4), per (tap, channel) V loads and M broadcasts
// of the packed weights [block][tap][channel][M], read front to back. The tiles at the end of a
// plane, whose vectors would run past the readable values, load with masks.
//
// Compact tiles, for rows of at least W outputs where the dropped positions would cost much (a 1x10
// kernel on 26 bins keeps 17 of 26): the lanes are output positions q = h * out_length + w. A
// vector then spans at most two rows; the lanes of row h read from base = h * pitch + w (plus the
// tap's offset), those of row h + 1 from base + pitch - out_length, as two loads blended (one load
// when the vector lies in one row; masked loads near the plane's end). No lane is wasted and
// results are stored straight into the output.
#pragma once

#include <algorithm>
#include <cstdint>

#include "cpu/conv/conv.h"
#include "cpu/conv/conv_fwd_simd.h"  // init_with_bias, lane_mask, rank1_update

namespace ictus::cpu {
namespace {

// dst[0, len) = src[0, len), whole vectors, then the tail as the run's last whole vector (its
// overlap rewrites the same values): AVX2's masked stores cost more than the FMAs of a 1->16 3x3
// tile on 81 bins. Runs shorter than a vector take masks, which read and write only their lanes.
template <class S>
inline void copy_run(float* dst, const float* src, int64_t len) {
  constexpr int W = S::kWidth;
  if (len < W) {
    const typename S::Mask lanes = S::range_mask(0, static_cast<int>(len));
    S::store_masked(dst, S::load_masked(src, lanes), lanes);
    return;
  }
  int64_t k = 0;
  for (; k + W <= len; k += W) S::store(dst + k, S::load(src + k));
  if (k < len) S::store(dst + len - W, S::load(src + len - W));
}

// Where a whole tile's vectors go in the output when its positions span at most one row end:
// vector v's lanes of the first row, [0, head), at first[v]; those of the next row, [skip, W)
// past the row end's dropped positions, at next[v] (then the lane's output position is
// next[v] + lane). head == W and skip == W: one plain store.
template <class S, int V>
struct OutputRuns {
  int64_t first[V], next[V];
  int head[V], skip[V];
};

template <class S, int V>
OutputRuns<S, V> output_runs(const FlatCorrelation& p, int64_t g0) {
  constexpr int W = S::kWidth;
  OutputRuns<S, V> r{};
  for (int v = 0; v < V; ++v) {
    const int64_t g = g0 + v * W, row = g / p.pitch, col = g % p.pitch;
    r.first[v] = row * p.out_length + col;
    r.head[v] = static_cast<int>(std::clamp<int64_t>(p.out_length - col, 0, W));
    r.skip[v] = static_cast<int>(std::min<int64_t>(p.pitch - col, W));
    r.next[v] = (row + 1) * p.out_length - (p.pitch - col);
  }
  return r;
}

// Output channels [o0, o0 + M) of the tile whose lane 0 is flat position g0 of batch item n, summed
// into acc. Bounded: lanes whose reads pass the plane's `extent` readable values load zeros.
template <class S, int M, int V, bool Bounded>
[[gnu::always_inline]] inline void flat_accumulate(const FlatCorrelation& p, const float* src_n, int64_t g0,
                                                   const float* w, int64_t o0, typename S::Vec (&acc)[M][V]) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  init_with_bias<S, M, V>(acc, p.bias, o0);
  for (int64_t i = 0; i < p.num_taps; ++i) {
    const int64_t first = g0 + p.tap_offsets[i];
    typename S::Mask mask[V];
    if constexpr (Bounded) {
      for (int v = 0; v < V; ++v) mask[v] = lane_mask<S>(0, p.extent - first, v);
    }
    const float* row = src_n + first;
    for (int64_t c = 0; c < p.channels; ++c, w += M) {
      Vec xv[V];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        if constexpr (Bounded) xv[v] = S::load_masked(row + c * p.channel_stride + v * W, mask[v]);
        else xv[v] = S::load(row + c * p.channel_stride + v * W);
      }
      rank1_update<S, M, V>(acc, xv, w);
    }
  }
}

// The tile's channels stored to out + m * out_stride (the tile buffer).
template <class S, int M, int V, bool Bounded>
void flat_block(const FlatCorrelation& p, const float* src_n, int64_t g0, const float* w, int64_t o0, float* out,
                int64_t out_stride) {
  constexpr int W = S::kWidth;
  typename S::Vec acc[M][V];
  flat_accumulate<S, M, V, Bounded>(p, src_n, g0, w, o0, acc);
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) S::store(out + m * out_stride + v * W, acc[m][v]);
  }
}

// The tile's channels stored straight into the output channels from out, along `runs`: no tile
// buffer and no copy (which took a quarter of the 1->16 3x3 layer on 81 bins).
template <class S, int M, int V>
void flat_block_in_place(const FlatCorrelation& p, const float* src_n, int64_t g0, const float* w, int64_t o0,
                         float* out, const OutputRuns<S, V>& runs) {
  constexpr int W = S::kWidth;
  typename S::Vec acc[M][V];
  flat_accumulate<S, M, V, false>(p, src_n, g0, w, o0, acc);
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
    float* out_m = out + m * p.out_channel_stride;
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      if (runs.head[v] == W) {
        S::store(out_m + runs.first[v], acc[m][v]);
        continue;
      }
      if (runs.head[v] > 0) S::store_masked(out_m + runs.first[v], acc[m][v], S::range_mask(0, runs.head[v]));
      if (runs.skip[v] < W) S::store_masked(out_m + runs.next[v], acc[m][v], S::range_mask(runs.skip[v], W));
    }
  }
}

// Copies the tile's M channels of flat positions [g0, g0 + nt) to the output rows, dropping the
// positions past out_length in each row.
template <class S>
void store_flat_tile(const FlatCorrelation& p, const float* tile, int64_t tile_len, int64_t m, int64_t g0,
                     int64_t nt, float* out) {
  int64_t h = g0 / p.pitch, col = g0 % p.pitch;
  for (int64_t g = g0; g < g0 + nt;) {
    if (col >= p.out_length) {  // the dropped positions: skip to the next row
      g += p.pitch - col;
      col = 0;
      ++h;
      continue;
    }
    const int64_t len = p.out_length - col < g0 + nt - g ? p.out_length - col : g0 + nt - g;
    for (int64_t mm = 0; mm < m; ++mm) {
      copy_run<S>(out + mm * p.out_channel_stride + h * p.out_length + col, tile + mm * tile_len + (g - g0), len);
    }
    g += len;
    col += len;
  }
}

// The compact tile's accumulation: per (tap, channel), vector v reads its lanes from row h at
// r + base[v] and, past `split` lanes, from row h + 1 at r + base[v] + skip. Bounded: masked loads,
// which touch no value past the lanes'; else two plain loads and a blend (AVX2's masked loads,
// vmaskmovps, made the 20->20 1x10 layer on 26 bins slower than the flat tiles on an AVX2 EPYC).
template <class S, int M, int V, bool Bounded>
inline void compact_accumulate(const FlatCorrelation& p, const float* src_n, const int64_t (&base)[V],
                               const bool (&whole)[V], const typename S::Mask (&first)[V],
                               const typename S::Mask (&second)[V], const float* w, typename S::Vec (&acc)[M][V]) {
  using Vec = typename S::Vec;
  const int64_t skip = p.pitch - p.out_length;
  for (int64_t i = 0; i < p.num_taps; ++i) {
    const float* row = src_n + p.tap_offsets[i];
    for (int64_t c = 0; c < p.channels; ++c, w += M) {
      const float* r = row + c * p.channel_stride;
      Vec xv[V];
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) {
        if (whole[v]) {
          xv[v] = S::load(r + base[v]);
        } else if constexpr (Bounded) {
          xv[v] = S::load_masked_fill(r + base[v] + skip, second[v], S::load_masked(r + base[v], first[v]));
        } else {
          xv[v] = S::blend(S::load(r + base[v]), S::load(r + base[v] + skip), second[v]);
        }
      }
      rank1_update<S, M, V>(acc, xv, w);
    }
  }
}

// Output channels [o0, o0 + M) of the compact tile whose lane 0 is output position q0 (nt valid
// lanes), stored to out (the block's first channel, position 0).
template <class S, int M, int V>
void compact_block(const FlatCorrelation& p, const float* src_n, int64_t q0, int64_t nt, const float* w, int64_t o0,
                   float* out) {
  constexpr int W = S::kWidth;
  const int64_t skip = p.pitch - p.out_length;
  int64_t base[V];
  bool whole[V];
  typename S::Mask first[V], second[V];
  int64_t reach = 0;  // one past the last flat position a plain load of the tile reads (tap 0)
  for (int v = 0; v < V; ++v) {
    const int64_t q = q0 + v * W, h = q / p.out_length, col = q - h * p.out_length;
    const int64_t lanes = nt - v * W < 0 ? 0 : (nt - v * W > W ? W : nt - v * W);
    const int64_t split = p.out_length - col < lanes ? p.out_length - col : lanes;  // lanes from row h
    base[v] = h * p.pitch + col;
    whole[v] = split == W;
    first[v] = S::range_mask(0, static_cast<int>(split));
    second[v] = S::range_mask(static_cast<int>(split), static_cast<int>(lanes));
    reach = base[v] + (whole[v] ? 0 : skip) + W;
  }
  typename S::Vec acc[M][V];
  init_with_bias<S, M, V>(acc, p.bias, o0);
  if (reach + p.max_tap_offset > p.extent) {
    compact_accumulate<S, M, V, true>(p, src_n, base, whole, first, second, w, acc);
  } else {
    compact_accumulate<S, M, V, false>(p, src_n, base, whole, first, second, w, acc);
  }
  store_positions<S, M, V>(acc, out, p.out_channel_stride, nt);
}

template <class S, int MMax, int V>
struct FlatBlockTable {
  using Block = void (*)(const FlatCorrelation&, const float*, int64_t, const float*, int64_t, float*, int64_t);
  using InPlace = void (*)(const FlatCorrelation&, const float*, int64_t, const float*, int64_t, float*,
                           const OutputRuns<S, V>&);
  using Compact = void (*)(const FlatCorrelation&, const float*, int64_t, int64_t, const float*, int64_t, float*);
  Block free[MMax], bounded[MMax];
  InPlace in_place[MMax];
  Compact compact[MMax];
  template <int M>
  constexpr void fill() {
    free[M - 1] = &flat_block<S, M, V, false>;
    bounded[M - 1] = &flat_block<S, M, V, true>;
    in_place[M - 1] = &flat_block_in_place<S, M, V>;
    compact[M - 1] = &compact_block<S, M, V>;
    if constexpr (M < MMax) fill<M + 1>();
  }
  constexpr FlatBlockTable() : free{}, bounded{}, in_place{}, compact{} { fill<1>(); }
};

// kInPlace: tiles that cross a row end are stored with masked stores instead of through the tile
// buffer: 1->16 3x3 on 3002x81 1.15 -> 1.00 ms with AVX-512, about even with the portable
// variant, 1.64-1.66 -> 1.68-1.70 with AVX2 (vmaskmovps stores are slow on AMD), which keeps the
// buffer for them.
template <class S, int MMax, int V, bool kInPlace>
void conv_fwd_flat_simd(const FlatCorrelation& p, int64_t begin, int64_t end) {
  static constexpr FlatBlockTable<S, MMax, V> table{};
  constexpr int64_t tile_len = static_cast<int64_t>(V) * S::kWidth;
  alignas(64) float tile[MMax * tile_len];
  const int64_t positions = flat_positions(p);
  const int64_t tiles = (positions + tile_len - 1) / tile_len;
  const int64_t runs = (tiles + p.tiles_per_item - 1) / p.tiles_per_item;
  const int64_t q_count = p.num_taps * p.channels;
  const BalancedBlocks blocks(p.out_channels, MMax);
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / runs, first = (item % runs) * p.tiles_per_item;
    const int64_t last = tiles - first < p.tiles_per_item ? tiles : first + p.tiles_per_item;
    const float* src_n = p.src + n * p.batch_stride;
    float* out_n = p.out + n * p.out_batch_stride;
    for (int64_t t = first; t < last; ++t) {
      const int64_t g0 = t * tile_len;  // compact: output position q0
      const int64_t nt = positions - g0 < tile_len ? positions - g0 : tile_len;
      const bool bounded = !p.compact && g0 + tile_len + p.max_tap_offset > p.extent;
      // A whole tile within one row's outputs is stored in place, without the tile buffer's copy;
      // with kInPlace, one that crosses a row end too, where each vector meets at most one row end
      // (rows at least a tile long) and reaches no dropped position past it (outputs at least a
      // vector wide per row: else those lanes would land on a later row, which another thread's
      // tile may have written).
      const int64_t row = g0 / p.pitch, col = g0 % p.pitch;
      const bool direct = nt == tile_len && col + tile_len <= p.out_length;
      const bool in_place = kInPlace && !direct && nt == tile_len && !bounded && p.pitch >= tile_len &&
                            p.out_length >= S::kWidth;
      const OutputRuns<S, V> runs = in_place ? output_runs<S, V>(p, g0) : OutputRuns<S, V>{};
      // The hardware prefetcher loses some of the channels' streams (the tile's first block stalled
      // on its loads): fetch the lines the next tile adds (16->16 3x3 on 26 bins: 3% faster).
      const int64_t next_flat = p.compact ? (g0 + tile_len) / p.out_length * p.pitch + (g0 + tile_len) % p.out_length
                                          : g0 + tile_len;
      for (int64_t c = 0; c < p.channels; ++c) {
        const float* next = src_n + c * p.channel_stride + next_flat + p.max_tap_offset;
        for (int64_t k = 0; k < tile_len; k += 16) __builtin_prefetch(next + k);
      }
      // And the output lines it writes, for writing: the channels' store streams outran the
      // hardware prefetcher too, when the output was not in cache (1->16 3x3 on 3002x81 after
      // 96 MiB of other traffic, as in a network's pass: 1.66-1.82 -> 1.37-1.51 ms).
      if (!p.compact) {
        const int64_t next_out = (g0 + tile_len) / p.pitch * p.out_length + (g0 + tile_len) % p.pitch;
        if (next_out + tile_len <= p.out_rows * p.out_length) {
          for (int64_t o = 0; o < p.out_channels; ++o) {
            const float* at = out_n + o * p.out_channel_stride + next_out;
            for (int64_t k = 0; k < tile_len; k += 16) __builtin_prefetch(at + k, 1);
          }
        }
      }
      for (int64_t b = 0; b < blocks.count; ++b) {
        const int64_t o0 = blocks.begin(b), m = blocks.size(b);
        const float* w = p.packed_weight + o0 * q_count;
        float* out_b = out_n + o0 * p.out_channel_stride;
        const auto block = (bounded ? table.bounded : table.free)[m - 1];
        if (p.compact) {
          table.compact[m - 1](p, src_n, g0, nt, w, o0, out_b + g0);
        } else if (direct) {
          block(p, src_n, g0, w, o0, out_b + row * p.out_length + col, p.out_channel_stride);
        } else if (in_place) {
          table.in_place[m - 1](p, src_n, g0, w, o0, out_b, runs);
        } else {
          block(p, src_n, g0, w, o0, tile, tile_len);
          store_flat_tile<S>(p, tile, tile_len, m, g0, nt, out_b);
        }
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
