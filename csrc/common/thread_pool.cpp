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
  stop_ = false;
  // Workers start from the current generation, so a job posted before a thread runs is not missed.
  const uint64_t generation = generation_.load();
  for (int i = 1; i < n; ++i) workers_.emplace_back([this, i, generation] { worker_loop(i, generation); });
}

void ThreadPool::stop_workers() {
  if (workers_.empty()) return;
  stop_ = true;
  remaining_.store(static_cast<int>(workers_.size()));
  generation_.fetch_add(1);
  generation_.notify_all();
  for (auto& t : workers_) t.join();
  workers_.clear();
}

void ThreadPool::worker_loop(int index, uint64_t seen) {
  for (;;) {
    if (!spin_until([&] { return generation_.load(std::memory_order_acquire) != seen; })) {
      sleepers_.fetch_add(1);
      while (generation_.load() == seen) generation_.wait(seen);
      sleepers_.fetch_sub(1);
    }
    seen = generation_.load();
    if (stop_) return;
    if (index < parts_) {
      const int64_t begin = items_ * index / parts_;
      const int64_t end = items_ * (index + 1) / parts_;
      if (begin < end) call_(ctx_, begin, end);
    }
    if (remaining_.fetch_sub(1) == 1 && caller_sleeping_.load()) remaining_.notify_all();
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
  call_ = call;
  ctx_ = ctx;
  items_ = n_items;
  parts_ = parts;
  remaining_.store(static_cast<int>(workers_.size()));
  generation_.fetch_add(1);  // publishes the job (seq_cst)
  if (sleepers_.load() > 0) generation_.notify_all();

  const int64_t first_end = n_items / parts;
  call(ctx, 0, first_end);

  // Every worker acknowledges every job, so none can read the next job's fields for this one.
  if (!spin_until([&] { return remaining_.load(std::memory_order_acquire) == 0; })) {
    caller_sleeping_.store(true);
    for (int r = remaining_.load(); r != 0; r = remaining_.load()) remaining_.wait(r);
    caller_sleeping_.store(false);
  }
}

}  // namespace ictus
