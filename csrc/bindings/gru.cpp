// Bindings of the GRU layer, forward and backward: argument checks with user-facing messages
// (args.h), then without the GIL the CPU kernels (cpu/gru/gru.h) or, for CuPy arrays, the CUDA
// launchers (cuda/gru_cuda.h). lengths always arrive as a host int64 array.
#include "bindings/gru.h"

#include <pybind11/stl.h>

#include <optional>
#include <string>

#include "bindings/args.h"
#include "common/check.h"
#include "cpu/gemm/gemm.h"
#include "cpu/gru/gru.h"
#include "cuda/gru_cuda.h"

namespace ictus::bindings {
namespace {

std::string str(int64_t v) { return std::to_string(v); }

// The weights and the shape they imply with x; raises on any mismatch.
struct GruWeights {
  ArrayView w_ih, w_hh;
  int64_t hidden;
};

GruWeights gru_weights(const char* op, const ArrayView& x, py::handle weight_ih, py::handle weight_hh) {
  GruWeights w{array_in(weight_ih, {op, "weight_ih"}, 2, "(3H, D)"), array_in(weight_hh, {op, "weight_hh"}, 2, "(3H, H)"),
               0};
  check_same_device(x, {op, "x"}, w.w_ih, {op, "weight_ih"});
  check_same_device(x, {op, "x"}, w.w_hh, {op, "weight_hh"});
  w.hidden = w.w_hh.shape[1];
  const int64_t gates = 3 * w.hidden;
  if (w.w_hh.shape[0] != gates) {
    raise_value({op, "weight_hh"}, "must be (3H, H) with H = " + str(w.hidden) + " (its columns): rows for the reset, "
                                   "update and new gates, got shape " + w.w_hh.shape_str());
  }
  if (w.w_ih.shape[0] != gates) {
    raise_value({op, "weight_ih"}, "has " + str(w.w_ih.shape[0]) + " rows but weight_hh " + w.w_hh.shape_str() +
                                   " gives 3H = " + str(gates) + "; both hold the 3 gates of the same H units");
  }
  if (w.w_ih.shape[1] != x.shape[2]) {
    raise_value({op, "weight_ih"}, "has " + str(w.w_ih.shape[1]) + " columns but x " + x.shape_str() +
                                   " has input size D = " + str(x.shape[2]) + "; weight_ih must be (3H, D)");
  }
  return w;
}

// An optional (3H,) bias.
ArrayView gru_bias(const char* op, const char* name, py::handle bias, const ArrayView& x, int64_t gates) {
  if (bias.is_none()) return {};
  ArrayView b = array_in(bias, {op, name}, 1, "(3H,)");
  check_same_device(x, {op, "x"}, b, {op, name});
  if (b.shape[0] != gates) raise_value({op, name}, "must be (3H,) = (" + str(gates) + ",), got " + b.shape_str());
  return b;
}

// An optional (N, H) state.
ArrayView gru_state(const char* op, const char* name, py::handle state, const ArrayView& x, int64_t batch,
                    int64_t hidden) {
  if (state.is_none()) return {};
  ArrayView h = array_in(state, {op, name}, 2, "(N, H)");
  check_same_device(x, {op, "x"}, h, {op, name});
  if (h.shape[0] != batch || h.shape[1] != hidden) {
    raise_value({op, name}, "must be (N, H) = (" + str(batch) + ", " + str(hidden) + ") for x's batch and the "
                            "weights' hidden size, got " + h.shape_str());
  }
  return h;
}

// Optional per-sequence lengths, each in [1, T].
ArrayView gru_lengths(const char* op, py::handle lengths, const ArrayView& x) {
  if (lengths.is_none()) return {};
  ArrayView l = array_in(lengths, {op, "lengths"}, 1, "(N,)", DType::kInt64);
  if (l.cuda) raise_type({op, "lengths"}, "must be a host (NumPy) array");
  if (l.shape[0] != x.shape[1]) {
    raise_value({op, "lengths"}, "must have one entry per sequence, N = " + str(x.shape[1]) + ", got " +
                                 l.shape_str());
  }
  for (int64_t i = 0; i < l.shape[0]; ++i) {
    const int64_t v = l.index_data()[i];
    if (v < 1 || v > x.shape[0]) {
      raise_value({op, "lengths"}, "[" + str(i) + "] is " + str(v) + " but must be in [1, T] = [1, " +
                                   str(x.shape[0]) + "]");
    }
  }
  return l;
}

GruShape gru_shape(const ArrayView& x, int64_t hidden, bool reverse, bool linear_before_reset) {
  GruShape s{x.shape[0], x.shape[1], x.shape[2], hidden, reverse, linear_before_reset};
  const int64_t rows = checked_mul(s.steps, s.batch, "T * N");
  checked_mul(rows, checked_mul(kGruReserveGates, hidden, "5H"), "the GRU's reserve (T * N * 5H)");
  return s;
}

py::tuple forward(py::handle x_obj, py::handle h0_obj, py::handle weight_ih, py::handle weight_hh, py::handle bias_ih,
                  py::handle bias_hh, bool reverse, bool linear_before_reset, bool training, py::handle lengths_obj,
                  const std::optional<std::string>& isa, uintptr_t stream) {
  const char* op = "gru";
  const ArrayView x = array_in(x_obj, {op, "x"}, 3, "(T, N, D)");
  const GruWeights w = gru_weights(op, x, weight_ih, weight_hh);
  const int64_t H = w.hidden;
  const ArrayView b_ih = gru_bias(op, "bias_ih", bias_ih, x, 3 * H);
  const ArrayView b_hh = gru_bias(op, "bias_hh", bias_hh, x, 3 * H);
  const ArrayView h0 = gru_state(op, "h0", h0_obj, x, x.shape[1], H);
  const ArrayView lengths = gru_lengths(op, lengths_obj, x);
  const GruShape s = gru_shape(x, H, reverse, linear_before_reset);
  const ArrayView y = array_out(py::none(), {op, "y"}, {s.steps, s.batch, H, 0}, 3, x, {&x});
  const ArrayView h_n = array_out(py::none(), {op, "h_n"}, {s.batch, H, 0, 0}, 2, x, {&x});
  ArrayView reserve;
  if (training) {
    reserve = array_out(py::none(), {op, "reserve"}, {s.steps, s.batch, kGruReserveGates * H, 0}, 3, x, {&x});
  }
  const GruForward args{x.data, h0.data, w.w_ih.data, w.w_hh.data, b_ih.data, b_hh.data, lengths.index_data(),
                        y.data, h_n.data, reserve.data};
  if (x.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::gru_forward(s, args, x.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::gru_forward(chosen, s, args);
  }
  if (training) return py::make_tuple(y.array, h_n.array, reserve.array);
  return py::make_tuple(y.array, h_n.array);
}

py::tuple backward(py::handle grad_y_obj, py::handle grad_h_n_obj, py::handle x_obj, py::handle h0_obj,
                   py::handle weight_ih, py::handle weight_hh, py::handle reserve_obj, bool reverse,
                   bool linear_before_reset, bool bias, py::handle lengths_obj, const std::optional<std::string>& isa,
                   uintptr_t stream) {
  const char* op = "gru_backward";
  const ArrayView x = array_in(x_obj, {op, "x"}, 3, "(T, N, D)");
  const GruWeights w = gru_weights(op, x, weight_ih, weight_hh);
  const int64_t H = w.hidden;
  const GruShape s = gru_shape(x, H, reverse, linear_before_reset);
  const ArrayView gy = array_in(grad_y_obj, {op, "grad_y"}, 3, "(T, N, H)");
  check_same_device(x, {op, "x"}, gy, {op, "grad_y"});
  if (gy.shape[0] != s.steps || gy.shape[1] != s.batch || gy.shape[2] != H) {
    raise_value({op, "grad_y"}, "must be y's shape (T, N, H) = (" + str(s.steps) + ", " + str(s.batch) + ", " +
                                str(H) + "), got " + gy.shape_str());
  }
  const ArrayView gh_n = gru_state(op, "grad_h_n", grad_h_n_obj, x, s.batch, H);
  gru_state(op, "h0", h0_obj, x, s.batch, H);  // checked only: the reserve holds every step's state
  const ArrayView reserve = array_in(reserve_obj, {op, "reserve"}, 3, "(T, N, 5H)");
  check_same_device(x, {op, "x"}, reserve, {op, "reserve"});
  if (reserve.shape[0] != s.steps || reserve.shape[1] != s.batch || reserve.shape[2] != kGruReserveGates * H) {
    raise_value({op, "reserve"}, "must be the reserve that gru(..., training=True) returned for these arguments, "
                                 "(T, N, 5H) = (" + str(s.steps) + ", " + str(s.batch) + ", " +
                                 str(kGruReserveGates * H) + "), got " + reserve.shape_str());
  }
  const ArrayView lengths = gru_lengths(op, lengths_obj, x);
  const ArrayView gx = array_out(py::none(), {op, "grad_x"}, {s.steps, s.batch, s.input_size, 0}, 3, x, {&x});
  const ArrayView gh0 = array_out(py::none(), {op, "grad_h0"}, {s.batch, H, 0, 0}, 2, x, {&x});
  const ArrayView gw_ih = array_out(py::none(), {op, "grad_weight_ih"}, {3 * H, s.input_size, 0, 0}, 2, x, {&x});
  const ArrayView gw_hh = array_out(py::none(), {op, "grad_weight_hh"}, {3 * H, H, 0, 0}, 2, x, {&x});
  ArrayView gb_ih, gb_hh;
  if (bias) {
    gb_ih = array_out(py::none(), {op, "grad_bias_ih"}, {3 * H, 0, 0, 0}, 1, x, {&x});
    gb_hh = array_out(py::none(), {op, "grad_bias_hh"}, {3 * H, 0, 0, 0}, 1, x, {&x});
  }
  const GruBackward args{gy.data,     gh_n.data, x.data,    w.w_ih.data,  w.w_hh.data, lengths.index_data(),
                         reserve.data, gx.data,   gh0.data, gw_ih.data,   gw_hh.data,  gb_ih.data, gb_hh.data};
  if (x.cuda) {
    require_cuda(op);
#if defined(ICTUS_WITH_CUDA)
    py::gil_scoped_release release;
    cuda::gru_backward(s, args, x.device, stream);
#endif
  } else {
    const cpu::Isa chosen = resolve_isa(isa);
    py::gil_scoped_release release;
    cpu::gru_backward(chosen, s, args);
  }
  return py::make_tuple(gx.array, gh0.array, gw_ih.array, gw_hh.array, bias ? gb_ih.array : py::none(),
                        bias ? gb_hh.array : py::none());
}

}  // namespace

void bind_gru(py::module_& m) {
  m.def("gru", &forward);
  m.def("gru_backward", &backward);
  m.def("gru_kernel_name",
        [](const std::optional<std::string>& isa) { return std::string(cpu::gemm_kernel_name(resolve_isa(isa))); });
}

}  // namespace ictus::bindings
