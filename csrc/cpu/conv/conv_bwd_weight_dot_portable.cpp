// Convolution weight gradient for few input channels, vectorised along positions; see
// conv_bwd_weight_dot_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_bwd_weight_dot_simd.h"

namespace ictus::cpu {

void conv_bwd_weight_dot_portable(const CorrelateWeightGrad& p, float* grad_weight, float* grad_bias, int64_t begin,
                                  int64_t end) {
  conv_bwd_weight_dot_simd<Portable, 3>(p, grad_weight, grad_bias, begin, end);
}

}  // namespace ictus::cpu
