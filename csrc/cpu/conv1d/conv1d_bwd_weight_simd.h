// The weight-gradient kernel (see conv1d.h), written once against the SIMD vocabulary S and
// instantiated by conv1d_bwd_weight_<isa>.cpp:
//   grad W(o, c, i) = sum_n sum_t grad_out[n][o][t] * S(n, c, phase_i)[t + offset_i].
// Work item = one (block of M out-channels, in-channel c); each item owns its M x taps weights,
// so no two threads write the same element and the sums run in a fixed order.
//
// Micro-kernel: M x P vector accumulators (P taps of channel c) run over all batch items and
// frames, and are reduced across lanes once at the end. Per step of W frames it loads P source
// vectors and M gradient vectors for M*P FMAs. Steps where some tap reads padding are masked.
#pragma once

#include <cstdint>

#include "cpu/conv1d/conv1d.h"

namespace ictus::cpu {
namespace {

template <class S, int M, int P>
void wgrad_block(const CorrelateWeightGrad& p, int64_t o0, int64_t c, int64_t tap0) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const CorrelateSource& src = p.src;
  const CorrelateTap* taps = src.taps + tap0;
  const int64_t T = p.out_length;

  // Tap j reads real frames for t in [lo[j], hi[j]); all of them for t in [lo_all, hi_all).
  int64_t lo[P], hi[P];
  int64_t lo_any = T, hi_any = 0, lo_all = 0, hi_all = T;
  for (int j = 0; j < P; ++j) {
    const int64_t len = src.phase_length[taps[j].phase];
    lo[j] = taps[j].offset < 0 ? -taps[j].offset : 0;
    hi[j] = len - taps[j].offset < T ? len - taps[j].offset : T;
    if (hi[j] < lo[j]) hi[j] = lo[j];
    if (lo[j] < lo_any) lo_any = lo[j];
    if (hi[j] > hi_any) hi_any = hi[j];
    if (lo[j] > lo_all) lo_all = lo[j];
    if (hi[j] < hi_all) hi_all = hi[j];
  }

  Vec acc[M][P];
#pragma GCC unroll 8
  for (int m = 0; m < M; ++m) {
#pragma GCC unroll 8
    for (int j = 0; j < P; ++j) acc[m][j] = S::zero();
  }
  for (int64_t n = 0; n < p.batch; ++n) {
    const float* g = p.grad_out + n * p.grad_out_batch_stride + o0 * p.grad_out_channel_stride;
    const float* row[P];  // row[j][t] is the source frame that output frame t reads through tap j
    for (int j = 0; j < P; ++j) {
      row[j] = src.data + n * src.batch_stride + c * src.channel_stride + taps[j].phase * src.phase_stride +
               taps[j].offset;
    }
    for (int64_t t = lo_any; t < hi_any; t += W) {
      Vec xv[P];
      if (t >= lo_all && t + W <= hi_all) {
#pragma GCC unroll 8
        for (int j = 0; j < P; ++j) xv[j] = S::load(row[j] + t);
#pragma GCC unroll 8
        for (int m = 0; m < M; ++m) {
          const Vec gv = S::load(g + m * p.grad_out_channel_stride + t);
#pragma GCC unroll 8
          for (int j = 0; j < P; ++j) acc[m][j] = S::fma(gv, xv[j], acc[m][j]);
        }
      } else {
        for (int j = 0; j < P; ++j) {
          const int64_t l = lo[j] - t, h = hi[j] - t;
          xv[j] = S::load_masked(row[j] + t, S::range_mask(static_cast<int>(l < 0 ? 0 : (l > W ? W : l)),
                                                           static_cast<int>(h < 0 ? 0 : (h > W ? W : h))));
        }
        const typename S::Mask gmask = S::range_mask(0, static_cast<int>(T - t < W ? T - t : W));
        for (int m = 0; m < M; ++m) {
          const Vec gv = S::load_masked(g + m * p.grad_out_channel_stride + t, gmask);
          for (int j = 0; j < P; ++j) acc[m][j] = S::fma(gv, xv[j], acc[m][j]);
        }
      }
    }
  }
  for (int m = 0; m < M; ++m) {
    float* gw = p.grad_weight + (o0 + m) * p.weight_out_stride + c * p.weight_in_stride;
    for (int j = 0; j < P; ++j) gw[taps[j].weight_offset] = S::sum(acc[m][j]);
  }
}

template <class S, int MMax, int PMax>
struct WgradBlockTable {
  using Fn = void (*)(const CorrelateWeightGrad&, int64_t, int64_t, int64_t);
  Fn fn[MMax][PMax];
  template <int M, int P>
  constexpr void fill() {
    fn[M - 1][P - 1] = &wgrad_block<S, M, P>;
    if constexpr (P < PMax) fill<M, P + 1>();
    else if constexpr (M < MMax) fill<M + 1, 1>();
  }
  constexpr WgradBlockTable() : fn{} { fill<1, 1>(); }
};

template <class S, int MMax, int PMax>
void conv1d_bwd_weight_simd(const CorrelateWeightGrad& p, int64_t begin, int64_t end) {
  static constexpr WgradBlockTable<S, MMax, PMax> table{};
  const BalancedBlocks blocks(p.out_channels, MMax);
  const BalancedBlocks tap_blocks(p.src.num_taps, PMax);
  for (int64_t item = begin; item < end; ++item) {
    const int64_t b = item / p.src.channels, c = item % p.src.channels;
    for (int64_t tb = 0; tb < tap_blocks.count; ++tb) {
      table.fn[blocks.size(b) - 1][tap_blocks.size(tb) - 1](p, blocks.begin(b), c, tap_blocks.begin(tb));
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
