// A GRU step's gate math for one sequence, written as branch-free loops over the H units so that
// the compiler vectorises them for each ISA file that includes this (gru_gates_<isa>.cpp): exp,
// sigmoid and tanh here are float arithmetic and selects, no libm calls. Accuracy: exp 1-2 ulp
// (Cephes' expf reduction and polynomial), tanh 2 ulp; NaN propagates.
#pragma once

#include <cstdint>
#include <cstring>

#include "cpu/gru/gru.h"
#include "cpu/simd/approx_math.h"

namespace ictus::cpu {
namespace {

inline float sigmoid_approx(float x) { return 1.0f / (1.0f + exp_approx(-x)); }

// |x| <= 0.625: an odd minimax polynomial (Cephes' tanhf coefficients); beyond, 1 - 2 / (e^2|x| + 1),
// where tanh >= 0.55 keeps the cancellation within a few ulp.
inline float tanh_approx(float x) {
  const float a = x < 0.0f ? -x : x;
  const float z = x * x;
  const float small = x + x * z * ((((-5.70498872745e-3f * z + 2.06390887954e-2f) * z - 5.37397155531e-2f) * z +
                                     1.33314422036e-1f) * z - 3.33332819422e-1f);
  const float big = 1.0f - 2.0f / (exp_approx(a + a) + 1.0f);
  return a > 0.625f ? (x < 0.0f ? -big : big) : small;
}

// gi: the step's input pre-activations (3H), gh: recurrent ones (3H; n's is W_hn h + b_hn or
// W_hn (r * h) + b_hn); updates h and writes y and, if kReserve, the reserve row (5H).
template <bool kLinearBeforeReset, bool kReserve>
void gates_forward_row(int64_t H, const float* __restrict__ gi, const float* __restrict__ gh, float* __restrict__ h,
                       float* __restrict__ y, float* __restrict__ res) {
  for (int64_t j = 0; j < H; ++j) {
    const float r = sigmoid_approx(gi[j] + gh[j]);
    const float z = sigmoid_approx(gi[H + j] + gh[H + j]);
    const float hn = gh[2 * H + j];
    const float n = tanh_approx(gi[2 * H + j] + (kLinearBeforeReset ? r * hn : hn));
    const float h_prev = h[j];
    const float h_new = (1.0f - z) * n + z * h_prev;
    if constexpr (kReserve) {
      res[j] = r;
      res[H + j] = z;
      res[2 * H + j] = n;
      res[3 * H + j] = hn;
      res[4 * H + j] = h_prev;
    }
    h[j] = h_new;
    y[j] = h_new;
  }
}

// Reset after: rh = r * h.
inline void reset_row(const GruStepRow& row) {
  const int64_t H = row.hidden;
  const float* __restrict__ gi = row.gi;
  const float* __restrict__ gh = row.gh;
  const float* __restrict__ h = row.h;
  float* __restrict__ rh = row.rh;
  for (int64_t j = 0; j < H; ++j) rh[j] = sigmoid_approx(gi[j] + gh[j]) * h[j];
}

inline void gates_row(const GruStepRow& row) {
  if (row.linear_before_reset) {
    if (row.reserve) gates_forward_row<true, true>(row.hidden, row.gi, row.gh, row.h, row.y, row.reserve);
    else gates_forward_row<true, false>(row.hidden, row.gi, row.gh, row.h, row.y, nullptr);
  } else {
    if (row.reserve) gates_forward_row<false, true>(row.hidden, row.gi, row.gh, row.h, row.y, row.reserve);
    else gates_forward_row<false, false>(row.hidden, row.gi, row.gh, row.h, row.y, nullptr);
  }
}

}  // namespace
}  // namespace ictus::cpu
