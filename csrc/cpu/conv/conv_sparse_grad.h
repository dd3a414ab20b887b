// The weight gradient of a 3x3 stride-1 convolution from a grad_y that is mostly zeros. In the
// field's CNNs a max-pool follows each convolution, and its backward pass leaves grad_y zero except
// at each window's maximum: 2 of 3 values zero after a (1, 3) pool, 3 of 4 after (2, 2). The dense
// kernel multiplies every zero; this one visits only the nonzero values g = grad_y[n][o][h][w]:
//   grad_weight[o][c][i][j] += g * x[n][c][h + i - pad_top][w + j - pad_left],
// vectorised over input channels, which therefore run channel-last: each chunk of grad_y rows
// copies the rows of x it reads into channel-last rows, and checks them for inf and NaN, whose
// products with the skipped zeros would be NaN (the dense kernel then runs). An inf or NaN in
// grad_y is nonzero: all its products are computed, padding included, as in the dense sums. Sums
// run in a fixed order per work item, and the items' sums are added in item order: the same bits
// for any thread count.
// The input gradient stays dense: its sparse form adds 9 vectors into grad_x per nonzero value (9
// loads and 9 stores), and on the Zen 4 guest it ran no faster than Winograd (3.7 vs 3.6 ms on the
// front end's 16->16 layer).
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
// to sums[o][tap][lanes] (written, with `first`); false when the x rows it reads hold inf or NaN
// (sums then undefined).
using SparseWeightGradKernel = bool (*)(const SparseGrad&, int64_t chunk, bool first, float* sums);
bool conv_sparse_wgrad_avx2(const SparseGrad& p, int64_t chunk, bool first, float* sums);
bool conv_sparse_wgrad_avx512(const SparseGrad& p, int64_t chunk, bool first, float* sums);
bool conv_sparse_wgrad_portable(const SparseGrad& p, int64_t chunk, bool first, float* sums);

// Where it beats the dense kernel (Zen 4 guest, 1 thread, grad_y from a (1, 3) pool, AVX-512 /
// AVX2): 16->16 on 3000x26 1.42x / 1.05x, 12->12 on 1000x26 1.11x / 1.17x, 32->32 on 500x64
// 1.72x / 1.25x, 20->20 on 1000x18 1.38x; 8->16 on 1000x40 0.84x / 1.53x (AVX-512's vectors half
// empty); rows of 3 outputs (20->20 on 1000x5, the beat TCN's last front-end layer) 0.73x / 0.56x,
// a scan and a channel-last copy per 3 values; 64->64 on 200x64 1.24x / 0.90x. Hence: outputs at
// least 8 wide, input channels filling 3/4 of a vector, up to 32 in and 64 out.
inline constexpr int64_t kSparseMinWidth = 8;
inline constexpr int64_t kSparseMaxInChannels = 32;
inline constexpr int64_t kSparseMaxOutChannels = 64;

// Whether shape s (the forward convolution) takes this kernel under isa: 3x3, stride 1, no
// dilation, padding up to 2, and the bounds above.
bool sparse_grad_applies(Isa isa, const ConvShape& s);
// Whether grad_y is mostly zeros, judged from a fixed sample of its rows: at least half of them.
bool grad_mostly_zero(const ConvShape& s, const float* grad_y);
// grad_weight of such a shape; false, with nothing promised about grad_weight, when x holds inf or
// NaN.
bool sparse_weight_grad(Isa isa, const ConvShape& s, const float* grad_y, const float* x, float* grad_weight);

}  // namespace ictus::cpu
