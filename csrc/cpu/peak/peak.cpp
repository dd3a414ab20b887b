#include "cpu/peak/peak.h"

#include <atomic>
#include <chrono>
#include <thread>
#include <vector>

#include "common/check.h"

namespace ictus::cpu {
namespace {

using FmaLoop = double (*)(int64_t);

FmaLoop fma_loop(Isa isa) {
#if defined(ICTUS_X86)
  if (isa == Isa::kAvx512) return peak_fma_avx512;
  if (isa == Isa::kAvx2) return peak_fma_avx2;
#endif
  (void)isa;
  return peak_fma_portable;
}

// GFLOP/s of `threads` threads each running `iterations` rounds, started together.
double timed_run(FmaLoop loop, int threads, int64_t iterations) {
  std::atomic<int> ready{0};
  std::atomic<bool> go{false};
  std::vector<double> flops(threads, 0.0);
  std::vector<std::thread> team;
  for (int i = 0; i < threads; ++i) {
    team.emplace_back([&, i] {
      ready.fetch_add(1);
      while (!go.load()) std::this_thread::yield();
      flops[i] = loop(iterations);
    });
  }
  while (ready.load() != threads) std::this_thread::yield();
  const auto start = std::chrono::steady_clock::now();
  go.store(true);
  for (auto& t : team) t.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  double total = 0.0;
  for (double f : flops) total += f;
  return total / seconds * 1e-9;
}

}  // namespace

double measure_peak_gflops(Isa isa, int threads, double seconds) {
  ICTUS_CHECK(threads >= 1 && threads <= 1024, "peak: threads must be in [1, 1024]");
  ICTUS_CHECK(seconds > 0.0 && seconds <= 60.0, "peak: seconds must be in (0, 60]");
  const FmaLoop loop = fma_loop(isa);
  // Calibrate the iteration count on one thread, then take the best of 3 timed repeats.
  int64_t iterations = 1 << 16;
  for (;;) {
    const auto start = std::chrono::steady_clock::now();
    loop(iterations);
    const double dt = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    if (dt > 0.01) {
      iterations = static_cast<int64_t>(iterations * (seconds / 3.0) / dt) + 1;
      break;
    }
    iterations *= 4;
  }
  double best = 0.0;
  for (int r = 0; r < 3; ++r) {
    const double g = timed_run(loop, threads, iterations);
    if (g > best) best = g;
  }
  return best;
}

}  // namespace ictus::cpu
