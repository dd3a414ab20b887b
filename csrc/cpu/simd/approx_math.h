// exp and expm1 as float arithmetic and selects (no libm calls, no branches), so that loops using
// them vectorise for each ISA file that includes this: Cephes' expf range reduction x = n ln 2 + r,
// |r| <= ln 2 / 2, and its polynomial for e^r - 1. Accuracy 1-2 ulp (expm1: also for tiny |x|,
// where e^x - 1 would cancel); NaN propagates; results saturate below -87.3 and (between 88 and
// 88.72) above 88.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace ictus::cpu {
namespace {

struct ExpParts {
  float em1r;   // e^r - 1
  float scale;  // 2^n
};

inline ExpParts exp_parts(float x) {
  x = x < -87.3f ? -87.3f : x;  // keeps 2^n normal; written so that NaN passes through
  x = x > 88.0f ? 88.0f : x;
  constexpr float kRound = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  float n = (x * 1.44269504088896341f + kRound) - kRound;
  const float r = x - n * 0.693359375f - n * -2.12194440e-4f;  // x - n ln 2 in two parts
  const float em1r = ((((((1.9875691500e-4f * r + 1.3981999507e-3f) * r + 8.3334519073e-3f) * r + 4.1665795894e-2f) *
                           r + 1.6666665459e-1f) * r + 5.0000001201e-1f) * r) * r + r;
  n = n == n ? n : 0.0f;  // NaN: em1r is NaN already
  const int32_t bits = (static_cast<int32_t>(n) + 127) << 23;
  float scale;
  std::memcpy(&scale, &bits, sizeof scale);
  return {em1r, scale};
}

// Past float's range (x > 88.72) +inf as expf's, so that sigmoid(-inf) is exactly 0 as torch's.
inline float exp_approx(float x) {
  const ExpParts e = exp_parts(x);
  const float y = (e.em1r + 1.0f) * e.scale;
  return x > 88.7228394f ? std::numeric_limits<float>::infinity() : y;
}

// e^x - 1 = 2^n (e^r - 1) + (2^n - 1): exactly e^r - 1 for |x| <= ln 2 / 2 (n = 0), no cancellation.
inline float expm1_approx(float x) {
  const ExpParts e = exp_parts(x);
  return e.em1r * e.scale + (e.scale - 1.0f);
}

}  // namespace
}  // namespace ictus::cpu
