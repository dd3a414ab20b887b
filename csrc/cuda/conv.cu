// Convolutions on CUDA (conv1d is H = KH = 1), forward and backward, in llm.c's sections: kernels,
// then launchers. Shapes (conv_geometry.h): x (N, C_in, H, W), weight (C_out, C_in, KH, KW),
// y (N, C_out, H_out, W_out). First versions favour plain indexing over speed: one thread per
// output element for the forward pass and the input gradient (the same index helpers as the CPU
// scalar kernels, which the CPU tests check), one block per weight for the weight gradient with a
// fixed-order block reduction, so every result is deterministic.
// Tests: tests/test_conv1d_cuda.py and tests/test_conv2d_cuda.py (need a GPU and CuPy).
#include "common/conv_geometry.h"
#include "cuda/common.cuh"
#include "cuda/conv_cuda.h"

namespace ictus::cuda {
namespace {

// ----------------------------------------------------------------------------------- kernels

__global__ void conv_fwd_kernel(ConvShape s, const float* __restrict__ x, const float* __restrict__ w,
                                const float* __restrict__ bias, float* __restrict__ y) {
  const int64_t total = s.batch * s.out_channels * s.out_h * s.out_w;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t ow = e % s.out_w;
    const int64_t oh = (e / s.out_w) % s.out_h;
    const int64_t o = (e / (s.out_w * s.out_h)) % s.out_channels;
    const int64_t n = e / (s.out_w * s.out_h * s.out_channels);
    float acc = bias ? bias[o] : 0.0f;
    for (int64_t c = 0; c < s.in_channels; ++c) {
      const float* xc = x + (n * s.in_channels + c) * s.in_h * s.in_w;
      const float* wc = w + (o * s.in_channels + c) * s.kernel_h * s.kernel_w;
      for (int64_t i = 0; i < s.kernel_h; ++i) {
        const int64_t r = conv_input_index(oh, i, s.stride_h, s.dilation_h, s.pad_top);
        if (r < 0 || r >= s.in_h) continue;
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          const int64_t col = conv_input_index(ow, j, s.stride_w, s.dilation_w, s.pad_left);
          if (col >= 0 && col < s.in_w) acc = fmaf(wc[i * s.kernel_w + j], xc[r * s.in_w + col], acc);
        }
      }
    }
    y[e] = acc;
  }
}

__global__ void conv_bwd_data_kernel(ConvShape s, const float* __restrict__ grad_y, const float* __restrict__ w,
                                     float* __restrict__ grad_x) {
  const int64_t total = s.batch * s.in_channels * s.in_h * s.in_w;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t col = e % s.in_w;
    const int64_t r = (e / s.in_w) % s.in_h;
    const int64_t c = (e / (s.in_w * s.in_h)) % s.in_channels;
    const int64_t n = e / (s.in_w * s.in_h * s.in_channels);
    float acc = 0.0f;
    for (int64_t o = 0; o < s.out_channels; ++o) {
      const float* go = grad_y + (n * s.out_channels + o) * s.out_h * s.out_w;
      const float* wc = w + (o * s.in_channels + c) * s.kernel_h * s.kernel_w;
      for (int64_t i = 0; i < s.kernel_h; ++i) {
        const int64_t oh = conv_output_index(r, i, s.stride_h, s.dilation_h, s.pad_top, s.out_h);
        if (oh < 0) continue;
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          const int64_t ow = conv_output_index(col, j, s.stride_w, s.dilation_w, s.pad_left, s.out_w);
          if (ow >= 0) acc = fmaf(wc[i * s.kernel_w + j], go[oh * s.out_w + ow], acc);
        }
      }
    }
    grad_x[e] = acc;
  }
}

// One block per weight element (o, c, i, j): its threads stride over the (n, h, w) output positions.
__global__ void conv_bwd_weight_kernel(ConvShape s, const float* __restrict__ grad_y, const float* __restrict__ x,
                                       float* __restrict__ grad_w) {
  const int64_t taps = s.kernel_h * s.kernel_w;
  const int64_t weights = s.out_channels * s.in_channels * taps;
  const int64_t plane = s.out_h * s.out_w;
  for (int64_t e = blockIdx.x; e < weights; e += gridDim.x) {
    const int64_t j = e % s.kernel_w;
    const int64_t i = (e / s.kernel_w) % s.kernel_h;
    const int64_t c = (e / taps) % s.in_channels;
    const int64_t o = e / (taps * s.in_channels);
    float acc = 0.0f;
    for (int64_t q = threadIdx.x; q < s.batch * plane; q += blockDim.x) {
      const int64_t n = q / plane, f = q % plane;
      const int64_t r = conv_input_index(f / s.out_w, i, s.stride_h, s.dilation_h, s.pad_top);
      const int64_t col = conv_input_index(f % s.out_w, j, s.stride_w, s.dilation_w, s.pad_left);
      if (r >= 0 && r < s.in_h && col >= 0 && col < s.in_w) {
        const float g = grad_y[(n * s.out_channels + o) * plane + f];
        acc = fmaf(g, x[((n * s.in_channels + c) * s.in_h + r) * s.in_w + col], acc);
      }
    }
    const float total = block_sum(acc);
    if (threadIdx.x == 0) grad_w[e] = total;
    __syncthreads();  // block_sum's shared buffer is reused by the next element
  }
}

// One block per output channel: sum of grad_y over (n, h, w).
__global__ void conv_bwd_bias_kernel(ConvShape s, const float* __restrict__ grad_y, float* __restrict__ grad_b) {
  const int64_t plane = s.out_h * s.out_w;
  for (int64_t o = blockIdx.x; o < s.out_channels; o += gridDim.x) {
    float acc = 0.0f;
    for (int64_t q = threadIdx.x; q < s.batch * plane; q += blockDim.x) {
      acc += grad_y[((q / plane) * s.out_channels + o) * plane + q % plane];
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

void conv_forward(const ConvShape& s, const float* x, const float* weight, const float* bias, float* y, int device,
                  uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  conv_fwd_kernel<<<grid_for(s.batch * s.out_channels * s.out_h * s.out_w), kThreads, 0, st>>>(s, x, weight, bias, y);
  ICTUS_CUDA_CHECK_LAUNCH();
}

void conv_backward(const ConvShape& s, const float* grad_y, const float* x, const float* weight, float* grad_x,
                   float* grad_weight, float* grad_bias, int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  if (grad_x) {
    conv_bwd_data_kernel<<<grid_for(s.batch * s.in_channels * s.in_h * s.in_w), kThreads, 0, st>>>(s, grad_y, weight,
                                                                                                     grad_x);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
  if (grad_weight) {
    const int64_t weights = s.out_channels * s.in_channels * s.kernel_h * s.kernel_w;
    conv_bwd_weight_kernel<<<blocks_for_items(weights), kThreads, 0, st>>>(s, grad_y, x, grad_weight);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
  if (grad_bias) {
    conv_bwd_bias_kernel<<<blocks_for_items(s.out_channels), kThreads, 0, st>>>(s, grad_y, grad_bias);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace ictus::cuda
