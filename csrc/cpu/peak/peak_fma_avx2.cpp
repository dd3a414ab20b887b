// FMA peak loop, AVX2 + FMA, 12 ymm chains. See peak_fma_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/peak/peak_fma_simd.h"
#include "cpu/peak/peak.h"

namespace ictus::cpu {

double peak_fma_avx2(int64_t iterations) { return peak_fma_simd<Avx2, 12>(iterations); }

}  // namespace ictus::cpu
