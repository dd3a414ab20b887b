// Flat forward correlation at stride 1, AVX2 + FMA: 4 out-channels x 24 flat positions per register tile.
// See conv_fwd_flat_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_fwd_flat_simd.h"

namespace ictus::cpu {

void conv_fwd_flat_avx2(const FlatCorrelation& p, int64_t begin, int64_t end) {
  static_assert(kAvx2Tiling.width == Avx2::kWidth);
  conv_fwd_flat_simd<Avx2, kAvx2Tiling.fwd_channels, kAvx2Tiling.fwd_vectors, false>(p, begin, end);
}

}  // namespace ictus::cpu
