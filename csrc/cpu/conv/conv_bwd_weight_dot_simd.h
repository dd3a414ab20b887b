// The weight-gradient kernel for layers with few input channels (a network's first layer: one
// spectrogram channel), written once against the SIMD vocabulary S and instantiated by
// conv_bwd_weight_dot_<isa>.cpp. The GEMM of conv_bwd_weight_simd.h vectorises over output
// channels and keeps P input channels per tap in registers; with one input channel that is
// OV x 1 accumulators, too few to hide the FMA latency (12 GFLOP/s on the 1->16 3x3 layer).
// Here the vectors run along the output positions of a row instead: a register tile holds
// kDotOuts output channels x Q (tap, channel) pairs; per W positions it loads kDotOuts vectors of
// grad_y and Q of the source for kDotOuts * Q FMAs (Q up to 3 on AVX2; 9 with AVX-512's 32
// registers: the 1->16 3x3 layer on 3002x81 2.35 -> 2.05 ms on the Zen 4 guest). A work item owns
// a block of output channels and all pairs: it walks the rows in chunks of kDotRows, running every
// pair block over a chunk while its grad_y rows are in cache (one pass over grad_y from memory;
// an item per pair block streamed it once per block, and the layer is memory-bound), keeping the
// accumulators in memory between chunks; the lanes are summed at the end. The bias gradient of
// the block's channels is summed from the same cached rows (a second pass over grad_y from memory
// cost as much as the weights). A 3x3 grid of taps on one channel (with AVX-512's registers) runs
// the part of each chunk where every tap reads real values through wgrad_grid3x3_block. Each
// item owns its weights and sums in a fixed order: deterministic.
#pragma once

#include <algorithm>
#include <cstdint>

#include "common/scratch.h"
#include "cpu/conv/conv.h"

