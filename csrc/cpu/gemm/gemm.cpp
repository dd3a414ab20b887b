// GEMM dispatch: the variant for an ISA, work items over the thread pool, and the scalar variant.
#include "cpu/gemm/gemm.h"

#include <cstring>

#include "common/scratch.h"
#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

struct GemmVariant {
  GemmKernel kernel;
  GemmTiling tiling;
  const char* name;
};

// Null for the scalar variant.
const GemmVariant* gemm_variant(Isa isa) {
  static const GemmVariant portable{gemm_portable, kPortableGemm, "gemm_portable"};
#if defined(ICTUS_X86)
  static const GemmVariant avx2{gemm_avx2, kAvx2Gemm, "gemm_avx2"};
  static const GemmVariant avx512{gemm_avx512, kAvx512Gemm, "gemm_avx512"};
  if (isa == Isa::kAvx2) return &avx2;
  if (isa == Isa::kAvx512) return &avx512;
#endif
  if (isa == Isa::kPortable) return &portable;
  return nullptr;
}

int64_t gemm_items(const GemmVariant& v, const GemmArgs& g) {
  const int64_t panel = static_cast<int64_t>(v.tiling.vectors) * v.tiling.width;
  const int64_t panels = (g.n + panel - 1) / panel, group = gemm_panels_per_item(g, panels);
  return ((g.m + kGemmRowBlock - 1) / kGemmRowBlock) * ((panels + group - 1) / group);
}

}  // namespace

void gemm_scalar(const GemmArgs& g) {
  const int64_t ldb = g.b_packed ? g.n : g.ldb;  // the scalar packing is plain row-major
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      double acc = g.accumulate ? g.c[i * g.ldc + j] : (g.bias ? g.bias[j] : 0.0);
      for (int64_t k = 0; k < g.k; ++k) {
        const float a = g.a_transposed ? g.a[k * g.lda + i] : g.a[i * g.lda + k];
        acc += static_cast<double>(a) * g.b[k * ldb + j];
      }
      g.c[i * g.ldc + j] = static_cast<float>(acc);
    }
  }
}

int64_t gemm_panel(Isa isa, int64_t n) {
  const GemmVariant* v = gemm_variant(isa);
  if (v == nullptr) return n > 0 ? n : 1;
  return static_cast<int64_t>(v->tiling.vectors) * v->tiling.width;
}

int64_t gemm_packed_b_floats(Isa isa, int64_t k, int64_t n) {
  const int64_t panel = gemm_panel(isa, n);
  return k * ((n + panel - 1) / panel) * panel;
}

void gemm_pack_b(Isa isa, int64_t k, int64_t n, const float* b, int64_t ldb, float* packed) {
  const int64_t panel = gemm_panel(isa, n);
  for (int64_t j0 = 0; j0 < n; j0 += panel) {
    const int64_t cols = n - j0 < panel ? n - j0 : panel;
    float* dst = packed + (j0 / panel) * k * panel;
    for (int64_t kk = 0; kk < k; ++kk) {
      std::memcpy(dst + kk * panel, b + kk * ldb + j0, static_cast<size_t>(cols) * sizeof(float));
      std::memset(dst + kk * panel + cols, 0, static_cast<size_t>(panel - cols) * sizeof(float));
    }
  }
}

void gemm(Isa isa, const GemmArgs& args) {
  if (args.m == 0 || args.n == 0) return;
  const GemmVariant* v = gemm_variant(isa);
  if (v == nullptr) {
    gemm_scalar(args);
    return;
  }
  // Pack B here when enough rows of A reuse it to repay the copy.
  constexpr int64_t kPackMinRows = 8;
  GemmArgs g = args;
  if (!g.b_packed && g.m >= kPackMinRows && g.k > 0) {
    float* packed = scratch_floats(ScratchSlot::kGemmPackedB, static_cast<size_t>(gemm_packed_b_floats(isa, g.k, g.n)));
    gemm_pack_b(isa, g.k, g.n, g.b, g.ldb, packed);
    g.b = packed;
    g.b_packed = true;
  }
  const int64_t items = gemm_items(*v, g);
  if (2 * g.m * g.n * g.k < kGemmParallelFlops) {
    v->kernel(g, 0, items);
  } else {
    ThreadPool::instance().parallel_for(items, [&](int64_t begin, int64_t end) { v->kernel(g, begin, end); });
  }
}

void gemm_packed_on_this_thread(Isa isa, const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  const GemmVariant* v = gemm_variant(isa);
  if (v == nullptr) {
    gemm_scalar(g);
    return;
  }
  v->kernel(g, 0, gemm_items(*v, g));
}

const char* gemm_kernel_name(Isa isa) {
  const GemmVariant* v = gemm_variant(isa);
  return v ? v->name : "gemm_scalar";
}

}  // namespace ictus::cpu
