// The machine's measured FMA peak, which the benchmark reports every kernel against: every thread
// runs independent fused multiply-adds on enough register accumulators to hide the FMA latency.
#pragma once

#include <cstdint>

#include "cpu/isa.h"

namespace ictus::cpu {

// One thread's FMA loop: `iterations` rounds over all accumulators; returns the FLOPs done.
double peak_fma_portable(int64_t iterations);
double peak_fma_avx2(int64_t iterations);
double peak_fma_avx512(int64_t iterations);

// Runs the FMA loop of `isa` on `threads` threads for about `seconds`; returns GFLOP/s (the best
// of a few repeats, as a peak should be).
double measure_peak_gflops(Isa isa, int threads, double seconds);

}  // namespace ictus::cpu
