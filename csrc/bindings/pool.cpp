// Bindings of max_pool1d and max_pool2d, forward and backward, with torch's checks and semantics
// (pool_geometry.h): argument checks with user-facing messages (args.h), then the CPU dispatch
// or, for CuPy arrays, the CUDA launchers. max_pool1d runs as max_pool2d of height 1.
#include "bindings/pool.h"

#include <pybind11/stl.h>

#include <cstdint>
#include <optional>
#include <string>
#include <utility>

#include "bindings/args.h"
#include "common/check.h"
#include "common/pool_geometry.h"
#include "cpu/isa.h"
#include "cpu/pool/pool.h"
#include "cuda/pool_cuda.h"

namespace ictus::bindings {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// An int >= min_value for every axis, or (for 2-d) an (h, w) pair of them.
std::pair<int64_t, int64_t> axes_param(py::handle obj, const Arg& a, int64_t min_value, int rank) {
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    py::sequence seq = py::reinterpret_borrow<py::sequence>(obj);
    if (rank == 3) {
      if (seq.size() != 1) raise_value(a, "must be an int or a 1-tuple, got " + py::repr(obj).cast<std::string>());
      return {1, int_param(seq[0], a, min_value)};
    }
    if (seq.size() != 2) raise_value(a, "pair must be (h, w), got " + py::repr(obj).cast<std::string>());
    return {int_param(seq[0], a, min_value), int_param(seq[1], a, min_value)};
  }
  const int64_t v = int_param(obj, a, min_value);
  return {rank == 3 ? 1 : v, v};
}

// Whether obj is the int v, or a tuple / list of ints all equal to v.
bool all_equal(py::handle obj, int64_t v) {
  if (py::isinstance<py::tuple>(obj) || py::isinstance<py::list>(obj)) {
    for (py::handle item : py::reinterpret_borrow<py::sequence>(obj)) {
      if (!all_equal(item, v)) return false;
    }
    return true;
  }
  return py::int_(v).equal(obj);
}

// One axis: checks the padding against the window (torch: at most half the kernel size) and that
// the window fits into the padded input; returns the output length.
int64_t pool_axis(const char* op, const char* axis, int64_t in, int64_t kernel, int64_t stride, int64_t pad,
                  int64_t dilation, bool ceil_mode) {
  if (pad > kernel / 2) {
    raise_value({op, "padding"}, "is " + str(pad) + axis + " but may be at most half the kernel size (" +
                                     str(kernel) + " // 2 = " + str(kernel / 2) + ")");
  }
  if (kernel > (int64_t{1} << 40) / dilation) raise_value({op, "dilation"}, "times the kernel size is too large");
  const int64_t out = pool_out_length(in, kernel, stride, pad, dilation, ceil_mode);
  if (out < 1) {
    raise_value({op, "kernel_size"}, "spans " + str(dilation * (kernel - 1) + 1) + " positions (dilation * (" +
                                         "kernel - 1) + 1)" + axis + " but the padded input has " +
                                         str(in + 2 * pad) + "; use a smaller window or more padding");
  }
  // Only windows that start in the left padding can miss the input: their first tap at or after
  // position 0 may lie past the window or past the input. torch returns -inf there with an index
  // outside the window, which its own backward pass then misuses; ictus refuses such geometry.
  for (int64_t t = 0; t < out && t * stride - pad < 0; ++t) {
    const int64_t k0 = pool_first_tap(t, stride, dilation, pad);
    if (k0 >= kernel || conv_input_index(t, k0, stride, dilation, pad) >= in) {
      raise_value({op, "dilation"}, "leaves window " + str(t) + axis + " with no input position (only padding); " +
                                        "use a smaller dilation or padding");
    }
  }
  return out;
}

PoolShape pool_shape(const char* op, const ArrayView& x, int rank, py::handle kernel_size, py::handle stride,
                     py::handle padding, py::handle dilation, bool ceil_mode) {
  PoolShape s{};
  s.planes = x.shape[0] * x.shape[1];
  s.in_h = rank == 3 ? 1 : x.shape[2];
  s.in_w = x.shape[rank - 1];
  std::tie(s.kernel_h, s.kernel_w) = axes_param(kernel_size, {op, "kernel_size"}, 1, rank);
  if (stride.is_none()) {
    s.stride_h = s.kernel_h;
    s.stride_w = s.kernel_w;
  } else {
    std::tie(s.stride_h, s.stride_w) = axes_param(stride, {op, "stride"}, 1, rank);
  }
  std::tie(s.pad_top, s.pad_left) = axes_param(padding, {op, "padding"}, 0, rank);
  if (rank == 3) s.pad_top = 0;
  std::tie(s.dilation_h, s.dilation_w) = axes_param(dilation, {op, "dilation"}, 1, rank);
  s.out_h = rank == 3 ? 1
                      : pool_axis(op, " along the height", s.in_h, s.kernel_h, s.stride_h, s.pad_top, s.dilation_h,
                                  ceil_mode);
  s.out_w = pool_axis(op, rank == 3 ? "" : " along the width", s.in_w, s.kernel_w, s.stride_w, s.pad_left,
                      s.dilation_w, ceil_mode);
  return s;
}

