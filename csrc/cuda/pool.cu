// Max-pool on CUDA, forward and backward, in llm.c's sections: kernels, then launchers. Shapes and
// torch's rules in pool_geometry.h. Forward: one thread per output, scanning its window in torch's
// order with torch's update rule (greater or NaN replaces), so values and indices match the CPU.
// Backward: one thread per input element gathers, in a fixed order, the gradients of the outputs
// whose index names it: deterministic, no atomics (torch's CUDA backward adds atomically).
// Tests: tests/test_pool_cuda.py (needs a GPU and CuPy).
#include "common/pool_geometry.h"
#include "cuda/common.cuh"
#include "cuda/pool_cuda.h"

namespace ictus::cuda {
namespace {

// ----------------------------------------------------------------------------------- kernels

template <class Index>
__global__ void max_pool_fwd_kernel(PoolShape s, const float* __restrict__ x, float* __restrict__ y,
                                    Index* __restrict__ indices) {
  const int64_t total = s.planes * s.out_h * s.out_w;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t w = e % s.out_w, h = (e / s.out_w) % s.out_h, plane = e / (s.out_w * s.out_h);
    const float* xp = x + plane * s.in_h * s.in_w;
    const int64_t i0 = pool_first_tap(h, s.stride_h, s.dilation_h, s.pad_top);
    const int64_t j0 = pool_first_tap(w, s.stride_w, s.dilation_w, s.pad_left);
    int64_t best = conv_input_index(h, i0, s.stride_h, s.dilation_h, s.pad_top) * s.in_w +
                   conv_input_index(w, j0, s.stride_w, s.dilation_w, s.pad_left);
    float max = -__int_as_float(0x7f800000);
    for (int64_t i = i0; i < s.kernel_h; ++i) {
      const int64_t r = conv_input_index(h, i, s.stride_h, s.dilation_h, s.pad_top);
      if (r >= s.in_h) break;
      for (int64_t j = j0; j < s.kernel_w; ++j) {
        const int64_t c = conv_input_index(w, j, s.stride_w, s.dilation_w, s.pad_left);
        if (c >= s.in_w) break;
        const float v = xp[r * s.in_w + c];
        if (v > max || isnan(v)) {
          max = v;
          best = r * s.in_w + c;
        }
      }
    }
    y[e] = max;
    if (indices) indices[e] = static_cast<Index>(best);
  }
}

// grad_x[plane][r][c] = sum, over the outputs (h, w) whose window holds (r, c) and whose index is
// r * W + c, of grad_y[plane][h][w], in order of (h, w).
template <class Index>
__global__ void max_pool_bwd_kernel(PoolShape s, const float* __restrict__ grad_y, const Index* __restrict__ indices,
                                    float* __restrict__ grad_x) {
  const int64_t total = s.planes * s.in_h * s.in_w;
  const int64_t plane_out = s.out_h * s.out_w;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t k = e % (s.in_h * s.in_w), plane = e / (s.in_h * s.in_w);
    const int64_t r = k / s.in_w, c = k % s.in_w;
    const float* gy = grad_y + plane * plane_out;
    const Index* idx = indices + plane * plane_out;
    float acc = 0.0f;
    for (int64_t i = s.kernel_h - 1; i >= 0; --i) {
      const int64_t h = conv_output_index(r, i, s.stride_h, s.dilation_h, s.pad_top, s.out_h);
      if (h < 0) continue;
      for (int64_t j = s.kernel_w - 1; j >= 0; --j) {
        const int64_t w = conv_output_index(c, j, s.stride_w, s.dilation_w, s.pad_left, s.out_w);
        if (w >= 0 && idx[h * s.out_w + w] == k) acc += gy[h * s.out_w + w];
      }
    }
    grad_x[e] = acc;
  }
}

// Sets *bad_index when an index lies outside its plane (the gather above would ignore it).
template <class Index>
__global__ void check_indices_kernel(PoolShape s, const Index* __restrict__ indices, int* __restrict__ bad_index) {
  const int64_t total = s.planes * s.out_h * s.out_w, plane_in = s.in_h * s.in_w;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t v = indices[e];
    if (v < 0 || v >= plane_in) *bad_index = 1;
  }
}

}  // namespace

// ----------------------------------------------------------------------------------- launchers

void max_pool_forward(const PoolShape& s, const float* x, float* y, const PoolIndices& indices, int device,
                      uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  with_index_type(indices, [&](auto* idx) {
    max_pool_fwd_kernel<<<grid_for(s.planes * s.out_h * s.out_w), kThreads, 0, st>>>(s, x, y, idx);
  });
  ICTUS_CUDA_CHECK_LAUNCH();
}

bool max_pool_backward(const PoolShape& s, const float* grad_y, const PoolIndices& indices, float* grad_x, int device,
                       uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  int* bad = nullptr;
  ICTUS_CUDA_CHECK(cudaMallocAsync(&bad, sizeof(int), st));
  ICTUS_CUDA_CHECK(cudaMemsetAsync(bad, 0, sizeof(int), st));
  with_index_type(indices, [&](const auto* idx) {
    max_pool_bwd_kernel<<<grid_for(s.planes * s.in_h * s.in_w), kThreads, 0, st>>>(s, grad_y, idx, grad_x);
    ICTUS_CUDA_CHECK_LAUNCH();
    check_indices_kernel<<<grid_for(s.planes * s.out_h * s.out_w), kThreads, 0, st>>>(s, idx, bad);
    ICTUS_CUDA_CHECK_LAUNCH();
  });
  int host_bad = 0;
  ICTUS_CUDA_CHECK(cudaMemcpyAsync(&host_bad, bad, sizeof(int), cudaMemcpyDeviceToHost, st));
  ICTUS_CUDA_CHECK(cudaFreeAsync(bad, st));
  ICTUS_CUDA_CHECK(cudaStreamSynchronize(st));
  return host_bad == 0;
}

}  // namespace ictus::cuda
