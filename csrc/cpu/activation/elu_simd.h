// ELU's branch-free loops (see elu.h), included by elu_<isa>.cpp so that the compiler vectorises
// them with that file's ISA flags: selects and approx_math.h's expm1, no libm calls.
#pragma once

#include <cstdint>

#include "cpu/simd/approx_math.h"

namespace ictus::cpu {
namespace {

// y may be x (in place): no __restrict__; each y[i] depends on x[i] alone, which still vectorises.
inline void elu_forward_loop(const float* x, float* y, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) {
    const float v = x[i];
    const float negative = v > 0.0f ? 0.0f : v;  // NaN stays NaN
    y[i] = v <= 0.0f || v != v ? alpha * expm1_approx(negative) : v;
  }
}

inline void elu_backward_loop(const float* __restrict__ grad_y, const float* __restrict__ y,
                              float* __restrict__ grad_x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) grad_x[i] = y[i] > 0.0f ? grad_y[i] : grad_y[i] * (y[i] + alpha);
}

}  // namespace
}  // namespace ictus::cpu
