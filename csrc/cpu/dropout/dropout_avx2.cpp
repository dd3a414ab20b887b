// Dropout compiled for AVX2; see dropout.h and dropout_loop.h.
#include "cpu/dropout/dropout.h"
#include "cpu/dropout/dropout_loop.h"

namespace ictus::cpu {

void dropout_avx2(const float* x, float* y, int64_t n, uint64_t first, uint64_t seed, uint32_t threshold,
                  float scale) {
  dropout_loop(x, y, n, first, seed, threshold, scale);
}

}  // namespace ictus::cpu
