// Input gradient at stride 1 scattered from grad_y, AVX2: 4 in-channels x 24 grad_y positions per register tile.
// See conv_bwd_data_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_bwd_data_simd.h"

namespace ictus::cpu {

void conv_bwd_data_avx2(const ScatterInputGrad& g, int64_t begin, int64_t end) {
  static_assert(kAvx2Tiling.width == Avx2::kWidth);
  conv_bwd_data_simd<Avx2, kAvx2Tiling.fwd_channels, kAvx2Tiling.fwd_vectors>(g, begin, end);
}

}  // namespace ictus::cpu
