// Host entry point of the CUDA dropout kernel (csrc/cuda/dropout.cu), the CPU's definition
// (cpu/dropout/dropout.h) and bits (common/dropout_bits.h): n elements of flat float32 arrays on
// `device`, queued on `stream`.
#pragma once

#include <cstdint>

namespace ictus::cuda {

void dropout(const float* x, float* y, int64_t n, uint64_t seed, double p, int device, uintptr_t stream);

}  // namespace ictus::cuda
