// Conv1d on CUDA, forward and backward, in llm.c's sections: kernels, then launchers.
// Shapes (conv1d_geometry.h): x (N, C_in, T_in), weight (C_out, C_in, K), y (N, C_out, T_out).
// First versions favour plain indexing over speed: one thread per output element for the forward
// pass and the input gradient (the same index helpers as the CPU scalar kernels, which the CPU
// tests check), one block per weight for the weight gradient with a fixed-order block reduction,
// so every result is deterministic. Tests: tests/test_conv1d_cuda.py (needs a GPU and CuPy).
#include "common/conv1d_geometry.h"
#include "cuda/common.cuh"
#include "cuda/conv1d_cuda.h"

namespace ictus::cuda {
namespace {

// ----------------------------------------------------------------------------------- kernels

__global__ void conv1d_fwd_kernel(Conv1dShape s, const float* __restrict__ x, const float* __restrict__ w,
                                  const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t total = s.batch * s.out_channels * s.out_length;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t t = i % s.out_length;
    const int64_t o = (i / s.out_length) % s.out_channels;
    const int64_t n = i / (s.out_length * s.out_channels);
    float acc = bias ? bias[o] : 0.0f;
    for (int64_t c = 0; c < s.in_channels; ++c) {
      const float* xr = x + (n * s.in_channels + c) * s.in_length;
      const float* wr = w + (o * s.in_channels + c) * s.kernel_size;
      for (int64_t k = 0; k < s.kernel_size; ++k) {
        const int64_t j = conv_input_index(t, k, s.stride, s.dilation, s.pad_left);
        if (j >= 0 && j < s.in_length) acc = fmaf(wr[k], xr[j], acc);
      }
    }
    y[i] = acc;
  }
}

__global__ void conv1d_bwd_data_kernel(Conv1dShape s, const float* __restrict__ grad_y, const float* __restrict__ w,
                                       float* __restrict__ grad_x) {
  const int64_t total = s.batch * s.in_channels * s.in_length;
  for (int64_t i = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; i < total;
       i += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t j = i % s.in_length;
    const int64_t c = (i / s.in_length) % s.in_channels;
    const int64_t n = i / (s.in_length * s.in_channels);
    float acc = 0.0f;
    for (int64_t o = 0; o < s.out_channels; ++o) {
      const float* gr = grad_y + (n * s.out_channels + o) * s.out_length;
      const float* wr = w + (o * s.in_channels + c) * s.kernel_size;
      for (int64_t k = 0; k < s.kernel_size; ++k) {
        const int64_t t = conv_output_index(j, k, s.stride, s.dilation, s.pad_left, s.out_length);
        if (t >= 0) acc = fmaf(wr[k], gr[t], acc);
      }
    }
    grad_x[i] = acc;
  }
}

// One block per weight element (o, c, k): its threads stride over the (n, t) pairs.
__global__ void conv1d_bwd_weight_kernel(Conv1dShape s, const float* __restrict__ grad_y,
                                         const float* __restrict__ x, float* __restrict__ grad_w) {
  const int64_t weights = s.out_channels * s.in_channels * s.kernel_size;
  const int64_t pairs = s.batch * s.out_length;
  for (int64_t e = blockIdx.x; e < weights; e += gridDim.x) {
    const int64_t k = e % s.kernel_size;
    const int64_t c = (e / s.kernel_size) % s.in_channels;
    const int64_t o = e / (s.kernel_size * s.in_channels);
    float acc = 0.0f;
    for (int64_t p = threadIdx.x; p < pairs; p += blockDim.x) {
      const int64_t t = p % s.out_length, n = p / s.out_length;
      const int64_t j = conv_input_index(t, k, s.stride, s.dilation, s.pad_left);
      if (j >= 0 && j < s.in_length) {
        const float g = grad_y[(n * s.out_channels + o) * s.out_length + t];
        acc = fmaf(g, x[(n * s.in_channels + c) * s.in_length + j], acc);
      }
    }
    const float total = block_sum(acc);
    if (threadIdx.x == 0) grad_w[e] = total;
    __syncthreads();  // block_sum's shared buffer is reused by the next element
  }
}

// One block per output channel: sum of grad_y over (n, t).
__global__ void conv1d_bwd_bias_kernel(Conv1dShape s, const float* __restrict__ grad_y, float* __restrict__ grad_b) {
  const int64_t pairs = s.batch * s.out_length;
  for (int64_t o = blockIdx.x; o < s.out_channels; o += gridDim.x) {
    float acc = 0.0f;
    for (int64_t p = threadIdx.x; p < pairs; p += blockDim.x) {
      const int64_t t = p % s.out_length, n = p / s.out_length;
      acc += grad_y[(n * s.out_channels + o) * s.out_length + t];
    }
    const float total = block_sum(acc);
    if (threadIdx.x == 0) grad_b[o] = total;
    __syncthreads();
  }
}

unsigned blocks_for_items(int64_t items) { return static_cast<unsigned>(items < 65535 * 32 ? items : 65535 * 32); }

}  // namespace

// ----------------------------------------------------------------------------------- launchers

int device_count() {
  int n = 0;
  if (cudaGetDeviceCount(&n) != cudaSuccess) {
    cudaGetLastError();  // clear the sticky "no driver" error for later calls
    return 0;
  }
  return n;
}

void conv1d_forward(const Conv1dShape& s, const float* x, const float* weight, const float* bias, float* y,
                    int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  conv1d_fwd_kernel<<<grid_for(s.batch * s.out_channels * s.out_length), kThreads, 0, st>>>(s, x, weight, bias, y);
  ICTUS_CUDA_CHECK_LAUNCH();
}

void conv1d_backward(const Conv1dShape& s, const float* grad_y, const float* x, const float* weight, float* grad_x,
                     float* grad_weight, float* grad_bias, int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  if (grad_x) {
    conv1d_bwd_data_kernel<<<grid_for(s.batch * s.in_channels * s.in_length), kThreads, 0, st>>>(s, grad_y, weight,
                                                                                                   grad_x);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
  if (grad_weight) {
    conv1d_bwd_weight_kernel<<<blocks_for_items(s.out_channels * s.in_channels * s.kernel_size), kThreads, 0, st>>>(
        s, grad_y, x, grad_weight);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
  if (grad_bias) {
    conv1d_bwd_bias_kernel<<<blocks_for_items(s.out_channels), kThreads, 0, st>>>(s, grad_y, grad_bias);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace ictus::cuda
