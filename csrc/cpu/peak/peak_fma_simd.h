// The FMA throughput loop behind peak_fma_<isa>.cpp: A independent accumulator chains, each step
// acc = acc * a + b with a, b chosen so the values stay finite and normal forever.
#pragma once

#include <cstdint>

namespace ictus::cpu {
namespace {

template <class S, int A>
double peak_fma_simd(int64_t iterations) {
  using Vec = typename S::Vec;
  Vec acc[A];
  for (int i = 0; i < A; ++i) acc[i] = S::broadcast(1.0f + 0.001f * i);
  const Vec a = S::broadcast(0.999999f), b = S::broadcast(1e-6f);
  for (int64_t it = 0; it < iterations; ++it) {
#pragma GCC unroll 32
    for (int i = 0; i < A; ++i) acc[i] = S::fma(acc[i], a, b);
  }
  Vec total = acc[0];
  for (int i = 1; i < A; ++i) total = S::add(total, acc[i]);
  volatile float sink = S::sum(total);
  (void)sink;
  return 2.0 * S::kWidth * A * static_cast<double>(iterations);
}

}  // namespace
}  // namespace ictus::cpu
