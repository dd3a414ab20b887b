// GEMM, AVX2 + FMA: 4 rows x 24 columns per register tile. See gemm_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/gemm/gemm_simd.h"

namespace ictus::cpu {

void gemm_avx2(const GemmArgs& g, int64_t begin, int64_t end) {
  static_assert(kAvx2Gemm.width == Avx2::kWidth);
  gemm_simd<Avx2, kAvx2Gemm.rows, kAvx2Gemm.vectors>(g, begin, end);
}

}  // namespace ictus::cpu
