#include "common/thread_pool.h"

#include <sched.h>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define ICTUS_CPU_RELAX() _mm_pause()
#else
#define ICTUS_CPU_RELAX() std::atomic_signal_fence(std::memory_order_seq_cst)
#endif

namespace ictus {
namespace {

// How long an idle thread polls before it sleeps: long enough to cover the Python overhead
// between two kernel calls, short enough not to burn a core for another process.
constexpr auto kSpinTime = std::chrono::microseconds(200);

// The part count in the claims word of a finished job: above any real part count.
constexpr uint64_t kClosed = 0xffffffffu;

// Polls pred() until it holds or kSpinTime has passed; returns whether it holds.
template <class Pred>
bool spin_until(Pred pred) {
  const auto deadline = std::chrono::steady_clock::now() + kSpinTime;
  for (;;) {
    for (int i = 0; i < 64; ++i) {
      if (pred()) return true;
      ICTUS_CPU_RELAX();
    }
    if (std::chrono::steady_clock::now() > deadline) return pred();
  }
}

}  // namespace

int default_num_threads() {
  if (const char* env = std::getenv("ICTUS_NUM_THREADS"); env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long n = std::strtol(env, &end, 10);
    if (*end != '\0' || n < 1 || n > kMaxThreads) {
      throw std::invalid_argument(std::string("ictus: ICTUS_NUM_THREADS must be an integer in [1, ") +
                                  std::to_string(kMaxThreads) + "], got '" + env + "'");
    }
    return static_cast<int>(n);
  }
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof(set), &set) == 0) {
    const int n = CPU_COUNT(&set);
    if (n >= 1) return n;
  }
  const unsigned n = std::thread::hardware_concurrency();
  return n >= 1 ? static_cast<int>(n) : 1;
}

ThreadPool& ThreadPool::instance() {
  static ThreadPool pool;
  return pool;
}

ThreadPool::ThreadPool() { start_workers(default_num_threads()); }

ThreadPool::~ThreadPool() { stop_workers(); }

void ThreadPool::set_num_threads(int n) {
  std::lock_guard<std::mutex> lock(busy_);
  if (n == num_threads_) return;
  stop_workers();
  start_workers(n);
}

void ThreadPool::start_workers(int n) {
  num_threads_ = n;
  stop_.store(false);
  // Workers start from the current generation, so a job posted before a thread runs is not missed.
  const uint64_t generation = generation_.load();
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, generation] { worker_loop(generation); });
}

void ThreadPool::stop_workers() {
  if (workers_.empty()) return;
  stop_.store(true);
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::take_parts() {
  for (;;) {
    uint64_t claims = claims_.load(std::memory_order_acquire);
    const int parts = parts_.load(std::memory_order_relaxed);
    const int64_t items = items_.load(std::memory_order_relaxed);
    const Call call = call_.load(std::memory_order_relaxed);
    void* ctx = ctx_.load(std::memory_order_relaxed);
    const int64_t part = static_cast<int64_t>(claims & 0xffffffffu);
    if (part >= parts) return;
    // Succeeds only while the job that `claims` names is current, so the fields read above are its.
    if (!claims_.compare_exchange_weak(claims, claims + 1, std::memory_order_acq_rel)) continue;
    const int64_t begin = items * part / parts, end = items * (part + 1) / parts;
    if (begin < end) call(ctx, begin, end);
    done_.fetch_add(1, std::memory_order_release);
  }
}

void ThreadPool::worker_loop(uint64_t seen) {
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      sleepers_.fetch_add(1);
      while (generation_.load() == seen) generation_.wait(seen);
      sleepers_.fetch_sub(1);
    }
    seen = generation_.load();
    if (stop_.load()) return;
    take_parts();
  }
}

void ThreadPool::run(int64_t n_items, Call call, void* ctx) {
  if (n_items <= 0) return;
  std::unique_lock<std::mutex> lock(busy_, std::try_to_lock);
  const int parts = static_cast<int>(n_items < num_threads_ ? n_items : num_threads_);
  if (!lock.owns_lock() || parts == 1) {
    call(ctx, 0, n_items);
    return;
  }
  call_.store(call, std::memory_order_relaxed);
  ctx_.store(ctx, std::memory_order_relaxed);
  items_.store(n_items, std::memory_order_relaxed);
  parts_.store(parts, std::memory_order_relaxed);
  done_.store(0, std::memory_order_relaxed);
  ++job_id_;
  claims_.store(static_cast<uint64_t>(job_id_) << 32, std::memory_order_release);
  generation_.fetch_add(1);
  if (sleepers_.load() > 0) generation_.notify_all();
  take_parts();
  // Every part is claimed now; wait for those that workers are still running.
  while (done_.load(std::memory_order_acquire) != parts) ICTUS_CPU_RELAX();
  // Close the job before the next one rewrites the fields: a worker that read this job's claims
  // word then sees no part left, and one that read it earlier fails its compare-exchange.
  claims_.store(static_cast<uint64_t>(job_id_) << 32 | kClosed, std::memory_order_release);
}

}  // namespace ictus
