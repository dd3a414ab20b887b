// Forward pass of full-width kernels, AVX2 + FMA. See conv_fwd_windows_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/conv_fwd_windows_simd.h"

namespace ictus::cpu {

void conv_fwd_windows_avx2(const WindowForward& p, int64_t begin, int64_t end) {
  conv_fwd_windows_simd<Avx2, kWindowRows>(p, begin, end);
}

}  // namespace ictus::cpu
