// Convolution forward correlation, AVX-512F: 6 out-channels x 64 positions per register tile (24 zmm accumulators, 4 inputs, 1 broadcast of 32 registers).
// See conv_fwd_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/conv_fwd_simd.h"

namespace ictus::cpu {

void conv_fwd_avx512(const CorrelateForward& p, int64_t begin, int64_t end) {
  static_assert(kAvx512Tiling.width == Avx512::kWidth);
  conv_fwd_simd<Avx512, kAvx512Tiling.fwd_channels, kAvx512Tiling.fwd_vectors>(p, begin, end);
}

}  // namespace ictus::cpu
