// Input gradient at stride 1 scattered from grad_y, AVX-512F: 6 in-channels x 64 grad_y positions per register tile.
// See conv_bwd_data_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/conv_bwd_data_simd.h"

namespace ictus::cpu {

void conv_bwd_data_avx512(const ScatterInputGrad& g, int64_t begin, int64_t end) {
  static_assert(kAvx512Tiling.width == Avx512::kWidth);
  conv_bwd_data_simd<Avx512, kAvx512Tiling.fwd_channels, kAvx512Tiling.fwd_vectors>(g, begin, end);
}

}  // namespace ictus::cpu
