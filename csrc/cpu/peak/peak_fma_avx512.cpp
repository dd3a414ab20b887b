// FMA peak loop, AVX-512F, 24 zmm chains. See peak_fma_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/peak/peak_fma_simd.h"
#include "cpu/peak/peak.h"

namespace ictus::cpu {

double peak_fma_avx512(int64_t iterations) { return peak_fma_simd<Avx512, 24>(iterations); }

}  // namespace ictus::cpu
