// Convolution weight gradient, scalar, accumulated in double:
//   grad_w[o][c][i][j] = sum_n sum_h sum_w grad_y[n][o][h][w] * x[n][c][h*sh + i*dh - pt][w*sw + j*dw - pl]
// grad_y (N, C_out, H_out, W_out), x (N, C_in, H, W), grad_w (C_out, C_in, KH, KW).
#include "cpu/conv/conv.h"

namespace ictus::cpu {

void conv_bwd_weight_scalar(const ConvShape& s, const float* grad_y, const float* x, float* grad_weight) {
  for (int64_t o = 0; o < s.out_channels; ++o) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t i = 0; i < s.kernel_h; ++i) {
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          double acc = 0.0;
          for (int64_t n = 0; n < s.batch; ++n) {
            const float* go = grad_y + (n * s.out_channels + o) * s.out_h * s.out_w;
            const float* xc = x + (n * s.in_channels + c) * s.in_h * s.in_w;
            for (int64_t h = 0; h < s.out_h; ++h) {
              const int64_t r = conv_input_index(h, i, s.stride_h, s.dilation_h, s.pad_top);
              for (int64_t w = 0; w < s.out_w; ++w) {
                const int64_t col = conv_input_index(w, j, s.stride_w, s.dilation_w, s.pad_left);
                // Padding multiplied too, as torch's: an inf or NaN grad_y times padding gives NaN.
                const bool inside = r >= 0 && r < s.in_h && col >= 0 && col < s.in_w;
                acc += static_cast<double>(go[h * s.out_w + w]) * (inside ? xc[r * s.in_w + col] : 0.0f);
              }
            }
          }
          grad_weight[((o * s.in_channels + c) * s.kernel_h + i) * s.kernel_w + j] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace ictus::cpu
