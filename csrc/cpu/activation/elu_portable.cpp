// ELU forward and backward compiled for portable C++ (the compiler's baseline vectors); see elu.h and elu_simd.h.
#include "cpu/activation/elu.h"
#include "cpu/activation/elu_simd.h"
#include "cpu/simd/vec_portable.h"

namespace ictus::cpu {

void elu_fwd_portable(const float* x, float* y, int64_t n, float alpha) { elu_forward_simd<Portable>(x, y, n, alpha); }
void elu_bwd_portable(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha) {
  elu_backward_loop(grad_y, y, grad_x, n, alpha);
}

}  // namespace ictus::cpu
