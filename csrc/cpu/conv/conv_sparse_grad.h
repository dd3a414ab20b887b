// The weight and input gradients of a 3x3 stride-1 convolution from a grad_y that is mostly zeros.
// In the field's CNNs a max-pool follows each convolution, and its backward pass leaves grad_y zero
// except at each window's maximum: 2 of 3 values zero after a (1, 3) pool, 3 of 4 after (2, 2).
// The dense kernels multiply every zero; these visit only the nonzero values g = grad_y[n][o][h][w]:
//   grad_weight[o][c][i][j] += g * x[n][c][h + i - pad_top][w + j - pad_left],
//   grad_x[n][c][h + i - pad_top][w + j - pad_left] += g * weight[o][c][i][j],
// vectorised over input channels, which therefore run channel-last.
// Weight gradient: each chunk of grad_y rows copies the rows of x it reads into channel-last rows,
// and checks them for inf and NaN, whose products with the skipped zeros would be NaN (the dense
// kernel then runs). An inf or NaN in grad_y is nonzero: all its products are computed, padding
// included, as in the dense sums. Sums run in a fixed order per work item, and the items' sums are
// added in item order: the same bits for any thread count.
// Input gradient: per position of grad_y, the 9 tap vectors summed over its nonzero output
// channels in registers, then added into 3 channel-last rows of grad_x (a scatter of 9 vectors
// per nonzero value, 9 loads and 9 stores, ran no faster than Winograd: 3.7 vs 3.6 ms on the front
// end's 16->16 layer). The weights are finite here (conv.cpp sends others to the scalar kernel), so
// the skipped products are zeros. Each grad_x row is summed by one work item in a fixed order: the
// same bits for any thread count.
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

// Rows of grad_y per chunk: a chunk's channel-last rows of x (34 x (W + 2) x lanes floats: 61 KiB
// for 16 channels on the front end's 26 bins) stay in L2, and chunks re-read 2 halo rows per 32.
// Work items are runs of consecutive chunks, at most kSparseGradItems whatever the thread count,
// each summing into its own sums.
inline constexpr int64_t kSparseGradRows = 32;
inline constexpr int64_t kSparseGradItems = 16;
inline constexpr int kSparseGradTaps = 9;  // 3x3

struct SparseGrad {
  ConvShape s;          // the forward convolution
  const float* grad_y;  // (batch, out_channels, out_h, out_w)
  const float* x;       // (batch, in_channels, in_h, in_w)
  int64_t lanes;        // in_channels rounded up to the vector width
  int64_t chunks;       // per batch item: its grad_y rows in kSparseGradRows
};

// Per ISA: the weight gradient of chunk `chunk` (batch item chunk / chunks, its grad_y rows) added
// to sums[o][tap][lanes], and unless null its bias gradient (the sum of its nonzero grad_y values)
// to bias_sums[o] (both written, with `first`); false when the x rows it reads hold inf or NaN
// (sums then undefined).
using SparseWeightGradKernel = bool (*)(const SparseGrad&, int64_t chunk, bool first, float* sums, double* bias_sums);
bool conv_sparse_wgrad_avx2(const SparseGrad& p, int64_t chunk, bool first, float* sums, double* bias_sums);
bool conv_sparse_wgrad_avx512(const SparseGrad& p, int64_t chunk, bool first, float* sums, double* bias_sums);
bool conv_sparse_wgrad_portable(const SparseGrad& p, int64_t chunk, bool first, float* sums, double* bias_sums);

// The input gradient: grad_x rows per work item. A band also steps through the 2 grad_y rows
// above it for their terms in its first rows: 130 steps for 128 rows.
inline constexpr int64_t kSparseInputGradRows = 128;

struct SparseInputGrad {
  ConvShape s;          // the forward convolution
  const float* grad_y;  // (batch, out_channels, out_h, out_w)
  const float* weight;  // packed: [out_channels][tap][in_lanes], zeros past in_channels
  int64_t in_lanes;     // in_channels rounded up to the vector width
  int64_t out_lanes;    // out_channels rounded up to the vector width
  int64_t bands;        // per batch item: its grad_x rows in kSparseInputGradRows
  float* grad_x;        // (batch, in_channels, in_h, in_w)
};

