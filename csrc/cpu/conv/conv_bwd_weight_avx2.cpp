// Convolution weight gradient, AVX2 + FMA: 24 out-channels x 4 in-channels (12 ymm accumulators).
// See conv_bwd_weight_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_bwd_weight_simd.h"

namespace ictus::cpu {

void conv_bwd_weight_avx2(const CorrelateWeightGrad& p, int64_t begin, int64_t end) {
  static_assert(kAvx2Tiling.width == Avx2::kWidth);
  conv_bwd_weight_simd<Avx2, kAvx2Tiling.wgrad_vectors, kAvx2Tiling.wgrad_channels>(p, begin, end);
}

}  // namespace ictus::cpu
