// Binding of dropout on flat arrays (ictus.dropout flattens any shape): argument checks with
// user-facing messages (args.h), then the CPU dispatch or, for CuPy arrays, the CUDA launcher.
#include "bindings/dropout.h"

#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "bindings/args.h"
#include "cpu/dropout/dropout.h"
#include "cuda/dropout_cuda.h"

namespace ictus::bindings {
namespace {

py::object dropout(py::handle x, double p, uint64_t seed, py::handle out, const std::optional<std::string>& isa,
                   uintptr_t stream) {
  const char* op = "dropout";
  if (!(p >= 0.0 && p < 1.0)) {
    raise_value({op, "p"}, "must be a probability in [0, 1) (p = 1 would drop everything and the 1 / (1 - p) "
                           "rescaling would divide by 0), got " + std::to_string(p));
  }
  const ArrayView xv = array_in(x, {op, "x"}, 1, "(elements)");
  const ArrayView y = array_out(out, {op, "out"}, xv.shape, 1, xv, {&xv});
  if (xv.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::dropout(xv.data, y.data, xv.size(), seed, p, xv.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::dropout(chosen, xv.data, y.data, xv.size(), seed, p);
  }
  return y.array;
}

}  // namespace

void bind_dropout(py::module_& m) {
  m.def("dropout", &dropout);
  m.def("dropout_kernel_name", [](const std::optional<std::string>& isa) {
    return std::string(cpu::dropout_kernel_name(resolve_isa(isa)));
  });
}

}  // namespace ictus::bindings