// Per ISA: band `band` of grad_x (batch item band / bands), written whole.
using SparseInputGradKernel = void (*)(const SparseInputGrad&, int64_t band);
void conv_sparse_igrad_avx2(const SparseInputGrad& p, int64_t band);
void conv_sparse_igrad_avx512(const SparseInputGrad& p, int64_t band);
void conv_sparse_igrad_portable(const SparseInputGrad& p, int64_t band);

// Where the weight-gradient kernel beats the dense kernel (Zen 4 guest, 1 thread, grad_y from a
// (1, 3) pool, AVX-512 / AVX2): 16->16 on 3000x26 1.42x / 1.05x, 12->12 on 1000x26 1.11x /
// 1.17x, 32->32 on 500x64 1.72x / 1.25x, 20->20 on 1000x18 1.38x; 8->16 on 1000x40 0.84x /
// 1.53x (AVX-512's vectors half empty); rows of 3 outputs (20->20 on 1000x5, the beat TCN's last
// front-end layer) 0.73x / 0.56x, a scan and a channel-last copy per 3 values; 64->64 on 200x64
// 1.24x / 0.90x. Hence: outputs at least 8 wide, input channels filling 3/4 of a vector, up to 32
// in and 64 out.
inline constexpr int64_t kSparseMinWidth = 8;
inline constexpr int64_t kSparseMaxInChannels = 32;
inline constexpr int64_t kSparseMaxOutChannels = 64;

// Whether shape s (the forward convolution) takes this kernel under isa: 3x3, stride 1, no
// dilation, padding up to 2, and the bounds above.
bool sparse_grad_applies(Isa isa, const ConvShape& s);
// Of those, the shapes whose input gradient takes the sparse kernel (against the dense one, Zen 4
// guest, 1 thread, grad_y from a (1, 3) pool, AVX-512 / AVX2): 16->16 on 3000x26 1.20-1.24x /
// 1.28-1.50x, 32->32 on 500x64 1.18x / 1.37x, 16->32 on 500x40 1.53x / 1.72x, 8 batches of
// 16->16 on 300x26 0.99-1.33x / 1.25-1.34x, outputs 8 wide 2.9x / 2.2x (the dense kernels waste
// most taps on them). Where it lost: 64 output channels (32->64 on 300x30 0.92x / 0.97x: more
// nonzeros per position, 9 loads each, against Winograd's GEMM), and input channels that leave
// much of their last vector empty across several vectors (20 on AVX-512 0.84x, 12 on AVX2
// 0.85-0.86x: each vector re-scans grad_y; 24 on AVX-512 0.97-1.05x). Hence: up to 32 output
// channels, input channels in one vector (from 3/4 of it, as above) or filling more than 3/4 of
// their vectors.
inline constexpr int64_t kSparseInputMaxOutChannels = 32;
// Whether shape s's input gradient takes the sparse kernel under isa (sparse_grad_applies and the
// bounds above).
bool sparse_input_grad_applies(Isa isa, const ConvShape& s);
// Whether grad_y is mostly zeros, judged from a fixed sample of its rows: at least half of them.
bool grad_mostly_zero(const ConvShape& s, const float* grad_y);
// grad_weight of such a shape, and grad_bias unless null (summed on the way: the dense pass over
// grad_y took 0.16 ms on the front end's 16->16 layer); false, with nothing promised about either,
// when x holds inf or NaN.
bool sparse_weight_grad(Isa isa, const ConvShape& s, const float* grad_y, const float* x, float* grad_weight,
                        float* grad_bias);
// grad_x of such a shape (weight finite: products with the skipped zeros would be 0).
void sparse_input_grad(Isa isa, const ConvShape& s, const float* grad_y, const float* weight, float* grad_x);

}  // namespace ictus::cpu
