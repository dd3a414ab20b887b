// exp as float arithmetic and selects (no libm calls, no branches), so that loops using it
// vectorise for each ISA file that includes this: Cephes' expf range reduction x = n ln 2 + r,
// |r| <= ln 2 / 2, and its polynomial for e^r - 1 (kept apart, so that e^x - 1 = 2^n (e^r - 1) +
// 2^n - 1 needs no cancelling subtraction: ELU's SIMD loop). Accuracy 1-2 ulp; NaN propagates;
// results saturate below -87.3 and (between 88 and 88.72) above 88.
#pragma once

#include <cstdint>
#include <cstring>
#include <limits>

namespace ictus::cpu {
namespace {

// Cephes' expf constants, shared with the SIMD loops that spell the same arithmetic in vectors.
constexpr float kExpMin = -87.3f;  // keeps 2^n normal
constexpr float kExpRounder = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
constexpr float kLog2e = 1.44269504088896341f;
constexpr float kLn2High = 0.693359375f;  // ln 2 in two parts: x - n ln 2 without cancellation
constexpr float kLn2Low = -2.12194440e-4f;
// e^r - 1 = r + r^2 p(r), p's coefficients from the highest power, for |r| <= ln 2 / 2.
constexpr int kExpm1PolyTerms = 6;
constexpr float kExpm1Poly[kExpm1PolyTerms] = {1.9875691500e-4f, 1.3981999507e-3f, 8.3334519073e-3f,
                                               4.1665795894e-2f, 1.6666665459e-1f, 5.0000001201e-1f};

struct ExpParts {
  float em1r;   // e^r - 1
  float scale;  // 2^n
};

inline ExpParts exp_parts(float x) {
  x = x < kExpMin ? kExpMin : x;  // written so that NaN passes through
  x = x > 88.0f ? 88.0f : x;
  float n = (x * kLog2e + kExpRounder) - kExpRounder;
  const float r = x - n * kLn2High - n * kLn2Low;
  float p = kExpm1Poly[0];
  for (int i = 1; i < kExpm1PolyTerms; ++i) p = p * r + kExpm1Poly[i];
  const float em1r = p * r * r + r;
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

}  // namespace
}  // namespace ictus::cpu
