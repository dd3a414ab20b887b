// GRU layers on the CPU, forward and backward, time-major, torch.nn.GRU's weight layout (gate rows
// reset, update, new):
//   r = sigmoid(W_ir x + b_ir + W_hr h + b_hr)
//   z = sigmoid(W_iz x + b_iz + W_hz h + b_hz)
//   n = tanh(W_in x + b_in + r * (W_hn h + b_hn))      linear_before_reset (torch, cuDNN)
//   n = tanh(W_in x + b_in + W_hn (r * h) + b_hn)      otherwise (Keras reset_after=False, ONNX)
//   h' = (1 - z) * n + z * h
// The input projection of all steps is one GEMM (gemm.h); each step is one GEMM of the state with
// the recurrent weights (kept transposed in scratch) and the gate math. The ISA variants differ in
// the GEMM kernel only.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace ictus::cpu {

struct GruShape {
  int64_t steps, batch, input_size, hidden;
  bool reverse;              // run each sequence from its last step to its first
  bool linear_before_reset;
};

// What the backward pass needs per step and sequence: r, z, n, the recurrent part of n's
// pre-activation (W_hn h + b_hn, or W_hn (r * h) + b_hn) and the state before the step.
inline constexpr int64_t kGruReserveGates = 5;
inline int64_t gru_reserve_floats(const GruShape& s) { return s.steps * s.batch * kGruReserveGates * s.hidden; }

struct GruForward {
  const float* x;        // (T, N, D)
  const float* h0;       // (N, H), or null for zeros
  const float* w_ih;     // (3H, D)
  const float* w_hh;     // (3H, H)
  const float* b_ih;     // (3H,) or null
  const float* b_hh;     // (3H,) or null
  const int64_t* lengths;  // (N,) in [1, T], or null for all T
  float* y;              // (T, N, H); zero past a sequence's length
  float* h_n;            // (N, H): the state after each sequence's last step
  float* reserve;        // (T, N, 5H), or null (inference)
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

void gru_forward(Isa isa, const GruShape& s, const GruForward& a);
void gru_backward(Isa isa, const GruShape& s, const GruBackward& a);

}  // namespace ictus::cpu
