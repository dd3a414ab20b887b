// The kernels' thread pool: a fixed team that splits a range of work items into one contiguous
// chunk per thread, the calling thread taking the first. The split depends only on the item count
// and the thread count, and every output element is computed by exactly one thread in a fixed
// order, so results are bitwise deterministic and independent of the thread count.
//
// Why not OpenMP: a default libgomp team on the target VM stalls ~8 ms when woken after 20 ms
// idle, and it would fight the libgomp inside PyTorch when both live in one process. Workers here
// spin briefly after a job (back-to-back kernel calls stay cheap), then sleep on a futex, which
// wakes in tens of microseconds.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ictus {

class ThreadPool {
 public:
  static ThreadPool& instance();

  int num_threads() const { return num_threads_; }
  // Resizes the team; waits for a running job to finish first.
  void set_num_threads(int n);

  // Calls fn(begin, end) for disjoint contiguous ranges covering [0, n_items). When the team is
  // busy with another caller's job, runs the whole range on the calling thread instead.
  template <class F>
  void parallel_for(int64_t n_items, F&& fn) {
    run(n_items, [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); }, &fn);
  }

  ~ThreadPool();

 private:
  using Call = void (*)(void*, int64_t, int64_t);
  ThreadPool();
  void run(int64_t n_items, Call call, void* ctx);
  void start_workers(int n);
  void stop_workers();
  void worker_loop(int index, uint64_t seen);

  std::mutex busy_;  // held by the caller whose job owns the team
  int num_threads_ = 1;
  std::vector<std::thread> workers_;

  // The posted job; written before generation_ is bumped, read by workers after they see it.
  Call call_ = nullptr;
  void* ctx_ = nullptr;
  int64_t items_ = 0;
  int parts_ = 0;
  bool stop_ = false;

  std::atomic<uint64_t> generation_{0};
  std::atomic<int> sleepers_{0};
  std::atomic<int> remaining_{0};  // workers that have not yet finished (or skipped) the job
  std::atomic<bool> caller_sleeping_{false};
};

inline constexpr int kMaxThreads = 1024;

// Default team size: the CPUs this process may run on, or ICTUS_NUM_THREADS when set (an integer
// in [1, kMaxThreads]; anything else throws std::invalid_argument).
int default_num_threads();

}  // namespace ictus
