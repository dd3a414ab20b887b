// The weight-gradient kernel (see conv.h), written once against the SIMD vocabulary S and
// instantiated by conv_bwd_weight_<isa>.cpp. It is a GEMM whose reduction runs over output
// positions f = h * out_length + t:
//   grad_weight_t[i][c][o] = sum_n sum_f grad_y[n][o][f] * S(n, c, h*row_step + row_offset_i, phase_i)[t + offset_i]
// vectorised over output channels o, so no lane reductions are needed, and all channels of a
// block share one tap, so they read real values over the same positions: no masks, and positions
// that only meet padding are skipped (large dilations).
//
// Work item = (block of OV*W out-channels, tap i, block of P in-channels); each item owns its
// OV x P accumulators' weights, so no two threads write one element and the sums run in a fixed
// order (n, then f). Positions go in chunks of p.chunk: each thread transposes the chunk of
// grad_y rows its items need into small panels, [position][lane] per block of output channels,
// that stay in cache while its items sweep them (transposing all of grad_y up front cost a
// quarter of the time in memory traffic); accumulators are saved in grad_weight_t between chunks.
// Per position: OV vector loads + P broadcasts for OV*P FMAs.
#pragma once

#include <cstdint>

#include "common/scratch.h"
#include "cpu/conv/conv.h"

