// Input gradient at stride 1 scattered from grad_y, portable vectors: 6 in-channels x 64 grad_y positions per register tile.
// See conv_bwd_data_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_bwd_data_simd.h"

namespace ictus::cpu {

void conv_bwd_data_portable(const ScatterInputGrad& g, int64_t begin, int64_t end) {
  static_assert(kPortableTiling.width == Portable::kWidth);
  conv_bwd_data_simd<Portable, kPortableTiling.fwd_channels, kPortableTiling.fwd_vectors>(g, begin, end);
}

}  // namespace ictus::cpu
