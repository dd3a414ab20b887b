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
  using IVec = int32_t __attribute__((vector_size(64)));
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
  static inline Vec load_once(const float* p) { return load(p); }
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
  // a, with b in the lanes of m.
  static inline Vec blend(Vec a, Vec b, Mask m) {
    for (int i = m.lo; i < m.hi; ++i) a[i] = b[i];
    return a;
  }
  static inline Vec fma(Vec a, Vec b, Vec acc) { return a * b + acc; }
  static inline Vec add(Vec a, Vec b) { return a + b; }
  static inline Vec sub(Vec a, Vec b) { return a - b; }
  static inline Vec mul(Vec a, Vec b) { return a * b; }
  // Element-wise math vocabulary (ELU). min/max: a < b ? a : b (a > b ? a : b), so b where either is NaN.
  static inline Vec min(Vec a, Vec b) { return a < b ? a : b; }
  static inline Vec max(Vec a, Vec b) { return a > b ? a : b; }
  // a <= b ? then : otherwise per lane (otherwise where either is NaN).
  static inline Vec select_le(Vec a, Vec b, Vec then, Vec otherwise) { return a <= b ? then : otherwise; }
  // 2^n for t = n + 1.5 * 2^23 (|n| < 2^22, n + 127 in [1, 254]): n sits in t's low mantissa bits.
  static inline Vec pow2_of_rounded(Vec t) {
    using UVec = uint32_t __attribute__((vector_size(64)));  // unsigned: the shift may wrap
    UVec bits;
    __builtin_memcpy(&bits, &t, sizeof(bits));
    bits = (bits << 23) + (127u << 23);  // (n + 2^22) << 23 wraps to n << 23; + the exponent bias
    Vec scale;
    __builtin_memcpy(&scale, &bits, sizeof(scale));
    return scale;
  }
  // Max-pool vocabulary: int32 index lanes and torch's NaN-aware running maximum.
  static inline Vec neg_inf() { return Vec{} - __builtin_inff(); }
  static inline Vec load_masked_fill(const float* p, Mask m, Vec fill) {
    Vec v = fill;
    for (int i = m.lo; i < m.hi; ++i) v[i] = p[i];
    return v;
  }
  static inline IVec ibroadcast(int32_t v) { return IVec{} + v; }
  static inline IVec iload(const int32_t* p) {
    IVec v;
    __builtin_memcpy(&v, p, sizeof(v));
    return v;
  }
  static inline IVec iadd(IVec a, IVec b) { return a + b; }
  static inline IVec iota_times(int32_t step) {
    IVec v{};
    for (int i = 0; i < kWidth; ++i) v[i] = i * step;
    return v;
  }
  // Phases of K consecutive vectors (K = 2 or 3): p[q][l] = value K*l + q of the block.
  template <int K>
  static inline void split_phases(const Vec (&v)[K], Vec (&p)[K]) {
    for (int q = 0; q < K; ++q) {
      for (int l = 0; l < kWidth; ++l) p[q][l] = v[(K * l + q) / kWidth][(K * l + q) % kWidth];
    }
  }
  // Lanes where v > m or v is NaN take (v, vi): the first of equal maxima wins and NaN sticks.
  static inline void max_update(Vec& m, IVec& idx, Vec v, IVec vi) {
    for (int i = 0; i < kWidth; ++i) {
      if (v[i] > m[i] || v[i] != v[i]) {
        m[i] = v[i];
        idx[i] = vi[i];
      }
    }
  }
  static inline Vec max_nan(Vec m, Vec v) {
    for (int i = 0; i < kWidth; ++i) {
      if (v[i] > m[i] || v[i] != v[i]) m[i] = v[i];
    }
    return m;
  }
  // The first n lanes of idx as int64 or int32 indices.
  template <class Index>
  static inline void store_index_lanes(Index* p, IVec idx, int n) {
    for (int i = 0; i < n; ++i) p[i] = idx[i];
  }
  // Max-pool backward vocabulary: phases merged back into consecutive values, index lanes compared.
  // Inverse of split_phases: value K*l + q of the block v is p[q][l].
  template <int K>
  static inline void merge_phases(const Vec (&p)[K], Vec (&v)[K]) {
    for (int q = 0; q < K; ++q) {
      for (int l = 0; l < kWidth; ++l) v[(K * l + q) / kWidth][(K * l + q) % kWidth] = p[q][l];
    }
  }
  // kWidth int64 indices as int32 lanes; values outside [0, 2^31) read -1 (never a position in a
  // plane the SIMD kernels take).
  static inline IVec load_index_lanes(const int64_t* p) {
    IVec v = IVec{} - 1;
    for (int i = 0; i < kWidth; ++i) {
      if (p[i] >= 0 && p[i] <= INT32_MAX) v[i] = static_cast<int32_t>(p[i]);
    }
    return v;
  }
  // kWidth int32 indices (negative ones are never a position).
  static inline IVec load_index_lanes(const int32_t* p) { return iload(p); }
  // All-ones lanes where a == b, else 0.
  static inline IVec iequal(IVec a, IVec b) { return a == b; }
  static inline IVec ior(IVec a, IVec b) { return a | b; }
  // v in the all-ones lanes of m, +0.0 elsewhere.
  static inline Vec select_bits(IVec m, Vec v) {
    IVec bits;
    __builtin_memcpy(&bits, &v, sizeof(bits));
    bits &= m;
    __builtin_memcpy(&v, &bits, sizeof(v));
    return v;
  }
  static inline bool all_lanes_set(IVec m) {
    for (int i = 0; i < kWidth; ++i) {
      if (m[i] != -1) return false;
    }
    return true;
  }
  // Winograd's filter transform: lanes read base[offsets[l]]; lanes from n on of v read 0.
  static inline Vec gather(const float* base, IVec offsets) {
    Vec v;
    for (int i = 0; i < kWidth; ++i) v[i] = base[offsets[i]];
    return v;
  }
  static inline IVec izero_from(IVec v, int n) {
    for (int i = n; i < kWidth; ++i) v[i] = 0;
    return v;
  }
  // dst[i * dst_stride + j] = src[j * src_stride + i] for i, j < 8.
  static inline void transpose8(const float* src, int64_t src_stride, float* dst, int64_t dst_stride) {
    for (int i = 0; i < 8; ++i) {
      for (int j = 0; j < 8; ++j) dst[i * dst_stride + j] = src[j * src_stride + i];
    }
  }
  // Bit l set where lane l is not +-0 (NaN included).
  static inline uint32_t nonzero_lanes(Vec v) {
    uint32_t bits = 0;
    for (int i = 0; i < kWidth; ++i) bits |= static_cast<uint32_t>(v[i] != 0.0f) << i;
    return bits;
  }
  static inline float sum(Vec v) {
    float s = 0.0f;
    for (int i = 0; i < kWidth; ++i) s += v[i];
    return s;
  }
};

}  // namespace
}  // namespace ictus::cpu
