// Row-major single-precision matrix products for recurrent and dense layers:
//   C (M x N) = A (M x K) B (K x N) + (C if accumulate, else bias per column or 0)
// with row strides lda, ldb, ldc; the kernels handle any M, N, K >= 0. Callers that need a
// transposed operand store it transposed once (the GRU keeps its weights transposed in scratch).
// B may be given packed (gemm_pack_b): in panels of the kernel's register-tile width, each
// K x panel floats contiguous and zero-padded. Row-major rows of B a few KiB apart map to a
// handful of L1 sets, so the kernel packs larger products itself; a B reused across calls (a
// GRU's recurrent weights, every step) is packed once by the caller.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace ictus::cpu {

struct GemmArgs {
  int64_t m, n, k;
  const float* a;  // A(i, k) = a[i * lda + k], or with a_transposed a[k * lda + i]
  int64_t lda;
  const float* b;
  int64_t ldb;
  float* c;
  int64_t ldc;
  const float* bias;  // (n,), or null; ignored when accumulate
  bool accumulate;
  bool b_packed = false;  // b from gemm_pack_b for this ISA (ldb ignored)
  bool a_transposed = false;
};

// Register tile of a SIMD variant: `rows` rows of A x `vectors` vectors of columns of B.
struct GemmTiling {
  int width, rows, vectors;
};
inline constexpr GemmTiling kAvx2Gemm{8, 4, 3};      // 12 accumulators + 3 B vectors + 1 broadcast
inline constexpr GemmTiling kAvx512Gemm{16, 6, 4};   // 24 accumulators
inline constexpr GemmTiling kPortableGemm = kAvx512Gemm;

// Work items: blocks of kGemmRowBlock rows of C x groups of column panels (of vectors * width
// columns). With enough row blocks an item takes every panel, so that its rows of A (a depth block
// of them fills L2 halfway) serve all of N before the next rows come (as BLIS orders its loops);
// a transposed A, packed per item, too. Few rows (a GRU step): one panel per item, for threads.
inline constexpr int64_t kGemmRowBlock = 96;
inline int64_t gemm_panels_per_item(const GemmArgs& g, int64_t panels) {
  constexpr int64_t kMinRowBlocks = 8;
  return g.a_transposed || (g.m + kGemmRowBlock - 1) / kGemmRowBlock >= kMinRowBlocks ? panels : 1;
}

// Runs work items [begin, end) (see gemm_simd.h).
using GemmKernel = void (*)(const GemmArgs&, int64_t begin, int64_t end);
void gemm_avx2(const GemmArgs& g, int64_t begin, int64_t end);
void gemm_avx512(const GemmArgs& g, int64_t begin, int64_t end);
void gemm_portable(const GemmArgs& g, int64_t begin, int64_t end);
// The scalar variant, accumulating in double; the whole product on the calling thread.
void gemm_scalar(const GemmArgs& g);

// C = A B (+ ...) with variant `isa`; the SIMD variants spread products of more than
// `kGemmParallelFlops` over the thread pool, smaller ones (a GRU step at batch 1) run on the
// calling thread, where waking workers would cost more than the product.
inline constexpr int64_t kGemmParallelFlops = int64_t{1} << 20;
void gemm(Isa isa, const GemmArgs& g);
// C = A B with B packed by the caller (gemm_pack_b's layout), all on the calling thread: for
// callers that spread independent products over the threads themselves (Winograd's 16).
void gemm_packed_on_this_thread(Isa isa, const GemmArgs& g);
const char* gemm_kernel_name(Isa isa);

// Columns per packed panel (the scalar variant: all n in one panel, i.e. plain row-major).
int64_t gemm_panel(Isa isa, int64_t n);
// Floats of B (k x n) packed for variant `isa`, and the packing itself.
int64_t gemm_packed_b_floats(Isa isa, int64_t k, int64_t n);
void gemm_pack_b(Isa isa, int64_t k, int64_t n, const float* b, int64_t ldb, float* packed);

}  // namespace ictus::cpu
