// Max-pool dispatch, and the backward scatter that every variant shares (one pass over grad_y,
// memory-bound; vectors would not help a scatter).
#include "cpu/pool/pool.h"

#include <atomic>
#include <cstring>

#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

using PoolKernel = void (*)(const PoolProblem&, int64_t, int64_t);

struct PoolVariant {
  PoolKernel fwd;
  const char* name;
};

PoolVariant variant(Isa isa) {
#if defined(ICTUS_X86)
  if (isa == Isa::kAvx512) return {max_pool_fwd_avx512, "max_pool_fwd_avx512"};
  if (isa == Isa::kAvx2) return {max_pool_fwd_avx2, "max_pool_fwd_avx2"};
#endif
  if (isa == Isa::kPortable) return {max_pool_fwd_portable, "max_pool_fwd_portable"};
  return {max_pool_fwd_scalar, "max_pool_fwd_scalar"};
}

}  // namespace

void max_pool_forward(Isa isa, const PoolProblem& p) {
  const PoolShape& s = p.shape;
  // The SIMD kernels keep flat indices in int32 lanes.
  const bool fits_int32 = s.in_h * s.in_w < (int64_t{1} << 31);
  const PoolKernel fwd = fits_int32 ? variant(isa).fwd : max_pool_fwd_scalar;
  ThreadPool::instance().parallel_for(s.planes * s.out_h, [&](int64_t b, int64_t e) { fwd(p, b, e); });
}

bool max_pool_backward(const PoolShape& s, const float* grad_y, const int64_t* indices, float* grad_x) {
  const int64_t plane_in = s.in_h * s.in_w, plane_out = s.out_h * s.out_w;
  std::atomic<bool> valid{true};
  ThreadPool::instance().parallel_for(s.planes, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      float* gx = grad_x + plane * plane_in;
      std::memset(gx, 0, static_cast<size_t>(plane_in) * sizeof(float));
      const float* gy = grad_y + plane * plane_out;
      const int64_t* idx = indices + plane * plane_out;
      for (int64_t f = 0; f < plane_out; ++f) {
        const int64_t k = idx[f];
        if (k < 0 || k >= plane_in) {
          valid.store(false, std::memory_order_relaxed);
          continue;
        }
        gx[k] += gy[f];
      }
    }
  });
  return valid.load();
}

const char* max_pool_kernel_name(Isa isa) { return variant(isa).name; }

}  // namespace ictus::cpu
