// Dropout, the scalar variant: the definition of dropout.h element by element, for the tests to
// check the others by (each element's key from its own 64-bit index).
#include "common/dropout_bits.h"
#include "cpu/dropout/dropout.h"

namespace ictus::cpu {

void dropout_scalar(const float* x, float* y, int64_t n, uint64_t first, uint64_t seed, uint32_t threshold,
                    float scale) {
  for (int64_t i = 0; i < n; ++i) {
    const uint64_t index = first + static_cast<uint64_t>(i);
    const uint32_t bits =
        dropout_bits(static_cast<uint32_t>(index), static_cast<uint32_t>(seed), dropout_block_key(seed, index >> 32));
    y[i] = bits >= threshold ? x[i] * scale : x[i] * 0.0f;
  }
}

}  // namespace ictus::cpu
