// The private compiled module ictus._core: thin bindings that check array views, release the GIL
// and call the CPU dispatch or the CUDA launchers. The public API is python/ictus/ops.py.
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <array>
#include <optional>
#include <string>

#include "bindings/array.h"
#include "bindings/conv1d_shape.h"
#include "common/thread_pool.h"
#include "cpu/conv1d/conv1d.h"
#include "cpu/isa.h"
#include "cpu/peak/peak.h"
#include "cuda/conv1d_cuda.h"

namespace py = pybind11;
using namespace ictus;

namespace {

// The ISA a call runs: the dispatched one, or a named one the CPU supports (tests sweep them all).
cpu::Isa resolve_isa(const std::optional<std::string>& name) {
  if (!name) return cpu::active_isa();
  const cpu::Isa isa = cpu::parse_isa(*name);
  ICTUS_CHECK(cpu::isa_supported(isa), "the CPU does not support ISA '" + *name + "'");
  return isa;
}

void conv1d_forward(py::handle x, py::handle weight, py::handle bias, py::handle y, int64_t stride,
                    int64_t dilation, int64_t pad_left, int64_t pad_right, const std::optional<std::string>& isa) {
  const auto xv = bindings::float_view(x, "x", 3, false);
  const auto wv = bindings::float_view(weight, "weight", 3, false);
  const Conv1dShape s = bindings::make_conv1d_shape(xv.dim(0), xv.dim(1), xv.dim(2), wv.dim(0), wv.dim(1),
                                                    wv.dim(2), stride, dilation, pad_left, pad_right);
  const float* b = nullptr;
  if (!bias.is_none()) {
    const auto bv = bindings::float_view(bias, "bias", 1, false);
    ICTUS_CHECK(bv.dim(0) == s.out_channels, "conv1d: bias must have weight.shape[0] elements");
    b = bv.data;
  }
  const auto yv = bindings::float_view(y, "out", 3, true);
  ICTUS_CHECK(yv.dim(0) == s.batch && yv.dim(1) == s.out_channels && yv.dim(2) == s.out_length,
              "conv1d: out has the wrong shape");
  const cpu::Isa chosen = resolve_isa(isa);
  py::gil_scoped_release release;
  cpu::conv1d_forward(chosen, s, xv.data, wv.data, b, yv.data);
}

void conv1d_backward(py::handle grad_y, py::handle x, py::handle weight, py::handle grad_x, py::handle grad_weight,
                     py::handle grad_bias, int64_t stride, int64_t dilation, int64_t pad_left, int64_t pad_right,
                     const std::optional<std::string>& isa) {
  const auto xv = bindings::float_view(x, "x", 3, false);
  const auto wv = bindings::float_view(weight, "weight", 3, false);
  const Conv1dShape s = bindings::make_conv1d_shape(xv.dim(0), xv.dim(1), xv.dim(2), wv.dim(0), wv.dim(1),
                                                    wv.dim(2), stride, dilation, pad_left, pad_right);
  const auto gv = bindings::float_view(grad_y, "grad_y", 3, false);
  ICTUS_CHECK(gv.dim(0) == s.batch && gv.dim(1) == s.out_channels && gv.dim(2) == s.out_length,
              "conv1d_backward: grad_y has the wrong shape");
  cpu::Conv1dGrads grads{nullptr, nullptr, nullptr};
  if (!grad_x.is_none()) {
    const auto v = bindings::float_view(grad_x, "grad_x", 3, true);
    ICTUS_CHECK(v.dim(0) == s.batch && v.dim(1) == s.in_channels && v.dim(2) == s.in_length,
                "conv1d_backward: grad_x must have x's shape");
    grads.grad_x = v.data;
  }
  if (!grad_weight.is_none()) {
    const auto v = bindings::float_view(grad_weight, "grad_weight", 3, true);
    ICTUS_CHECK(v.dim(0) == s.out_channels && v.dim(1) == s.in_channels && v.dim(2) == s.kernel_size,
                "conv1d_backward: grad_weight must have weight's shape");
    grads.grad_weight = v.data;
  }
  if (!grad_bias.is_none()) {
    const auto v = bindings::float_view(grad_bias, "grad_bias", 1, true);
    ICTUS_CHECK(v.dim(0) == s.out_channels, "conv1d_backward: grad_bias must have weight.shape[0] elements");
    grads.grad_bias = v.data;
  }
  const cpu::Isa chosen = resolve_isa(isa);
  py::gil_scoped_release release;
  cpu::conv1d_backward(chosen, s, gv.data, xv.data, wv.data, grads);
}

#if defined(ICTUS_WITH_CUDA)
constexpr bool kCudaCompiled = true;
const float* device_ptr(uintptr_t p) { return reinterpret_cast<const float*>(p); }
float* device_out(uintptr_t p) { return reinterpret_cast<float*>(p); }

// CUDA arrays arrive as (pointer, shape) pairs taken by the Python layer from CuPy arrays that it
// checked to be float32, C-contiguous and on one device; the shapes are checked again here.
void conv1d_forward_cuda(uintptr_t x, py::tuple x_shape, uintptr_t weight, py::tuple w_shape, uintptr_t bias,
                         uintptr_t y, py::tuple y_shape, int64_t stride, int64_t dilation, int64_t pad_left,
                         int64_t pad_right, int device, uintptr_t stream) {
  const auto xs = x_shape.cast<std::array<int64_t, 3>>();
  const auto ws = w_shape.cast<std::array<int64_t, 3>>();
  const auto ys = y_shape.cast<std::array<int64_t, 3>>();
  const Conv1dShape s = bindings::make_conv1d_shape(xs[0], xs[1], xs[2], ws[0], ws[1], ws[2], stride, dilation,
                                                    pad_left, pad_right);
  ICTUS_CHECK(ys[0] == s.batch && ys[1] == s.out_channels && ys[2] == s.out_length, "conv1d: out has the wrong shape");
  py::gil_scoped_release release;
  cuda::conv1d_forward(s, device_ptr(x), device_ptr(weight), bias ? device_ptr(bias) : nullptr, device_out(y),
                       device, stream);
}

void conv1d_backward_cuda(uintptr_t grad_y, py::tuple gy_shape, uintptr_t x, py::tuple x_shape, uintptr_t weight,
                          py::tuple w_shape, uintptr_t grad_x, uintptr_t grad_weight, uintptr_t grad_bias,
                          int64_t stride, int64_t dilation, int64_t pad_left, int64_t pad_right, int device,
                          uintptr_t stream) {
  const auto xs = x_shape.cast<std::array<int64_t, 3>>();
  const auto ws = w_shape.cast<std::array<int64_t, 3>>();
  const auto gs = gy_shape.cast<std::array<int64_t, 3>>();
  const Conv1dShape s = bindings::make_conv1d_shape(xs[0], xs[1], xs[2], ws[0], ws[1], ws[2], stride, dilation,
                                                    pad_left, pad_right);
  ICTUS_CHECK(gs[0] == s.batch && gs[1] == s.out_channels && gs[2] == s.out_length,
              "conv1d_backward: grad_y has the wrong shape");
  py::gil_scoped_release release;
  cuda::conv1d_backward(s, device_ptr(grad_y), device_ptr(x), device_ptr(weight), grad_x ? device_out(grad_x) : nullptr,
                        grad_weight ? device_out(grad_weight) : nullptr, grad_bias ? device_out(grad_bias) : nullptr,
                        device, stream);
}
#else
constexpr bool kCudaCompiled = false;
#endif

}  // namespace

