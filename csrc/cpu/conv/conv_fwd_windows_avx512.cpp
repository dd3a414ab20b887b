// Forward pass of full-width kernels, AVX-512F. See conv_fwd_windows_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/conv_fwd_windows_simd.h"

namespace ictus::cpu {

void conv_fwd_windows_avx512(const WindowForward& p, int64_t begin, int64_t end) {
  conv_fwd_windows_simd<Avx512, kWindowRows>(p, begin, end);
}

}  // namespace ictus::cpu
