// The weight gradient of a 3x3 stride-1 convolution from a grad_y that is mostly zeros. In the
// field's CNNs a max-pool follows each convolution, and its backward pass leaves grad_y zero except
// at each window's maximum: 2 of 3 values zero after a (1, 3) pool, 3 of 4 after (2, 2). The dense
// kernel multiplies every zero; this one visits only the nonzero values g = grad_y[n][o][h][w]:
//   grad_weight[o][c][i][j] += g * x[n][c][h + i - pad_top][w + j - pad_left],
// vectorised over input channels, which therefore run channel-last: a work item copies the rows of
// x it reads into channel-last rows, and checks them for inf and NaN, whose products with the
// skipped zeros would be NaN (the dense kernel then runs). An inf or NaN in grad_y is nonzero: all
// its products are computed, padding included, as in the dense sums. Sums run in a fixed order per
// work item, and the items' sums are added in item order: the same bits for any thread count.
// The input gradient stays dense: its sparse form adds 9 vectors into grad_x per nonzero value (9
// loads and 9 stores), and on the Zen 4 guest it ran no faster than Winograd (3.7 vs 3.6 ms on the
// front end's 16->16 layer).
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

// Rows of grad_y per work item: the item's channel-last rows of x (34 x (W + 2) x lanes floats:
// 61 KiB for 16 channels on the front end's 26 bins) stay in L2, and items re-read 2 halo rows per
// 32.
inline constexpr int64_t kSparseGradRows = 32;

struct SparseGrad {
  const float* grad_y;  // (batch, out_channels, out_h, out_w)
  const float* x;       // (batch, in_channels, in_h, in_w)
  int64_t batch, in_channels, in_h, in_w, pad_top, pad_left;
  int64_t out_channels, out_h, out_w;
  int64_t lanes;   // in_channels rounded up to the vector width
  int64_t chunks;  // work items per batch item: its grad_y rows in kSparseGradRows
};

// Per ISA: the weight gradient of work item `item` (batch item item / chunks, its chunk of grad_y
// rows) into sums[o][tap][lanes] (written, not added to); false when the x rows it reads hold inf
// or NaN (sums then undefined).
using SparseWeightGradKernel = bool (*)(const SparseGrad&, int64_t item, float* sums);
bool conv_sparse_wgrad_avx2(const SparseGrad& p, int64_t item, float* sums);
bool conv_sparse_wgrad_avx512(const SparseGrad& p, int64_t item, float* sums);
bool conv_sparse_wgrad_portable(const SparseGrad& p, int64_t item, float* sums);

// Whether shape s (the forward convolution) can take this kernel under isa: 3x3, stride 1, no
// dilation, padding up to 2, at least 8 input channels (fewer leave the channel lanes empty).
bool sparse_grad_applies(Isa isa, const ConvShape& s);
// Whether grad_y is mostly zeros, judged from a fixed sample of its rows: at least half of them.
bool grad_mostly_zero(const ConvShape& s, const float* grad_y);
// grad_weight of such a shape; false, with nothing promised about grad_weight, when x holds inf or
// NaN.
bool sparse_weight_grad(Isa isa, const ConvShape& s, const float* grad_y, const float* x, float* grad_weight);

}  // namespace ictus::cpu