std::array<int64_t, 4> out_shape(const ArrayView& x, const PoolShape& s, int rank) {
  if (rank == 3) return {x.shape[0], x.shape[1], s.out_w, 0};
  return {x.shape[0], x.shape[1], s.out_h, s.out_w};
}

py::object forward(const char* op, int rank, py::handle x, py::handle kernel_size, py::handle stride,
                   py::handle padding, py::handle dilation, bool ceil_mode, bool return_indices,
                   const std::optional<std::string>& index_dtype_name, py::handle out,
                   const std::optional<std::string>& isa, uintptr_t stream) {
  const ArrayView xv = array_in(x, {op, "x"}, rank, rank == 3 ? "(N, C, T)" : "(N, C, H, W)");
  const PoolShape s = pool_shape(op, xv, rank, kernel_size, stride, padding, dilation, ceil_mode);
  py::object out_y = py::none(), out_idx = py::none();
  if (!out.is_none()) {
    if (return_indices) {
      if (!(py::isinstance<py::tuple>(out) || py::isinstance<py::list>(out)) || py::len(out) != 2) {
        raise_type({op, "out"}, "must be a (y, indices) pair when return_indices=True");
      }
      out_y = py::reinterpret_borrow<py::sequence>(out)[0];
      out_idx = py::reinterpret_borrow<py::sequence>(out)[1];
    } else {
      out_y = py::reinterpret_borrow<py::object>(out);
    }
  }
  const auto shape = out_shape(xv, s, rank);
  // Indices first: their int64 byte count overflows before y's, and nothing is allocated in vain.
  // int64 unless index_dtype (checked in Python: "int64" or "int32") or out[1] says int32; int32
  // ones only for planes whose positions they hold.
  ArrayView idx;
  const DType given = index_dtype(out_idx);
  const DType index_type = index_dtype_name ? (*index_dtype_name == "int32" ? DType::kInt32 : DType::kInt64) : given;
  if (return_indices && !out_idx.is_none() && index_dtype_name && given != index_type) {
    raise_type({op, "out[1]"}, std::string("must be ") + *index_dtype_name + " (index_dtype), got " +
                                   py::str(py::getattr(out_idx, "dtype", py::str("no dtype"))).cast<std::string>());
  }
  if (return_indices && index_type == DType::kInt32 && s.in_h * s.in_w > INT32_MAX) {
    raise_value({op, "out[1]"}, "is int32, which cannot hold the positions of planes of " + str(s.in_h * s.in_w) +
                                    " values; pass int64 indices");
  }
  if (return_indices) idx = array_out(out_idx, {op, "out[1]"}, shape, rank, xv, {&xv}, index_type);
  const PoolIndices indices{idx.data, index_type == DType::kInt32};
  const ArrayView y = array_out(out_y, {op, return_indices ? "out[0]" : "out"}, shape, rank, xv, {&xv, &idx});
  if (xv.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::max_pool_forward(s, xv.data, y.data, indices, xv.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::max_pool_forward(chosen, {s, xv.data, y.data, indices});
  }
  if (return_indices) return py::make_tuple(y.array, idx.array);
  return y.array;
}

py::object backward(const char* op, int rank, py::handle grad_y, py::handle indices, py::handle input_shape,
                    py::handle kernel_size, py::handle stride, py::handle padding, py::handle dilation, py::handle out,
                    const std::optional<std::string>& isa, uintptr_t stream) {
  const char* layout = rank == 3 ? "(N, C, T_out)" : "(N, C, H_out, W_out)";
  const ArrayView g = array_in(grad_y, {op, "grad_y"}, rank, layout);
  const DType index_type = index_dtype(indices);
  const ArrayView idx = array_in(indices, {op, "indices"}, rank, layout, index_type);
  const PoolIndices index_array{idx.data, index_type == DType::kInt32};
  check_same_device(g, {op, "grad_y"}, idx, {op, "indices"});
  for (int i = 0; i < rank; ++i) {
    if (idx.shape[i] != g.shape[i]) {
      raise_value({op, "indices"}, "must have grad_y's shape " + g.shape_str() + ", got " + idx.shape_str());
    }
  }
  const Arg sa{op, "input_shape"};
  if (!(py::isinstance<py::tuple>(input_shape) || py::isinstance<py::list>(input_shape)) ||
      py::len(input_shape) != static_cast<size_t>(rank)) {
    raise_type(sa, std::string("must be the forward input's shape, a tuple of ") + str(rank) + " ints");
  }
  std::array<int64_t, 4> in_shape{};
  py::sequence seq = py::reinterpret_borrow<py::sequence>(input_shape);
  int64_t elements = 1;
  for (int i = 0; i < rank; ++i) {
    in_shape[i] = int_param(seq[i], sa, 1);
    if (__builtin_mul_overflow(elements, in_shape[i], &elements) || elements > (int64_t{1} << 60)) {
      raise_value(sa, "is too large: " + py::repr(input_shape).cast<std::string>() + " overflows a 64-bit size");
    }
  }
  if (in_shape[0] != g.shape[0] || in_shape[1] != g.shape[1]) {
    raise_value(sa, "has batch and channels (" + str(in_shape[0]) + ", " + str(in_shape[1]) + ") but grad_y has (" +
                        str(g.shape[0]) + ", " + str(g.shape[1]) + ")");
  }
  // The window geometry is optional on the CPU (the scatter needs only the indices); the GPU
  // gathers by window, deterministically, and needs it. When given, floor or ceil mode must
  // produce grad_y's shape.
  PoolShape shape{};
  shape.planes = g.shape[0] * g.shape[1];
  shape.in_h = rank == 3 ? 1 : in_shape[2];
  shape.in_w = in_shape[rank - 1];
  shape.out_h = rank == 3 ? 1 : g.shape[2];
  shape.out_w = g.shape[rank - 1];
  const bool default_window = stride.is_none() && all_equal(padding, 0) && all_equal(dilation, 1);
  if (!kernel_size.is_none()) {
    ArrayView like_x;
    like_x.rank = rank;
    like_x.shape = in_shape;
    bool matched = false;
    std::optional<py::value_error> first_error;
    for (bool ceil_mode : {false, true}) {
      try {
        const PoolShape candidate = pool_shape(op, like_x, rank, kernel_size, stride, padding, dilation, ceil_mode);
        if (candidate.out_h == shape.out_h && candidate.out_w == shape.out_w) {
          shape = candidate;
          matched = true;
          break;
        }
      } catch (py::value_error& e) {  // e.g. a window only ceil mode fits: try the other mode first
        if (!first_error) first_error = e;
      }
    }
    if (!matched) {
      if (first_error) throw *first_error;
      raise_value({op, "grad_y"}, "has shape " + g.shape_str() +
                                      ", which these pooling parameters do not give for input_shape; pass the "
                                      "forward call's kernel_size, stride, padding and dilation");
    }
  } else if (!default_window) {
    raise_value({op, "kernel_size"}, "is needed with stride, padding or dilation; pass the forward call's window");
  } else if (g.cuda) {
    raise_value({op, "kernel_size"}, "is needed for CuPy arrays (the GPU gathers gradients window by window, "
                                     "deterministically); pass the forward call's kernel_size, stride, padding "
                                     "and dilation");
  }
  const ArrayView gx = array_out(out, {op, "out"}, in_shape, rank, g, {&g, &idx});
  bool valid = true;
  if (g.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    valid = cuda::max_pool_backward(shape, g.data, index_array, gx.data, g.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    valid = cpu::max_pool_backward(chosen, shape, !kernel_size.is_none(), g.data, index_array, gx.data);
  }
  if (!valid) {
    raise_value({op, "indices"}, "holds positions outside the input planes; pass the indices that the forward "
                                 "pass returned for this input_shape");
  }
  return gx.array;
}

}  // namespace

void bind_pool(py::module_& m) {
  for (int rank : {3, 4}) {
    const char* fwd_name = rank == 3 ? "max_pool1d" : "max_pool2d";
    const char* bwd_name = rank == 3 ? "max_pool1d_backward" : "max_pool2d_backward";
    m.def(fwd_name, [fwd_name, rank](py::handle x, py::handle kernel_size, py::handle stride, py::handle padding,
                                     py::handle dilation, bool ceil_mode, bool return_indices,
                                     const std::optional<std::string>& index_dtype_name, py::handle out,
                                     const std::optional<std::string>& isa, uintptr_t stream) {
      return forward(fwd_name, rank, x, kernel_size, stride, padding, dilation, ceil_mode, return_indices,
                     index_dtype_name, out, isa, stream);
    });
    m.def(bwd_name, [bwd_name, rank](py::handle grad_y, py::handle indices, py::handle input_shape,
                                     py::handle kernel_size, py::handle stride, py::handle padding,
                                     py::handle dilation, py::handle out, const std::optional<std::string>& isa,
                                     uintptr_t stream) {
      return backward(bwd_name, rank, grad_y, indices, input_shape, kernel_size, stride, padding, dilation, out, isa,
                      stream);
    });
  }
  m.def("max_pool_kernel_name", [](const std::optional<std::string>& isa, bool forward) {
    return std::string(cpu::max_pool_kernel_name(resolve_isa(isa), forward));
  });
}

}  // namespace ictus::bindings
