// The forward correlation kernel (see conv1d.h), written once against the SIMD vocabulary S and
// instantiated by conv1d_fwd_<isa>.cpp. Work item = one (batch n, run of tiles of V*W output
// frames); for each block of M output channels it sweeps the run's tiles, so the block's weights
// stay in L1 and the run's input frames in L2 (the driver sizes the run; one tile when all the
// weights fit in L1 anyway).
//
// Micro-kernel: M x V vector accumulators; per (tap, in-channel) it loads V vectors of input
// frames and broadcasts M weights: M*V FMAs per M+V loads (AVX-512: 6x4 = 24 accumulators,
// enough to hide the 4-cycle FMA latency on 2 ports). Taps whose frames fall partly into the
// padding use masked loads (mask computed once per tap, shared by all channels); taps that read
// only padding for the whole tile are skipped.
#pragma once

#include <cstdint>

#include "cpu/conv1d/conv1d.h"

namespace ictus::cpu {
namespace {

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

// Output channels [o0, o0 + M) x frames [t0, t0 + nt) of batch item n; nt <= V * W.
template <class S, int M, int V>
void fwd_block(const CorrelateForward& p, int64_t n, int64_t o0, int64_t t0, int64_t nt) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  Vec acc[M][V];
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
    const Vec b = p.bias ? S::broadcast(p.bias[o0 + m]) : S::zero();
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) acc[m][v] = b;
  }
  const CorrelateSource& src = p.src;
  const float* src_n = src.data + n * src.batch_stride;
  const float* w_o = p.weight + o0 * p.weight_out_stride;
  for (int64_t i = 0; i < src.num_taps; ++i) {
    const CorrelateTap tap = src.taps[i];
    const int64_t first = t0 + tap.offset;  // source frame under lane 0 of vector 0
    // Lanes [lo, hi) of the tile read real frames; the rest read the zero padding.
    const int64_t lo = first < 0 ? -first : 0;
    const int64_t hi = src.phase_length[tap.phase] - first;
    if (hi <= 0 || lo >= V * W) continue;
    const float* row = src_n + tap.phase * src.phase_stride + first;
    const float* w = w_o + tap.weight_offset;
    if (lo == 0 && hi >= V * W) {
      fwd_accumulate_tap<S, M, V>(acc, row, src.channel_stride, w, p.weight_out_stride, p.weight_in_stride,
                                  src.channels, [](const float* q, int) { return S::load(q); });
    } else {
      typename S::Mask mask[V];
      for (int v = 0; v < V; ++v) {
        const int64_t l = lo - v * W, h = hi - v * W;
        mask[v] = S::range_mask(static_cast<int>(l < 0 ? 0 : (l > W ? W : l)),
                                static_cast<int>(h < 0 ? 0 : (h > W ? W : h)));
      }
      fwd_accumulate_tap<S, M, V>(acc, row, src.channel_stride, w, p.weight_out_stride, p.weight_in_stride,
                                  src.channels, [&mask](const float* q, int v) { return S::load_masked(q, mask[v]); });
    }
  }
  float* out = p.out + n * p.out_batch_stride + o0 * p.out_channel_stride + t0;
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      const int64_t left = nt - v * W;
      if (left >= W) {
        S::store(out + m * p.out_channel_stride + v * W, acc[m][v]);
      } else if (left > 0) {
        S::store_masked(out + m * p.out_channel_stride + v * W, acc[m][v], S::range_mask(0, static_cast<int>(left)));
      }
    }
  }
}

template <class S, int MMax, int VMax>
struct FwdBlockTable {
  using Fn = void (*)(const CorrelateForward&, int64_t, int64_t, int64_t, int64_t);
  Fn fn[MMax][VMax];
  template <int M, int V>
  constexpr void fill() {
    fn[M - 1][V - 1] = &fwd_block<S, M, V>;
    if constexpr (V < VMax) fill<M, V + 1>();
    else if constexpr (M < MMax) fill<M + 1, 1>();
  }
  constexpr FwdBlockTable() : fn{} { fill<1, 1>(); }
};

template <class S, int MMax, int VMax>
void conv1d_fwd_simd(const CorrelateForward& p, int64_t begin, int64_t end) {
  static constexpr FwdBlockTable<S, MMax, VMax> table{};
  constexpr int64_t tile = static_cast<int64_t>(VMax) * S::kWidth;
  const int64_t tiles = (p.out_length + tile - 1) / tile;
  const BalancedBlocks blocks(p.out_channels, MMax);
  const int64_t runs = (tiles + p.tiles_per_item - 1) / p.tiles_per_item;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t n = item / runs, first = (item % runs) * p.tiles_per_item;
    const int64_t last = tiles - first < p.tiles_per_item ? tiles : first + p.tiles_per_item;
    for (int64_t b = 0; b < blocks.count; ++b) {
      for (int64_t t = first; t < last; ++t) {
        const int64_t t0 = t * tile;
        const int64_t nt = p.out_length - t0 < tile ? p.out_length - t0 : tile;
        const int64_t vectors = (nt + S::kWidth - 1) / S::kWidth;
        table.fn[blocks.size(b) - 1][vectors - 1](p, n, blocks.begin(b), t0, nt);
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
