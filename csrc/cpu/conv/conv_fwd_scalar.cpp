// Convolution forward, scalar: the textbook sum, accumulated in double.
//   y[n][o][h][w] = bias[o] + sum_c sum_i sum_j weight[o][c][i][j] * x[n][c][h*sh + i*dh - pt][w*sw + j*dw - pl]
// x (N, C_in, H, W), weight (C_out, C_in, KH, KW), y (N, C_out, H_out, W_out); positions outside x
// are zero. Clarity over speed: the SIMD variants are checked against the same float64 reference.
#include "cpu/conv/conv.h"

namespace ictus::cpu {

void conv_fwd_scalar(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y) {
  const int64_t taps = s.kernel_h * s.kernel_w;
  for (int64_t n = 0; n < s.batch; ++n) {
    for (int64_t o = 0; o < s.out_channels; ++o) {
      for (int64_t h = 0; h < s.out_h; ++h) {
        for (int64_t w = 0; w < s.out_w; ++w) {
          double acc = bias ? bias[o] : 0.0;
          for (int64_t c = 0; c < s.in_channels; ++c) {
            const float* xc = x + (n * s.in_channels + c) * s.in_h * s.in_w;
            const float* wc = weight + (o * s.in_channels + c) * taps;
            for (int64_t i = 0; i < s.kernel_h; ++i) {
              const int64_t r = conv_input_index(h, i, s.stride_h, s.dilation_h, s.pad_top);
              for (int64_t j = 0; j < s.kernel_w; ++j) {
                const int64_t col = conv_input_index(w, j, s.stride_w, s.dilation_w, s.pad_left);
                // Padding taps are multiplied too, as torch's: a NaN or inf weight times padding gives NaN.
                const bool inside = r >= 0 && r < s.in_h && col >= 0 && col < s.in_w;
                acc += static_cast<double>(wc[i * s.kernel_w + j]) * (inside ? xc[r * s.in_w + col] : 0.0f);
              }
            }
          }
          y[((n * s.out_channels + o) * s.out_h + h) * s.out_w + w] = static_cast<float>(acc);
        }
      }
    }
  }
}

}  // namespace ictus::cpu
