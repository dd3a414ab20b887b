// Whether an array holds only finite floats, fast enough to run before every call that needs it:
// the exponent bits of inf and NaN are all ones, an integer test that compilers vectorise (a loop
// of std::isfinite stays scalar: 30 us for 96x96x3x3 weights on the Zen 4 guest).
#pragma once

#include <cstdint>
#include <cstring>

namespace ictus {

inline bool all_finite(const float* x, int64_t n) {
  uint32_t special = 0;
  for (int64_t i = 0; i < n; ++i) {
    uint32_t bits;
    std::memcpy(&bits, x + i, sizeof(bits));
    special |= static_cast<uint32_t>((bits & 0x7F800000u) == 0x7F800000u);
  }
  return special == 0;
}

}  // namespace ictus
