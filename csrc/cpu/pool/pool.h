// Max-pool on the CPU: variants and entry points. x (planes, H, W) -> y (planes, H_out, W_out) with
// torch's semantics (pool_geometry.h); max_pool1d is H = 1. Indices, when asked for, are int64 flat
// positions within a plane.
#pragma once

#include <cstdint>

#include "common/pool_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

struct PoolProblem {
  PoolShape shape;
  const float* x;
  float* y;
  int64_t* indices;  // nullable
};

// Work items [begin, end) = (plane, output row) pairs, plane-major. The SIMD variants keep flat
// indices in int32 lanes: the caller uses them only for planes of fewer than 2^31 values.
void max_pool_fwd_avx2(const PoolProblem& p, int64_t begin, int64_t end);
void max_pool_fwd_avx512(const PoolProblem& p, int64_t begin, int64_t end);
void max_pool_fwd_portable(const PoolProblem& p, int64_t begin, int64_t end);
void max_pool_fwd_scalar(const PoolProblem& p, int64_t begin, int64_t end);

// Entry points, threaded over (plane, output row) pairs.
void max_pool_forward(Isa isa, const PoolProblem& p);
// grad_x[plane][indices[plane][f]] += grad_y[plane][f] in order of f (deterministic); grad_x is
// zeroed first. Returns false, leaving grad_x partly written, when an index lies outside its plane.
bool max_pool_backward(const PoolShape& s, const float* grad_y, const int64_t* indices, float* grad_x);
// The kernel that runs the forward pass under `isa` (the backward pass is one scalar scatter).
const char* max_pool_kernel_name(Isa isa);

}  // namespace ictus::cpu
