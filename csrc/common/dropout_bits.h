// Dropout's random bits, shared by the CPU and CUDA kernels so that a seed drops the same elements
// on both: element i of a flat array is kept when
//   mix32(mix32(lo32(i) ^ lo32(seed)) ^ (hi32(seed) + 0x9e3779b9 * hi32(i))) >= threshold
// with threshold = round(p * 2^32). mix32 is Wellons' "lowbias32" integer hash (a bijection with
// near-ideal avalanche); two rounds keyed by the seed's halves keep the masks of different seeds
// unrelated. Counter-based: a mask needs no storage, the backward pass recomputes it from the seed
// (as the CUDA dropout of cuDNN and torch does with Philox), and any element can be computed alone,
// so threads and vector lanes split the array freely and the result never depends on how.
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"  // ICTUS_HD

namespace ictus {

ICTUS_HD static inline uint32_t mix32(uint32_t x) {
  x ^= x >> 16;
  x *= 0x7feb352dU;
  x ^= x >> 15;
  x *= 0x846ca68bU;
  x ^= x >> 16;
  return x;
}

// The second round's key for elements [2^32 * block, 2^32 * (block + 1)).
ICTUS_HD static inline uint32_t dropout_block_key(uint64_t seed, uint64_t block) {
  return static_cast<uint32_t>(seed >> 32) + 0x9e3779b9U * static_cast<uint32_t>(block);
}

ICTUS_HD static inline uint32_t dropout_bits(uint32_t index_low, uint32_t seed_low, uint32_t block_key) {
  return mix32(mix32(index_low ^ seed_low) ^ block_key);
}

// Elements whose bits are below the threshold are dropped: p rounded to a multiple of 2^-32.
ICTUS_HD static inline uint32_t dropout_threshold(double p) {
  const double t = p * 4294967296.0 + 0.5;
  return t >= 4294967295.0 ? 0xffffffffU : static_cast<uint32_t>(t);
}

}  // namespace ictus
