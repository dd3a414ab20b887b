// The kernels' thread pool: a fixed team that splits a range of work items into one contiguous
// part per thread. The split depends only on the item count and the team size, and every output
// element is computed within one part in a fixed order, so results are bitwise deterministic
// whichever thread runs a part.
//
// Any thread may run any part: the caller takes parts until none is left, and workers take what
// they find when they wake. A worker that wakes late (an idle vCPU here takes up to a millisecond
// to be scheduled again) then finds nothing to do, instead of the caller waiting for it.
//
// Why not OpenMP: a default libgomp team on the target VM stalls ~8 ms when woken after 20 ms
// idle, and it would fight the libgomp inside PyTorch when both live in one process. Workers here
// spin briefly after a job (back-to-back kernel calls stay cheap), then sleep on a futex.
#pragma once

#include <atomic>
#include <cstdint>
#include <mutex>
#include <thread>
#include <vector>

namespace ictus {

inline constexpr int kMaxThreads = 1024;

class ThreadPool {
 public:
  static ThreadPool& instance();

  int num_threads() const { return num_threads_; }
  // Resizes the team; waits for a running job to finish first.
  void set_num_threads(int n);

  // Calls fn(begin, end) for disjoint contiguous ranges (one per thread of the team) covering
  // [0, n_items). When the team is busy with another caller's job, runs the whole range on the
  // calling thread instead.
  template <class F>
  void parallel_for(int64_t n_items, F&& fn) {
    run(n_items, [](void* ctx, int64_t b, int64_t e) { (*static_cast<F*>(ctx))(b, e); }, &fn);
  }

  ~ThreadPool();

 private:
  using Call = void (*)(void*, int64_t, int64_t);
  ThreadPool();
  void run(int64_t n_items, Call call, void* ctx);
  // Claims and runs parts of the current job until none is left.
  void take_parts();
  void start_workers(int n);
  void stop_workers();
  void worker_loop(uint64_t seen);

  std::mutex busy_;  // held by the caller whose job owns the team
  int num_threads_ = 1;
  std::vector<std::thread> workers_;

  // The posted job. Its fields are written before `claims_` names the job, and a thread uses the
  // values it read only if its claim on `claims_` (which compares the job id too) succeeds.
  std::atomic<Call> call_{nullptr};
  std::atomic<void*> ctx_{nullptr};
  std::atomic<int64_t> items_{0};
  std::atomic<int> parts_{0};
  std::atomic<uint64_t> claims_{0};  // job id << 32 | parts claimed so far
  std::atomic<int> done_{0};         // parts of the current job finished
  uint32_t job_id_ = 0;
  std::atomic<bool> stop_{false};

  std::atomic<uint64_t> generation_{0};  // bumped to wake workers
  std::atomic<int> sleepers_{0};
};

// Default team size: the CPUs this process may run on, or ICTUS_NUM_THREADS when set (an integer
// in [1, kMaxThreads]; anything else throws std::invalid_argument).
int default_num_threads();

}  // namespace ictus
