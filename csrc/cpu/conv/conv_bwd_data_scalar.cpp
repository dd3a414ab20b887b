// Convolution input gradient, scalar, accumulated in double:
//   grad_x[n][c][r][col] = sum_o sum_i sum_j weight[o][c][i][j] * grad_y[n][o][h][w] over the (h, w)
//   that read (r, col) through tap (i, j) (conv_output_index on each axis).
// grad_y (N, C_out, H_out, W_out), weight (C_out, C_in, KH, KW), grad_x (N, C_in, H, W).
#include "cpu/conv/conv.h"

namespace ictus::cpu {

void conv_bwd_data_scalar(const ConvShape& s, const float* grad_y, const float* weight, float* grad_x) {
  const int64_t taps = s.kernel_h * s.kernel_w;
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t r = 0; r < s.in_h; ++r) {
        for (int64_t col = 0; col < s.in_w; ++col) {
          double acc = 0.0;
          for (int64_t o = 0; o < s.out_channels; ++o) {
            const float* go = grad_y + (n * s.out_channels + o) * s.out_h * s.out_w;
            const float* wc = weight + (o * s.in_channels + c) * taps;
            for (int64_t i = 0; i < s.kernel_h; ++i) {
              const int64_t h = conv_output_index(r, i, s.stride_h, s.dilation_h, s.pad_top, s.out_h);
              if (h < 0) continue;
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t w = conv_output_index(col, j, s.stride_w, s.dilation_w, s.pad_left, s.out_w);
                if (w >= 0) acc += static_cast<double>(wc[i * s.kernel_w + j]) * go[h * s.out_w + w];
              }
            }
          }
          grad_x[((n * s.in_channels + c) * s.in_h + r) * s.in_w + col] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace ictus::cpu
