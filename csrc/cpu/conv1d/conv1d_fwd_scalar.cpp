// Conv1d forward, scalar: the textbook sum, accumulated in double.
//   y[n][o][t] = bias[o] + sum_c sum_k weight[o][c][k] * x[n][c][t*stride + k*dilation - pad_left]
// x (N, C_in, T_in), weight (C_out, C_in, K), y (N, C_out, T_out); frames outside x are zero.
// Clarity over speed: the SIMD variants are checked against the same float64 reference.
#include "cpu/conv1d/conv1d.h"

namespace ictus::cpu {

void conv1d_fwd_scalar(const Conv1dShape& s, const float* x, const float* weight, const float* bias, float* y) {
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t o = 0; o < s.out_channels; ++o) {
      for (int64_t t = 0; t < s.out_length; ++t) {
        double acc = bias ? bias[o] : 0.0;
        for (int64_t c = 0; c < s.in_channels; ++c) {
          const float* xr = x + (n * s.in_channels + c) * s.in_length;
          const float* wr = weight + (o * s.in_channels + c) * s.kernel_size;
          for (int64_t k = 0; k < s.kernel_size; ++k) {
            const int64_t j = conv_input_index(t, k, s.stride, s.dilation, s.pad_left);
            if (j >= 0 && j < s.in_length) acc += static_cast<double>(wr[k]) * xr[j];
          }
        }
        y[(n * s.out_channels + o) * s.out_length + t] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace ictus::cpu
