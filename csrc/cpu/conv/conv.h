// Convolutions on the CPU (conv1d is conv2d with H = KH = 1): the variant list and the problem the
// SIMD kernels solve.
//
// Every SIMD kernel solves one primitive, a multi-tap correlation along rows of a "source" signal:
//   out[n][o][h][t] = bias[o] + sum_c sum_i W(o, c, i) * S(n, c, h*row_step + row_offset_i, phase_i)[t + offset_i]
// with W(o, c, i) = weight[o*weight_out_stride + c*weight_in_stride + weight_offset_i] and
// S(n, c, r, p)[j] the j-th value of phase p of source row r, zero outside 0 <= r < rows and
// 0 <= j < phase_length[p] (the zero padding). It covers:
//   forward, stride_w 1:  S = x, tap (i, j) at row offset i*dh - pad_top, offset j*dw - pad_left;
//   forward, stride_w s:  each row of x split into s phases (phase p holds columns p, p+s, ...), so
//                         every tap reads contiguous values of one phase;
//   input gradient:       S = grad_y with the weights seen transposed, one call per phase (rh, rw)
//                         of grad_x;
//   weight gradient:      grad W(o, c, i) = sum_n sum_h sum_t grad_y[n][o][h][t] * S(...)[t + offset_i]
//                         with S as in the forward pass (CorrelateWeightGrad).
// The scalar variant does not use it: it computes the textbook sums with conv_geometry.h, the same
// index math as the CUDA kernels.
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

struct CorrelateTap {
  int64_t weight_offset;
  int64_t offset;      // along the row, in phase values
  int64_t phase;
  int64_t row_offset;  // source row = output row * row_step + row_offset
};

struct CorrelateSource {
  const float* data;
  int64_t batch_stride, channel_stride, row_stride, phase_stride;
  int64_t rows;
  const int64_t* phase_length;  // valid values per phase
  const CorrelateTap* taps;
  int64_t num_taps;
  int64_t channels;
};

struct CorrelateForward {
  CorrelateSource src;
  int64_t batch, out_channels, out_rows, out_length, row_step;
  int64_t tiles_per_item;  // frame tiles per work item (cache blocking; never changes the results)
  // Null, or the weights packed for the GEMM-like path (conv_fwd_simd.h): per block of output
  // channels (BalancedBlocks of fwd_channels), [tap][in-channel][channel in block].
  const float* packed_weight;
  const float* weight;
  int64_t weight_out_stride, weight_in_stride;
  const float* bias;  // nullable
  float* out;
  int64_t out_batch_stride, out_channel_stride, out_row_stride;
};

// The forward correlation at stride 1 over flat positions (conv_fwd_flat_simd.h): sources are planes
// of rows `pitch` values apart (pitch >= out_length; zero-padded copies where the convolution pads)
// and output position (h, w) is flat position g = h * pitch + w, for which tap i reads source value
// g + tap_offsets[i] of every channel. Positions with w >= out_length are computed and dropped, or,
// with `compact`, never computed: a vector's lanes gather from two rows.
struct FlatCorrelation {
  const float* src;
  int64_t batch_stride, channel_stride;
  int64_t extent;  // readable values per plane, from its start
  int64_t channels, pitch;
  const int64_t* tap_offsets;
  int64_t num_taps, max_tap_offset;
  const float* packed_weight;  // per block of output channels: [tap][in-channel][channel in block]
  const float* bias;           // nullable
  int64_t batch, out_channels, out_rows, out_length;
  int64_t tiles_per_item;  // tiles per work item (never changes the results)
  bool compact;            // tiles over output positions only (needs out_length >= the vector width)
  float* out;              // rows contiguous, out_length values each
  int64_t out_batch_stride, out_channel_stride;
};