namespace ictus::cpu {
namespace {

constexpr int64_t kDotRows = 16;

// Where a tap reads real values: positions [lo, hi) of the output rows [row_begin, row_end).
struct TapInterior {
  int64_t lo, hi, row_begin, row_end;
};

inline TapInterior tap_interior(const CorrelateWeightGrad& p, const CorrelateTap& tap) {
  // 0 <= h * row_step + row_offset < rows
  return {tap.offset < 0 ? -tap.offset : 0, std::min(p.out_length, p.src.phase_length[tap.phase] - tap.offset),
          ceil_div(-tap.row_offset, p.row_step), floor_div(p.src.rows - 1 - tap.row_offset, p.row_step) + 1};
}

// Vectors [t_begin, t_end) of rows [h_begin, h_end): the part of a chunk that the 3x3 grid kernel
// runs (a masked last vector included), which the generic block then skips.
struct DotSpan {
  int64_t h_begin = 0, h_end = 0, t_begin = 0, t_end = 0;
};

// Accumulates rows [h_begin, h_end) of batch item n into acc_mem (O x Q vectors, W floats each),
// but for the vectors in `skip`.
template <class S, int O, int Q>
void wgrad_dot_block(const CorrelateWeightGrad& p, int64_t o0, int64_t q0, int64_t n, int64_t h_begin, int64_t h_end,
                     const DotSpan& skip, float* acc_mem) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const CorrelateSource& src = p.src;
  Vec acc[O][Q];
  for (int o = 0; o < O; ++o) {
    for (int q = 0; q < Q; ++q) acc[o][q] = S::load(acc_mem + (o * Q + q) * W);
  }
  const int64_t L = p.out_length;
  const float* src_n = src.data + n * src.batch_stride;
  // Each pair's tap and the source of its channel (a division per pair, not per row).
  CorrelateTap taps[Q];
  const float* channel[Q];
  for (int q = 0; q < Q; ++q) {
    const int64_t pair = q0 + q;
    taps[q] = src.taps[pair / src.channels];
    channel[q] = src_n + (pair % src.channels) * src.channel_stride + taps[q].phase * src.phase_stride + taps[q].offset;
  }
  // Per pair, the positions [lo, hi) that read real values in a row whose taps all read source
  // rows, and the rows [inner_begin, inner_end) that are such: worked out once, not per row (the
  // per-row version cost the 1->16 3x3 layer on 3002x81 as much as a third of its FMAs).
  int64_t inner_lo[Q], inner_hi[Q], inner_lo_max = 0, inner_hi_min = L, inner_begin = h_begin, inner_end = h_end;
  for (int q = 0; q < Q; ++q) {
    const TapInterior in = tap_interior(p, taps[q]);
    inner_lo[q] = in.lo;
    inner_hi[q] = in.hi;
    inner_lo_max = std::max(inner_lo_max, in.lo);
    inner_hi_min = std::min(inner_hi_min, in.hi);
    inner_begin = std::max(inner_begin, in.row_begin);
    inner_end = std::min(inner_end, in.row_end);
  }
  for (int64_t h = h_begin; h < h_end; ++h) {
    const float* gy[O];
    for (int o = 0; o < O; ++o) gy[o] = p.grad_out + n * p.grad_out_batch_stride + (o0 + o) * p.grad_out_channel_stride + h * L;
    // Per pair: the source under position 0 and the positions [lo, hi) that read real values.
    const float* xs[Q];
    int64_t edge_lo[Q], edge_hi[Q], lo_max = inner_lo_max, hi_min = inner_hi_min;
    const int64_t* lo = inner_lo;
    const int64_t* hi = inner_hi;
    if (h >= inner_begin && h < inner_end) {
      for (int q = 0; q < Q; ++q) xs[q] = channel[q] + (h * p.row_step + taps[q].row_offset) * src.row_stride;
    } else {
      lo_max = 0;
      hi_min = L;
      for (int q = 0; q < Q; ++q) {
        const CorrelateTap& tap = taps[q];
        const int64_t r = h * p.row_step + tap.row_offset;
        const bool row_ok = r >= 0 && r < src.rows;
        edge_lo[q] = row_ok ? inner_lo[q] : L;
        edge_hi[q] = row_ok ? inner_hi[q] : 0;
        xs[q] = channel[q] + (row_ok ? r : 0) * src.row_stride;
        lo_max = std::max(lo_max, edge_lo[q]);
        hi_min = std::min(hi_min, edge_hi[q]);
      }
      lo = edge_lo;
      hi = edge_hi;
    }
    const bool skipping = h >= skip.h_begin && h < skip.h_end;
    // The source vectors stream through one register each (O x Q accumulators + O of grad_y + 1).
    for (int64_t t = 0; t < L; t += W) {
      if (skipping && t == skip.t_begin) {
        t = skip.t_end - W;
        continue;
      }
      Vec g[O];
      if (t >= lo_max && t + W <= hi_min) {  // the interior: plain loads
        for (int o = 0; o < O; ++o) g[o] = S::load(gy[o] + t);
        for (int q = 0; q < Q; ++q) {
          const Vec x = S::load(xs[q] + t);
          for (int o = 0; o < O; ++o) acc[o][q] = S::fma(g[o], x, acc[o][q]);
        }
      } else if (t >= lo_max && L <= hi_min) {
        // The row's last vector, every lane real for every pair: one mask (a mask per pair cost the
        // 1->16 3x3 layer on 3002x81 1.83 vs 1.41 ms without bias on the Zen 4 guest).
        const auto end = S::range_mask(0, static_cast<int>(L - t));
        for (int o = 0; o < O; ++o) g[o] = S::load_masked(gy[o] + t, end);
        for (int q = 0; q < Q; ++q) {
          const Vec x = S::load_masked(xs[q] + t, end);
          for (int o = 0; o < O; ++o) acc[o][q] = S::fma(g[o], x, acc[o][q]);
        }
      } else {
        const int64_t end = L - t < W ? L - t : W;
        for (int o = 0; o < O; ++o) g[o] = S::load_masked(gy[o] + t, S::range_mask(0, static_cast<int>(end)));
        for (int q = 0; q < Q; ++q) {
          const int64_t a = lo[q] - t, b = (hi[q] < t + end ? hi[q] : t + end) - t;
          const int la = static_cast<int>(a < 0 ? 0 : (a > W ? W : a)), lb = static_cast<int>(b < 0 ? 0 : (b > W ? W : b));
          const Vec x = la < lb ? S::load_masked(xs[q] + t, S::range_mask(la, lb)) : S::zero();
          for (int o = 0; o < O; ++o) acc[o][q] = S::fma(g[o], x, acc[o][q]);
        }
      }
    }
  }
  for (int o = 0; o < O; ++o) {
    for (int q = 0; q < Q; ++q) S::store(acc_mem + (o * Q + q) * W, acc[o][q]);
  }
}

// Whether the taps are a 3x3 grid on one channel with neighbouring columns (stride_w and
// dilation_w 1): grid row i, column j at taps[3i + j], all on phase 0.
inline bool grid3x3_taps(const CorrelateSource& src) {
  if (src.channels != 1 || src.num_taps != 9) return false;
  const CorrelateTap* t = src.taps;
  for (int q = 0; q < 9; ++q) {
    if (t[q].phase != 0 || t[q].offset != t[0].offset + q % 3 ||
        t[q].row_offset != t[0].row_offset + q / 3 * (t[3].row_offset - t[0].row_offset)) {
      return false;
    }
  }
  return true;
}

// The part of rows [h_begin, h_end) where every tap of a 3x3 grid reads real values, in whole
// vectors from a multiple of W, with the row's masked last vector when it is such; empty if none.
template <class S>
DotSpan grid3x3_span(const CorrelateWeightGrad& p, int64_t h_begin, int64_t h_end) {
  constexpr int W = S::kWidth;
  int64_t lo = 0, hi = p.out_length;
  DotSpan span{h_begin, h_end, 0, 0};
  for (int q = 0; q < 9; ++q) {
    const TapInterior in = tap_interior(p, p.src.taps[q]);
    lo = std::max(lo, in.lo);
    hi = std::min(hi, in.hi);
    span.h_begin = std::max(span.h_begin, in.row_begin);
    span.h_end = std::min(span.h_end, in.row_end);
  }
  span.t_begin = ceil_div(lo, W) * W;
  span.t_end = hi == p.out_length ? p.out_length : span.t_begin + std::max<int64_t>(0, (hi - span.t_begin) / W) * W;
  if (span.t_end <= span.t_begin || span.h_end <= span.h_begin) return {};
  return span;
}

// wgrad_dot_block's inner loop for a 3x3 grid (the first layer of a spectrogram CNN) on `span`:
// the 9 source vectors are 3 row pointers at column offsets 0, 1, 2, where the generic block keeps
// 9 pointers and runs out of registers (the 1->16 3x3 layer on 3002x81, weights and bias: 1.43-1.44
// -> 0.83 ms on the Zen 4 guest).
template <class S, int O>
void wgrad_grid3x3_block(const CorrelateWeightGrad& p, int64_t o0, int64_t n, const DotSpan& span, float* acc_mem) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  constexpr int Q = 9;
  Vec acc[O][Q];
  for (int o = 0; o < O; ++o) {
    for (int q = 0; q < Q; ++q) acc[o][q] = S::load(acc_mem + (o * Q + q) * W);
  }
  const CorrelateSource& src = p.src;
  const CorrelateTap& first = src.taps[0];
  const int64_t L = p.out_length, tap_rows = (src.taps[3].row_offset - first.row_offset) * src.row_stride;
  const float* x_n = src.data + n * src.batch_stride + first.offset;
  const float* gy_n = p.grad_out + n * p.grad_out_batch_stride + o0 * p.grad_out_channel_stride;
  const int64_t full_end = span.t_end - (span.t_end - span.t_begin) % W;
  const auto add = [&](const float* gy, const float* x, auto load) {
    Vec g[O];
    for (int o = 0; o < O; ++o) g[o] = load(gy + o * p.grad_out_channel_stride);
    for (int i = 0; i < 3; ++i) {
      for (int j = 0; j < 3; ++j) {
        const Vec v = load(x + i * tap_rows + j);
        for (int o = 0; o < O; ++o) acc[o][3 * i + j] = S::fma(g[o], v, acc[o][3 * i + j]);
      }
    }
  };
  const auto end = S::range_mask(0, static_cast<int>(span.t_end - full_end));
  for (int64_t h = span.h_begin; h < span.h_end; ++h) {
    const float* gy = gy_n + h * L;
    const float* x = x_n + (h * p.row_step + first.row_offset) * src.row_stride;
    for (int64_t t = span.t_begin; t < full_end; t += W) {
      add(gy + t, x + t, [](const float* a) { return S::load_once(a); });
    }
    if (full_end < span.t_end) add(gy + full_end, x + full_end, [&](const float* a) { return S::load_masked(a, end); });
  }
  for (int o = 0; o < O; ++o) {
    for (int q = 0; q < Q; ++q) S::store(acc_mem + (o * Q + q) * W, acc[o][q]);
  }
}

