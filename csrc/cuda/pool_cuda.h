// Host entry points of the CUDA max-pool kernels (csrc/cuda/pool.cu), same conventions as
// conv_cuda.h. indices.data may be null in the forward pass.
#pragma once

#include <cstdint>

#include "common/pool_geometry.h"

namespace ictus::cuda {

void max_pool_forward(const PoolShape& s, const float* x, float* y, const PoolIndices& indices, int device,
                      uintptr_t stream);

// Writes every element of grad_x; returns false when an index lies outside its plane (such an
// index contributes nothing). Waits for the stream, to read that check back.
bool max_pool_backward(const PoolShape& s, const float* grad_y, const PoolIndices& indices, float* grad_x, int device,
                       uintptr_t stream);

}  // namespace ictus::cuda
