// Strides that spread over the L1 cache's sets. Arrays whose byte stride is (nearly) a multiple of
// 4 KiB map to few of L1's 64 sets: a kernel that touches one vector of each of many such arrays
// (channel planes, Winograd's 16 matrices) thrashes L1 (the direct conv1d feed at T = 1024 or 4096
// ran at half speed; Winograd's transforms, storing to 16 matrices 72 KiB apart, at a fifth).
#pragma once

#include <cstdint>

namespace ictus::cpu {

// Whether consecutive arrays `floats` apart fall into fewer than 16 distinct L1 sets.
inline bool aliasing_prone(int64_t floats) {
  int64_t delta = (floats / 16) % 64;  // L1 sets (of 64 B) that one array moves the next
  int64_t g = 64;
  while (delta != 0) {
    const int64_t r = g % delta;
    g = delta;
    delta = r;
  }
  return g > 4;
}

// The smallest stride >= floats, a multiple of 16 floats (64 B), that is not aliasing-prone.
inline int64_t aliasing_safe_stride(int64_t floats) {
  int64_t stride = (floats + 15) / 16 * 16;
  while (aliasing_prone(stride)) stride += 16;
  return stride;
}

}  // namespace ictus::cpu
