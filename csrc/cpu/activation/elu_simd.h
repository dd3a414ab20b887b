// ELU's SIMD loops (see elu.h), written once over the vocabulary of vec_<isa>.h and included by
// elu_<isa>.cpp: e^x - 1 from approx_math.h's Cephes constants (range reduction and polynomial,
// 1-2 ulp) on min(x, 0), about 20 instructions per vector; the compiler's own vectorisation of the scalar
// form needed 55 on AVX2 (NaN-preserving clamps and selects) and ran at half the speed.
#pragma once

#include <cstdint>

#include "cpu/simd/approx_math.h"

namespace ictus::cpu {
namespace {

// alpha (e^v - 1) for v <= 0, v itself where v > 0 or NaN.
template <class V>
inline typename V::Vec elu_vector(typename V::Vec v, typename V::Vec alpha) {
  using Vec = typename V::Vec;
  const Vec zero = V::zero();
  // min(v, 0) is 0 for NaN (the select below passes NaN on); below -87.3 e^x - 1 is -1 in float.
  const Vec x = V::max(V::min(v, zero), V::broadcast(kExpMin));
  const Vec rounder = V::broadcast(kExpRounder);
  const Vec t = V::fma(x, V::broadcast(kLog2e), rounder);  // n + rounder: n = round(x / ln 2)
  const Vec n = V::sub(t, rounder);
  Vec r = V::fma(n, V::broadcast(-kLn2High), x);
  r = V::fma(n, V::broadcast(-kLn2Low), r);
  Vec p = V::broadcast(kExpm1Poly[0]);
  for (int i = 1; i < kExpm1PolyTerms; ++i) p = V::fma(p, r, V::broadcast(kExpm1Poly[i]));
  const Vec em1r = V::fma(V::mul(p, r), r, r);  // e^r - 1 = r + r^2 p(r)
  const Vec scale = V::pow2_of_rounded(t);
  const Vec em1 = V::fma(em1r, scale, V::sub(scale, V::broadcast(1.0f)));  // 2^n (e^r - 1) + 2^n - 1
  return V::select_le(v, zero, V::mul(alpha, em1), v);
}

template <class V>
void elu_forward_simd(const float* x, float* y, int64_t n, float alpha) {
  const typename V::Vec a = V::broadcast(alpha);
  int64_t i = 0;
  // y may be x (in place): each vector is loaded before it is stored.
  for (; i + V::kWidth <= n; i += V::kWidth) V::store(y + i, elu_vector<V>(V::load(x + i), a));
  if (i < n) {
    const auto tail = V::range_mask(0, static_cast<int>(n - i));
    V::store_masked(y + i, elu_vector<V>(V::load_masked(x + i, tail), a), tail);
  }
}

inline void elu_backward_loop(const float* __restrict__ grad_y, const float* __restrict__ y,
                              float* __restrict__ grad_x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) grad_x[i] = y[i] > 0.0f ? grad_y[i] : grad_y[i] * (y[i] + alpha);
}

}  // namespace
}  // namespace ictus::cpu
