// Conv1d on the CPU: the variant list and the problem the SIMD kernels solve.
//
// Every SIMD kernel solves one primitive, a multi-tap correlation of a "source" signal:
//   out[n][o][t] = bias[o] + sum_c sum_i W(o, c, i) * S(n, c, phase_i)[t + offset_i]
// with W(o, c, i) = weight[o*weight_out_stride + c*weight_in_stride + weight_offset_i] and
// S(n, c, p)[j] = 0 outside 0 <= j < phase_length[p] (the zero padding). It covers:
//   forward, stride 1:  S = x, tap k at offset k*d - pad_left;
//   forward, stride s:  S = x split into s phases (phase p holds frames p, p+s, ...), so every tap
//                       reads contiguous frames of one phase;
//   input gradient:     S = grad_y with weights seen transposed, one call per phase of grad_x;
//   weight gradient:    grad W(o, c, i) = sum_n sum_t grad_y[n][o][t] * S(n, c, phase_i)[t + offset_i]
//                       with S as in the forward pass (CorrelateWeightGrad).
// The scalar variant does not use it: it computes the textbook sums with conv1d_geometry.h, the same
// index math as the CUDA kernels.
#pragma once

#include <cstdint>

#include "common/conv1d_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

struct CorrelateTap {
  int64_t weight_offset;
  int64_t offset;
  int64_t phase;
};

struct CorrelateSource {
  const float* data;
  int64_t batch_stride, channel_stride, phase_stride;
  const int64_t* phase_length;  // valid frames per phase
  const CorrelateTap* taps;
  int64_t num_taps;
  int64_t channels;
};

struct CorrelateForward {
  CorrelateSource src;
  int64_t batch, out_channels, out_length;
  int64_t tiles_per_item;  // frame tiles per work item (cache blocking; never changes the results)
  // Null, or the weights packed for the GEMM-like path (conv1d_fwd_simd.h): per block of output
  // channels (BalancedBlocks of fwd_channels), [tap][in-channel][channel in block].
  const float* packed_weight;
  const float* weight;
  int64_t weight_out_stride, weight_in_stride;
  const float* bias;  // nullable
  float* out;
  int64_t out_batch_stride, out_channel_stride;
};

// The weight gradient as a GEMM over frames, vectorised over output channels:
//   grad_weight_t[i][c][o] = sum_n sum_t grad_y[n][o][t] * S(n, c, phase_i)[t + offset_i]
// with the output channels padded to out_padded (a multiple of the vector width).
struct CorrelateWeightGrad {
  CorrelateSource src;
  int64_t batch, out_channels, out_length, out_padded;
  int64_t chunk;  // frames per chunk (cache blocking; never changes the results)
  const float* grad_out;
  int64_t grad_out_batch_stride, grad_out_channel_stride;
  float* grad_weight_t;  // (num_taps, channels, out_padded), every element written
};

// Register tiles of one SIMD variant. Forward: out_channels x (vectors * width) frames; a work
// item is one (batch item, run of tiles_per_item frame tiles). Weight gradient:
// (vectors * width) out-channels x in-channels of one tap; a work item is one such block.
struct SimdTiling {
  int width;
  int fwd_channels, fwd_vectors;
  int wgrad_vectors, wgrad_channels;
};
inline constexpr SimdTiling kAvx2Tiling{8, 4, 3, 3, 4};
inline constexpr SimdTiling kAvx512Tiling{16, 6, 4, 4, 6};
inline constexpr SimdTiling kPortableTiling = kAvx512Tiling;

namespace {  // internal linkage: ISA-flagged files include this too (no shared inline copies)

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

// Work items [begin, end) of a forward correlation (see SimdTiling).
using CorrelateForwardKernel = void (*)(const CorrelateForward&, int64_t begin, int64_t end);
using CorrelateWeightGradKernel = void (*)(const CorrelateWeightGrad&, int64_t begin, int64_t end);

void conv1d_fwd_avx2(const CorrelateForward& p, int64_t begin, int64_t end);
void conv1d_fwd_avx512(const CorrelateForward& p, int64_t begin, int64_t end);
void conv1d_fwd_portable(const CorrelateForward& p, int64_t begin, int64_t end);
void conv1d_bwd_weight_avx2(const CorrelateWeightGrad& p, int64_t begin, int64_t end);
void conv1d_bwd_weight_avx512(const CorrelateWeightGrad& p, int64_t begin, int64_t end);
void conv1d_bwd_weight_portable(const CorrelateWeightGrad& p, int64_t begin, int64_t end);

// The scalar variant: plain loops over conv1d_geometry.h, accumulating in double.
// x (N, C_in, T_in), weight (C_out, C_in, K), bias (C_out,) or null, y (N, C_out, T_out).
void conv1d_fwd_scalar(const Conv1dShape& s, const float* x, const float* weight, const float* bias, float* y);
void conv1d_bwd_data_scalar(const Conv1dShape& s, const float* grad_y, const float* weight, float* grad_x);
void conv1d_bwd_weight_scalar(const Conv1dShape& s, const float* grad_y, const float* x, float* grad_weight);

// What a backward call computes; null pointers are skipped.
struct Conv1dGrads {
  float* grad_x;
  float* grad_weight;
  float* grad_bias;
};

// Entry points: run variant `isa` (which must be supported) on the whole problem; the SIMD
// variants spread it over the thread pool, the scalar one runs on the calling thread.
void conv1d_forward(Isa isa, const Conv1dShape& s, const float* x, const float* weight, const float* bias,
                    float* y);
void conv1d_backward(Isa isa, const Conv1dShape& s, const float* grad_y, const float* x, const float* weight,
                     const Conv1dGrads& grads);
// The kernel that runs for op "conv1d_fwd", "conv1d_bwd_data" or "conv1d_bwd_weight" under `isa`.
const char* conv1d_kernel_name(Isa isa, const char* op);

}  // namespace ictus::cpu
