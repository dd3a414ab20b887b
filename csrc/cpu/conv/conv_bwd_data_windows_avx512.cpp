// Input gradient of the windows feed, AVX-512F: 3 outputs x 8 vectors (24 zmm accumulators).
// See conv_bwd_data_windows_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/conv_bwd_data_windows_simd.h"

namespace ictus::cpu {

void conv_bwd_data_windows_avx512(const WindowInputGrad& p, int64_t begin, int64_t end) {
  static_assert(kAvx512Tiling.width == Avx512::kWidth);
  conv_bwd_data_windows_simd<Avx512, kAvx512Tiling.window_grad_rows, kAvx512Tiling.window_grad_vectors>(p, begin, end);
}

}  // namespace ictus::cpu
