// Bindings of conv1d and conv2d, forward and backward: argument checks with user-facing messages
// (args.h), then the CPU dispatch or, for CuPy arrays, the CUDA launchers. conv1d runs as conv2d
// with H = KH = 1. The GIL is released while kernels run.
#include "bindings/conv.h"

#include <pybind11/stl.h>

#include <optional>
#include <string>
#include <utility>

#include "bindings/args.h"
#include "common/check.h"
#include "common/conv_geometry.h"
#include "cpu/conv/conv.h"
#include "cpu/isa.h"
#include "cuda/conv_cuda.h"

namespace ictus::bindings {
namespace {

// Any overflow-prone product of sizes stays below this (elements and position offsets).
constexpr int64_t kMaxElements = int64_t{1} << 60;

std::string str(int64_t v) { return std::to_string(v); }

// An int >= min_value, or for 2-d ops an (h, w) pair of them.
std::pair<int64_t, int64_t> hw_param(py::handle obj, const Arg& a, int64_t min_value) {
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    py::sequence pair = py::reinterpret_borrow<py::sequence>(obj);
    if (pair.size() != 2) raise_value(a, "pair must be (h, w), got " + py::repr(obj).cast<std::string>());
    return {int_param(pair[0], a, min_value), int_param(pair[1], a, min_value)};
  }
  const int64_t v = int_param(obj, a, min_value);
  return {v, v};
}

// Padding of one axis for the named modes; `span` = dilation * (kernel - 1).
std::pair<int64_t, int64_t> mode_padding(const Arg& a, const std::string& mode, int64_t span, int64_t stride,
                                         bool causal_allowed) {
  if (mode == "valid") return {0, 0};
  if (mode == "causal" && causal_allowed) return {span, 0};
  if (mode == "same") {
    if (stride != 1) {
      raise_value(a, "'same' needs stride 1 (got stride " + str(stride) +
                         "); pass explicit padding for strided convolutions");
    }
    return {span / 2, span - span / 2};
  }
  raise_value(a, "unknown mode '" + mode + "'; use " +
                     (causal_allowed ? std::string("an int, a (left, right) pair, 'valid', 'same' or 'causal'")
                                     : std::string("an int, an (h, w) pair, 'valid' or 'same'")));
}

// Checks one axis of the geometry (padding and the kernel's span) and returns its output length.
int64_t axis_out_length(const char* op, const char* axis, int64_t in, int64_t kernel, int64_t stride,
                        int64_t dilation, int64_t pad_before, int64_t pad_after) {
  if (kernel > kMaxElements / dilation) raise_value({op, "dilation"}, "times the kernel size overflows");
  const int64_t span = dilation * (kernel - 1);
  const int64_t padded = in + pad_before + pad_after;
  if (padded < span + 1) {
    raise_value({op, "padding"}, std::string("leaves ") + str(padded) + " positions" + axis + " (" + str(in) +
                                     " + " + str(pad_before) + " + " + str(pad_after) + ") but the kernel spans " +
                                     str(span + 1) +
                                     " (dilation * (kernel - 1) + 1); pad more, or use a smaller dilation or kernel");
  }
  return conv_out_length(in, pad_before, pad_after, kernel, stride, dilation);
}

struct ConvCall {
  ConvShape shape;
  ArrayView x, weight;
};

// Checks x and weight (rank 3 for conv1d, 4 for conv2d) and their channel counts.
ConvCall conv_arrays(const char* op, py::handle x, py::handle weight, int rank) {
  ConvCall c;
  const Arg xa{op, "x"}, wa{op, "weight"};
  c.x = array_in(x, xa, rank, rank == 3 ? "(N, C_in, T)" : "(N, C_in, H, W)");
  c.weight = array_in(weight, wa, rank, rank == 3 ? "(C_out, C_in, K)" : "(C_out, C_in, KH, KW)");
  check_same_device(c.x, xa, c.weight, wa);
  if (c.weight.shape[1] != c.x.shape[1]) {
    std::string expected = "(" + str(c.weight.shape[0]) + ", " + str(c.x.shape[1]);
    for (int i = 2; i < rank; ++i) expected += ", " + str(c.weight.shape[i]);
    raise_value(wa, "has " + str(c.weight.shape[1]) + " input channels (weight.shape[1]) but x has " +
                        str(c.x.shape[1]) + " (x.shape[1]); weight must be " +
                        (rank == 3 ? "(C_out, C_in, K) = " : "(C_out, C_in, KH, KW) = ") + expected + ")");
  }
  ConvShape& s = c.shape;
  s.batch = c.x.shape[0];
  s.in_channels = c.x.shape[1];
  s.out_channels = c.weight.shape[0];
  return c;
}

// Rejects sizes whose products could overflow the kernels' index math.
// size_name: the argument that holds the sizes (x, or an output-size helper's size).
void check_extent(const char* op, const ConvShape& s, const char* size_name) {
  const int64_t rows = checked_mul(s.batch, s.out_channels > s.in_channels ? s.out_channels : s.in_channels, "rows");
  const int64_t budget = kMaxElements / rows;  // values one plane may hold
  const int64_t padded_h = s.in_h + s.pad_top + s.pad_bottom, padded_w = s.in_w + s.pad_left + s.pad_right;
  if (padded_h > budget / padded_w || s.out_h > budget / s.out_w) {
    const char* what = "its output or padded input would hold more than 2**60 values";
    if (s.pad_top + s.pad_bottom + s.pad_left + s.pad_right > 0) {
      raise_value({op, "padding"}, std::string("is too large: ") + what + "; reduce the padding or the sizes");
    }
    raise_value({op, size_name}, std::string("is too large to address: ") + what + "; split the batch or the sequence");
  }
}

// conv1d geometry: x (N, C_in, T) as height 1.
ConvShape conv1d_shape(const char* op, ConvShape s, int64_t length, int64_t kernel, py::handle stride,
                       py::handle padding, py::handle dilation, const char* size_name = "x") {
  s.in_h = s.out_h = s.kernel_h = s.stride_h = s.dilation_h = 1;
  s.pad_top = s.pad_bottom = 0;
  s.in_w = length;
  s.kernel_w = kernel;
  s.stride_w = int_param(stride, {op, "stride"}, 1);
  s.dilation_w = int_param(dilation, {op, "dilation"}, 1);
  const Arg pa{op, "padding"};
  if (s.kernel_w > kMaxElements / s.dilation_w) raise_value({op, "dilation"}, "times the kernel size overflows");
  const int64_t span = s.dilation_w * (s.kernel_w - 1);
  if (py::isinstance<py::str>(padding)) {
    std::tie(s.pad_left, s.pad_right) = mode_padding(pa, padding.cast<std::string>(), span, s.stride_w, true);
  } else if (py::isinstance<py::tuple>(padding) || py::isinstance<py::list>(padding)) {
    py::sequence pair = py::reinterpret_borrow<py::sequence>(padding);
    if (pair.size() != 2) raise_value(pa, "pair must be (left, right), got " + py::repr(padding).cast<std::string>());
    s.pad_left = int_param(pair[0], pa, 0);
    s.pad_right = int_param(pair[1], pa, 0);
  } else if (PyBool_Check(padding.ptr()) || !PyIndex_Check(padding.ptr())) {
    raise_type(pa, "must be an int, a (left, right) pair of ints, or 'valid', 'same' or 'causal'; got " +
                       py::repr(padding).cast<std::string>());
  } else {
    s.pad_left = s.pad_right = int_param(padding, pa, 0);
  }
  s.out_w = axis_out_length(op, "", s.in_w, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left, s.pad_right);
  check_extent(op, s, size_name);
  return s;
}

// conv2d geometry: stride, dilation and padding per axis (an int for both, or an (h, w) pair).
ConvShape conv2d_shape(const char* op, ConvShape s, int64_t in_h, int64_t in_w, int64_t kernel_h, int64_t kernel_w,
                       py::handle stride, py::handle padding, py::handle dilation, const char* size_name = "x") {
  s.in_h = in_h;
  s.in_w = in_w;
  s.kernel_h = kernel_h;
  s.kernel_w = kernel_w;
  std::tie(s.stride_h, s.stride_w) = hw_param(stride, {op, "stride"}, 1);
  std::tie(s.dilation_h, s.dilation_w) = hw_param(dilation, {op, "dilation"}, 1);
  const Arg pa{op, "padding"};
  if (s.kernel_h > kMaxElements / s.dilation_h || s.kernel_w > kMaxElements / s.dilation_w) {
    raise_value({op, "dilation"}, "times the kernel size overflows");
  }
  if (py::isinstance<py::str>(padding)) {
    const std::string mode = padding.cast<std::string>();
    std::tie(s.pad_top, s.pad_bottom) = mode_padding(pa, mode, s.dilation_h * (s.kernel_h - 1), s.stride_h, false);
    std::tie(s.pad_left, s.pad_right) = mode_padding(pa, mode, s.dilation_w * (s.kernel_w - 1), s.stride_w, false);
  } else if (py::isinstance<py::tuple>(padding) || py::isinstance<py::list>(padding) ||
             (!PyBool_Check(padding.ptr()) && PyIndex_Check(padding.ptr()))) {
    const auto [ph, pw] = hw_param(padding, pa, 0);
    s.pad_top = s.pad_bottom = ph;
    s.pad_left = s.pad_right = pw;
  } else {
    raise_type(pa, "must be an int, an (h, w) pair of ints, 'valid' or 'same'; got " +
                       py::repr(padding).cast<std::string>());
  }
  s.out_h = axis_out_length(op, " along the height", s.in_h, s.kernel_h, s.stride_h, s.dilation_h, s.pad_top,
                            s.pad_bottom);
  s.out_w = axis_out_length(op, " along the width", s.in_w, s.kernel_w, s.stride_w, s.dilation_w, s.pad_left,
                            s.pad_right);
  check_extent(op, s, size_name);
  return s;
}

ConvCall conv_call(const char* op, int rank, py::handle x, py::handle weight, py::handle stride, py::handle padding,
                   py::handle dilation) {
  ConvCall c = conv_arrays(op, x, weight, rank);
  if (rank == 3) {
    c.shape = conv1d_shape(op, c.shape, c.x.shape[2], c.weight.shape[2], stride, padding, dilation);
  } else {
    c.shape = conv2d_shape(op, c.shape, c.x.shape[2], c.x.shape[3], c.weight.shape[2], c.weight.shape[3], stride,
                           padding, dilation);
  }
  return c;
}

// y's shape: (N, C_out, T_out) for conv1d, (N, C_out, H_out, W_out) for conv2d.
std::array<int64_t, 4> out_shape(const ConvShape& s, int rank) {
  if (rank == 3) return {s.batch, s.out_channels, s.out_w, 0};
  return {s.batch, s.out_channels, s.out_h, s.out_w};
}

py::object forward(const char* op, int rank, py::handle x, py::handle weight, py::handle bias, py::handle out,
                   py::handle stride, py::handle padding, py::handle dilation, const std::optional<std::string>& isa,
                   uintptr_t stream) {
  ConvCall c = conv_call(op, rank, x, weight, stride, padding, dilation);
  const ConvShape& s = c.shape;
  ArrayView b;
  if (!bias.is_none()) {
    const Arg ba{op, "bias"};
    b = array_in(bias, ba, 1, "(C_out,)");
    check_same_device(c.x, {op, "x"}, b, ba);
    if (b.shape[0] != s.out_channels) {
      raise_value(ba, "has " + str(b.shape[0]) + " elements but weight has " + str(s.out_channels) +
                          " output channels (weight.shape[0]); bias must be (C_out,)");
    }
  }
  const ArrayView y = array_out(out, {op, "out"}, out_shape(s, rank), rank, c.x, {&c.x, &c.weight, &b});
  if (c.x.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::conv_forward(s, c.x.data, c.weight.data, b.data, y.data, c.x.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::conv_forward(chosen, s, c.x.data, c.weight.data, b.data, y.data);
  }
  return y.array;
}

py::tuple backward(const char* op, int rank, py::handle grad_y, py::handle x, py::handle weight, py::handle stride,
                   py::handle padding, py::handle dilation, bool bias, bool input_grad, py::handle out,
                   const std::optional<std::string>& isa, uintptr_t stream) {
  ConvCall c = conv_call(op, rank, x, weight, stride, padding, dilation);
  const ConvShape& s = c.shape;
  const Arg ga{op, "grad_y"};
  const ArrayView g = array_in(grad_y, ga, rank, rank == 3 ? "(N, C_out, T_out)" : "(N, C_out, H_out, W_out)");
  check_same_device(c.x, {op, "x"}, g, ga);
  const std::array<int64_t, 4> want = out_shape(s, rank);
  for (int i = 0; i < rank; ++i) {
    if (g.shape[i] != want[i]) {
      ArrayView expected;
      expected.rank = rank;
      expected.shape = want;
      raise_value(ga, "must have the forward output's shape " + expected.shape_str() + ", got " + g.shape_str());
    }
  }
  py::object outs[3] = {py::none(), py::none(), py::none()};
  if (!out.is_none()) {
    if (!(py::isinstance<py::tuple>(out) || py::isinstance<py::list>(out)) || py::len(out) != 3) {
      raise_type({op, "out"}, "must be a (grad_x, grad_weight, grad_bias) tuple whose entries may be None");
    }
    for (int i = 0; i < 3; ++i) outs[i] = py::reinterpret_borrow<py::sequence>(out)[i];
  }
  ArrayView gx, gw, gb;
  if (input_grad) gx = array_out(outs[0], {op, "out[0]"}, c.x.shape, rank, c.x, {&c.x, &c.weight, &g});
  gw = array_out(outs[1], {op, "out[1]"}, c.weight.shape, rank, c.x, {&c.x, &c.weight, &g, &gx});
  if (bias) gb = array_out(outs[2], {op, "out[2]"}, {s.out_channels, 0, 0, 0}, 1, c.x, {&c.x, &c.weight, &g, &gx, &gw});
  if (c.x.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::conv_backward(s, g.data, c.x.data, c.weight.data, gx.data, gw.data, gb.data, c.x.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::conv_backward(chosen, s, g.data, c.x.data, c.weight.data, {gx.data, gw.data, gb.data});
  }
  auto or_none = [](const ArrayView& v) { return v.data ? v.array : py::object(py::none()); };
  return py::make_tuple(or_none(gx), or_none(gw), or_none(gb));
}

int64_t conv1d_output_length(py::handle length, py::handle kernel_size, py::handle stride, py::handle padding,
                             py::handle dilation) {
  const char* op = "conv1d_output_length";
  ConvShape s{};
  s.batch = s.in_channels = s.out_channels = 1;
  const int64_t len = int_param(length, {op, "length"}, 1);
  const int64_t k = int_param(kernel_size, {op, "kernel_size"}, 1);
  return conv1d_shape(op, s, len, k, stride, padding, dilation, "length").out_w;
}

std::pair<int64_t, int64_t> conv2d_output_size(py::handle size, py::handle kernel_size, py::handle stride,
                                               py::handle padding, py::handle dilation) {
  const char* op = "conv2d_output_size";
  ConvShape s{};
  s.batch = s.in_channels = s.out_channels = 1;
  const auto [h, w] = hw_param(size, {op, "size"}, 1);
  const auto [kh, kw] = hw_param(kernel_size, {op, "kernel_size"}, 1);
  s = conv2d_shape(op, s, h, w, kh, kw, stride, padding, dilation, "size");
  return {s.out_h, s.out_w};
}

// The shape of conv2d(x, weight) with these arguments, for the kernel queries below.
ConvShape conv2d_query_shape(const char* op, py::handle x_shape, py::handle weight_shape, py::handle stride,
                             py::handle padding, py::handle dilation) {
  const auto xs = x_shape.cast<std::array<int64_t, 4>>();
  const auto ws = weight_shape.cast<std::array<int64_t, 4>>();
  ConvShape s{};
  s.batch = xs[0];
  s.in_channels = xs[1];
  s.out_channels = ws[0];
  return conv2d_shape(op, s, xs[2], xs[3], ws[2], ws[3], stride, padding, dilation);
}

// The tile height with which conv2d of these shapes runs Winograd under `isa` (None: the
// dispatched one), 0 where it does not: for benchmark labels and tests.
int conv2d_winograd_tile_h(py::handle x_shape, py::handle weight_shape, py::handle stride, py::handle padding,
                           py::handle dilation, const std::optional<std::string>& isa) {
  const ConvShape s = conv2d_query_shape("conv2d_winograd_tile_h", x_shape, weight_shape, stride, padding, dilation);
  return cpu::conv_winograd_tile_h(resolve_isa(isa), s);
}

// Whether conv2d_backward computes these shapes' weight gradient with the sparse kernel under
// `isa` (None: the dispatched one) when grad_y is mostly zeros: for benchmark labels and tests.
bool conv2d_sparse_weight_grad_applies(py::handle x_shape, py::handle weight_shape, py::handle stride,
                                       py::handle padding, py::handle dilation, const std::optional<std::string>& isa) {
  const ConvShape s =
      conv2d_query_shape("conv2d_sparse_weight_grad_applies", x_shape, weight_shape, stride, padding, dilation);
  return cpu::conv_uses_sparse_weight_grad(resolve_isa(isa), s);
}

// The same for the input gradient.
bool conv2d_sparse_input_grad_applies(py::handle x_shape, py::handle weight_shape, py::handle stride,
                                      py::handle padding, py::handle dilation, const std::optional<std::string>& isa) {
  const ConvShape s =
      conv2d_query_shape("conv2d_sparse_input_grad_applies", x_shape, weight_shape, stride, padding, dilation);
  return cpu::conv_uses_sparse_input_grad(resolve_isa(isa), s);
}

}  // namespace

void bind_conv(py::module_& m) {
  for (int rank : {3, 4}) {
    const char* fwd_name = rank == 3 ? "conv1d" : "conv2d";
    const char* bwd_name = rank == 3 ? "conv1d_backward" : "conv2d_backward";
    m.def(
        fwd_name,
        [fwd_name, rank](py::handle x, py::handle weight, py::handle bias, py::handle out, py::handle stride,
                         py::handle padding, py::handle dilation, const std::optional<std::string>& isa,
                         uintptr_t stream) {
          return forward(fwd_name, rank, x, weight, bias, out, stride, padding, dilation, isa, stream);
        },
        py::arg("x"), py::arg("weight"), py::arg("bias"), py::arg("out"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("isa"), py::arg("stream"));
    m.def(
        bwd_name,
        [bwd_name, rank](py::handle grad_y, py::handle x, py::handle weight, py::handle stride, py::handle padding,
                         py::handle dilation, bool bias, bool input_grad, py::handle out,
                         const std::optional<std::string>& isa, uintptr_t stream) {
          return backward(bwd_name, rank, grad_y, x, weight, stride, padding, dilation, bias, input_grad, out, isa,
                          stream);
        },
        py::arg("grad_y"), py::arg("x"), py::arg("weight"), py::arg("stride"), py::arg("padding"),
        py::arg("dilation"), py::arg("bias"), py::arg("input_grad"), py::arg("out"), py::arg("isa"),
        py::arg("stream"));
  }
  m.def("conv1d_output_length", &conv1d_output_length);
  m.def("conv2d_output_size", &conv2d_output_size);
  m.def("conv2d_winograd_tile_h", &conv2d_winograd_tile_h);
  m.def("conv2d_sparse_weight_grad_applies", &conv2d_sparse_weight_grad_applies);
  m.def("conv2d_sparse_input_grad_applies", &conv2d_sparse_input_grad_applies);
  m.def("conv_kernel_name", [](const std::string& direction, const std::optional<std::string>& isa) {
    return std::string(cpu::conv_kernel_name(resolve_isa(isa), direction.c_str()));
  });
}

}  // namespace ictus::bindings
