#include "common/scratch.h"

#include <cstdlib>
#include <memory>
#include <new>

namespace ictus {
namespace {

struct FreeDeleter {
  void operator()(float* p) const { std::free(p); }
};

struct Buffer {
  std::unique_ptr<float, FreeDeleter> data;
  size_t capacity = 0;
};

}  // namespace

float* scratch_floats(ScratchSlot slot, size_t count) {
  thread_local Buffer buffers[static_cast<int>(ScratchSlot::kCount)];
  Buffer& b = buffers[static_cast<int>(slot)];
  if (count > b.capacity) {
    const size_t bytes = ((count * sizeof(float) + 63) / 64) * 64;
    if (bytes / sizeof(float) < count) throw std::bad_alloc();
    float* p = static_cast<float*>(std::aligned_alloc(64, bytes));
    if (p == nullptr) throw std::bad_alloc();
    b.data.reset(p);
    b.capacity = bytes / sizeof(float);
  }
  return b.data.get();
}

}  // namespace ictus
