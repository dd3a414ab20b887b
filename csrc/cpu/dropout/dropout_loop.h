// Dropout's loop (see dropout.h), included by dropout_avx2.cpp and dropout_avx512.cpp, whose ISA
// flags let the compiler vectorise it: the hash is 32-bit multiplies, shifts and xors, and the
// select a compare and blend. Callers keep [first, first + n) inside one 2^32-element block, so
// the second round's key is one constant.
#pragma once

#include <cstdint>

#include "common/dropout_bits.h"

namespace ictus::cpu {
namespace {

inline void dropout_loop(const float* __restrict__ x, float* __restrict__ y, int64_t n, uint64_t first,
                         uint64_t seed, uint32_t threshold, float scale) {
  const uint32_t seed_low = static_cast<uint32_t>(seed), block_key = dropout_block_key(seed, first >> 32);
  const uint32_t first_low = static_cast<uint32_t>(first);
  for (int64_t i = 0; i < n; ++i) {
    const uint32_t bits = dropout_bits(first_low + static_cast<uint32_t>(i), seed_low, block_key);
    y[i] = x[i] * (bits >= threshold ? scale : 0.0f);
  }
}

}  // namespace
}  // namespace ictus::cpu
