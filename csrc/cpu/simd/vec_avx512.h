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
  using IVec = __m512i;  // int32 lanes
  static constexpr int kWidth = 16;

  static inline Vec zero() { return _mm512_setzero_ps(); }
  static inline Vec broadcast(float v) { return _mm512_set1_ps(v); }
  static inline Vec load(const float* p) { return _mm512_loadu_ps(p); }
  // v, loaded once into a register: the compiler would otherwise fold the load into every FMA
  // that uses v, and a vector used by several FMAs would be loaded once per FMA.
  static inline Vec load_once(const float* p) {
    Vec v = load(p);
    __asm__("" : "+v"(v));
    return v;
  }
  static inline void store(float* p, Vec v) { _mm512_storeu_ps(p, v); }
  // Lanes lo <= i < hi are on; 0 <= lo, hi <= kWidth.
  static inline Mask range_mask(int lo, int hi) {
    const unsigned below_hi = (1u << hi) - 1u, below_lo = (1u << lo) - 1u;
    return static_cast<Mask>(below_hi & ~below_lo);
  }
  // Lanes that are off read as zero and touch no memory, so p may point outside the array there.
  static inline Vec load_masked(const float* p, Mask m) { return _mm512_maskz_loadu_ps(m, p); }
  static inline void store_masked(float* p, Vec v, Mask m) { _mm512_mask_storeu_ps(p, m, v); }
  // a, with b in the lanes of m.
  static inline Vec blend(Vec a, Vec b, Mask m) { return _mm512_mask_mov_ps(a, m, b); }
  static inline Vec fma(Vec a, Vec b, Vec acc) { return _mm512_fmadd_ps(a, b, acc); }
  static inline Vec add(Vec a, Vec b) { return _mm512_add_ps(a, b); }
  static inline Vec sub(Vec a, Vec b) { return _mm512_sub_ps(a, b); }
  static inline Vec mul(Vec a, Vec b) { return _mm512_mul_ps(a, b); }
  // Element-wise math vocabulary (ELU). min/max: a < b ? a : b (a > b ? a : b), so b where either is NaN.
  static inline Vec min(Vec a, Vec b) { return _mm512_min_ps(a, b); }
  static inline Vec max(Vec a, Vec b) { return _mm512_max_ps(a, b); }
  // a <= b ? then : otherwise per lane (otherwise where either is NaN).
  static inline Vec select_le(Vec a, Vec b, Vec then, Vec otherwise) {
    return _mm512_mask_mov_ps(otherwise, _mm512_cmp_ps_mask(a, b, _CMP_LE_OQ), then);
  }
  // 2^n for t = n + 1.5 * 2^23 (|n| < 2^22, n + 127 in [1, 254]): n sits in t's low mantissa bits.
  static inline Vec pow2_of_rounded(Vec t) {
    const __m512i n_bits = _mm512_slli_epi32(_mm512_castps_si512(t), 23);  // (n + 2^22) << 23 wraps to n << 23
    return _mm512_castsi512_ps(_mm512_add_epi32(n_bits, _mm512_set1_epi32(127 << 23)));
  }
  // Max-pool vocabulary: int32 index lanes and torch's NaN-aware running maximum.
  static inline Vec neg_inf() { return _mm512_set1_ps(-__builtin_inff()); }
  // Lanes that are off read as `fill` and touch no memory.
  static inline Vec load_masked_fill(const float* p, Mask m, Vec fill) { return _mm512_mask_loadu_ps(fill, m, p); }
  static inline IVec ibroadcast(int32_t v) { return _mm512_set1_epi32(v); }
  static inline IVec iload(const int32_t* p) { return _mm512_loadu_si512(p); }
  static inline IVec iadd(IVec a, IVec b) { return _mm512_add_epi32(a, b); }
  static inline IVec iota_times(int32_t step) {
    return _mm512_mullo_epi32(_mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15),
                              _mm512_set1_epi32(step));
  }
  // Phases of 2 (3) consecutive vectors: p[q][l] = value 2l + q (3l + q) of the block. Two-source
  // permutes: index i < 16 takes the first source's lane i, else the second's lane i - 16.
  static inline void split_phases(const Vec (&v)[2], Vec (&p)[2]) {
    p[0] = _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(0, 2, 4, 6, 8, 10, 12, 14, 16, 18, 20, 22, 24, 26, 28, 30), v[1]);
    p[1] = _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(1, 3, 5, 7, 9, 11, 13, 15, 17, 19, 21, 23, 25, 27, 29, 31), v[1]);
  }
  static inline void split_phases(const Vec (&v)[3], Vec (&p)[3]) {
    // Values 3l + q below 32 come from (v0, v1) first; the rest from v2 (its lane 3l + q - 32).
    p[0] = _mm512_permutex2var_ps(
        _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(0, 3, 6, 9, 12, 15, 18, 21, 24, 27, 30, 0, 0, 0, 0, 0), v[1]),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 17, 20, 23, 26, 29), v[2]);
    p[1] = _mm512_permutex2var_ps(
        _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(1, 4, 7, 10, 13, 16, 19, 22, 25, 28, 31, 0, 0, 0, 0, 0), v[1]),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 18, 21, 24, 27, 30), v[2]);
    p[2] = _mm512_permutex2var_ps(
        _mm512_permutex2var_ps(v[0], _mm512_setr_epi32(2, 5, 8, 11, 14, 17, 20, 23, 26, 29, 0, 0, 0, 0, 0, 0), v[1]),
        _mm512_setr_epi32(0, 1, 2, 3, 4, 5, 6, 7, 8, 9, 16, 19, 22, 25, 28, 31), v[2]);
  }
  // Lanes where v > m or v is NaN take (v, vi): the first of equal maxima wins and NaN sticks.
  static inline void max_update(Vec& m, IVec& idx, Vec v, IVec vi) {
    const __mmask16 take = _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q);
    m = _mm512_mask_mov_ps(m, take, v);
    idx = _mm512_mask_mov_epi32(idx, take, vi);
  }
  static inline Vec max_nan(Vec m, Vec v) {
    return _mm512_mask_mov_ps(m, _mm512_cmp_ps_mask(v, m, _CMP_GT_OQ) | _mm512_cmp_ps_mask(v, v, _CMP_UNORD_Q), v);
  }
  // The first n lanes of idx, widened to int64.
  static inline void store_index_lanes(int64_t* p, IVec idx, int n) {
    const __m512i lo = _mm512_cvtepi32_epi64(_mm512_castsi512_si256(idx));
    const __m512i hi = _mm512_cvtepi32_epi64(_mm512_extracti64x4_epi64(idx, 1));
    const int n_lo = n < 8 ? n : 8, n_hi = n - n_lo;
    _mm512_mask_storeu_epi64(p, static_cast<__mmask8>((1u << n_lo) - 1u), lo);
    _mm512_mask_storeu_epi64(p + 8, static_cast<__mmask8>((1u << n_hi) - 1u), hi);
  }
  // The first n lanes of idx, as they are (int32 indices).
  static inline void store_index_lanes(int32_t* p, IVec idx, int n) {
    _mm512_mask_storeu_epi32(p, static_cast<__mmask16>((1u << n) - 1u), idx);
  }
  // Max-pool backward vocabulary: phases merged back into consecutive values, index lanes compared.
  // Inverse of split_phases: value 2l + q (3l + q) of the block v is p[q][l].
  static inline void merge_phases(const Vec (&p)[2], Vec (&v)[2]) {
    v[0] = _mm512_permutex2var_ps(p[0], _mm512_setr_epi32(0, 16, 1, 17, 2, 18, 3, 19, 4, 20, 5, 21, 6, 22, 7, 23), p[1]);
    v[1] = _mm512_permutex2var_ps(p[0], _mm512_setr_epi32(8, 24, 9, 25, 10, 26, 11, 27, 12, 28, 13, 29, 14, 30, 15, 31), p[1]);
  }
  static inline void merge_phases(const Vec (&p)[3], Vec (&v)[3]) {
    // Phases 0 and 1 through a two-source permute (index 16 + l: p[1]'s lane l), then phase 2's
    // lanes (every third value) through a masked one-source permute.
    v[0] = _mm512_mask_permutexvar_ps(
        _mm512_permutex2var_ps(p[0], _mm512_setr_epi32(0, 16, 0, 1, 17, 0, 2, 18, 0, 3, 19, 0, 4, 20, 0, 5), p[1]),
        0x4924, _mm512_setr_epi32(0, 0, 0, 0, 0, 1, 0, 0, 2, 0, 0, 3, 0, 0, 4, 0), p[2]);
    v[1] = _mm512_mask_permutexvar_ps(
        _mm512_permutex2var_ps(p[0], _mm512_setr_epi32(21, 0, 6, 22, 0, 7, 23, 0, 8, 24, 0, 9, 25, 0, 10, 26), p[1]),
        0x2492, _mm512_setr_epi32(0, 5, 0, 0, 6, 0, 0, 7, 0, 0, 8, 0, 0, 9, 0, 0), p[2]);
    v[2] = _mm512_mask_permutexvar_ps(
        _mm512_permutex2var_ps(p[0], _mm512_setr_epi32(0, 11, 27, 0, 12, 28, 0, 13, 29, 0, 14, 30, 0, 15, 31, 0), p[1]),
        0x9249, _mm512_setr_epi32(10, 0, 0, 11, 0, 0, 12, 0, 0, 13, 0, 0, 14, 0, 0, 15), p[2]);
  }
  // Max-pool backward of windows 3 wide at stride 3 (no merge of phases): value v of the 48 under
  // 16 windows starting at position base (window l = v / 3) gets g[l] where index[l] == base + v,
  // else +0 (g holds no -0: the caller adds it to +0). One permute spreads the indices, a masked
  // one the gradients. Returns the lanes whose index lies in its window.
  static inline __mmask16 spread_windows3(Vec g, IVec index, int32_t base, Vec (&out)[3]) {
    const __m512i window[3] = {_mm512_setr_epi32(0, 0, 0, 1, 1, 1, 2, 2, 2, 3, 3, 3, 4, 4, 4, 5),
                               _mm512_setr_epi32(5, 5, 6, 6, 6, 7, 7, 7, 8, 8, 8, 9, 9, 9, 10, 10),
                               _mm512_setr_epi32(10, 11, 11, 11, 12, 12, 12, 13, 13, 13, 14, 14, 14, 15, 15, 15)};
    const __m512i lane = iota_times(1);
    const __m512i first = _mm512_set1_epi32(base);
#pragma GCC unroll 3
    for (int k = 0; k < 3; ++k) {
      const __m512i position = _mm512_add_epi32(first, _mm512_add_epi32(lane, _mm512_set1_epi32(16 * k)));
      const __mmask16 hit = _mm512_cmpeq_epi32_mask(_mm512_permutexvar_epi32(window[k], index), position);
      out[k] = _mm512_maskz_permutexvar_ps(hit, window[k], g);
    }
    const __m512i tap = _mm512_sub_epi32(index, _mm512_add_epi32(first, iota_times(3)));
    return _mm512_cmplt_epu32_mask(tap, _mm512_set1_epi32(3));
  }
  // kWidth int64 indices as int32 lanes; values outside [0, 2^31) read -1 (never a position in a
  // plane the SIMD kernels take).
  static inline IVec load_index_lanes(const int64_t* p) {
    const __m512i minus_one = _mm512_set1_epi64(-1), int32_max = _mm512_set1_epi64(INT32_MAX);
    __m512i lo = _mm512_loadu_si512(p), hi = _mm512_loadu_si512(p + 8);
    lo = _mm512_mask_mov_epi64(lo, _mm512_cmpgt_epu64_mask(lo, int32_max), minus_one);  // unsigned: negatives too
    hi = _mm512_mask_mov_epi64(hi, _mm512_cmpgt_epu64_mask(hi, int32_max), minus_one);
    return _mm512_inserti64x4(_mm512_castsi256_si512(_mm512_cvtepi64_epi32(lo)), _mm512_cvtepi64_epi32(hi), 1);
  }
  // kWidth int32 indices (negative ones are never a position).
  static inline IVec load_index_lanes(const int32_t* p) { return iload(p); }
  // All-ones lanes where a == b, else 0.
  static inline IVec iequal(IVec a, IVec b) {
    return _mm512_maskz_mov_epi32(_mm512_cmpeq_epi32_mask(a, b), _mm512_set1_epi32(-1));
  }
  static inline IVec ior(IVec a, IVec b) { return _mm512_or_si512(a, b); }
  // v in the all-ones lanes of m, +0.0 elsewhere.
  static inline Vec select_bits(IVec m, Vec v) { return _mm512_castsi512_ps(_mm512_and_si512(m, _mm512_castps_si512(v))); }
  static inline bool all_lanes_set(IVec m) { return _mm512_cmpeq_epi32_mask(m, _mm512_set1_epi32(-1)) == 0xFFFF; }
  // Winograd's filter transform: lanes read base[offsets[l]]; lanes from n on of v read 0.
  static inline Vec gather(const float* base, IVec offsets) { return _mm512_i32gather_ps(offsets, base, 4); }
  static inline IVec izero_from(IVec v, int n) { return _mm512_maskz_mov_epi32(range_mask(0, n), v); }
  // dst[i * dst_stride + j] = src[j * src_stride + i] for i, j < 8.
  static inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    transpose8_avx(src, src_stride, dst, dst_stride);
  }
  // Bit l set where lane l is not +-0 (NaN included).
  static inline uint32_t nonzero_lanes(Vec v) { return _mm512_cmp_ps_mask(v, _mm512_setzero_ps(), _CMP_NEQ_UQ); }
  static inline float sum(Vec v) { return _mm512_reduce_add_ps(v); }
};

}  // namespace
}  // namespace ictus::cpu
