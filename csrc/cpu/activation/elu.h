// ELU on the CPU, element-wise over flat float32 arrays, torch.nn.ELU's definition and gradient:
//   forward  y = x <= 0 ? alpha * (e^x - 1) : x
//   backward grad_x = y > 0 ? grad_y : grad_y * (y + alpha)   (from the output: alpha e^x = y + alpha)
// NaN propagates as in torch (a NaN input gives a NaN output and a NaN gradient).
// Variants: scalar (std::expm1), and portable / AVX2 / AVX-512 (elu_simd.h: one branch-free loop
// over each ISA's vector vocabulary; the backward loop is vectorised by the compiler).
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace ictus::cpu {

void elu_fwd_scalar(const float* x, float* y, int64_t n, float alpha);
void elu_fwd_portable(const float* x, float* y, int64_t n, float alpha);
void elu_fwd_avx2(const float* x, float* y, int64_t n, float alpha);
void elu_fwd_avx512(const float* x, float* y, int64_t n, float alpha);
void elu_bwd_scalar(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha);
void elu_bwd_portable(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha);
void elu_bwd_avx2(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha);
void elu_bwd_avx512(const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha);

// Entry points: variant `isa` over n elements, in chunks over the thread pool.
void elu_forward(Isa isa, const float* x, float* y, int64_t n, float alpha);
void elu_backward(Isa isa, const float* grad_y, const float* y, float* grad_x, int64_t n, float alpha);
// The kernel that runs "fwd" or "bwd" under `isa`.
const char* elu_kernel_name(Isa isa, const char* direction);

}  // namespace ictus::cpu
