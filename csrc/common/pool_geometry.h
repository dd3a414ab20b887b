// Max-pool geometry shared by the CPU and CUDA kernels, with torch's rules: the padding is -inf
// (windows see only real values), the output size is
//   floor_or_ceil((in + 2*pad - dilation*(kernel - 1) - 1) / stride) + 1
// and in ceil mode a last window that would start past the input plus the left padding is
// dropped. Indices are flat within a plane: row * W + column (column alone for max_pool1d).
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"

namespace ictus {

// x (planes, H, W) -> y (planes, H_out, W_out); max_pool1d is H = kernel_h = 1.
struct PoolShape {
  int64_t planes;
  int64_t in_h, in_w, out_h, out_w;
  int64_t kernel_h, kernel_w;
  int64_t stride_h, stride_w;
  int64_t dilation_h, dilation_w;
  int64_t pad_top, pad_left;
};

// The indices' array: int64 (torch's), or int32 (half the bytes to write and read back; for planes
// of fewer than 2^31 values); data is null when there are none. The kernels take a typed pointer:
// with_index_type hands it to a generic callable.
struct PoolIndices {
  void* data;
  bool int32;
};

template <class F>
static inline auto with_index_type(const PoolIndices& indices, F&& f) {
  return indices.int32 ? f(static_cast<int32_t*>(indices.data)) : f(static_cast<int64_t*>(indices.data));
}

ICTUS_HD static inline int64_t pool_out_length(int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                                               int64_t dilation, bool ceil_mode) {
  const int64_t room = in + 2 * pad - dilation * (kernel - 1) - 1 + (ceil_mode ? stride - 1 : 0);
  int64_t out = floor_div(room, stride) + 1;
  if (ceil_mode && (out - 1) * stride >= in + pad) --out;
  return out;
}

// The first tap k (in window order) whose input position t*stride + k*dilation - pad is >= 0,
// i.e. where torch starts scanning a window.
ICTUS_HD static inline int64_t pool_first_tap(int64_t t, int64_t stride, int64_t dilation, int64_t pad) {
  const int64_t start = t * stride - pad;
  return start >= 0 ? 0 : ceil_div(-start, dilation);
}

}  // namespace ictus
