// Flat forward correlation at stride 1, AVX-512F: 6 out-channels x 64 flat positions per register tile.
// See conv_fwd_flat_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/conv_fwd_flat_simd.h"

namespace ictus::cpu {

void conv_fwd_flat_avx512(const FlatCorrelation& p, int64_t begin, int64_t end) {
  static_assert(kAvx512Tiling.width == Avx512::kWidth);
  conv_fwd_flat_simd<Avx512, kAvx512Tiling.fwd_channels, kAvx512Tiling.fwd_vectors, true>(p, begin, end);
}

}  // namespace ictus::cpu
