// Convolution forward correlation, AVX2 + FMA: 4 out-channels x 24 positions per register tile (12 ymm accumulators + 3 inputs + 1 broadcast = all 16 registers).
// See conv_fwd_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_fwd_simd.h"

namespace ictus::cpu {

void conv_fwd_avx2(const CorrelateForward& p, int64_t begin, int64_t end) {
  static_assert(kAvx2Tiling.width == Avx2::kWidth);
  conv_fwd_simd<Avx2, kAvx2Tiling.fwd_channels, kAvx2Tiling.fwd_vectors>(p, begin, end);
}

}  // namespace ictus::cpu
