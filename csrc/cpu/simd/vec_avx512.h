// The thin SIMD vocabulary for AVX-512F: 16 float lanes, tails through opmask registers. Include
// only from *_avx512.cpp files, which alone get the AVX-512 flags. Same names as vec_avx2.h.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "cpu/simd/transpose8_avx.h"

namespace ictus::cpu {
namespace {

struct Avx512 {
  using Vec = __m512;
  using Mask = __mmask16;
  static constexpr int kWidth = 16;

  static inline Vec zero() { return _mm512_setzero_ps(); }
  static inline Vec broadcast(float v) { return _mm512_set1_ps(v); }
  static inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
  static inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  // Lanes lo <= i < hi are on; 0 <= lo, hi <= kWidth.
  static inline Mask range_mask(int lo, int hi) {
    const unsigned below_hi = (1u << hi) - 1u, below_lo = (1u << lo) - 1u;
    return static_cast<Mask>(below_hi & ~below_lo);
  }
  // Lanes that are off read as zero and touch no memory, so p may point outside the array there.
  static inline Vec load_masked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static inline void store_masked(float* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  static inline Vec fma(Vec a, Vec b, Vec acc) { return _mm512_fmadd_ps(a, b, acc); }
  static inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  // dst[i * dst_stride + j] = src[j * src_stride + i] for i, j < 8.
  static inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    transpose8_avx(src, src_stride, dst, dst_stride);
  }
  static inline float sum(Vec v) { return _mm512_reduce_add_ps(v); }
};

}  // namespace
}  // namespace ictus::cpu
