// Forward pass of full-width kernels, portable vector C++. See conv_fwd_windows_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_fwd_windows_simd.h"

namespace ictus::cpu {

void conv_fwd_windows_portable(const WindowForward& p, int64_t begin, int64_t end) {
  conv_fwd_windows_simd<Portable, kWindowRows>(p, begin, end);
}

}  // namespace ictus::cpu
