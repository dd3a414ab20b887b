// Conv1d input gradient, scalar, accumulated in double:
//   grad_x[n][c][j] = sum_o sum_k weight[o][c][k] * grad_y[n][o][t]  over t with
//                     t*stride + k*dilation - pad_left == j  (conv_output_index)
// grad_y (N, C_out, T_out), weight (C_out, C_in, K), grad_x (N, C_in, T_in).
#include "cpu/conv1d/conv1d.h"

namespace ictus::cpu {

void conv1d_bwd_data_scalar(const Conv1dShape& s, const float* grad_y, const float* weight, float* grad_x) {
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t j = 0; j < s.in_length; ++j) {
        double acc = 0.0;
        for (int64_t o = 0; o < s.out_channels; ++o) {
          const float* gr = grad_y + (n * s.out_channels + o) * s.out_length;
          const float* wr = weight + (o * s.in_channels + c) * s.kernel_size;
          for (int64_t k = 0; k < s.kernel_size; ++k) {
            const int64_t t = conv_output_index(j, k, s.stride, s.dilation, s.pad_left, s.out_length);
            if (t >= 0) acc += static_cast<double>(wr[k]) * gr[t];
          }
        }
        grad_x[(n * s.in_channels + c) * s.in_length + j] = static_cast<float>(acc);
      }
    }
  }
}

}  // namespace ictus::cpu
