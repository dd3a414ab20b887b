// Dropout on CUDA in llm.c's sections: kernel, then launcher. One thread per element in a
// grid-stride loop, each element's bits from common/dropout_bits.h exactly as the CPU computes
// them, so a seed drops the same elements on both devices.
// Tests: tests/test_dropout.py (its CUDA tests need a GPU and CuPy).
#include "common/dropout_bits.h"
#include "cuda/common.cuh"
#include "cuda/dropout_cuda.h"

namespace ictus::cuda {
namespace {

// ----------------------------------------------------------------------------------- kernel

__global__ void dropout_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, uint64_t seed,
                               uint32_t threshold, float scale) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const uint64_t index = static_cast<uint64_t>(i);
    const uint32_t bits =
        dropout_bits(static_cast<uint32_t>(index), static_cast<uint32_t>(seed), dropout_block_key(seed, index >> 32));
    y[i] = x[i] * (bits >= threshold ? scale : 0.0f);
  }
}

}  // namespace

// ----------------------------------------------------------------------------------- launcher

void dropout(const float* x, float* y, int64_t n, uint64_t seed, double p, int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const float scale = static_cast<float>(1.0 / (1.0 - p));
  dropout_kernel<<<grid_for(n), kThreads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(
      x, y, n, seed, dropout_threshold(p), scale);
  ICTUS_CUDA_CHECK_LAUNCH();
}

}  // namespace ictus::cuda
