// GEMM, AVX-512: 6 rows x 64 columns per register tile. See gemm_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/gemm/gemm_simd.h"

namespace ictus::cpu {

void gemm_avx512(const GemmArgs& g, int64_t begin, int64_t end) {
  static_assert(kAvx512Gemm.width == Avx512::kWidth);
  gemm_simd<Avx512, kAvx512Gemm.rows, kAvx512Gemm.vectors>(g, begin, end);
}

}  // namespace ictus::cpu
