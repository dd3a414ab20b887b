// Convolution weight gradient, portable vector C++ with the AVX-512 tiling (64 x 6).
// See conv_bwd_weight_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_bwd_weight_simd.h"

namespace ictus::cpu {

void conv_bwd_weight_portable(const CorrelateWeightGrad& p, int64_t begin, int64_t end) {
  static_assert(kPortableTiling.width == Portable::kWidth);
  conv_bwd_weight_simd<Portable, kPortableTiling.wgrad_vectors, kPortableTiling.wgrad_channels>(p, begin, end);
}

}  // namespace ictus::cpu
