// GEMM dispatch: the variant for an ISA, work items over the thread pool, and the scalar variant.
#include "cpu/gemm/gemm.h"

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

}  // namespace

void gemm_scalar(const GemmArgs& g) {
  for (int64_t i = 0; i < g.m; ++i) {
    for (int64_t j = 0; j < g.n; ++j) {
      double acc = g.accumulate ? g.c[i * g.ldc + j] : (g.bias ? g.bias[j] : 0.0);
      for (int64_t k = 0; k < g.k; ++k) acc += static_cast<double>(g.a[i * g.lda + k]) * g.b[k * g.ldb + j];
      g.c[i * g.ldc + j] = static_cast<float>(acc);
    }
  }
}

void gemm(Isa isa, const GemmArgs& g) {
  if (g.m == 0 || g.n == 0) return;
  const GemmVariant* v = gemm_variant(isa);
  if (v == nullptr) {
    gemm_scalar(g);
    return;
  }
  const int64_t panel = static_cast<int64_t>(v->tiling.vectors) * v->tiling.width;
  const int64_t items = ((g.m + kGemmRowBlock - 1) / kGemmRowBlock) * ((g.n + panel - 1) / panel);
  if (2 * g.m * g.n * g.k < kGemmParallelFlops) {
    v->kernel(g, 0, items);
  } else {
    ThreadPool::instance().parallel_for(items, [&](int64_t begin, int64_t end) { v->kernel(g, begin, end); });
  }
}

const char* gemm_kernel_name(Isa isa) {
  const GemmVariant* v = gemm_variant(isa);
  return v ? v->name : "gemm_scalar";
}

}  // namespace ictus::cpu