namespace ictus::cpu {
namespace {

// Positions [f_begin, f_end) of batch item n; g is the chunk's transposed grad_y for this block of
// output channels: OV * W lanes per position, position f_begin first.
template <class S, int OV, int P>
void wgrad_block(const CorrelateWeightGrad& p, const float* g, int64_t n, int64_t f_begin, int64_t f_end, int64_t o0,
                 int64_t tap, int64_t c0, bool first) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  constexpr int64_t kLanes = OV * W;
  const CorrelateSource& src = p.src;
  const CorrelateTap tp = src.taps[tap];
  float* gw = p.grad_weight_t + (tap * src.channels + c0) * p.out_padded + o0;
  Vec acc[P][OV];
#pragma GCC unroll 8
  for (int j = 0; j < P; ++j) {
#pragma GCC unroll 8
    for (int v = 0; v < OV; ++v) acc[j][v] = first ? S::zero() : S::load(gw + j * p.out_padded + v * W);
  }
  // Along a row, positions t whose source value t + offset is real.
  const int64_t L = p.out_length, len = src.phase_length[tp.phase];
  const int64_t t_lo = -tp.offset > 0 ? -tp.offset : 0;
  const int64_t t_hi = len - tp.offset < L ? len - tp.offset : L;
  const float* src_n = src.data + n * src.batch_stride + c0 * src.channel_stride + tp.phase * src.phase_stride;
  const auto accumulate = [&](const float* gp, const float* x) {
    Vec gv[OV];
#pragma GCC unroll 8
    for (int v = 0; v < OV; ++v) gv[v] = S::load(gp + v * W);
#pragma GCC unroll 8
    for (int j = 0; j < P; ++j) {
      const Vec xb = S::broadcast(x[j * src.channel_stride]);
#pragma GCC unroll 8
      for (int v = 0; v < OV; ++v) acc[j][v] = S::fma(gv[v], xb, acc[j][v]);
    }
  };
  if (L == 1) {
    // One position per row (a kernel as wide as its input, the front end's 1x8 over 8 bins): the
    // positions run down the rows, with no row loop around each (16->16 1x8 on 2998x8, AVX-512
    // 0.22 -> 0.17 ms, AVX2 0.28 -> 0.18).
    const float* x0 = src_n + tp.offset;
    for (int64_t h = t_lo == 0 && t_hi == 1 ? f_begin : f_end; h < f_end; ++h) {
      const int64_t r = h * p.row_step + tp.row_offset;
      if (r >= 0 && r < src.rows) accumulate(g + (h - f_begin) * kLanes, x0 + r * src.row_stride);
    }
  } else {
    for (int64_t h = f_begin / L; h * L < f_end; ++h) {
      const int64_t r = h * p.row_step + tp.row_offset;
      if (r < 0 || r >= src.rows) continue;
      const int64_t lo = f_begin - h * L > t_lo ? f_begin - h * L : t_lo;
      const int64_t hi = f_end - h * L < t_hi ? f_end - h * L : t_hi;
      const float* x = src_n + r * src.row_stride + tp.offset;
      const float* gh = g + (h * L - f_begin) * kLanes;  // gh[t * kLanes] is position (h, t)
      for (int64_t t = lo; t < hi; ++t) accumulate(gh + t * kLanes, x + t);
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

// g[(f - f0) * (o_hi - o_lo) + o - o_lo] = rows[o * row_stride + f] for o in [o_lo, o_real), zero
// for o in [o_real, o_hi): 8 x 8 blocks through S::transpose8, edges one by one.
template <class S>
void transpose_chunk(const float* rows, int64_t row_stride, int64_t o_lo, int64_t o_real, int64_t o_hi, int64_t f0,
                     int64_t f1, float* g) {
  const int64_t g_stride = o_hi - o_lo;
  g -= o_lo;
  const int64_t o8 = o_lo + (o_real - o_lo) / 8 * 8, f8 = f0 + (f1 - f0) / 8 * 8;
  for (int64_t o = o_lo; o < o8; o += 8) {
    for (int64_t f = f0; f < f8; f += 8) {
      S::transpose8(rows + o * row_stride + f, row_stride, g + (f - f0) * g_stride + o, g_stride);
    }
    for (int64_t oo = o; oo < o + 8; ++oo) {
      for (int64_t f = f8; f < f1; ++f) g[(f - f0) * g_stride + oo] = rows[oo * row_stride + f];
    }
  }
  for (int64_t o = o8; o < o_real; ++o) {
    for (int64_t f = f0; f < f1; ++f) g[(f - f0) * g_stride + o] = rows[o * row_stride + f];
  }
  for (int64_t f = f0; f < f1; ++f) {
    for (int64_t o = o_real; o < o_hi; ++o) g[(f - f0) * g_stride + o] = 0.0f;
  }
}

// Items are numbered (out-block, tap, in-block) with the in-block fastest.
template <class S, int OVMax, int PMax>
void conv_bwd_weight_simd(const CorrelateWeightGrad& p, int64_t begin, int64_t end) {
  static constexpr WgradBlockTable<S, OVMax, PMax> table{};
  constexpr int W = S::kWidth;
  const BalancedBlocks out_blocks(p.out_padded / W, OVMax);
  const BalancedBlocks in_blocks(p.src.channels, PMax);
  const int64_t per_out_block = p.src.num_taps * in_blocks.count;
  const int64_t positions = p.out_rows * p.out_length;
  // Per chunk, the thread transposes the grad_y rows of the output blocks its items use, each
  // block to its own [position][lane] panel at g + lane_begin * chunk.
  const int64_t ob_first = begin / per_out_block, ob_last = (end - 1) / per_out_block;
  float* g = scratch_floats(ScratchSlot::kGradOutT, static_cast<size_t>(p.chunk * p.out_padded));
  for (int64_t n = 0; n < p.batch; ++n) {
    for (int64_t f0 = 0; f0 < positions; f0 += p.chunk) {
      const int64_t f1 = positions - f0 < p.chunk ? positions : f0 + p.chunk;
      for (int64_t ob = ob_first; ob <= ob_last; ++ob) {
        const int64_t lo = out_blocks.begin(ob) * W, hi = lo + out_blocks.size(ob) * W;
        transpose_chunk<S>(p.grad_out + n * p.grad_out_batch_stride, p.grad_out_channel_stride, lo,
                           hi < p.out_channels ? hi : p.out_channels, hi, f0, f1, g + lo * p.chunk);
      }
      const bool first = n == 0 && f0 == 0;
      for (int64_t item = begin; item < end; ++item) {
        const int64_t ob = item / per_out_block, tap = (item / in_blocks.count) % p.src.num_taps;
        const int64_t ib = item % in_blocks.count;
        const int64_t lo = out_blocks.begin(ob) * W;
        table.fn[out_blocks.size(ob) - 1][in_blocks.size(ib) - 1](p, g + lo * p.chunk, n, f0, f1, lo, tap,
                                                                  in_blocks.begin(ib), first);
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
