// Dropout on the CPU over flat float32 arrays: y[i] = x[i] * (keep(i) ? scale : 0), keep(i) from
// common/dropout_bits.h (seed, element index, threshold) and scale = 1 / (1 - p). The forward pass
// and the backward pass (grad_x from grad_y) are the same call with the same seed. Multiplying by
// 0 rather than storing 0 keeps torch's NaN rule (a dropped NaN or infinity gives NaN).
// Variants: scalar (the definition, element by element), AVX2 and AVX-512 (dropout_loop.h compiled
// with each ISA's flags: the compiler vectorises the integer hash, 16 lanes a vector on AVX-512).
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace ictus::cpu {

// Elements first .. first + n - 1 of the array (first is the index of x[0], which keys the bits).
void dropout_scalar(const float* x, float* y, int64_t n, uint64_t first, uint64_t seed, uint32_t threshold,
                    float scale);
void dropout_avx2(const float* x, float* y, int64_t n, uint64_t first, uint64_t seed, uint32_t threshold,
                  float scale);
void dropout_avx512(const float* x, float* y, int64_t n, uint64_t first, uint64_t seed, uint32_t threshold,
                    float scale);

// Entry point: variant `isa` over n elements, in chunks over the thread pool.
void dropout(Isa isa, const float* x, float* y, int64_t n, uint64_t seed, double p);
// The kernel that runs under `isa`.
const char* dropout_kernel_name(Isa isa);

}  // namespace ictus::cpu
