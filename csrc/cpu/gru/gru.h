// GRU layers on the CPU, forward and backward (the problem: common/gru_shape.h). The input
// projection of all steps is one GEMM (gemm.h); each step is one GEMM of the state with the
// recurrent weights (kept transposed in scratch) and the gate math. The ISA variants differ in the
// GEMM kernel only.
#pragma once

#include "common/gru_shape.h"
#include "cpu/isa.h"

namespace ictus::cpu {

// One sequence's share of a forward step.
struct GruStepRow {
  int64_t hidden;
  bool linear_before_reset;
  const float* gi;  // (3H) input pre-activations at this sequence's time
  const float* gh;  // (3H) recurrent pre-activations
  float* h;         // (H) the state: read, then updated by the gates
  float* y;         // (H) the output at this time
  float* reserve;   // (5H) or null
  float* rh;        // (H) reset after: r * h, written by the reset kernels
};
using GruRowKernel = void (*)(const GruStepRow&);
void gru_gates_row_avx2(const GruStepRow& row);
void gru_gates_row_avx512(const GruStepRow& row);
void gru_gates_row_portable(const GruStepRow& row);
void gru_reset_row_avx2(const GruStepRow& row);
void gru_reset_row_avx512(const GruStepRow& row);
void gru_reset_row_portable(const GruStepRow& row);

void gru_forward(Isa isa, const GruShape& s, const GruForward& a);
void gru_backward(Isa isa, const GruShape& s, const GruBackward& a);

}  // namespace ictus::cpu