// A convolution whose kernel spans its unpadded input's width, folded to 1-d (conv_fwd_windows_simd.h):
// y[n][o][h] = bias[o] + sum_c sum_k W[c][k][o] * x[n][c][h * stride + k], k < window.
struct WindowForward {
  const float* x;
  int64_t batch, channels;
  int64_t plane;  // values per input plane
  int64_t stride, window;
  const float* packed_weight;  // [c][k][o], out_padded values per (c, k)
  const float* packed_bias;    // out_padded values, zero without a bias
  int64_t out_channels, out_padded, out_length;
  float* y;
};
// The input gradient of the windows feed when windows do not overlap (conv_bwd_data_windows_simd.h):
// grad_x[n][c][h * stride + k] = sum_o W[o][c][k] * grad_y[n][o][h], lanes over r = c * window + k.
// Vector v of r holds the segments [segment_begin[v], segment_begin[v + 1]): lanes [lane_begin,
// lane_end) of one channel c, whose first lane goes to grad_x offset c * plane + k (+ h * stride).
struct WindowSegment {
  int64_t offset;
  int lane_begin, lane_end;
};
struct WindowInputGrad {
  const float* grad_y;
  int64_t batch, out_channels, out_length;
  // Per block of window_grad_vectors vectors of r: [o][vectors * width], contiguous so that the
  // block's weights sit in L1 without set conflicts (rows r_padded apart, 2 KiB at 64 channels,
  // thrashed it: 64->64 1x8 on 3000x8, AVX2, 4.3-4.9 ms instead of 2.9-3.5); zero past
  // channels * window.
  const float* packed_weight;
  int64_t r_padded;  // channels * window rounded up to the vector width
  int64_t channels, plane, stride;
  const WindowSegment* segments;
  const int64_t* segment_begin;
  float* grad_x;
};

// Outputs per register tile (and work item): 12 accumulators hide the FMA latency on one or two
// ports and leave AVX2 room for the weight vector.
inline constexpr int kWindowRows = 12;

// The weight gradient as a GEMM over output positions f = h * out_length + t, vectorised over
// output channels:
//   grad_weight_t[i][c][o] = sum_n sum_f grad_y[n][o][f] * S(n, c, h*row_step + row_offset_i, phase_i)[t + offset_i]
// with the output channels padded to out_padded (a multiple of the vector width).
struct CorrelateWeightGrad {
  CorrelateSource src;
  int64_t batch, out_channels, out_rows, out_length, row_step, out_padded;
  int64_t chunk;  // output positions per chunk (cache blocking; never changes the results)
  const float* grad_out;
  int64_t grad_out_batch_stride, grad_out_channel_stride;
  float* grad_weight_t;  // (num_taps, channels, out_padded), every element written
};

// The input gradient at stride 1 (2-d) as a scatter from grad_y (conv_bwd_data_simd.h): for every
// tap t, grad_x[n][c][h + row_offsets[t]][w + col_offsets[t]] += sum_o W_t(o, c) grad_y[n][o][h][w]
// where the target lies inside grad_x.
struct ScatterInputGrad {
  const float* grad_y;  // (batch, out_channels, out_h, out_w)
  int64_t batch, out_channels, out_h, out_w;
  // Per block of input channels (BalancedBlocks of fwd_channels): [tap][o][channel in block].
  const float* packed_weight;
  const int64_t* row_offsets;
  const int64_t* col_offsets;
  int64_t num_taps, min_row_offset, max_row_offset;
  float* grad_x;  // (batch, in_channels, in_h, in_w), every element written
  int64_t in_channels, in_h, in_w;
  int64_t rows_per_item;  // grad_x rows per work item (never changes the results)
  int64_t chunk_rows;     // grad_y rows per register sweep (never changes the results)
};

// Register tiles of one SIMD variant. Forward: out_channels x (vectors * width) positions of one
// row; a work item is a run of tiles_per_item such tiles of one batch item. Weight gradient:
// (vectors * width) out-channels x in-channels of one tap; a work item is one such block.
// Windows input gradient: window_grad_rows outputs x window_grad_vectors vectors of r.
struct SimdTiling {
  int width;
  int fwd_channels, fwd_vectors;
  int wgrad_vectors, wgrad_channels;
  int window_grad_rows, window_grad_vectors;
};
inline constexpr SimdTiling kAvx2Tiling{8, 4, 3, 3, 4, 2, 5};
inline constexpr SimdTiling kAvx512Tiling{16, 6, 4, 4, 6, 3, 8};
inline constexpr SimdTiling kPortableTiling = kAvx512Tiling;

