// The thin SIMD vocabulary for AVX2 + FMA: 8 float lanes. Include only from *_avx2.cpp files, which
// alone get -mavx2 -mfma. Same names as vec_avx512.h and vec_portable.h so kernels are written once.
#pragma once

#include <immintrin.h>

#include <cstdint>

#include "cpu/simd/transpose8_avx.h"

namespace ictus::cpu {
namespace {

struct Avx2 {
  using Vec = __m256;
  using Mask = __m256i;
  static constexpr int kWidth = 8;

  static inline Vec zero() { return _mm256_setzero_ps(); }
  static inline Vec broadcast(float v) { return _mm256_set1_ps(v); }
  static inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
  static inline void store(float* p, Vec v) { _mm256_storeu_ps(p, v); }
  // Lanes lo <= i < hi are on; 0 <= lo, hi <= kWidth.
  static inline Mask range_mask(int lo, int hi) {
    const __m256i lane = _mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7);
    return _mm256_and_si256(_mm256_cmpgt_epi32(lane, _mm256_set1_epi32(lo - 1)),
                            _mm256_cmpgt_epi32(_mm256_set1_epi32(hi), lane));
  }
  // Lanes that are off read as zero and touch no memory, so p may point outside the array there.
  static inline Vec load_masked(const float* p, Mask m) { return _mm256_maskload_ps(p, m); }
  static inline void store_masked(float* p, Vec v, Mask m) { _mm256_maskstore_ps(p, m, v); }
  static inline Vec fma(Vec a, Vec b, Vec acc) { return _mm256_fmadd_ps(a, b, acc); }
  static inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  // dst[i * dst_stride + j] = src[j * src_stride + i] for i, j < 8.
  static inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    transpose8_avx(src, src_stride, dst, dst_stride);
  }
  static inline float sum(Vec v) {
    __m128 s = _mm_add_ps(_mm256_castps256_ps128(v), _mm256_extractf128_ps(v, 1));
    s = _mm_add_ps(s, _mm_movehl_ps(s, s));
    s = _mm_add_ss(s, _mm_movehdup_ps(s));
    return _mm_cvtss_f32(s);
  }
};

}  // namespace
}  // namespace ictus::cpu
