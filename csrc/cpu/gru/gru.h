// GRU layers on the CPU, forward and backward (the problem: common/gru_shape.h). The input
// projection of all steps is one GEMM (gemm.h); each step is one GEMM of the state with the
// recurrent weights (kept transposed in scratch) and the gate math. The ISA variants differ in the
// GEMM kernel only.
#pragma once

#include "common/gru_shape.h"
#include "cpu/isa.h"

namespace ictus::cpu {

void gru_forward(Isa isa, const GruShape& s, const GruForward& a);
void gru_backward(Isa isa, const GruShape& s, const GruBackward& a);

}  // namespace ictus::cpu
