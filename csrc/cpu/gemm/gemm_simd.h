// The GEMM kernel (gemm.h), written once against the SIMD vocabulary S and instantiated by
// gemm_<isa>.cpp. A work item is a block of kGemmRowBlock rows of C in one column panel of V*W
// columns; per block of K values (kDepth, so that the panel's rows of B stay in L1) it runs
// register tiles of R rows x V vectors: per k, V loads of B and R broadcasts of A feed R*V FMAs.
// A stored transposed is packed per row block and depth block (pack_a_transposed).
// The last panel's columns past N are masked: loaded as zeros (a packed B holds zeros there) and
// never stored.
#pragma once

#include <cstdint>

#include "common/scratch.h"
#include "cpu/gemm/gemm.h"

namespace ictus::cpu {
namespace {

constexpr int64_t kDepth = 256;

// Where a tile reads B: row k of the panel at column j0 is b + (k - k0) * k_stride (in place:
// stride ldb; packed: the panel's rows, stride panel).
struct BPanel {
  const float* b;
  int64_t k_stride;
};

template <class S, int V>
inline BPanel b_panel(const GemmArgs& g, int64_t j0, int64_t k0) {
  constexpr int64_t panel = static_cast<int64_t>(V) * S::kWidth;
  if (g.b_packed) return {g.b + (j0 / panel) * g.k * panel + k0 * panel, panel};
  return {g.b + k0 * g.ldb + j0, g.ldb};
}

// Where a tile reads A: A(m0 + r, k) = a[r * row_stride + (k - k0) * k_stride] (in place: a at row m0,
// strides lda and 1; packed: the tile's panel, strides 1 and RMax).
struct APanel {
  const float* a;
  int64_t row_stride, k_stride;
};

// kMaskedB: B's last vectors are partly past N and read masked (a tail panel in place).
template <class S, int R, int V, bool kMaskedB>
void gemm_tile(const GemmArgs& g, const APanel& ap, int64_t m0, int64_t j0, int64_t k0, int64_t k1,
               const typename S::Mask (&mask)[V], bool full) {
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
  const float* a = ap.a;
  const BPanel bp = b_panel<S, V>(g, j0, k0);
  const float* brow = bp.b;
  for (int64_t k = k0; k < k1; ++k, a += ap.k_stride, brow += bp.k_stride) {
    Vec b[V];
#pragma GCC unroll 8
    for (int v = 0; v < V; ++v) b[v] = kMaskedB ? S::load_masked(brow + v * W, mask[v]) : S::load(brow + v * W);
#pragma GCC unroll 8
    for (int r = 0; r < R; ++r) {
      const Vec x = S::broadcast(a[r * ap.row_stride]);
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
  using Tile = void (*)(const GemmArgs&, const APanel&, int64_t, int64_t, int64_t, int64_t,
                        const typename S::Mask (&)[V], bool);
  Tile tile[2][RMax];  // [B masked][rows - 1]
  template <int R>
  constexpr void fill() {
    tile[0][R - 1] = &gemm_tile<S, R, V, false>;
    tile[1][R - 1] = &gemm_tile<S, R, V, true>;
    if constexpr (R < RMax) fill<R + 1>();
  }
  constexpr GemmTileTable() : tile{} { fill<1>(); }
};

// Copies A's rows [m_begin, m_end) x [k0, k1), stored transposed (A(i, k) = a[k * lda + i]),
// into panels of RMax rows: dst[tile][k - k0][r]. Read in place, the tiles' A values lie a row of
// the transposed matrix apart for every k, and a few KiB strides thrash L1's sets.
template <int RMax>
void pack_a_transposed(const GemmArgs& g, int64_t m_begin, int64_t m_end, int64_t k0, int64_t k1, float* dst) {
  for (int64_t m0 = m_begin; m0 < m_end; m0 += RMax) {
    const int64_t rows = m_end - m0 < RMax ? m_end - m0 : RMax;
    for (int64_t k = k0; k < k1; ++k, dst += RMax) {
      const float* src = g.a + k * g.lda + m0;
      for (int64_t r = 0; r < RMax; ++r) dst[r] = r < rows ? src[r] : 0.0f;
    }
  }
}

// Work items: row blocks x groups of column panels (gemm_panels_per_item), row blocks fastest.
// A transposed A is packed once per row block and depth block for the whole group.
template <class S, int RMax, int V>
void gemm_simd(const GemmArgs& g, int64_t begin, int64_t end) {
  static constexpr GemmTileTable<S, RMax, V> table{};
  constexpr int64_t panel = static_cast<int64_t>(V) * S::kWidth;
  const int64_t row_blocks = (g.m + kGemmRowBlock - 1) / kGemmRowBlock;
  const int64_t panels = (g.n + panel - 1) / panel, group = gemm_panels_per_item(g, panels);
  float* a_packed = g.a_transposed ? scratch_floats(ScratchSlot::kGemmPackedA, kGemmRowBlock * kDepth) : nullptr;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t first_panel = (item / row_blocks) * group, m_begin = (item % row_blocks) * kGemmRowBlock;
    const int64_t last_panel = panels - first_panel < group ? panels : first_panel + group;
    const int64_t m_end = g.m - m_begin < kGemmRowBlock ? g.m : m_begin + kGemmRowBlock;
    for (int64_t k0 = 0; k0 < g.k || k0 == 0; k0 += kDepth) {  // once with k = 0: C = bias or 0
      const int64_t k1 = g.k - k0 < kDepth ? g.k : k0 + kDepth;
      if (a_packed && k1 > k0) pack_a_transposed<RMax>(g, m_begin, m_end, k0, k1, a_packed);
      for (int64_t p = first_panel; p < last_panel; ++p) {
        const int64_t j0 = p * panel, cols = g.n - j0 < panel ? g.n - j0 : panel;
        typename S::Mask mask[V];
        for (int v = 0; v < V; ++v) {
          const int64_t n = cols - v * S::kWidth;
          mask[v] = S::range_mask(0, static_cast<int>(n <= 0 ? 0 : (n > S::kWidth ? S::kWidth : n)));
        }
        for (int64_t m = m_begin; m < m_end; m += RMax) {
          const int64_t rows = m_end - m < RMax ? m_end - m : RMax;
          const APanel ap = a_packed ? APanel{a_packed + (m - m_begin) * (k1 - k0), 1, RMax}
                                     : APanel{g.a + m * g.lda + k0, g.lda, 1};
          const bool full = cols == panel;
          table.tile[!full && !g.b_packed][rows - 1](g, ap, m, j0, k0, k1, mask, full);
        }
      }
      if (g.k == 0) break;
    }
  }
}

}  // namespace
}  // namespace ictus::cpu
