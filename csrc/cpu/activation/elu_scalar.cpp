// ELU, the scalar variant: the definition with libm's expm1, for the tests to check the others by.
#include <cmath>

#include "cpu/activation/elu.h"

namespace ictus::cpu {

void elu_fwd_scalar(const float* x, float* y, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) y[i] = x[i] <= 0.0f || std::isnan(x[i]) ? alpha * std::expm1(x[i]) : x[i];
}

void elu_bwd_scalar(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha) {
  for (int64_t i = 0; i < n; ++i) grad_x[i] = y[i] > 0.0f ? grad_y[i] : grad_y[i] * (y[i] + alpha);
}

}  // namespace ictus::cpu
