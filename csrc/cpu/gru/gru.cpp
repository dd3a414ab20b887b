// The GRU driver (gru.h): GEMMs through gemm.h, gate math here, per step in time order; the
// backward pass walks the steps in the opposite order. Variable lengths: common/gru_shape.h.
#include "cpu/gru/gru.h"

#include <cmath>
#include <algorithm>
#include <cstring>
#include <initializer_list>
#include <utility>

#include "common/check.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "cpu/gemm/gemm.h"

namespace ictus::cpu {
namespace {

struct RowKernels {
  GruRowKernel gates, reset;
};

RowKernels row_kernels(Isa isa) {
#if defined(ICTUS_X86)
  if (isa == Isa::kAvx512) return {gru_gates_row_avx512, gru_reset_row_avx512};
  if (isa == Isa::kAvx2) return {gru_gates_row_avx2, gru_reset_row_avx2};
#endif
  (void)isa;
  return {gru_gates_row_portable, gru_reset_row_portable};
}

// dst (cols x rows) = src (rows x cols, row stride ld) transposed, in cache-sized blocks.
void transpose(const float* src, int64_t rows, int64_t cols, int64_t ld, float* dst) {
  constexpr int64_t kBlock = 32;
  for (int64_t r0 = 0; r0 < rows; r0 += kBlock) {
    for (int64_t c0 = 0; c0 < cols; c0 += kBlock) {
      const int64_t r1 = r0 + kBlock < rows ? r0 + kBlock : rows, c1 = c0 + kBlock < cols ? c0 + kBlock : cols;
      for (int64_t r = r0; r < r1; ++r) {
        for (int64_t c = c0; c < c1; ++c) dst[c * rows + r] = src[r * ld + c];
      }
    }
  }
}

// Carves one scratch allocation into the arrays of a call.
class Arena {
 public:
  explicit Arena(int64_t floats) : next_(scratch_floats(ScratchSlot::kRecurrent, static_cast<size_t>(floats))) {}
  float* take(int64_t floats) {
    float* p = next_;
    next_ += (floats + 15) / 16 * 16;  // keep 64-byte alignment
    return p;
  }
  static int64_t size(std::initializer_list<int64_t> parts) {
    int64_t total = 0;
    for (int64_t p : parts) total = checked_add(total, (p + 15) / 16 * 16, "GRU scratch");
    return total;
  }

