// The thin SIMD vocabulary in portable C++ (GCC/Clang vector extensions): 16 float lanes that the
// compiler lowers to whatever the baseline target has (SSE2 on x86-64, NEON on AArch64). It runs
// the AVX-512 variants' exact tiling on any CPU, so that logic is tested on machines without
// AVX-512, and it is the SIMD path where no intrinsics variant applies.
#pragma once

#include <cstdint>

namespace ictus::cpu {
namespace {

struct Portable {
  using Vec = float __attribute__((vector_size(64)));
  struct Mask {
    int lo, hi;
  };
  static constexpr int kWidth = 16;

  static inline Vec zero() { return Vec{}; }
  static inline Vec broadcast(float v) { return Vec{} + v; }
  static inline Vec load(const float* p) {
    Vec v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
  }
  static inline void store(float* p, Vec v) { __builtin_memcpy(p, &v, sizeof(v)); }
  static inline Mask range_mask(int lo, int hi) { return Mask{lo, hi}; }
  static inline Vec load_masked(const float* p, Mask m) {
    Vec v{};
    for (int i = m.lo; i < m.hi; ++i) v[i] = p[i];
    return v;
  }
  static inline void store_masked(float* p, Vec v, Mask m) {
    for (int i = m.lo; i < m.hi; ++i) p[i] = v[i];
  }
  static inline Vec fma(Vec a, Vec b, Vec acc) { return a * b + acc; }
  static inline Vec add(Vec a, Vec b) { return a + b; }
  // dst[i * dst_stride + j] = src[j * src_stride + i] for i, j < 8.
  static inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 8; ++j) dst[i * dst_stride + j] = src[j * src_stride + i];
    }
  }
  static inline float sum(Vec v) {
    float s = 0.0f;
    for (int i = 0; i < kWidth; ++i) s += v[i];
    return s;
  }
};

}  // namespace
}  // namespace ictus::cpu
