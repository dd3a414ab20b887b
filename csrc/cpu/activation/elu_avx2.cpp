// ELU forward and backward compiled for AVX2 + FMA; see elu.h and elu_simd.h.
#include "cpu/activation/elu.h"
#include "cpu/activation/elu_simd.h"
#include "cpu/simd/vec_avx2.h"

namespace ictus::cpu {

void elu_fwd_avx2(const float* x, float* y, int64_t n, float alpha) { elu_forward_simd<Avx2>(x, y, n, alpha); }
void elu_bwd_avx2(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha) {
  elu_backward_loop(grad_y, y, grad_x, n, alpha);
}

}  // namespace ictus::cpu
