// The one place that touches py::array: turns NumPy arrays into checked raw float views for the
// kernels. The Python layer has already converted and validated the arguments with user-facing
// messages; these checks keep a call that bypasses it from reaching memory it does not own.
#pragma once

#include <pybind11/numpy.h>
#include <pybind11/pybind11.h>

#include <cstdint>
#include <string>

#include "common/check.h"

namespace ictus::bindings {

namespace py = pybind11;

struct FloatView {
  float* data;
  int64_t shape[8];
  int rank;
  int64_t dim(int i) const { return shape[i]; }
};

// `obj` as a float32, C-contiguous, aligned NumPy array of rank `rank` (writable if asked).
inline FloatView float_view(const py::handle& obj, const char* name, int rank, bool writable) {
  const std::string what = std::string(name);
  if (!py::isinstance<py::array>(obj)) throw py::type_error("ictus: " + what + " must be a numpy array");
  auto arr = py::reinterpret_borrow<py::array>(obj);
  if (!arr.dtype().equal(py::dtype::of<float>()))
    throw py::type_error("ictus: " + what + " must be float32 (native byte order), got " +
                         std::string(py::str(arr.dtype())));
  ICTUS_CHECK(arr.ndim() == rank, what + " must have rank " + std::to_string(rank));
  ICTUS_CHECK(arr.flags() & py::detail::npy_api::NPY_ARRAY_C_CONTIGUOUS_, what + " must be C-contiguous");
  ICTUS_CHECK(reinterpret_cast<uintptr_t>(arr.data()) % alignof(float) == 0, what + " must be aligned");
  ICTUS_CHECK(!writable || arr.writeable(), what + " must be writable");
  FloatView v{};
  v.rank = rank;
  int64_t count = 1;
  for (int i = 0; i < rank; ++i) {
    v.shape[i] = static_cast<int64_t>(arr.shape(i));
    ICTUS_CHECK(v.shape[i] >= 1, what + " must not be empty");
    count = checked_mul(count, v.shape[i], name);
  }
  checked_mul(count, static_cast<int64_t>(sizeof(float)), name);
  v.data = static_cast<float*>(const_cast<void*>(arr.data()));
  return v;
}

}  // namespace ictus::bindings
