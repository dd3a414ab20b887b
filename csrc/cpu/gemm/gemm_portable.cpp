// GEMM, portable (GCC vector extensions, the AVX-512 tiling). See gemm_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/gemm/gemm_simd.h"

namespace ictus::cpu {

void gemm_portable(const GemmArgs& g, int64_t begin, int64_t end) {
  static_assert(kPortableGemm.width == Portable::kWidth);
  gemm_simd<Portable, kPortableGemm.rows, kPortableGemm.vectors>(g, begin, end);
}

}  // namespace ictus::cpu
