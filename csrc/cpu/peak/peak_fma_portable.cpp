// FMA peak loop, portable vector C++, 4 chains of 16 lanes. See peak_fma_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/peak/peak_fma_simd.h"
#include "cpu/peak/peak.h"

namespace ictus::cpu {

double peak_fma_portable(int64_t iterations) { return peak_fma_simd<Portable, 4>(iterations); }

}  // namespace ictus::cpu
