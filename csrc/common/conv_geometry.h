// Convolution index math shared by the CPU and CUDA kernels, and checked by the CPU tests through
// the scalar kernels that use it. A convolution is 2-D: x (N, C_in, H, W), weight
// (C_out, C_in, KH, KW), y (N, C_out, H_out, W_out); conv1d is the case H = KH = 1. Along each axis,
// output position t reads input position t*stride + k*dilation - pad_before through tap k;
// positions outside the input are the zero padding.
#pragma once

#include <cstdint>

#ifdef __CUDACC__
#define ICTUS_HD __host__ __device__
#else
#define ICTUS_HD
#endif

namespace ictus {

struct ConvShape {
  int64_t batch, in_channels, out_channels;
  int64_t in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  int64_t pad_top, pad_bottom, pad_left, pad_right;
};

// Floor division and modulo for a divisor b > 0 (C++ rounds towards zero).
ICTUS_HD static inline int64_t floor_div(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}
ICTUS_HD static inline int64_t floor_mod(int64_t a, int64_t b) { return a - floor_div(a, b) * b; }
ICTUS_HD static inline int64_t ceil_div(int64_t a, int64_t b) { return floor_div(a + b - 1, b); }

// Output positions along one axis: floor((in + pads - span - 1) / stride) + 1, span =
// dilation * (kernel - 1); zero or less means the kernel does not fit into the padded input.
ICTUS_HD static inline int64_t conv_out_length(int64_t in_length, int64_t pad_before, int64_t pad_after,
                                               int64_t kernel, int64_t stride, int64_t dilation) {
  const int64_t room = in_length + pad_before + pad_after - dilation * (kernel - 1) - 1;
  return room < 0 ? 0 : room / stride + 1;
}

// The input position that output position t reads through tap k (one axis).
ICTUS_HD static inline int64_t conv_input_index(int64_t t, int64_t k, int64_t stride, int64_t dilation,
                                                int64_t pad_before) {
  return t * stride + k * dilation - pad_before;
}

// The output position that reads input position j through tap k, or -1 when none does
// (the inverse of conv_input_index, used by the input gradient).
ICTUS_HD static inline int64_t conv_output_index(int64_t j, int64_t k, int64_t stride, int64_t dilation,
                                                 int64_t pad_before, int64_t out_length) {
  const int64_t num = j + pad_before - k * dilation;
  if (num < 0 || num % stride != 0) return -1;
  const int64_t t = num / stride;
  return t < out_length ? t : -1;
}

// Number of positions m >= 0 with m*stride + phase < length: the length of one phase of a strided
// signal.
ICTUS_HD static inline int64_t phase_length(int64_t length, int64_t stride, int64_t phase) {
  return phase >= length ? 0 : ceil_div(length - phase, stride);
}

}  // namespace ictus
