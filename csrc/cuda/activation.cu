// ELU on CUDA, forward and backward, in llm.c's sections: kernels, then launchers. One thread per
// element in a grid-stride loop; the definition and NaN rules of cpu/activation/elu.h.
// Tests: tests/test_activation.py (its CUDA tests need a GPU and CuPy).
#include "cuda/activation_cuda.h"
#include "cuda/common.cuh"

namespace ictus::cuda {
namespace {

// ----------------------------------------------------------------------------------- kernels

__global__ void elu_fwd_kernel(const float* __restrict__ x, float* __restrict__ y, int64_t n, float alpha) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const float v = x[i];
    y[i] = v <= 0.0f || isnan(v) ? alpha * expm1f(v) : v;
  }
}

__global__ void elu_bwd_kernel(const float* __restrict__ grad_y, const float* __restrict__ y,
                               float* __restrict__ grad_x, int64_t n, float alpha) {
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < n;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    grad_x[i] = y[i] > 0.0f ? grad_y[i] : grad_y[i] * (y[i] + alpha);
  }
}

}  // namespace

// ----------------------------------------------------------------------------------- launchers

void elu_forward(const float* x, float* y, int64_t n, float alpha, int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  elu_fwd_kernel<<<grid_for(n), kThreads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(x, y, n, alpha);
  ICTUS_CUDA_CHECK_LAUNCH();
}

void elu_backward(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha, int device,
                  uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  elu_bwd_kernel<<<grid_for(n), kThreads, 0, reinterpret_cast<cudaStream_t>(stream)>>>(grad_y, y, grad_x, n, alpha);
  ICTUS_CUDA_CHECK_LAUNCH();
}

}  // namespace ictus::cuda
