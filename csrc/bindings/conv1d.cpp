// Bindings of conv1d and conv1d_backward: argument checks with user-facing messages (args.h),
// then the CPU dispatch or, for CuPy arrays, the CUDA launchers. The GIL is released while
// kernels run.
#include "bindings/conv1d.h"

#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings/args.h"
#include "common/check.h"
#include "common/conv1d_geometry.h"
#include "cpu/conv1d/conv1d.h"
#include "cpu/isa.h"
#include "cuda/conv1d_cuda.h"

namespace ictus::bindings {
namespace {

// Any overflow-prone product of sizes stays below this (elements and frame offsets).
constexpr int64_t kMaxElements = int64_t{1} << 60;

std::pair<int64_t, int64_t> parse_padding(const char* op, py::handle padding, int64_t span, int64_t stride) {
  const Arg a{op, "padding"};
  if (py::isinstance<py::str>(padding)) {
    const std::string mode = padding.cast<std::string>();
    if (mode == "valid") return {0, 0};
    if (mode == "causal") return {span, 0};
    if (mode == "same") {
      if (stride != 1) {
        raise_value(a, "'same' needs stride=1 (got stride=" + std::to_string(stride) +
                           "); pass explicit (left, right) padding for strided convolutions");
      }
      return {span / 2, span - span / 2};
    }
    raise_value(a, "unknown mode '" + mode + "'; use an int, a (left, right) pair, 'valid', 'same' or 'causal'");
  }
  if (py::isinstance<py::tuple>(padding) || py::isinstance<py::list>(padding)) {
    py::sequence pair = py::reinterpret_borrow<py::sequence>(padding);
    if (pair.size() != 2) raise_value(a, "pair must be (left, right), got " + py::repr(padding).cast<std::string>());
    return {int_param(pair[0], a, 0), int_param(pair[1], a, 0)};
  }
  if (PyBool_Check(padding.ptr()) || !PyIndex_Check(padding.ptr())) {
    raise_type(a, "must be an int, a (left, right) pair of ints, or 'valid', 'same' or 'causal'; got " +
                      py::repr(padding).cast<std::string>());
  }
  const int64_t p = int_param(padding, a, 0);
  return {p, p};
}

// Checks the hyper-parameters against the sizes and completes the geometry (out_length, pads).
Conv1dShape conv1d_geometry(const char* op, Conv1dShape s, py::handle stride, py::handle padding,
                            py::handle dilation) {
  s.stride = int_param(stride, {op, "stride"}, 1);
  s.dilation = int_param(dilation, {op, "dilation"}, 1);
  if (s.kernel_size > kMaxElements / s.dilation) raise_value({op, "dilation"}, "times the kernel size overflows");
  const int64_t span = s.dilation * (s.kernel_size - 1);
  std::tie(s.pad_left, s.pad_right) = parse_padding(op, padding, span, s.stride);
  const int64_t padded = s.in_length + s.pad_left + s.pad_right;
  if (padded < span + 1) {
    raise_value({op, "padding"}, "leaves " + std::to_string(padded) + " frames (T=" + std::to_string(s.in_length) +
                                     " + " + std::to_string(s.pad_left) + " + " + std::to_string(s.pad_right) +
                                     ") but the kernel spans " + std::to_string(span + 1) +
                                     " (dilation * (K - 1) + 1); pad more, or use a smaller dilation or kernel");
  }
  s.out_length = conv_out_length(s.in_length, s.pad_left, s.pad_right, s.kernel_size, s.stride, s.dilation);
  const int64_t rows = checked_mul(s.batch, s.out_channels > s.in_channels ? s.out_channels : s.in_channels, "rows");
  if (padded > kMaxElements / rows) {
    raise_value({op, "padding"}, "makes the output or padded input too large to address; reduce it");
  }
  return s;
}

struct Conv1dCall {
  Conv1dShape shape;
  ArrayView x, weight;
};

// Checks x, weight and the hyper-parameters; computes the geometry.
Conv1dCall conv1d_call(const char* op, py::handle x, py::handle weight, py::handle stride, py::handle padding,
                       py::handle dilation) {
  Conv1dCall c;
  const Arg xa{op, "x"}, wa{op, "weight"};
  c.x = array_in(x, xa, 3, "(N, C_in, T)");
  c.weight = array_in(weight, wa, 3, "(C_out, C_in, K)");
  check_same_device(c.x, xa, c.weight, wa);
  if (c.weight.shape[1] != c.x.shape[1]) {
    raise_value(wa, "has " + std::to_string(c.weight.shape[1]) + " input channels (weight.shape[1]) but x has " +
                        std::to_string(c.x.shape[1]) + " (x.shape[1]); weight must be (C_out, C_in, K) = (" +
                        std::to_string(c.weight.shape[0]) + ", " + std::to_string(c.x.shape[1]) + ", " +
                        std::to_string(c.weight.shape[2]) + ")");
  }
  Conv1dShape s{};
  s.batch = c.x.shape[0];
  s.in_channels = c.x.shape[1];
  s.in_length = c.x.shape[2];
  s.out_channels = c.weight.shape[0];
  s.kernel_size = c.weight.shape[2];
  c.shape = conv1d_geometry(op, s, stride, padding, dilation);
  return c;
}

int64_t conv1d_output_length(py::handle length, py::handle kernel_size, py::handle stride, py::handle padding,
                             py::handle dilation) {
  const char* op = "conv1d_output_length";
  Conv1dShape s{};
  s.batch = s.in_channels = s.out_channels = 1;
  s.in_length = int_param(length, {op, "length"}, 1);
  s.kernel_size = int_param(kernel_size, {op, "kernel_size"}, 1);
  return conv1d_geometry(op, s, stride, padding, dilation).out_length;
}

cpu::Isa resolve_isa(const std::optional<std::string>& name) {
  if (!name) return cpu::active_isa();
  const cpu::Isa isa = cpu::parse_isa(*name);
  ICTUS_CHECK(cpu::isa_supported(isa), "the CPU does not support ISA '" + *name + "'");
  return isa;
}

#if defined(ICTUS_WITH_CUDA)
constexpr bool kWithCuda = true;
#else
constexpr bool kWithCuda = false;
#endif

void require_cuda(const char* op) {
  if (!kWithCuda) {
    throw std::runtime_error(std::string(op) +
                             ": got CuPy arrays but ictus was built without CUDA kernels; reinstall on a machine "
                             "with nvcc on PATH, forcing them with ICTUS_CUDA=ON pip install .");
  }
}

py::object conv1d(py::handle x, py::handle weight, py::handle bias, py::handle out, py::handle stride,
                  py::handle padding, py::handle dilation, const std::optional<std::string>& isa, uintptr_t stream) {
  const char* op = "conv1d";
  Conv1dCall c = conv1d_call(op, x, weight, stride, padding, dilation);
  const Conv1dShape& s = c.shape;
  ArrayView b;
  if (!bias.is_none()) {
    const Arg ba{op, "bias"};
    b = array_in(bias, ba, 1, "(C_out,)");
    check_same_device(c.x, {op, "x"}, b, ba);
    if (b.shape[0] != s.out_channels) {
      raise_value(ba, "has " + std::to_string(b.shape[0]) + " elements but weight has " +
                          std::to_string(s.out_channels) + " output channels (weight.shape[0]); bias must be (C_out,)");
    }
  }
  const ArrayView y = array_out(out, {op, "out"}, {s.batch, s.out_channels, s.out_length, 0}, 3, c.x,
                                {&c.x, &c.weight, &b});
  if (c.x.cuda) {
    require_cuda(op);
    py::gil_scoped_release release;
#if defined(ICTUS_WITH_CUDA)
    cuda::conv1d_forward(s, c.x.data, c.weight.data, b.data, y.data, c.x.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::conv1d_forward(chosen, s, c.x.data, c.weight.data, b.data, y.data);
  }
  return y.array;
}

py::tuple conv1d_backward(py::handle grad_y, py::handle x, py::handle weight, py::handle stride, py::handle padding,
                          py::handle dilation, bool bias, bool input_grad, py::handle out,
                          const std::optional<std::string>& isa, uintptr_t stream) {
  const char* op = "conv1d_backward";
  Conv1dCall c = conv1d_call(op, x, weight, stride, padding, dilation);
  const Conv1dShape& s = c.shape;
  const Arg ga{op, "grad_y"};
  const ArrayView g = array_in(grad_y, ga, 3, "(N, C_out, T_out)");
  check_same_device(c.x, {op, "x"}, g, ga);
  if (g.shape[0] != s.batch || g.shape[1] != s.out_channels || g.shape[2] != s.out_length) {
    ArrayView want;
    want.rank = 3;
    want.shape = {s.batch, s.out_channels, s.out_length, 0};
    raise_value(ga, "must have the forward output's shape " + want.shape_str() + " (N, C_out, T_out), got " +
                        g.shape_str());
  }
  py::object outs[3] = {py::none(), py::none(), py::none()};
  if (!out.is_none()) {
    if (!(py::isinstance<py::tuple>(out) || py::isinstance<py::list>(out)) || py::len(out) != 3) {
      raise_type({op, "out"}, "must be a (grad_x, grad_weight, grad_bias) tuple whose entries may be None");
    }
    for (int i = 0; i < 3; ++i) outs[i] = py::reinterpret_borrow<py::sequence>(out)[i];
  }
  ArrayView gx, gw, gb;
  if (input_grad) gx = array_out(outs[0], {op, "out[0]"}, c.x.shape, 3, c.x, {&c.x, &c.weight, &g});
  gw = array_out(outs[1], {op, "out[1]"}, c.weight.shape, 3, c.x, {&c.x, &c.weight, &g, &gx});
  if (bias) gb = array_out(outs[2], {op, "out[2]"}, {s.out_channels, 0, 0, 0}, 1, c.x, {&c.x, &c.weight, &g, &gx, &gw});
  if (c.x.cuda) {
    require_cuda(op);
    py::gil_scoped_release release;
#if defined(ICTUS_WITH_CUDA)
    cuda::conv1d_backward(s, g.data, c.x.data, c.weight.data, gx.data, gw.data, gb.data, c.x.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::conv1d_backward(chosen, s, g.data, c.x.data, c.weight.data, {gx.data, gw.data, gb.data});
  }
  auto or_none = [](const ArrayView& v) { return v.data ? v.array : py::object(py::none()); };
  return py::make_tuple(or_none(gx), or_none(gw), or_none(gb));
}

}  // namespace

void bind_conv1d(py::module_& m) {
  m.def("conv1d", &conv1d, py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("isa"), py::arg("stream"));
  m.def("conv1d_backward", &conv1d_backward, py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("stride"),
        py::arg("padding"), py::arg("dilation"), py::arg("bias"), py::arg("input_grad"), py::arg("out"),
        py::arg("isa"), py::arg("stream"));
  m.def("conv1d_output_length", &conv1d_output_length);
  m.def("conv1d_kernel_name", [](const std::string& op, const std::optional<std::string>& isa) {
    return std::string(cpu::conv1d_kernel_name(resolve_isa(isa), op.c_str()));
  });
}

}  // namespace ictus::bindings