namespace {  // internal linkage: ISA-flagged files include this too (no shared inline copies)

// Whether the packed feed tiles the flattened output rows (position f = h * out_length + t) rather
// than each row on its own: possible when the rows are contiguous, and no lane idles at row ends.
inline bool flat_tiles(const CorrelateForward& p) {
  return p.packed_weight != nullptr && p.out_row_stride == p.out_length;
}

// Tiles of `tile` positions per batch item.
inline int64_t correlate_tiles(const CorrelateForward& p, int64_t tile) {
  if (flat_tiles(p)) return (p.out_rows * p.out_length + tile - 1) / tile;
  return p.out_rows * ((p.out_length + tile - 1) / tile);
}

// Positions a flat correlation computes: compact, the outputs; otherwise every row's pitch, but only
// out_length of the last row.
inline int64_t flat_positions(const FlatCorrelation& p) {
  return p.compact ? p.out_rows * p.out_length : (p.out_rows - 1) * p.pitch + p.out_length;
}

// Split `total` into ceil(total / max_block) blocks whose sizes differ by at most one
// (20 channels with blocks of <= 6 become 5+5+5+5, not 6+6+6+2).
struct BalancedBlocks {
  int64_t count, base, larger;  // the first `larger` blocks have base + 1 elements
  BalancedBlocks(int64_t total, int64_t max_block)
      : count((total + max_block - 1) / max_block), base(total / count), larger(total % count) {}
  int64_t begin(int64_t i) const { return i * base + (i < larger ? i : larger); }
  int64_t size(int64_t i) const { return base + (i < larger ? 1 : 0); }
};

}  // namespace

// Work items [begin, end) of a correlation (see SimdTiling).
using CorrelateForwardKernel = void (*)(const CorrelateForward&, int64_t begin, int64_t end);
using CorrelateWeightGradKernel = void (*)(const CorrelateWeightGrad&, int64_t begin, int64_t end);

void conv_fwd_avx2(const CorrelateForward& p, int64_t begin, int64_t end);
void conv_fwd_avx512(const CorrelateForward& p, int64_t begin, int64_t end);
void conv_fwd_portable(const CorrelateForward& p, int64_t begin, int64_t end);
using FlatForwardKernel = void (*)(const FlatCorrelation&, int64_t begin, int64_t end);
void conv_fwd_flat_avx2(const FlatCorrelation& p, int64_t begin, int64_t end);
void conv_fwd_flat_avx512(const FlatCorrelation& p, int64_t begin, int64_t end);
void conv_fwd_flat_portable(const FlatCorrelation& p, int64_t begin, int64_t end);
// Work items: tiles of kWindowRows outputs, batch item by batch item.
using WindowForwardKernel = void (*)(const WindowForward&, int64_t begin, int64_t end);
void conv_fwd_windows_avx2(const WindowForward& p, int64_t begin, int64_t end);
void conv_fwd_windows_avx512(const WindowForward& p, int64_t begin, int64_t end);
void conv_fwd_windows_portable(const WindowForward& p, int64_t begin, int64_t end);
// Work items: (batch item, block of window_grad_vectors vectors, tile of window_grad_rows outputs).
using WindowInputGradKernel = void (*)(const WindowInputGrad&, int64_t begin, int64_t end);
void conv_bwd_data_windows_avx2(const WindowInputGrad& p, int64_t begin, int64_t end);
void conv_bwd_data_windows_avx512(const WindowInputGrad& p, int64_t begin, int64_t end);
void conv_bwd_data_windows_portable(const WindowInputGrad& p, int64_t begin, int64_t end);
// Work items: (batch item, block of rows_per_item grad_x rows).
using ScatterInputGradKernel = void (*)(const ScatterInputGrad&, int64_t begin, int64_t end);
void conv_bwd_data_avx2(const ScatterInputGrad& g, int64_t begin, int64_t end);
void conv_bwd_data_avx512(const ScatterInputGrad& g, int64_t begin, int64_t end);
void conv_bwd_data_portable(const ScatterInputGrad& g, int64_t begin, int64_t end);
void conv_bwd_weight_avx2(const CorrelateWeightGrad& p, int64_t begin, int64_t end);
void conv_bwd_weight_avx512(const CorrelateWeightGrad& p, int64_t begin, int64_t end);
void conv_bwd_weight_portable(const CorrelateWeightGrad& p, int64_t begin, int64_t end);
// Few input channels (conv_bwd_weight_dot_simd.h): writes grad_weight (C_out, C_in, taps) itself,
// and grad_bias (C_out,) unless null;
// work items are blocks of kDotOuts output channels; register tiles kDotOuts x (up to 3 on AVX2,
// 9 on AVX-512, 3 portable) (tap, channel) pairs.
inline constexpr int kDotOuts = 3;
using CorrelateWeightGradDotKernel = void (*)(const CorrelateWeightGrad&, float* grad_weight, float* grad_bias,
                                              int64_t begin, int64_t end);