template <class S, int QMax>
struct WgradDotTable {
  using Block = void (*)(const CorrelateWeightGrad&, int64_t, int64_t, int64_t, int64_t, int64_t, const DotSpan&,
                         float*);
  using GridBlock = void (*)(const CorrelateWeightGrad&, int64_t, int64_t, const DotSpan&, float*);
  Block block[kDotOuts][QMax];
  GridBlock grid[kDotOuts];
  template <int O, int Q>
  constexpr void fill() {
    block[O - 1][Q - 1] = &wgrad_dot_block<S, O, Q>;
    if constexpr (Q == 1) grid[O - 1] = &wgrad_grid3x3_block<S, O>;
    if constexpr (Q < QMax) fill<O, Q + 1>();
    else if constexpr (O < kDotOuts) fill<O + 1, 1>();
  }
  constexpr WgradDotTable() : block{}, grid{} { fill<1, 1>(); }
};

// Adds the sum of grad_y's rows [h_begin, h_end) of channel o, item n, to *total: the rows are
// contiguous, summed as one span in four vector accumulators, then in double (a horizontal sum per
// row cost the 1->16 3x3 layer's bias gradient 0.30 ms on 3002x81).
template <class S>
void add_row_sums(const CorrelateWeightGrad& p, int64_t o, int64_t n, int64_t h_begin, int64_t h_end, double* total) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  const float* g = p.grad_out + n * p.grad_out_batch_stride + o * p.grad_out_channel_stride + h_begin * p.out_length;
  const int64_t count = (h_end - h_begin) * p.out_length;
  Vec acc[4] = {S::zero(), S::zero(), S::zero(), S::zero()};
  int64_t i = 0;
  for (; i + 4 * W <= count; i += 4 * W) {
    for (int k = 0; k < 4; ++k) acc[k] = S::add(acc[k], S::load(g + i + k * W));
  }
  for (; i + W <= count; i += W) acc[0] = S::add(acc[0], S::load(g + i));
  if (i < count) acc[1] = S::add(acc[1], S::load_masked(g + i, S::range_mask(0, static_cast<int>(count - i))));
  *total += S::sum(S::add(S::add(acc[0], acc[1]), S::add(acc[2], acc[3])));
}

