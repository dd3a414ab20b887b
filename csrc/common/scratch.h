// Grow-only scratch buffers owned by the calling thread and reused across kernel calls: fresh
// large allocations page-fault at ~2.4 GB/s on the target machine, so hot paths must not allocate.
// Worker threads may use the caller's buffer inside the caller's parallel region.
#pragma once

#include <cstddef>

namespace ictus {

enum class ScratchSlot : int {
  kPackedInput,
  kPackedGradOut,
  kPhaseGrad,
  kGradOutT,
  kWeightGradT,
  kPackedWeight,
  kPackedTiles,  // per worker thread, inside kernels
  kGemmPackedB,  // gemm.cpp packing B for one product
  kGemmPackedA,  // per worker thread, inside the GEMM kernels
  kRecurrent,    // a GRU call's weights, gate pre-activations and gradients
  kWinogradWeights,   // a Winograd convolution's transformed weights,
  kWinogradTiles,     // input patches
  kWinogradProducts,  // and GEMM products
  kSparseGradRows,     // per worker thread: a sparse kernel's channel-last rows,
  kSparseGradSums,     // the weight gradient's item sums,
  kSparseGradWeights,  // the input gradient's packed weights
  kCount
};

// A 64-byte aligned buffer of at least `count` floats, valid until the next call with this slot on
// this thread. Throws std::bad_alloc (MemoryError in Python) when memory runs out.
float* scratch_floats(ScratchSlot slot, size_t count);

}  // namespace ictus
