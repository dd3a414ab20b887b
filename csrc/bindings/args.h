// Argument checking for the bindings: the one place that touches py::array and the CUDA array
// interface. Every op validates here, in C++, so a call costs about a microsecond, and every bad
// argument becomes a TypeError or ValueError that names the op, the argument and the fix.
//
// Arrays: NumPy arrays are CPU arrays; objects with __cuda_array_interface__ (CuPy) are GPU
// arrays. Both must have the expected dtype (float32 for data, int64 or int32 for max-pool indices) in
// native byte order. Non-contiguous inputs are copied once to a contiguous array
// (numpy.ascontiguousarray / cupy.ascontiguousarray); outputs must be contiguous.
#pragma once

#include <pybind11/pybind11.h>

#include "cpu/isa.h"

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <utility>

namespace ictus::bindings {

namespace py = pybind11;

// Which op and argument a check is about, for messages: "conv1d: weight ...".
struct Arg {
  const char* op;
  const char* name;
};

[[noreturn]] void raise_type(const Arg& a, const std::string& msg);
[[noreturn]] void raise_value(const Arg& a, const std::string& msg);

enum class DType { kFloat32, kInt64, kInt32 };

struct ArrayView {
  py::object array;  // keeps the (possibly copied) array alive
  float* data = nullptr;  // the elements (reinterpret as int64_t* for kInt64 arrays via index_data)
  std::array<int64_t, 4> shape{};
  int rank = 0;
  int element_bytes = 4;
  bool cuda = false;
  int device = -1;  // GPU ordinal for CUDA arrays
  int64_t size() const;
  std::string shape_str() const;
  int64_t* index_data() const { return reinterpret_cast<int64_t*>(data); }
};

// An input array of `rank` dimensions (`layout` in words, e.g. "(N, C_in, T)"), none empty.
ArrayView array_in(py::handle obj, const Arg& a, int rank, const char* layout, DType dtype = DType::kFloat32);

// Raises unless every view is on the device of the first (same kind and GPU).
void check_same_device(const ArrayView& first, const Arg& first_arg, const ArrayView& other, const Arg& other_arg);

// The output: `out` checked (shape, dtype, contiguous, writable, device of `like`, no overlap with
// `inputs`), or when None a new array of `shape` (numpy.empty or cupy.empty on like's device).
ArrayView array_out(py::handle out, const Arg& a, const std::array<int64_t, 4>& shape, int rank,
                    const ArrayView& like, std::initializer_list<const ArrayView*> inputs,
                    DType dtype = DType::kFloat32);

// kInt32 for an int32 array (NumPy or CuPy), else kInt64: the dtype to check max-pool indices
// against (a wrong dtype is then reported as not int64).
DType index_dtype(py::handle obj);

// An int parameter >= min_value (bool and float refused).
int64_t int_param(py::handle obj, const Arg& a, int64_t min_value);

// The CPU variant to run: the named one (which the CPU must support), or the dispatched one.
cpu::Isa resolve_isa(const std::optional<std::string>& name);

// Raises for CuPy arrays when ictus was built without CUDA kernels.
void require_cuda(const char* op);

}  // namespace ictus::bindings
