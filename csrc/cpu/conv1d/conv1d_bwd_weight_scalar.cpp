// Conv1d weight gradient, scalar, accumulated in double:
//   grad_w[o][c][k] = sum_n sum_t grad_y[n][o][t] * x[n][c][t*stride + k*dilation - pad_left]
// grad_y (N, C_out, T_out), x (N, C_in, T_in), grad_w (C_out, C_in, K); frames outside x are zero.
#include "cpu/conv1d/conv1d.h"

namespace ictus::cpu {

void conv1d_bwd_weight_scalar(const Conv1dShape& s, const float* grad_y, const float* x, float* grad_weight) {
  for (int64_t o = 0; o < s.out_channels; ++o) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t k = 0; k < s.kernel_size; ++k) {
        double acc = 0.0;
        for (int64_t n = 0; n < s.batch; ++n) {
          const float* gr = grad_y + (n * s.out_channels + o) * s.out_length;
          const float* xr = x + (n * s.in_channels + c) * s.in_length;
          for (int64_t t = 0; t < s.out_length; ++t) {
            const int64_t j = conv_input_index(t, k, s.stride, s.dilation, s.pad_left);
            if (j >= 0 && j < s.in_length) acc += static_cast<double>(gr[t]) * xr[j];
          }
        }
        grad_weight[(o * s.in_channels + c) * s.kernel_size + k] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace ictus::cpu
