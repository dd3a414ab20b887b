// The weight-gradient kernel (see conv1d.h), written once against the SIMD vocabulary S and
// instantiated by conv1d_bwd_weight_<isa>.cpp. It is a GEMM whose reduction runs over frames:
//   grad_weight_t[i][c][o] = sum_n sum_t grad_y[n][o][t] * S(n, c, phase_i)[t + offset_i]
// vectorised over output channels o, so no lane reductions are needed, and all channels of a
// block share one tap, so they read real frames over the same range of t: no masks, and frames
// that only meet padding are skipped (large dilations).
//
// Work item = (block of OV*W out-channels, tap i, block of P in-channels); each item owns its
// OV x P accumulators' weights, so no two threads write one element and the sums run in a fixed
// order (n, then t). Frames go in chunks of p.chunk: each thread transposes the chunk of grad_y
// rows its items need into small panels, [frame][lane] per block of output channels, that stay in
// cache while its items sweep them (transposing all of grad_y up front cost a quarter of the
// time in memory traffic); accumulators are saved in grad_weight_t between chunks.
// Per frame: OV vector loads + P broadcasts for OV*P FMAs.
#pragma once

#include <cstdint>

#include "common/scratch.h"
#include "cpu/conv1d/conv1d.h"

namespace ictus::cpu {
namespace {

// Frames [t_begin, t_end) of batch item n; g is the chunk's transposed grad_y for this block of
// output channels: OV * W lanes per frame, frame t_begin first.
template <class S, int OV, int P>
void wgrad_block(const CorrelateWeightGrad& p, const float* g, int64_t n, int64_t t_begin, int64_t t_end, int64_t o0,
                 int64_t tap, int64_t c0, bool first) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const CorrelateSource& src = p.src;
  const CorrelateTap tp = src.taps[tap];
  float* gw = p.grad_weight_t + (tap * src.channels + c0) * p.out_padded + o0;
  Vec acc[P][OV];
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) {
#pragma GCC unroll 8
    for (int v = 0; v < OV; ++v) acc[j][v] = first ? S::zero() : S::load(gw + j * p.out_padded + v * W);
  }
  // Frames t whose source frame t + offset is real, within this chunk.
  const int64_t len = src.phase_length[tp.phase];
  const int64_t lo = t_begin > -tp.offset ? t_begin : -tp.offset;
  const int64_t hi = t_end < len - tp.offset ? t_end : len - tp.offset;
  constexpr int64_t kLanes = OV * W;
  g -= t_begin * kLanes;  // g[t * kLanes] is frame t's row
  const float* x = src.data + n * src.batch_stride + c0 * src.channel_stride + tp.phase * src.phase_stride + tp.offset;
  for (int64_t t = lo; t < hi; ++t) {
    Vec gv[OV];
#pragma GCC unroll 8
    for (int v = 0; v < OV; ++v) gv[v] = S::load(g + t * kLanes + v * W);
#pragma GCC unroll 8
    for (int j = 0; j < P; ++j) {
      const Vec xb = S::broadcast(x[j * src.channel_stride + t]);
#pragma GCC unroll 8
      for (int v = 0; v < OV; ++v) acc[j][v] = S::fma(gv[v], xb, acc[j][v]);
    }
  }
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) {
#pragma GCC unroll 8
    for (int v = 0; v < OV; ++v) S::store(gw + j * p.out_padded + v * W, acc[j][v]);
  }
}

template <class S, int OVMax, int PMax>
struct WgradBlockTable {
  using Fn = void (*)(const CorrelateWeightGrad&, const float*, int64_t, int64_t, int64_t, int64_t, int64_t, int64_t,
                      bool);
  Fn fn[OVMax][PMax];
  template <int OV, int P>
  constexpr void fill() {
    fn[OV - 1][P - 1] = &wgrad_block<S, OV, P>;
    if constexpr (P < PMax) fill<OV, P + 1>();
    else if constexpr (OV < OVMax) fill<OV + 1, 1>();
  }
  constexpr WgradBlockTable() : fn{} { fill<1, 1>(); }
};

// g[(t - t0) * (o_hi - o_lo) + o - o_lo] = rows[o * row_stride + t] for o in [o_lo, o_real), zero
// for o in [o_real, o_hi): 8 x 8 blocks through S::transpose8, edges one by one.
template <class S>
void transpose_chunk(const float* rows, int64_t row_stride, int64_t o_lo, int64_t o_real, int64_t o_hi, int64_t t0,
                     int64_t t1, float* g) {
  const int64_t g_stride = o_hi - o_lo;
  g -= o_lo;
  const int64_t o8 = o_lo + (o_real - o_lo) / 8 * 8, t8 = t0 + (t1 - t0) / 8 * 8;
  for (int64_t o = o_lo; o < o8; o += 8) {
    for (int64_t t = t0; t < t8; t += 8) {
      S::transpose8(rows + o * row_stride + t, row_stride, g + (t - t0) * g_stride + o, g_stride);
    }
    for (int64_t oo = o; oo < o + 8; ++oo) {
      for (int64_t t = t8; t < t1; ++t) g[(t - t0) * g_stride + oo] = rows[oo * row_stride + t];
    }
  }
  for (int64_t o = o8; o < o_real; ++o) {
    for (int64_t t = t0; t < t1; ++t) g[(t - t0) * g_stride + o] = rows[o * row_stride + t];
  }
  for (int64_t t = t0; t < t1; ++t) {
    for (int64_t o = o_real; o < o_hi; ++o) g[(t - t0) * g_stride + o] = 0.0f;
  }
}

// Items are numbered (out-block, tap, in-block) with the in-block fastest.
template <class S, int OVMax, int PMax>
void conv1d_bwd_weight_simd(const CorrelateWeightGrad& p, int64_t begin, int64_t end) {
  static constexpr WgradBlockTable<S, OVMax, PMax> table{};
  constexpr int W = S::kWidth;
  const BalancedBlocks out_blocks(p.out_padded / W, OVMax);
  const BalancedBlocks in_blocks(p.src.channels, PMax);
  const int64_t per_out_block = p.src.num_taps * in_blocks.count;
  // Per chunk, the thread transposes the grad_y rows of the output blocks its items use, each
  // block to its own [frame][lane] panel at g + lane_begin * chunk (frames of one block adjacent).
  const int64_t ob_first = begin / per_out_block, ob_last = (end - 1) / per_out_block;
  float* g = scratch_floats(ScratchSlot::kGradOutT, static_cast<size_t>(p.chunk * p.out_padded));
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t t0 = 0; t0 < p.out_length; t0 += p.chunk) {
      const int64_t t1 = p.out_length - t0 < p.chunk ? p.out_length : t0 + p.chunk;
      for (int64_t ob = ob_first; ob <= ob_last; ++ob) {
        const int64_t lo = out_blocks.begin(ob) * W, hi = lo + out_blocks.size(ob) * W;
        transpose_chunk<S>(p.grad_out + n * p.grad_out_batch_stride, p.grad_out_channel_stride, lo,
                           hi < p.out_channels ? hi : p.out_channels, hi, t0, t1, g + lo * p.chunk);
      }
      const bool first = n == 0 && t0 == 0;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t ob = item / per_out_block, tap = (item / in_blocks.count) % p.src.num_taps;
        const int64_t ib = item % in_blocks.count;
        const int64_t lo = out_blocks.begin(ob) * W;
        table.fn[out_blocks.size(ob) - 1][in_blocks.size(ib) - 1](p, g + lo * p.chunk, n, t0, t1, lo, tap,
                                                                  in_blocks.begin(ib), first);
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
