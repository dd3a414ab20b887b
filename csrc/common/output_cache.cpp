#include "common/output_cache.h"

#include <sys/mman.h>

#include <cstdlib>
#include <mutex>
#include <new>
#include <string>
#include <unordered_map>
#include <vector>

#include "common/check.h"

namespace ictus {
namespace {

constexpr size_t kSmallGranule = size_t{64} << 10;
constexpr size_t kHugePage = size_t{2} << 20;

size_t rounded(size_t bytes) {
  const size_t granule = bytes >= kHugePage ? kHugePage : kSmallGranule;
  return (bytes + granule - 1) / granule * granule;
}

size_t limit_from_environment() {
  const char* text = std::getenv("ICTUS_OUTPUT_CACHE_MB");
  if (text == nullptr || *text == '\0') return size_t{512} << 20;
  char* end = nullptr;
  const long long mb = std::strtoll(text, &end, 10);
  ICTUS_CHECK(*end == '\0' && mb >= 0 && mb <= (int64_t{1} << 30),
              "ICTUS_OUTPUT_CACHE_MB must be a whole number of MiB >= 0, got '" + std::string(text) + "'");
  return static_cast<size_t>(mb) << 20;
}

class OutputCache {
 public:
  void* acquire(size_t bytes) {
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      auto it = free_.find(size);
      if (it != free_.end() && !it->second.empty()) {
        void* block = it->second.back();
        it->second.pop_back();
        cached_ -= size;
        ++hits_;
        return block;
      }
      ++misses_;
    }
    void* block = std::aligned_alloc(size >= kHugePage ? kHugePage : 64, size);
    if (block == nullptr) throw std::bad_alloc();
    if (size >= kHugePage) madvise(block, size, MADV_HUGEPAGE);  // a hint: fewer, cheaper first-touch faults
    return block;
  }

  void release(void* block, size_t bytes) {
    const size_t size = rounded(bytes);
    {
      std::lock_guard<std::mutex> lock(mutex_);
      if (cached_ + size <= limit_) {
        free_[size].push_back(block);
        cached_ += size;
        return;
      }
    }
    std::free(block);
  }

  OutputCacheInfo info() {
    std::lock_guard<std::mutex> lock(mutex_);
    return {cached_, limit_, hits_, misses_};
  }

  void set_limit(size_t bytes) {
    std::vector<void*> evicted;
    {
      std::lock_guard<std::mutex> lock(mutex_);
      limit_ = bytes;
      for (auto& [size, blocks] : free_) {  // largest savings first would need an order; any order keeps the bound
        while (cached_ > limit_ && !blocks.empty()) {
          evicted.push_back(blocks.back());
          blocks.pop_back();
          cached_ -= size;
        }
      }
    }
    for (void* block : evicted) std::free(block);
  }

 private:
  std::mutex mutex_;
  std::unordered_map<size_t, std::vector<void*>> free_;  // rounded size -> blocks, most recently freed last
  size_t cached_ = 0;
  size_t limit_ = limit_from_environment();
  uint64_t hits_ = 0, misses_ = 0;
};

// Never destroyed: arrays may outlive static destruction at interpreter exit and still give back.
OutputCache& cache() {
  static OutputCache* instance = new OutputCache();
  return *instance;
}

}  // namespace

void* output_block_acquire(size_t bytes) { return cache().acquire(bytes); }
void output_block_release(void* block, size_t bytes) { cache().release(block, bytes); }
OutputCacheInfo output_cache_info() { return cache().info(); }
void set_output_cache_limit(size_t bytes) { cache().set_limit(bytes); }

}  // namespace ictus
