// Shared CUDA helpers: every runtime call checked, launch sizes, a deterministic block sum.
#pragma once

#include <cuda_runtime.h>

#include <cstdint>
#include <stdexcept>
#include <string>

#define ICTUS_CUDA_CHECK(expr)                                                                        \
  do {                                                                                               \
    const cudaError_t err_ = (expr);                                                                 \
    if (err_ != cudaSuccess)                                                                         \
      throw std::runtime_error(std::string("ictus CUDA error: ") + cudaGetErrorString(err_) + " (" + \
                               #expr + ")");                                                         \
  } while (0)

// Checks the launch just queued (bad configuration, missing kernel image for this GPU).
#define ICTUS_CUDA_CHECK_LAUNCH() ICTUS_CUDA_CHECK(cudaGetLastError())

namespace ictus::cuda {

constexpr int kThreads = 256;

// Blocks for a grid-stride loop over `count` elements (kernels loop, so a cap is safe).
inline unsigned grid_for(int64_t count) {
  const int64_t blocks = (count + kThreads - 1) / kThreads;
  return static_cast<unsigned>(blocks < 65535 * 32 ? blocks : 65535 * 32);
}

// Sums `value` over the block's kThreads threads in a fixed tree order (deterministic);
// the result is valid in thread 0.
__device__ inline float block_sum(float value) {
  __shared__ float partial[kThreads];
  partial[threadIdx.x] = value;
  __syncthreads();
  for (int half = kThreads / 2; half > 0; half /= 2) {
    if (threadIdx.x < half) partial[threadIdx.x] += partial[threadIdx.x + half];
    __syncthreads();
  }
  return partial[0];
}

}  // namespace ictus::cuda
