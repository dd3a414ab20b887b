// Input gradient of the windows feed, portable vector C++: the AVX-512 variant's tiles.
// See conv_bwd_data_windows_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_bwd_data_windows_simd.h"

namespace ictus::cpu {

void conv_bwd_data_windows_portable(const WindowInputGrad& p, int64_t begin, int64_t end) {
  static_assert(kPortableTiling.width == Portable::kWidth);
  conv_bwd_data_windows_simd<Portable, kPortableTiling.window_grad_rows, kPortableTiling.window_grad_vectors>(p, begin, end);
}

}  // namespace ictus::cpu
