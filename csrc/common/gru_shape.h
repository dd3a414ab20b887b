// A GRU layer's problem, shared by the CPU and CUDA kernels: shape, the argument pointers and the
// index math of variable-length sequences (used by both; the CPU tests exercise it).
//
// Layer (torch.nn.GRU's layout, gate rows reset, update, new), time-major x (T, N, D):
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
//   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      linear_before_reset (torch, cuDNN)
//   n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      otherwise (Keras reset_after=False, ONNX)
//   h' = (1 - z) * n + z * h
// Sequence i has L_i steps (all T without lengths): at step s it is active when s < L_i and then
// works on time t = s, or L_i - 1 - s in reverse, so each sequence starts at its own first (or
// last) step. Past L_i its outputs and reserve entries are zero and its state is unchanged.
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"  // ICTUS_HD

namespace ictus {

struct GruShape {
  int64_t steps, batch, input_size, hidden;
  bool reverse;
  bool linear_before_reset;
};

// What the backward pass needs per step and sequence, 5H floats: r, z, n, the recurrent part of
// n's pre-activation (W_hn h + b_hn, or W_hn (r * h) + b_hn) and the state before the step.
inline constexpr int64_t kGruReserveGates = 5;

// Time index of a sequence of `length` steps at step `step`, or -1 when it is inactive.
ICTUS_HD static inline int64_t gru_step_time(int64_t length, int64_t step, bool reverse) {
  if (step >= length) return -1;
  return reverse ? length - 1 - step : step;
}

struct GruForward {
  const float* x;          // (T, N, D)
  const float* h0;         // (N, H), or null for zeros
  const float* w_ih;       // (3H, D)
  const float* w_hh;       // (3H, H)
  const float* b_ih;       // (3H,) or null
  const float* b_hh;       // (3H,) or null
  const int64_t* lengths;  // (N,) in [1, T], or null for all T (device memory for CUDA)
  float* y;                // (T, N, H)
  float* h_n;              // (N, H): the state after each sequence's last step
  float* reserve;          // (T, N, 5H), or null (inference)
};

struct GruBackward {
  const float* grad_y;    // (T, N, H)
  const float* grad_h_n;  // (N, H), or null for zeros
  const float* x;
  const float* w_ih;
  const float* w_hh;
  const int64_t* lengths;
  const float* reserve;   // from the forward pass with the same arguments
  float* grad_x;          // (T, N, D)
  float* grad_h0;         // (N, H)
  float* grad_w_ih;       // (3H, D)
  float* grad_w_hh;       // (3H, H)
  float* grad_b_ih;       // (3H,) or null
  float* grad_b_hh;       // (3H,) or null
};

}  // namespace ictus
