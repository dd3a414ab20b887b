// Argument checks inside the C++ core. The Python layer validates first and words the errors for
// users; these checks are the last line that keeps a bad call from touching memory it does not own.
// A failed check throws std::invalid_argument, which pybind11 turns into ValueError.
#pragma once

#include <cstdint>
#include <stdexcept>
#include <string>

#define ICTUS_CHECK(cond, msg)                                                    \
  do {                                                                            \
    if (!(cond)) throw std::invalid_argument(std::string("ictus: ") + (msg));     \
  } while (0)

namespace ictus {

// a * b, or an error naming `what` when the product leaves int64 (or either factor is negative).
static inline int64_t checked_mul(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  ICTUS_CHECK(a >= 0 && b >= 0 && !__builtin_mul_overflow(a, b, &r),
              std::string(what) + " overflows a 64-bit size");
  return r;
}

static inline int64_t checked_add(int64_t a, int64_t b, const char* what) {
  int64_t r = 0;
  ICTUS_CHECK(!__builtin_add_overflow(a, b, &r), std::string(what) + " overflows a 64-bit size");
  return r;
}

}  // namespace ictus
