// Host entry points of the CUDA convolution kernels (csrc/cuda/conv.cu); conv1d is the case
// H = KH = 1. Pointers are device pointers of C-contiguous float32 arrays in the layouts of
// conv_geometry.h; work is queued on `stream` (a cudaStream_t) of GPU `device`, and errors raise
// std::runtime_error with CUDA's message.
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"

namespace ictus::cuda {

int device_count();  // 0 when there is no usable driver or GPU

void conv_forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y, int device,
                  uintptr_t stream);

// Null outputs are skipped.
void conv_backward(const ConvShape& s, const float* grad_y, const float* x, const float* weight, float* grad_x,
                   float* grad_weight, float* grad_bias, int device, uintptr_t stream);

}  // namespace ictus::cuda
