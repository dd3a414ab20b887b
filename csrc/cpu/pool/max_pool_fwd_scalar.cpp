// Max-pool forward, scalar: torch's loop. Each window is scanned in order (rows, then columns) from
// its first real position; a value replaces the running maximum when it is greater or NaN, so the
// first of equal maxima wins and NaN propagates. Padding is -inf, i.e. skipped.
#include "cpu/pool/pool.h"

namespace ictus::cpu {

void max_pool_fwd_scalar(const PoolProblem& p, int64_t begin, int64_t end) {
  const PoolShape& s = p.shape;
  for (int64_t item = begin; item < end; ++item) {
    const int64_t plane = item / s.out_h, h = item % s.out_h;
    const float* x = p.x + plane * s.in_h * s.in_w;
    const int64_t i0 = pool_first_tap(h, s.stride_h, s.dilation_h, s.pad_top);
    for (int64_t w = 0; w < s.out_w; ++w) {
      const int64_t j0 = pool_first_tap(w, s.stride_w, s.dilation_w, s.pad_left);
      int64_t best = conv_input_index(h, i0, s.stride_h, s.dilation_h, s.pad_top) * s.in_w +
                     conv_input_index(w, j0, s.stride_w, s.dilation_w, s.pad_left);
      float max = -__builtin_inff();
      for (int64_t i = i0; i < s.kernel_h; ++i) {
        const int64_t r = conv_input_index(h, i, s.stride_h, s.dilation_h, s.pad_top);
        if (r >= s.in_h) break;
        for (int64_t j = j0; j < s.kernel_w; ++j) {
          const int64_t c = conv_input_index(w, j, s.stride_w, s.dilation_w, s.pad_left);
          if (c >= s.in_w) break;
          const float v = x[r * s.in_w + c];
          if (v > max || v != v) {
            max = v;
            best = r * s.in_w + c;
          }
        }
      }
      const int64_t f = (plane * s.out_h + h) * s.out_w + w;
      p.y[f] = max;
      if (p.indices.data) with_index_type(p.indices, [&](auto* idx) { idx[f] = best; });
    }
  }
}

}  // namespace ictus::cpu
