// GRU gate math compiled for the baseline instruction set (also the scalar variant's); see gru_gates.h.
#include "cpu/gru/gru_gates.h"

namespace ictus::cpu {

void gru_gates_row_portable(const GruStepRow& row) { gates_row(row); }
void gru_reset_row_portable(const GruStepRow& row) { reset_row(row); }

}  // namespace ictus::cpu