PYBIND11_MODULE(_core, m) {
  m.doc() = "ictus compiled kernels (private; use the ictus package)";
  cpu::active_isa();  // an invalid ICTUS_CPU_ISA fails the import with its message

  m.def("cpu_isa", [] { return std::string(cpu::isa_name(cpu::active_isa())); });
  m.def("isa_supported", [](const std::string& name) { return cpu::isa_supported(cpu::parse_isa(name)); });
  m.def("kernel_name", [](const std::string& op, const std::optional<std::string>& isa) {
          return std::string(cpu::conv1d_kernel_name(resolve_isa(isa), op.c_str()));
        }, py::arg("op"), py::arg("isa") = py::none());
  m.def("set_num_threads", [](int n) {
          ICTUS_CHECK(n >= 1 && n <= 1024, "set_num_threads: n must be in [1, 1024]");
          py::gil_scoped_release release;
          ThreadPool::instance().set_num_threads(n);
        });
  m.def("get_num_threads", [] { return ThreadPool::instance().num_threads(); });
  m.def("measure_peak_gflops", [](int threads, double seconds) {
          py::gil_scoped_release release;
          return cpu::measure_peak_gflops(cpu::active_isa(), threads, seconds);
        }, py::arg("threads"), py::arg("seconds") = 0.3);

  m.def("conv1d_forward", &conv1d_forward, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"),
        py::arg("stride"), py::arg("dilation"), py::arg("pad_left"), py::arg("pad_right"), py::arg("isa") = py::none());
  m.def("conv1d_backward", &conv1d_backward, py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("grad_x"),
        py::arg("grad_weight"), py::arg("grad_bias"), py::arg("stride"), py::arg("dilation"), py::arg("pad_left"),
        py::arg("pad_right"), py::arg("isa") = py::none());

  m.attr("cuda_compiled") = kCudaCompiled;
#if defined(ICTUS_WITH_CUDA)
  m.def("cuda_device_count", [] { return cuda::device_count(); });
  m.def("conv1d_forward_cuda", &conv1d_forward_cuda);
  m.def("conv1d_backward_cuda", &conv1d_backward_cuda);
#else
  m.def("cuda_device_count", [] { return 0; });
#endif
}
