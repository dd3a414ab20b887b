// Sparse gradient kernels (weight and input), portable vector C++: 16 channels per vector. See conv_sparse_grad_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_sparse_grad_simd.h"

namespace ictus::cpu {

bool conv_sparse_wgrad_portable(const SparseGrad& p, int64_t item, bool first, float* sums, double* bias_sums) {
  return conv_sparse_wgrad_simd<Portable>(p, item, first, sums, bias_sums);
}

void conv_sparse_igrad_portable(const SparseInputGrad& p, int64_t band) { conv_sparse_igrad_simd<Portable>(p, band); }

}  // namespace ictus::cpu
