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
  using IVec = __m256i;  // int32 lanes
  static constexpr int kWidth = 8;

  static inline Vec zero() { return _mm256_setzero_ps(); }
  static inline Vec broadcast(float v) { return _mm256_set1_ps(v); }
  static inline Vec load(const float* p) { return _mm256_loadu_ps(p); }
  // v, loaded once into a register: the compiler would otherwise fold the load into every FMA
  // that uses v, and a vector used by several FMAs would be loaded once per FMA.
  static inline Vec load_once(const float* p) {
    Vec v = load(p);
    __asm__("" : "+v"(v));
    return v;
  }
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
  // a, with b in the lanes of m.
  static inline Vec blend(Vec a, Vec b, Mask m) { return _mm256_blendv_ps(a, b, _mm256_castsi256_ps(m)); }
  static inline Vec fma(Vec a, Vec b, Vec acc) { return _mm256_fmadd_ps(a, b, acc); }
  static inline Vec add(Vec a, Vec b) { return _mm256_add_ps(a, b); }
  static inline Vec sub(Vec a, Vec b) { return _mm256_sub_ps(a, b); }
  static inline Vec mul(Vec a, Vec b) { return _mm256_mul_ps(a, b); }
  // Element-wise math vocabulary (ELU). min/max: a < b ? a : b (a > b ? a : b), so b where either is NaN.
  static inline Vec min(Vec a, Vec b) { return _mm256_min_ps(a, b); }
  static inline Vec max(Vec a, Vec b) { return _mm256_max_ps(a, b); }
  // a <= b ? then : otherwise per lane (otherwise where either is NaN).
  static inline Vec select_le(Vec a, Vec b, Vec then, Vec otherwise) {
    return _mm256_blendv_ps(otherwise, then, _mm256_cmp_ps(a, b, _CMP_LE_OQ));
  }
  // 2^n for t = n + 1.5 * 2^23 (|n| < 2^22, n + 127 in [1, 254]): n sits in t's low mantissa bits.
  static inline Vec pow2_of_rounded(Vec t) {
    const __m256i n_bits = _mm256_slli_epi32(_mm256_castps_si256(t), 23);  // (n + 2^22) << 23 wraps to n << 23
    return _mm256_castsi256_ps(_mm256_add_epi32(n_bits, _mm256_set1_epi32(127 << 23)));
  }
  // Max-pool vocabulary: int32 index lanes and torch's NaN-aware running maximum.
  static inline Vec neg_inf() { return _mm256_set1_ps(-__builtin_inff()); }
  // Lanes that are off read as `fill` and touch no memory.
  static inline Vec load_masked_fill(const float* p, Mask m, Vec fill) {
    return _mm256_blendv_ps(fill, _mm256_maskload_ps(p, m), _mm256_castsi256_ps(m));
  }
  static inline IVec ibroadcast(int32_t v) { return _mm256_set1_epi32(v); }
  static inline IVec iload(const int32_t* p) { return _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p)); }
  static inline IVec iadd(IVec a, IVec b) { return _mm256_add_epi32(a, b); }
  static inline IVec iota_times(int32_t step) {
    return _mm256_mullo_epi32(_mm256_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7), _mm256_set1_epi32(step));
  }
  // Phases of 2 (3) consecutive vectors: p[q][l] = value 2l + q (3l + q) of the block.
  static inline void split_phases(const Vec (&v)[2], Vec (&p)[2]) {
    // In-lane shuffles pick the even (odd) values of both vectors; a 64-bit permute orders them.
    p[0] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v[0], v[1], 0x88)), 0xD8));
    p[1] = _mm256_castpd_ps(_mm256_permute4x64_pd(_mm256_castps_pd(_mm256_shuffle_ps(v[0], v[1], 0xDD)), 0xD8));
  }
  static inline void split_phases(const Vec (&v)[3], Vec (&p)[3]) {
    // Blends gather each phase's 8 values (they sit at distinct lanes), one permute orders them.
    p[0] = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(v[0], v[1], 0x92), v[2], 0x24),
                                    _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
    p[1] = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(v[0], v[1], 0x24), v[2], 0x49),
                                    _mm256_setr_epi32(1, 4, 7, 2, 5, 0, 3, 6));
    p[2] = _mm256_permutevar8x32_ps(_mm256_blend_ps(_mm256_blend_ps(v[0], v[1], 0x49), v[2], 0x92),
                                    _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
  }
  // Lanes where v > m or v is NaN take (v, vi): the first of equal maxima wins and NaN sticks.
  static inline void max_update(Vec& m, IVec& idx, Vec v, IVec vi) {
    const Vec take = _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q));
    m = _mm256_blendv_ps(m, v, take);
    idx = _mm256_castps_si256(_mm256_blendv_ps(_mm256_castsi256_ps(idx), _mm256_castsi256_ps(vi), take));
  }
  static inline Vec max_nan(Vec m, Vec v) {
    return _mm256_blendv_ps(m, v, _mm256_or_ps(_mm256_cmp_ps(v, m, _CMP_GT_OQ), _mm256_cmp_ps(v, v, _CMP_UNORD_Q)));
  }
  // The first n lanes of idx as int64 (widened) or int32 indices; a partial vector lane by lane.
  template <class Index>
  static inline void store_index_lanes(Index* p, IVec idx, int n) {
    if (n == kWidth) {
      if constexpr (sizeof(Index) == 8) {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), _mm256_cvtepi32_epi64(_mm256_castsi256_si128(idx)));
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p + 4), _mm256_cvtepi32_epi64(_mm256_extracti128_si256(idx, 1)));
      } else {
        _mm256_storeu_si256(reinterpret_cast<__m256i*>(p), idx);
      }
      return;
    }
    alignas(32) int32_t lanes[kWidth];
    _mm256_store_si256(reinterpret_cast<__m256i*>(lanes), idx);
    for (int i = 0; i < n; ++i) p[i] = lanes[i];
  }
  // Max-pool backward vocabulary: phases merged back into consecutive values, index lanes compared.
  // Inverse of split_phases: value 2l + q (3l + q) of the block v is p[q][l].
  static inline void merge_phases(const Vec (&p)[2], Vec (&v)[2]) {
    const Vec lo = _mm256_unpacklo_ps(p[0], p[1]), hi = _mm256_unpackhi_ps(p[0], p[1]);
    v[0] = _mm256_permute2f128_ps(lo, hi, 0x20);
    v[1] = _mm256_permute2f128_ps(lo, hi, 0x31);
  }
  static inline void merge_phases(const Vec (&p)[3], Vec (&v)[3]) {
    // split_phases backwards: each phase permuted to the lanes its values take (the permutes'
    // inverses), then the same blends.
    const Vec u0 = _mm256_permutevar8x32_ps(p[0], _mm256_setr_epi32(0, 3, 6, 1, 4, 7, 2, 5));
    const Vec u1 = _mm256_permutevar8x32_ps(p[1], _mm256_setr_epi32(5, 0, 3, 6, 1, 4, 7, 2));
    const Vec u2 = _mm256_permutevar8x32_ps(p[2], _mm256_setr_epi32(2, 5, 0, 3, 6, 1, 4, 7));
    v[0] = _mm256_blend_ps(_mm256_blend_ps(u0, u1, 0x92), u2, 0x24);
    v[1] = _mm256_blend_ps(_mm256_blend_ps(u0, u1, 0x24), u2, 0x49);
    v[2] = _mm256_blend_ps(_mm256_blend_ps(u0, u1, 0x49), u2, 0x92);
  }
  // kWidth int64 indices as int32 lanes; values outside [0, 2^31) read -1 (never a position in a
  // plane the SIMD kernels take).
  static inline IVec load_index_lanes(const int64_t* p) {
    const __m256i int32_max = _mm256_set1_epi64x(INT32_MAX), zero = _mm256_setzero_si256();
    __m256i a = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p));
    __m256i b = _mm256_loadu_si256(reinterpret_cast<const __m256i*>(p + 4));
    a = _mm256_or_si256(a, _mm256_or_si256(_mm256_cmpgt_epi64(a, int32_max), _mm256_cmpgt_epi64(zero, a)));
    b = _mm256_or_si256(b, _mm256_or_si256(_mm256_cmpgt_epi64(b, int32_max), _mm256_cmpgt_epi64(zero, b)));
    // The low halves of a's and b's lanes, in order.
    const __m256 low = _mm256_shuffle_ps(_mm256_castsi256_ps(a), _mm256_castsi256_ps(b), 0x88);
    return _mm256_castpd_si256(_mm256_permute4x64_pd(_mm256_castps_pd(low), 0xD8));
  }
  // kWidth int32 indices (negative ones are never a position).
  static inline IVec load_index_lanes(const int32_t* p) { return iload(p); }
  // All-ones lanes where a == b, else 0.
  static inline IVec iequal(IVec a, IVec b) { return _mm256_cmpeq_epi32(a, b); }
  static inline IVec ior(IVec a, IVec b) { return _mm256_or_si256(a, b); }
  // v in the all-ones lanes of m, +0.0 elsewhere.
  static inline Vec select_bits(IVec m, Vec v) { return _mm256_and_ps(_mm256_castsi256_ps(m), v); }
  static inline bool all_lanes_set(IVec m) { return _mm256_movemask_ps(_mm256_castsi256_ps(m)) == 0xFF; }
  // Winograd's filter transform: lanes read base[offsets[l]]; lanes from n on of v read 0.
  static inline Vec gather(const float* base, IVec offsets) { return _mm256_i32gather_ps(base, offsets, 4); }
  static inline IVec izero_from(IVec v, int n) { return _mm256_and_si256(range_mask(0, n), v); }
  // dst[i * dst_stride + j] = src[j * src_stride + i] for i, j < 8.
  static inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    transpose8_avx(src, src_stride, dst, dst_stride);
  }
  // Bit l set where lane l is not +-0 (NaN included).
  static inline uint32_t nonzero_lanes(Vec v) {
    return static_cast<uint32_t>(_mm256_movemask_ps(_mm256_cmp_ps(v, _mm256_setzero_ps(), _CMP_NEQ_UQ)));
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
