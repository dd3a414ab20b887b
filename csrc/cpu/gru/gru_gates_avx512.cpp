// GRU gate math compiled for AVX-512; see gru_gates.h.
#include "cpu/gru/gru_gates.h"

namespace ictus::cpu {

void gru_gates_row_avx512(const GruStepRow& row) { gates_row(row); }
void gru_reset_row_avx512(const GruStepRow& row) { reset_row(row); }

}  // namespace ictus::cpu
