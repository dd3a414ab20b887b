// Max-pool backward gather, scalar: window by window (max_pool_bwd_gather.h).
#include "cpu/pool/max_pool_bwd_gather.h"

namespace ictus::cpu {

bool max_pool_bwd_scalar(const PoolGradProblem& p, int64_t begin, int64_t end) {
  const PoolShape& s = p.shape;
  bool in_windows = true;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t plane = item / s.out_h, h = item % s.out_h;
    float* gx = p.grad_x + plane * s.in_h * s.in_w;
    const GatherRows rows = gather_rows(s, h);
    in_windows = with_index_type(p.indices, [&](const auto* idx) {
                   return gather_windows_scalar(s, p.grad_y + item * s.out_w, idx + item * s.out_w, gx, rows, 0, s.out_w);
                 }) &&
                 in_windows;
    zero_uncovered(s, gx, rows);
  }
  return in_windows;
}

}  // namespace ictus::cpu
