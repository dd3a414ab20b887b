// Host entry points of the CUDA ELU kernels (csrc/cuda/activation.cu), the CPU's definition
// (cpu/activation/elu.h): n elements of flat float32 arrays on `device`, queued on `stream`.
#pragma once

#include <cstdint>

namespace ictus::cuda {

void elu_forward(const float* x, float* y, int64_t n, float alpha, int device, uintptr_t stream);
void elu_backward(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha, int device,
                  uintptr_t stream);

}  // namespace ictus::cuda
