// The GEMM kernel (gemm.h), written once against the SIMD vocabulary S and instantiated by
// gemm_<isa>.cpp. A work item is a block of kGemmRowBlock rows of C in one column panel of V*W
// columns; per block of K values (kDepth, so that the panel's rows of B stay in L1) it runs
// register tiles of R rows x V vectors: per k, V loads of B and R broadcasts of A feed R*V FMAs.
// The last panel's columns past N are masked: loaded as zeros and never stored.
#pragma once

#include <cstdint>

#include "cpu/gemm/gemm.h"

namespace ictus::cpu {
namespace {

constexpr int64_t kDepth = 256;

template <class S, int R, int V>
void gemm_tile(const GemmArgs& g, int64_t m0, int64_t j0, int64_t k0, int64_t k1, const typename S::Mask (&mask)[V],
               bool full) {
  using Vec = typename S::Vec;
  constexpr int W = S::kWidth;
  Vec acc[R][V];
  float* c = g.c + m0 * g.ldc + j0;
  const bool from_c = g.accumulate || k0 > 0;
#pragma GCC unroll 8
  for (int v = 0; v < V; ++v) {
    const Vec b = from_c || !g.bias ? S::zero() : (full ? S::load(g.bias + j0 + v * W) : S::load_masked(g.bias + j0 + v * W, mask[v]));
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      acc[r][v] = !from_c ? b : (full ? S::load(c + r * g.ldc + v * W) : S::load_masked(c + r * g.ldc + v * W, mask[v]));
    }
  }
  const float* a = g.a + m0 * g.lda;
  for (int64_t k = k0; k < k1; ++k) {
    const float* brow = g.b + k * g.ldb + j0;
    Vec b[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) b[v] = full ? S::load(brow + v * W) : S::load_masked(brow + v * W, mask[v]);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Vec x = S::broadcast(a[r * g.lda + k]);
#pragma GCC unroll 8
      for (int v = 0; v < V; ++v) acc[r][v] = S::fma(x, b[v], acc[r][v]);
    }
  }
#pragma GCC unroll 8
  for (int r = 0; r < R; ++r) {
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) {
      if (full) S::store(c + r * g.ldc + v * W, acc[r][v]);
      else S::store_masked(c + r * g.ldc + v * W, acc[r][v], mask[v]);
    }
  }
}

template <class S, int RMax, int V>
struct GemmTileTable {
  using Tile = void (*)(const GemmArgs&, int64_t, int64_t, int64_t, int64_t, const typename S::Mask (&)[V], bool);
  Tile tile[RMax];
  template <int R>
  constexpr void fill() {
    tile[R - 1] = &gemm_tile<S, R, V>;
    if constexpr (R < RMax) fill<R + 1>();
  }
  constexpr GemmTileTable() : tile{} { fill<1>(); }
};

// Work items: row blocks x column panels, row blocks fastest.
template <class S, int RMax, int V>
void gemm_simd(const GemmArgs& g, int64_t begin, int64_t end) {
  static constexpr GemmTileTable<S, RMax, V> table{};
  constexpr int64_t panel = static_cast<int64_t>(V) * S::kWidth;
  const int64_t row_blocks = (g.m + kGemmRowBlock - 1) / kGemmRowBlock;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t j0 = (item / row_blocks) * panel, m_begin = (item % row_blocks) * kGemmRowBlock;
    const int64_t m_end = g.m - m_begin < kGemmRowBlock ? g.m : m_begin + kGemmRowBlock;
    const int64_t cols = g.n - j0 < panel ? g.n - j0 : panel;
    typename S::Mask mask[V];
    for (int v = 0; v < V; ++v) {
      const int64_t lo = v * S::kWidth, n = cols - lo;
      mask[v] = S::range_mask(0, static_cast<int>(n <= 0 ? 0 : (n > S::kWidth ? S::kWidth : n)));
    }
    const bool full = cols == panel;
    if (g.k == 0) {  // C = bias or 0 (or unchanged when accumulating)
      for (int64_t m = m_begin; m < m_end; m += RMax) {
        const int64_t rows = m_end - m < RMax ? m_end - m : RMax;
        table.tile[rows - 1](g, m, j0, 0, 0, mask, full);
      }
      continue;
    }
    for (int64_t k0 = 0; k0 < g.k; k0 += kDepth) {
      const int64_t k1 = g.k - k0 < kDepth ? g.k : k0 + kDepth;
      for (int64_t m = m_begin; m < m_end; m += RMax) {
        const int64_t rows = m_end - m < RMax ? m_end - m : RMax;
        table.tile[rows - 1](g, m, j0, k0, k1, mask, full);
      }
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
