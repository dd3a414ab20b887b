// Bindings of the element-wise ELU, forward and backward, on flat arrays (ictus.elu flattens any
// shape): argument checks with user-facing messages (args.h), then the CPU dispatch or, for CuPy
// arrays, the CUDA launchers.
#include "bindings/activation.h"

#include <pybind11/stl.h>

#include <cmath>
#include <optional>
#include <string>

#include "bindings/args.h"
#include "cpu/activation/elu.h"
#include "cuda/activation_cuda.h"

namespace ictus::bindings {
namespace {

float alpha_param(const char* op, double alpha) {
  if (!std::isfinite(alpha) || alpha < 0.0) {
    raise_value({op, "alpha"}, "must be a finite number >= 0 (the gradient is computed from the output, whose "
                               "sign must be the input's), got " + std::to_string(alpha));
  }
  return static_cast<float>(alpha);
}

py::object elu(py::handle x, double alpha, py::handle out, const std::optional<std::string>& isa, uintptr_t stream) {
  const char* op = "elu";
  const float a = alpha_param(op, alpha);
  const ArrayView xv = array_in(x, {op, "x"}, 1, "(elements)");
  // out may be x itself (in place: each element is read before it is written), nothing else of it
  const bool in_place = out.is(x) && xv.array.is(x);
  const ArrayView y = in_place ? array_out(out, {op, "out"}, xv.shape, 1, xv, {})
                               : array_out(out, {op, "out"}, xv.shape, 1, xv, {&xv});
  if (xv.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::elu_forward(xv.data, y.data, xv.size(), a, xv.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::elu_forward(chosen, xv.data, y.data, xv.size(), a);
  }
  return y.array;
}

py::object elu_backward(py::handle grad_y, py::handle y, double alpha, py::handle out,
                        const std::optional<std::string>& isa, uintptr_t stream) {
  const char* op = "elu_backward";
  const float a = alpha_param(op, alpha);
  const ArrayView g = array_in(grad_y, {op, "grad_y"}, 1, "(elements)");
  const ArrayView yv = array_in(y, {op, "y"}, 1, "(elements)");
  check_same_device(g, {op, "grad_y"}, yv, {op, "y"});
  if (yv.shape[0] != g.shape[0]) {
    raise_value({op, "y"}, "must have grad_y's size (" + std::to_string(g.shape[0]) + " elements), got " +
                               std::to_string(yv.shape[0]));
  }
  const ArrayView gx = array_out(out, {op, "out"}, g.shape, 1, g, {&g, &yv});
  if (g.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::elu_backward(g.data, yv.data, gx.data, g.size(), a, g.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::elu_backward(chosen, g.data, yv.data, gx.data, g.size(), a);
  }
  return gx.array;
}

}  // namespace

void bind_activation(py::module_& m) {
  m.def("elu", &elu);
  m.def("elu_backward", &elu_backward);
  m.def("elu_kernel_name", [](const std::string& direction, const std::optional<std::string>& isa) {
    return std::string(cpu::elu_kernel_name(resolve_isa(isa), direction.c_str()));
  });
}

}  // namespace ictus::bindings
