// Sparse gradient kernels (weight and input), AVX2: 8 channels per vector. See conv_sparse_grad_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_sparse_grad_simd.h"

namespace ictus::cpu {

bool conv_sparse_wgrad_avx2(const SparseGrad& p, int64_t item, bool first, float* sums, double* bias_sums) {
  return conv_sparse_wgrad_simd<Avx2>(p, item, first, sums, bias_sums);
}

void conv_sparse_igrad_avx2(const SparseInputGrad& p, int64_t band) { conv_sparse_igrad_simd<Avx2>(p, band); }

}  // namespace ictus::cpu
