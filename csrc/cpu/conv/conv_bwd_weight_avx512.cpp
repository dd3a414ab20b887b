// Convolution weight gradient, AVX-512F: 64 out-channels x 6 in-channels (24 zmm accumulators).
// See conv_bwd_weight_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/conv_bwd_weight_simd.h"

namespace ictus::cpu {

void conv_bwd_weight_avx512(const CorrelateWeightGrad& p, int64_t begin, int64_t end) {
  static_assert(kAvx512Tiling.width == Avx512::kWidth);
  conv_bwd_weight_simd<Avx512, kAvx512Tiling.wgrad_vectors, kAvx512Tiling.wgrad_channels>(p, begin, end);
}

}  // namespace ictus::cpu