 private:
  float* next_;
};

struct StepRows {
  const GruShape& s;
  const int64_t* lengths;
  int64_t length(int64_t i) const { return lengths ? lengths[i] : s.steps; }
  int64_t time(int64_t i, int64_t step) const { return gru_step_time(length(i), step, s.reverse); }
};

// Runs fn(i) for the batch rows, over the pool when the step's gate math is large enough to pay
// for waking the workers.
template <class F>
void for_rows(int64_t rows, int64_t hidden, F&& fn) {
  if (rows * hidden < 16384 || rows == 1) {
    for (int64_t i = 0; i < rows; ++i) fn(i);
    return;
  }
  ThreadPool::instance().parallel_for(rows, [&](int64_t begin, int64_t end) {
    for (int64_t i = begin; i < end; ++i) fn(i);
  });
}

}  // namespace

void gru_forward(Isa isa, const GruShape& s, const GruForward& a) {
  const int64_t T = s.steps, N = s.batch, D = s.input_size, H = s.hidden, G = 3 * H;
  const int64_t TN = checked_mul(T, N, "GRU steps x batch");
  // W_hh^T packed for the per-step GEMMs: whole, or (reset after) its r, z columns and its n ones.
  const bool lbr = s.linear_before_reset;
  const int64_t packed_first = gemm_packed_b_floats(isa, H, lbr ? G : 2 * H);
  const int64_t packed_n = lbr ? 0 : gemm_packed_b_floats(isa, H, H);
  Arena arena(Arena::size({D * G, H * G, packed_first, packed_n, checked_mul(TN, G, "GRU gates"), N * G, N * H,
                           N * H}));
  float* w_ih_t = arena.take(D * G);  // (D, 3H)
  float* w_hh_t = arena.take(H * G);  // (H, 3H)
  float* w_first = arena.take(packed_first);
  float* w_n = arena.take(packed_n);
  float* gi = arena.take(TN * G);     // x W_ih^T + b_ih, (T*N, 3H)
  float* gh = arena.take(N * G);      // the step's recurrent pre-activations
  float* h = arena.take(N * H);       // the state
  float* rh = arena.take(N * H);      // r * h (reset after)
  transpose(a.w_ih, G, D, D, w_ih_t);
  transpose(a.w_hh, G, H, H, w_hh_t);
  gemm_pack_b(isa, H, lbr ? G : 2 * H, w_hh_t, G, w_first);
  if (!lbr) gemm_pack_b(isa, H, H, w_hh_t + 2 * H, G, w_n);
  gemm(isa, {TN, G, D, a.x, D, w_ih_t, G, gi, G, a.b_ih, false});
  if (a.h0) std::memcpy(h, a.h0, static_cast<size_t>(N * H) * sizeof(float));
  else std::memset(h, 0, static_cast<size_t>(N * H) * sizeof(float));
  const StepRows rows{s, a.lengths};
  const float* b_hn = a.b_hh ? a.b_hh + 2 * H : nullptr;
  const RowKernels kernels = row_kernels(isa);
  // Sequence i's share of step `step`; false when the sequence is inactive.
  const auto step_row = [&](int64_t i, int64_t step, GruStepRow* row) {
    const int64_t t = rows.time(i, step);
    if (t < 0) return false;
    *row = {H, lbr, gi + (t * N + i) * G, gh + i * G, h + i * H, a.y + (t * N + i) * H,
            a.reserve ? a.reserve + (t * N + i) * kGruReserveGates * H : nullptr, rh + i * H};
    return true;
  };
  for (int64_t step = 0; step < T; ++step) {
    if (lbr) {
      gemm(isa, {N, G, H, h, H, w_first, 0, gh, G, a.b_hh, false, true});
    } else {
      gemm(isa, {N, 2 * H, H, h, H, w_first, 0, gh, G, a.b_hh, false, true});
      for_rows(N, H, [&](int64_t i) {
        GruStepRow row;
        if (step_row(i, step, &row)) kernels.reset(row);
        else std::memset(rh + i * H, 0, static_cast<size_t>(H) * sizeof(float));
      });
      gemm(isa, {N, H, H, rh, H, w_n, 0, gh + 2 * H, G, b_hn, false, true});
    }
    for_rows(N, H, [&](int64_t i) {
      GruStepRow row;
      if (step_row(i, step, &row)) kernels.gates(row);
    });
  }
  // Past each sequence's length: zero outputs (and reserve entries, which backward multiplies by 0).
  for (int64_t i = 0; i < N; ++i) {
    for (int64_t t = rows.length(i); t < T; ++t) {
      std::memset(a.y + (t * N + i) * H, 0, static_cast<size_t>(H) * sizeof(float));
      if (a.reserve) {
        std::memset(a.reserve + (t * N + i) * kGruReserveGates * H, 0,
                    static_cast<size_t>(kGruReserveGates * H) * sizeof(float));
      }
    }
  }
  std::memcpy(a.h_n, h, static_cast<size_t>(N * H) * sizeof(float));
}

void gru_backward(Isa isa, const GruShape& s, const GruBackward& a) {
  const int64_t T = s.steps, N = s.batch, D = s.input_size, H = s.hidden, G = 3 * H;
  const int64_t R = kGruReserveGates * H;
  const int64_t TN = checked_mul(T, N, "GRU steps x batch");
  const int64_t tng = checked_mul(TN, G, "GRU gates");
  const bool lbr = s.linear_before_reset;
  // W_hh's rows that dh_prev sees through the GEMM (all, or reset after r and z), and W_hn, packed.
  const int64_t packed_rows = gemm_packed_b_floats(isa, lbr ? G : 2 * H, H);
  const int64_t packed_n = lbr ? 0 : gemm_packed_b_floats(isa, H, H);
  Arena arena(Arena::size({packed_rows, packed_n, tng, tng, N * G, checked_mul(TN, H, "GRU states"), N * H, N * H,
                           N * H, 2 * G}));
  float* w_rows = arena.take(packed_rows);
  float* w_n = arena.take(packed_n);
  float* d_gi = arena.take(tng);     // gradients of the input pre-activations, (T*N, 3H)
  float* d_gh = arena.take(tng);     // of the recurrent ones, (T*N, 3H)
  float* step_dgh = arena.take(N * G);  // the step's rows of d_gh (inactive sequences: zeros)
  float* h_src = arena.take(TN * H); // what W_hh multiplied: h, and for W_hn reset after r * h
  float* dh = arena.take(N * H);     // dL/dh after the step
  float* dh_prev = arena.take(N * H);
  float* d_rh = arena.take(N * H);   // dL/d(r * h) (reset after)
  float* bias_sums = arena.take(2 * G);  // G doubles
  std::memset(d_gi, 0, static_cast<size_t>(tng) * sizeof(float));
  std::memset(d_gh, 0, static_cast<size_t>(tng) * sizeof(float));
  if (a.grad_h_n) std::memcpy(dh, a.grad_h_n, static_cast<size_t>(N * H) * sizeof(float));
  else std::memset(dh, 0, static_cast<size_t>(N * H) * sizeof(float));
  gemm_pack_b(isa, lbr ? G : 2 * H, H, a.w_hh, H, w_rows);
  if (!lbr) gemm_pack_b(isa, H, H, a.w_hh + 2 * H * H, H, w_n);
  const StepRows rows{s, a.lengths};
  for (int64_t step = T - 1; step >= 0; --step) {
    // dh += grad_y; gate gradients; dh_prev = the direct path dh * z (inactive: dh itself).
    for_rows(N, H, [&](int64_t i) {
      const int64_t t = rows.time(i, step);
      float* dh_i = dh + i * H;
      float* dp_i = dh_prev + i * H;
      if (t < 0) {
        std::memcpy(dp_i, dh_i, static_cast<size_t>(H) * sizeof(float));
        return;
      }
      const float* res = a.reserve + (t * N + i) * R;
      const float* gy = a.grad_y + (t * N + i) * H;
      float* dgi = d_gi + (t * N + i) * G;
      float* dgh = d_gh + (t * N + i) * G;
      for (int64_t j = 0; j < H; ++j) {
        const float r = res[j], z = res[H + j], n = res[2 * H + j], hn = res[3 * H + j], h_prev = res[4 * H + j];
        const float g = dh_i[j] + gy[j];
        const float dn_pre = g * (1.0f - z) * (1.0f - n * n);
        const float dz_pre = g * (h_prev - n) * z * (1.0f - z);
        dgi[H + j] = dgh[H + j] = dz_pre;
        dgi[2 * H + j] = dn_pre;
        dp_i[j] = g * z;
        if (lbr) {
          const float dr_pre = dn_pre * hn * r * (1.0f - r);
          dgi[j] = dgh[j] = dr_pre;
          dgh[2 * H + j] = dn_pre * r;
        } else {
          dgh[2 * H + j] = dn_pre;
        }
      }
    });
    // The step's rows of d_gh as one (N, 3H) block for the GEMMs.
    for (int64_t i = 0; i < N; ++i) {
      const int64_t t = rows.time(i, step);
      if (t < 0) std::memset(step_dgh + i * G, 0, static_cast<size_t>(G) * sizeof(float));
      else std::memcpy(step_dgh + i * G, d_gh + (t * N + i) * G, static_cast<size_t>(G) * sizeof(float));
    }
    if (!lbr) {
      // d(r*h) = dn_pre W_hn; then dr_pre and dh_prev += d(r*h) * r.
      gemm(isa, {N, H, H, step_dgh + 2 * H, G, w_n, 0, d_rh, H, nullptr, false, true});
      for_rows(N, H, [&](int64_t i) {
        const int64_t t = rows.time(i, step);
        if (t < 0) return;
        const float* res = a.reserve + (t * N + i) * R;
        float* dgi = d_gi + (t * N + i) * G;
        float* dgh = d_gh + (t * N + i) * G;
        for (int64_t j = 0; j < H; ++j) {
          const float r = res[j], h_prev = res[4 * H + j], drh = d_rh[i * H + j];
          const float dr_pre = drh * h_prev * r * (1.0f - r);
          dgi[j] = dgh[j] = step_dgh[i * G + j] = dr_pre;
          dh_prev[i * H + j] += drh * r;
        }
      });
    }
    // dh_prev += d_gh W_hh (reset after: the r and z rows only; n went through d(r*h)).
    gemm(isa, {N, H, lbr ? G : 2 * H, step_dgh, G, w_rows, 0, dh_prev, H, nullptr, true, true});
    std::swap(dh, dh_prev);
  }
  std::memcpy(a.grad_h0, dh, static_cast<size_t>(N * H) * sizeof(float));
  // grad_x = d_gi W_ih; grad W_ih = d_gi^T x; grad W_hh = d_gh^T h_src.
  gemm(isa, {TN, D, G, d_gi, G, a.w_ih, D, a.grad_x, D, nullptr, false});
  gemm(isa, {G, D, TN, d_gi, G, a.x, D, a.grad_w_ih, D, nullptr, false, false, true});
  for (int64_t row = 0; row < TN; ++row) {
    std::memcpy(h_src + row * H, a.reserve + row * R + 4 * H, static_cast<size_t>(H) * sizeof(float));
  }
  gemm(isa, {lbr ? G : 2 * H, H, TN, d_gh, G, h_src, H, a.grad_w_hh, H, nullptr, false, false, true});
  if (!lbr) {  // W_hn multiplied r * h
    for (int64_t row = 0; row < TN; ++row) {
      const float* res = a.reserve + row * R;
      for (int64_t j = 0; j < H; ++j) h_src[row * H + j] = res[j] * res[4 * H + j];
    }
    gemm(isa, {H, H, TN, d_gh + 2 * H, G, h_src, H, a.grad_w_hh + 2 * H * H, H, nullptr, false, false, true});
  }
  // Bias gradients: column sums in double, row by row (sequential reads).
  double* column = reinterpret_cast<double*>(bias_sums);
  for (int64_t which = 0; which < 2; ++which) {
    float* out = which == 0 ? a.grad_b_ih : a.grad_b_hh;
    const float* src = which == 0 ? d_gi : d_gh;
    if (!out) continue;
    std::fill(column, column + G, 0.0);
    for (int64_t row = 0; row < TN; ++row) {
      for (int64_t j = 0; j < G; ++j) column[j] += src[row * G + j];
    }
    for (int64_t j = 0; j < G; ++j) out[j] = static_cast<float>(column[j]);
  }
}

}  // namespace ictus::cpu
