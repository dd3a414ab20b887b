// Input gradient of the windows feed, AVX2 + FMA: 2 outputs x 5 vectors (10 of the 16 ymm registers).
// See conv_bwd_data_windows_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_bwd_data_windows_simd.h"

namespace ictus::cpu {

void conv_bwd_data_windows_avx2(const WindowInputGrad& p, int64_t begin, int64_t end) {
  static_assert(kAvx2Tiling.width == Avx2::kWidth);
  conv_bwd_data_windows_simd<Avx2, kAvx2Tiling.window_grad_rows, kAvx2Tiling.window_grad_vectors>(p, begin, end);
}

}  // namespace ictus::cpu
