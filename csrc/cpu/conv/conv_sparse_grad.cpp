// Sparse gradient drivers (conv_sparse_grad.h): the weight gradient's work items (runs of chunks)
// and the sum of their sums; the input gradient's packed weights and bands of rows.
#include "cpu/conv/conv_sparse_grad.h"

#include <algorithm>
#include <atomic>
#include <vector>

#include "common/scratch.h"
#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

struct SparseKernels {
  SparseWeightGradKernel wgrad;
  SparseInputGradKernel igrad;
  int64_t width;
};

const SparseKernels* sparse_kernels(Isa isa) {
  static const SparseKernels portable{conv_sparse_wgrad_portable, conv_sparse_igrad_portable, 16};
#if defined(ICTUS_X86)
  static const SparseKernels avx2{conv_sparse_wgrad_avx2, conv_sparse_igrad_avx2, 8};
  static const SparseKernels avx512{conv_sparse_wgrad_avx512, conv_sparse_igrad_avx512, 16};
  if (isa == Isa::kAvx2) return &avx2;
  if (isa == Isa::kAvx512) return &avx512;
#endif
  if (isa == Isa::kPortable) return &portable;
  return nullptr;
}

}  // namespace

bool sparse_grad_applies(Isa isa, const ConvShape& s) {
  const SparseKernels* k = sparse_kernels(isa);
  return k != nullptr && s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.dilation_h == 1 && s.dilation_w == 1 && s.pad_top <= 2 && s.pad_bottom <= 2 && s.pad_left <= 2 &&
         s.pad_right <= 2 && s.out_h > 0 && s.out_w >= kSparseMinWidth && 4 * s.in_channels >= 3 * k->width &&
         s.in_channels <= kSparseMaxInChannels && s.out_channels <= kSparseMaxOutChannels;
}

bool sparse_input_grad_applies(Isa isa, const ConvShape& s) {
  if (!sparse_grad_applies(isa, s)) return false;
  const int64_t width = sparse_kernels(isa)->width, in_lanes = ceil_div(s.in_channels, width) * width;
  return s.out_channels <= kSparseInputMaxOutChannels && (in_lanes == width || 4 * s.in_channels > 3 * in_lanes);
}

bool grad_mostly_zero(const ConvShape& s, const float* grad_y) {
  constexpr int64_t kSampleRows = 64;
  const int64_t rows = s.batch * s.out_channels * s.out_h, step = std::max<int64_t>(1, rows / kSampleRows);
  int64_t zeros = 0, seen = 0;
  for (int64_t r = 0; r < rows; r += step) {
    for (int64_t w = 0; w < s.out_w; ++w) zeros += grad_y[r * s.out_w + w] == 0.0f;
    seen += s.out_w;
  }
  return 2 * zeros >= seen;
}

bool sparse_weight_grad(Isa isa, const ConvShape& s, const float* grad_y, const float* x, float* grad_weight,
                        float* grad_bias) {
  const SparseKernels* k = sparse_kernels(isa);
  const SparseGrad p{s, grad_y, x, ceil_div(s.in_channels, k->width) * k->width, ceil_div(s.out_h, kSparseGradRows)};
  const int64_t chunks = s.batch * p.chunks, items = std::min(chunks, kSparseGradItems);
  const int64_t item_floats = s.out_channels * kSparseGradTaps * p.lanes;
  // Per item: its weight sums, then its bias sums (out_channels doubles, aligned: every offset is
  // an even count of floats).
  const int64_t item_stride = item_floats + ceil_div(2 * s.out_channels, 16) * 16;
  float* sums = scratch_floats(ScratchSlot::kSparseGradSums, static_cast<size_t>(items * item_stride));
  const auto bias_sums = [&](int64_t item) { return reinterpret_cast<double*>(sums + item * item_stride + item_floats); };
  std::atomic<bool> finite{true};
  ThreadPool::instance().parallel_for(items, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end; ++item) {
      const int64_t first = item * chunks / items, last = (item + 1) * chunks / items;
      for (int64_t chunk = first; chunk < last && finite.load(std::memory_order_relaxed); ++chunk) {
        if (!k->wgrad(p, chunk, chunk == first, sums + item * item_stride, grad_bias ? bias_sums(item) : nullptr)) {
          finite.store(false, std::memory_order_relaxed);
        }
      }
    }
  });
  if (!finite.load()) return false;
  // The items' sums added in item order, in double, item by item (contiguous spans, vectorised: one
  // weight at a time across the items cost 0.09 ms on the front end's 16->16 layer).
  std::vector<double> total(static_cast<size_t>(item_floats), 0.0);
  for (int64_t item = 0; item < items; ++item) {
    const float* part = sums + item * item_stride;
    for (int64_t i = 0; i < item_floats; ++i) total[i] += part[i];
  }
  if (grad_bias != nullptr) {
    for (int64_t o = 0; o < s.out_channels; ++o) {
      double bias = 0.0;
      for (int64_t item = 0; item < items; ++item) bias += bias_sums(item)[o];
      grad_bias[o] = static_cast<float>(bias);
    }
  }
  for (int64_t o = 0; o < s.out_channels; ++o) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t t = 0; t < kSparseGradTaps; ++t) {
        grad_weight[(o * s.in_channels + c) * kSparseGradTaps + t] =
            static_cast<float>(total[(o * kSparseGradTaps + t) * p.lanes + c]);
      }
    }
  }
  return true;
}

void sparse_input_grad(Isa isa, const ConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  const SparseKernels* k = sparse_kernels(isa);
  const int64_t in_lanes = ceil_div(s.in_channels, k->width) * k->width;
  float* packed = scratch_floats(ScratchSlot::kSparseGradWeights,
                                 static_cast<size_t>(s.out_channels * kSparseGradTaps * in_lanes));
  for (int64_t o = 0; o < s.out_channels; ++o) {
    for (int64_t t = 0; t < kSparseGradTaps; ++t) {
      float* dst = packed + (o * kSparseGradTaps + t) * in_lanes;
      for (int64_t c = 0; c < in_lanes; ++c) {
        dst[c] = c < s.in_channels ? weight[(o * s.in_channels + c) * kSparseGradTaps + t] : 0.0f;
      }
    }
  }
  const SparseInputGrad p{s, grad_y, packed, in_lanes, ceil_div(s.out_channels, k->width) * k->width,
                          ceil_div(s.in_h, kSparseInputGradRows), grad_x};
  ThreadPool::instance().parallel_for(s.batch * p.bands, [&](int64_t begin, int64_t end) {
    for (int64_t band = begin; band < end; ++band) k->igrad(p, band);
  });
}

}  // namespace ictus::cpu
