// Host entry points of the CUDA GRU (csrc/cuda/gru.cu), same conventions as conv_cuda.h: device
// pointers, work queued on `stream` of `device`; lengths (if any) in device memory.
#pragma once

#include <cstdint>

#include "common/gru_shape.h"

namespace ictus::cuda {

// Whether the forward pass keeps the recurrent weights in one block's shared memory for the
// whole sequence (one launch), rather than a GEMM and a gate kernel per step.
bool gru_persistent(const GruShape& s);

void gru_forward(const GruShape& s, const GruForward& a, int device, uintptr_t stream);
void gru_backward(const GruShape& s, const GruBackward& a, int device, uintptr_t stream);

}  // namespace ictus::cuda
