// ELU forward and backward compiled for AVX-512; see elu.h and elu_simd.h.
#include "cpu/activation/elu.h"
#include "cpu/activation/elu_simd.h"
#include "cpu/simd/vec_avx512.h"

namespace ictus::cpu {

void elu_fwd_avx512(const float* x, float* y, int64_t n, float alpha) { elu_forward_simd<Avx512>(x, y, n, alpha); }
void elu_bwd_avx512(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha) {
  elu_backward_loop(grad_y, y, grad_x, n, alpha);
}

}  // namespace ictus::cpu
