// Builds and checks a Conv1dShape from the parameters the Python layer passes down.
#pragma once

#include "common/check.h"
#include "common/conv1d_geometry.h"

namespace ictus::bindings {

// x (N, C_in, T_in) and weight (C_out, C_in, K) as sizes; hyper-parameters as given by Python.
inline Conv1dShape make_conv1d_shape(int64_t batch, int64_t in_channels, int64_t in_length, int64_t out_channels,
                                     int64_t weight_in_channels, int64_t kernel_size, int64_t stride,
                                     int64_t dilation, int64_t pad_left, int64_t pad_right) {
  ICTUS_CHECK(batch >= 1 && in_channels >= 1 && in_length >= 1 && out_channels >= 1 && kernel_size >= 1,
              "conv1d: sizes must be positive");
  ICTUS_CHECK(weight_in_channels == in_channels, "conv1d: weight.shape[1] must equal x.shape[1]");
  ICTUS_CHECK(stride >= 1 && dilation >= 1, "conv1d: stride and dilation must be >= 1");
  ICTUS_CHECK(pad_left >= 0 && pad_right >= 0, "conv1d: padding must be >= 0");
  const int64_t span = checked_mul(dilation, kernel_size - 1, "conv1d: dilation * (kernel_size - 1)");
  const int64_t padded = checked_add(checked_add(in_length, pad_left, "conv1d: padded length"), pad_right,
                                     "conv1d: padded length");
  checked_add(span, 1, "conv1d: kernel span");
  Conv1dShape s{batch, in_channels, out_channels, in_length, 0, kernel_size, stride, dilation, pad_left, pad_right};
  s.out_length = conv_out_length(in_length, pad_left, pad_right, kernel_size, stride, dilation);
  ICTUS_CHECK(s.out_length >= 1 && padded > span, "conv1d: the kernel span is longer than the padded input");
  // Every index the kernels form must fit: elements of x, y and the weights, and frame offsets.
  checked_mul(checked_mul(batch, in_channels, "conv1d: x size"), in_length + span + 1, "conv1d: x size");
  checked_mul(checked_mul(batch, out_channels, "conv1d: y size"), s.out_length, "conv1d: y size");
  checked_mul(checked_mul(out_channels, in_channels, "conv1d: weight size"), kernel_size, "conv1d: weight size");
  checked_mul(s.out_length, stride, "conv1d: output frames x stride");
  return s;
}

}  // namespace ictus::bindings
