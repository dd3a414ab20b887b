// A cache of the memory behind large output arrays that Python has freed, so that the next call
// of the same shape writes into pages that are already mapped: a fresh large buffer page-faults
// at about 2.4 GB/s on the target machine (first touch), slower than the kernels that fill it,
// and glibc maps every block above 32 MiB anew (a training step's 50 MB activations and input
// gradients paid that on every step). Blocks are matched by size rounded up to a granule (64 KiB,
// 2 MiB from 2 MiB on, where the block is also offered transparent huge pages), most recently
// freed first. The cache holds at most a limit of bytes (ICTUS_OUTPUT_CACHE_MB, default 512;
// set_output_cache_limit); a freed block that does not fit goes back to the system. Thread-safe.
#pragma once

#include <cstddef>
#include <cstdint>

namespace ictus {

// Outputs smaller than this come from numpy.empty: glibc serves blocks below its initial mmap
// threshold (128 KiB) from its heap, which reuses them. Larger ones it maps anew unless its dynamic
// threshold has risen past them, which depends on what it saw freed: caching only outputs from
// 32 MiB on left the tutorial TCN's training step at 9,847 page faults (1,710 without the cache),
// from 256 KiB on its inference at 496 per call (1 without); from 128 KiB: 2 and 1.
constexpr size_t kOutputCacheMinBytes = size_t{128} << 10;

// A 64-byte aligned block of at least `bytes`, cached or new; `bytes` >= kOutputCacheMinBytes.
// Throws std::bad_alloc when memory runs out.
void* output_block_acquire(size_t bytes);
// Gives back a block from output_block_acquire(bytes).
void output_block_release(void* block, size_t bytes);

struct OutputCacheInfo {
  size_t cached_bytes, limit_bytes;
  uint64_t hits, misses;
};
OutputCacheInfo output_cache_info();
// Frees cached blocks down to the new limit (0: frees them all and caches nothing more).
void set_output_cache_limit(size_t bytes);

}  // namespace ictus