// Work items [begin, end): blocks of kDotOuts output channels. QMax: (tap, channel) pairs per
// register tile, as many as the ISA's registers hold next to kDotOuts x QMax accumulators (AVX2: 3;
// 32 registers: 9, a 3x3 kernel's taps in one tile).
template <class S, int QMax>
void conv_bwd_weight_dot_simd(const CorrelateWeightGrad& p, float* grad_weight, float* grad_bias, int64_t begin,
                              int64_t end) {
  static constexpr WgradDotTable<S, QMax> table{};
  constexpr int W = S::kWidth;
  const CorrelateSource& src = p.src;
  const BalancedBlocks outs(p.out_channels, kDotOuts), pairs(src.num_taps * src.channels, QMax);
  const int64_t tile_floats = static_cast<int64_t>(kDotOuts) * QMax * W;
  float* acc_mem = scratch_floats(ScratchSlot::kPackedTiles, static_cast<size_t>(pairs.count * tile_floats));
  const bool grid = QMax == 9 && grid3x3_taps(src);
  for (int64_t ob = begin; ob < end; ++ob) {
    const int64_t o0 = outs.begin(ob), o_count = outs.size(ob);
    for (int64_t e = 0; e < pairs.count * tile_floats; ++e) acc_mem[e] = 0.0f;
    double bias[kDotOuts] = {};
    for (int64_t n = 0; n < p.batch; ++n) {
      for (int64_t h0 = 0; h0 < p.out_rows; h0 += kDotRows) {
        const int64_t h1 = p.out_rows - h0 < kDotRows ? p.out_rows : h0 + kDotRows;
        // A 3x3 grid of taps fills one tile; the grid kernel runs its interior, the generic block
        // the rest (if any: rows that read padding, vectors at padded columns).
        const DotSpan span = grid ? grid3x3_span<S>(p, h0, h1) : DotSpan{};
        const bool rest = span.h_begin != h0 || span.h_end != h1 || span.t_begin != 0 || span.t_end != p.out_length;
        if (span.h_end > span.h_begin) table.grid[o_count - 1](p, o0, n, span, acc_mem);
        for (int64_t qb = 0; qb < pairs.count && rest; ++qb) {
          table.block[o_count - 1][pairs.size(qb) - 1](p, o0, pairs.begin(qb), n, h0, h1, span,
                                                       acc_mem + qb * tile_floats);
        }
        if (grad_bias) {
          for (int64_t o = 0; o < o_count; ++o) add_row_sums<S>(p, o0 + o, n, h0, h1, &bias[o]);
        }
      }
    }
    if (grad_bias) {
      for (int64_t o = 0; o < o_count; ++o) grad_bias[o0 + o] = static_cast<float>(bias[o]);
    }
    // grad_weight is (C_out, C_in, taps); a tile of O x Q accumulators is stored O-major.
    for (int64_t qb = 0; qb < pairs.count; ++qb) {
      const int64_t q_count = pairs.size(qb);
      for (int64_t o = 0; o < o_count; ++o) {
        for (int64_t q = 0; q < q_count; ++q) {
          const int64_t pair = pairs.begin(qb) + q, i = pair / src.channels, c = pair % src.channels;
          const float* lanes = acc_mem + qb * tile_floats + (o * q_count + q) * W;
          grad_weight[((o0 + o) * src.channels + c) * src.num_taps + src.taps[i].weight_offset] =
              S::sum(S::load(lanes));
        }
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
