// Dropout dispatch: the variant for the ISA, run over chunks of the array on the thread pool.
#include "cpu/dropout/dropout.h"

#include "common/dropout_bits.h"
#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

using DropoutKernel = void (*)(const float*, float*, int64_t, uint64_t, uint64_t, uint32_t, float);

struct DropoutVariant {
  DropoutKernel kernel;
  const char* name;
};

DropoutVariant variant(Isa isa) {
#if defined(ICTUS_X86)
  if (isa == Isa::kAvx512) return {dropout_avx512, "dropout_avx512"};
  if (isa == Isa::kAvx2) return {dropout_avx2, "dropout_avx2"};
#endif
  // The portable variant would be the scalar loop compiled alike: the compiler vectorises it already.
  return {dropout_scalar, "dropout_scalar"};
}

// 64 KiB of each array per work item. A power of two that divides 2^32, so that no chunk crosses
// a 2^32-element block of dropout_bits.h (the loops take one block key per call).
constexpr int64_t kChunk = 16 * 1024;

}  // namespace

void dropout(Isa isa, const float* x, float* y, int64_t n, uint64_t seed, double p) {
  const DropoutKernel kernel = variant(isa).kernel;
  const uint32_t threshold = dropout_threshold(p);
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  ThreadPool::instance().parallel_for((n + kChunk - 1) / kChunk, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kChunk, last = end * kChunk < n ? end * kChunk : n;
    for (int64_t chunk = first; chunk < last; chunk += kChunk) {
      const int64_t count = last - chunk < kChunk ? last - chunk : kChunk;
      kernel(x + chunk, y + chunk, count, static_cast<uint64_t>(chunk), seed, threshold, scale);
    }
  });
}

const char* dropout_kernel_name(Isa isa) { return variant(isa).name; }

}  // namespace ictus::cpu