void conv_bwd_weight_dot_avx2(const CorrelateWeightGrad& p, float* grad_weight, float* grad_bias, int64_t begin,
                              int64_t end);
void conv_bwd_weight_dot_avx512(const CorrelateWeightGrad& p, float* grad_weight, float* grad_bias, int64_t begin,
                                int64_t end);
void conv_bwd_weight_dot_portable(const CorrelateWeightGrad& p, float* grad_weight, float* grad_bias, int64_t begin,
                                  int64_t end);

// The scalar variant: plain loops over conv_geometry.h, accumulating in double.
// x (N, C_in, H, W), weight (C_out, C_in, KH, KW), bias (C_out,) or null, y (N, C_out, H_out, W_out).
void conv_fwd_scalar(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y);
void conv_bwd_data_scalar(const ConvShape& s, const float* grad_y, const float* weight, float* grad_x);
void conv_bwd_weight_scalar(const ConvShape& s, const float* grad_y, const float* x, float* grad_weight);

// What a backward call computes; null pointers are skipped.
struct ConvGrads {
  float* grad_x;
  float* grad_weight;
  float* grad_bias;
};

// Entry points: run variant `isa` (which must be supported) on the whole problem; the SIMD
// variants spread it over the thread pool, the scalar one runs on the calling thread.
void conv_forward(Isa isa, const ConvShape& s, const float* x, const float* weight, const float* bias, float* y);
void conv_backward(Isa isa, const ConvShape& s, const float* grad_y, const float* x, const float* weight,
                   const ConvGrads& grads);
// The kernel that runs for "fwd", "bwd_data", "bwd_data_scatter", "bwd_weight", "winograd",
// "fwd_windows", "bwd_data_windows", "bwd_weight_sparse" or "bwd_data_sparse" under `isa`.
const char* conv_kernel_name(Isa isa, const char* direction);
// The tile height (2, 4 or 6: F(2x2, 3x3), F(4x2, 3x3), F(6x2, 3x3); winograd.h) with which conv_forward runs s
// through Winograd under isa for finite inputs and weights, 0 where it runs the direct kernels.
int conv_winograd_tile_h(Isa isa, const ConvShape& s);
// Whether conv_backward computes shape s's weight gradient with the sparse kernel under isa when
// grad_y is mostly zeros (conv_sparse_grad.h).
bool conv_uses_sparse_weight_grad(Isa isa, const ConvShape& s);
// The same for the input gradient (finite weights).
bool conv_uses_sparse_input_grad(Isa isa, const ConvShape& s);

}  // namespace ictus::cpu
