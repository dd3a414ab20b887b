// Max-pool on the CPU: variants and entry points. x (planes, H, W) -> y (planes, H_out, W_out) with
// torch's semantics (pool_geometry.h); max_pool1d is H = 1. Indices, when asked for, are flat
// positions within a plane, int64 or int32 (PoolIndices).
#pragma once

#include <cstdint>

#include "common/pool_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

struct PoolProblem {
  PoolShape shape;
  const float* x;
  float* y;
  PoolIndices indices;  // data null: none
};

// Work items [begin, end) = (plane, output row) pairs, plane-major. The SIMD variants keep flat
// indices in int32 lanes: the caller uses them only for planes of fewer than 2^31 values.
void max_pool_fwd_avx2(const PoolProblem& p, int64_t begin, int64_t end);
void max_pool_fwd_avx512(const PoolProblem& p, int64_t begin, int64_t end);
void max_pool_fwd_portable(const PoolProblem& p, int64_t begin, int64_t end);
void max_pool_fwd_scalar(const PoolProblem& p, int64_t begin, int64_t end);

struct PoolGradProblem {
  PoolShape shape;
  const float* grad_y;
  PoolIndices indices;
  float* grad_x;
};

// The backward gather, for windows that do not overlap (no padding or dilation, kernel <= stride
// on both axes): every input position lies in at most one window, so grad_x is written once,
// window by window: grad_y at each window's index, 0 elsewhere. Work items as in the forward
// pass; item (plane, h) writes input rows [h * stride_h, (h + 1) * stride_h), the plane's last
// h to the plane's end. Returns false when an index lies outside its window (grad_x partly
// written). The SIMD variants keep indices in int32 lanes, as the forward ones.
bool max_pool_bwd_avx2(const PoolGradProblem& p, int64_t begin, int64_t end);
bool max_pool_bwd_avx512(const PoolGradProblem& p, int64_t begin, int64_t end);
bool max_pool_bwd_portable(const PoolGradProblem& p, int64_t begin, int64_t end);
bool max_pool_bwd_scalar(const PoolGradProblem& p, int64_t begin, int64_t end);

// Entry points, threaded over (plane, output row) pairs.
void max_pool_forward(Isa isa, const PoolProblem& p);
// grad_x[plane][indices[plane][f]] += grad_y[plane][f] in order of f (deterministic), from a
// zeroed grad_x. With the window known (window_known) and windows that do not overlap, the
// gather computes the same values; otherwise, or when an index lies outside its window, one
// scalar scatter. Returns false, leaving grad_x partly written, when an index lies outside its
// plane.
bool max_pool_backward(Isa isa, const PoolShape& s, bool window_known, const float* grad_y, const PoolIndices& indices,
                       float* grad_x);
// The kernel that runs the forward pass, or the backward pass where it gathers, under `isa`.
const char* max_pool_kernel_name(Isa isa, bool forward);

}  // namespace ictus::cpu
