// ELU dispatch: the variant for the ISA, run over chunks of the array on the thread pool.
#include "cpu/activation/elu.h"

#include <cstring>
#include <stdexcept>
#include <string>

#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

struct EluVariant {
  void (*fwd)(const float*, float*, int64_t, float);
  void (*bwd)(const float*, const float*, float*, int64_t, float);
  const char* fwd_name;
  const char* bwd_name;
};

EluVariant variant(Isa isa) {
#if defined(ICTUS_X86)
  if (isa == Isa::kAvx512) return {elu_fwd_avx512, elu_bwd_avx512, "elu_fwd_avx512", "elu_bwd_avx512"};
  if (isa == Isa::kAvx2) return {elu_fwd_avx2, elu_bwd_avx2, "elu_fwd_avx2", "elu_bwd_avx2"};
#endif
  if (isa == Isa::kPortable) return {elu_fwd_portable, elu_bwd_portable, "elu_fwd_portable", "elu_bwd_portable"};
  return {elu_fwd_scalar, elu_bwd_scalar, "elu_fwd_scalar", "elu_bwd_scalar"};
}

// 64 KiB of each array per work item: enough to amortise a task, small enough to share 2 threads.
constexpr int64_t kChunk = 16 * 1024;

template <class Body>
void over_chunks(int64_t n, Body body) {
  ThreadPool::instance().parallel_for((n + kChunk - 1) / kChunk, [&](int64_t begin, int64_t end) {
    const int64_t first = begin * kChunk, last = end * kChunk < n ? end * kChunk : n;
    body(first, last - first);
  });
}

}  // namespace

void elu_forward(Isa isa, const float* x, float* y, int64_t n, float alpha) {
  const auto fwd = variant(isa).fwd;
  over_chunks(n, [&](int64_t first, int64_t count) { fwd(x + first, y + first, count, alpha); });
}

void elu_backward(Isa isa, const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha) {
  const auto bwd = variant(isa).bwd;
  over_chunks(n, [&](int64_t first, int64_t count) { bwd(grad_y + first, y + first, grad_x + first, count, alpha); });
}

const char* elu_kernel_name(Isa isa, const char* direction) {
  if (std::strcmp(direction, "fwd") == 0) return variant(isa).fwd_name;
  if (std::strcmp(direction, "bwd") == 0) return variant(isa).bwd_name;
  throw std::invalid_argument(std::string("ictus: unknown direction '") + direction + "'; use fwd or bwd");
}

}  // namespace ictus::cpu
