// Max-pool dispatch, and the backward scatter that every variant shares where the gather does not
// apply (overlapping windows, no window arguments, indices outside their windows).
#include "cpu/pool/pool.h"

#include <atomic>
#include <cstring>

#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

using PoolKernel = void (*)(const PoolProblem&, int64_t, int64_t);
using GatherKernel = bool (*)(const PoolGradProblem&, int64_t, int64_t);

struct PoolVariant {
  PoolKernel fwd;
  GatherKernel bwd;
  const char* fwd_name;
  const char* bwd_name;
};

PoolVariant variant(Isa isa) {
#if defined(ICTUS_X86)
  if (isa == Isa::kAvx512) return {max_pool_fwd_avx512, max_pool_bwd_avx512, "max_pool_fwd_avx512", "max_pool_bwd_avx512"};
  if (isa == Isa::kAvx2) return {max_pool_fwd_avx2, max_pool_bwd_avx2, "max_pool_fwd_avx2", "max_pool_bwd_avx2"};
#endif
  if (isa == Isa::kPortable) {
    return {max_pool_fwd_portable, max_pool_bwd_portable, "max_pool_fwd_portable", "max_pool_bwd_portable"};
  }
  return {max_pool_fwd_scalar, max_pool_bwd_scalar, "max_pool_fwd_scalar", "max_pool_bwd_scalar"};
}

// No padding or dilation and kernel <= stride on both axes: each input position lies in at most
// one window.
bool windows_disjoint(const PoolShape& s) {
  return s.kernel_h <= s.stride_h && s.kernel_w <= s.stride_w && s.pad_top == 0 && s.pad_left == 0 &&
         s.dilation_h == 1 && s.dilation_w == 1;
}

bool fits_int32_lanes(const PoolShape& s) { return s.in_h * s.in_w < (int64_t{1} << 31); }

// A (1, k) window striding k along rows that it tiles exactly (a front end's pool over frequency,
// 24 bins -> 8) pools each plane as one row of H * W values: the same windows, values and flat
// indices, but whole vectors instead of half a vector per row (0.7 ms -> 0.3 ms at N=1, C=16,
// T=3000, 31% -> 70% of the copy bandwidth).
PoolShape fold_rows(const PoolShape& s) {
  const bool tiles_rows = s.kernel_h == 1 && s.stride_h == 1 && s.pad_top == 0 && s.pad_left == 0 &&
                          s.dilation_w == 1 && s.kernel_w == s.stride_w && s.out_w * s.stride_w == s.in_w;
  if (!tiles_rows || s.in_h == 1) return s;
  PoolShape f = s;
  f.in_w = s.in_h * s.in_w;
  f.out_w = s.out_h * s.out_w;
  f.in_h = f.out_h = 1;
  return f;
}

}  // namespace

void max_pool_forward(Isa isa, const PoolProblem& problem) {
  PoolProblem p = problem;
  p.shape = fold_rows(problem.shape);
  const PoolShape& s = p.shape;
  const PoolKernel fwd = fits_int32_lanes(s) ? variant(isa).fwd : max_pool_fwd_scalar;
  ThreadPool::instance().parallel_for(s.planes * s.out_h, [&](int64_t b, int64_t e) { fwd(p, b, e); });
}

bool max_pool_backward(Isa isa, const PoolShape& s, bool window_known, const float* grad_y, const PoolIndices& indices,
                       float* grad_x) {
  // The gather writes each position once (the scatter zeroes grad_x, then reads and writes it
  // again where the indices point). Zen 4 guest, benchmark rows: (1, 3) on 8x20x3000x81
  // 17.4 -> 11.9 ms, on 1x16x3000x79 2.17 -> 1.37 ms; max_pool1d(2) on 8x64x30000 11.2 -> 5.1 ms.
  if (window_known && windows_disjoint(s)) {
    const PoolGradProblem p{fold_rows(s), grad_y, indices, grad_x};
    const GatherKernel bwd = fits_int32_lanes(p.shape) ? variant(isa).bwd : max_pool_bwd_scalar;
    std::atomic<bool> in_windows{true};
    ThreadPool::instance().parallel_for(p.shape.planes * p.shape.out_h, [&](int64_t b, int64_t e) {
      if (!bwd(p, b, e)) in_windows.store(false, std::memory_order_relaxed);
    });
    if (in_windows.load()) return true;
  }
  const int64_t plane_in = s.in_h * s.in_w, plane_out = s.out_h * s.out_w;
  std::atomic<bool> valid{true};
  ThreadPool::instance().parallel_for(s.planes, [&](int64_t begin, int64_t end) {
    for (int64_t plane = begin; plane < end; ++plane) {
      float* gx = grad_x + plane * plane_in;
      std::memset(gx, 0, static_cast<size_t>(plane_in) * sizeof(float));
      const float* gy = grad_y + plane * plane_out;
      with_index_type(indices, [&](const auto* idx) {
        idx += plane * plane_out;
        for (int64_t f = 0; f < plane_out; ++f) {
          const int64_t k = idx[f];
          if (k < 0 || k >= plane_in) {
            valid.store(false, std::memory_order_relaxed);
            continue;
          }
          gx[k] += gy[f];
        }
      });
    }
  });
  return valid.load();
}

const char* max_pool_kernel_name(Isa isa, bool forward) {
  return forward ? variant(isa).fwd_name : variant(isa).bwd_name;
}

}  // namespace ictus::cpu
