// Flat forward correlation at stride 1, portable vector C++ with the AVX-512 variant's tiling (6 x 64).
// See conv_fwd_flat_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/conv_fwd_flat_simd.h"

namespace ictus::cpu {

void conv_fwd_flat_portable(const FlatCorrelation& p, int64_t begin, int64_t end) {
  static_assert(kPortableTiling.width == Portable::kWidth);
  conv_fwd_flat_simd<Portable, kPortableTiling.fwd_channels, kPortableTiling.fwd_vectors, true>(p, begin, end);
}

}  // namespace ictus::cpu
