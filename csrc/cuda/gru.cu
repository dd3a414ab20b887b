// GRU on CUDA, forward and backward, in llm.c's sections: kernels, then launchers (the problem:
// common/gru_shape.h). Every kernel gives each output element to one thread that sums in a fixed
// order: deterministic, no atomics.
//  - Input projection and weight gradients: one strided GEMM kernel (shared-memory tiles).
//  - Recurrence, small H (weights within 48 KiB of shared memory), forward and backward: one
//    persistent block per sequence runs all its steps in one launch, W_hh and the state (or its
//    gradient) on chip.
//  - Recurrence, larger H: per step a GEMM of the state with W_hh and an element-wise gate kernel.
// Tests: tests/test_gru.py (the CUDA section needs a GPU and CuPy).
#include <cuda_runtime.h>

#include <utility>

#include "common/gru_shape.h"
#include "cuda/common.cuh"
#include "cuda/gru_cuda.h"

namespace ictus::cuda {
namespace {

constexpr int kTile = 16;
constexpr int64_t kPersistentSharedBytes = 48 * 1024;

__device__ inline float sigmoid(float v) { return 1.0f / (1.0f + expf(-v)); }

// ----------------------------------------------------------------------------------- kernels

// Unit j's gate math (common/gru_shape.h) from the step's input and recurrent pre-activations;
// writes its reserve entries when res is not null and returns the new state.
__device__ inline float unit_forward(const float* gi_t, const float* gh, int64_t H, int64_t j, float h_prev,
                                     bool linear_before_reset, float* res) {
  const float r = sigmoid(gi_t[j] + gh[j]);
  const float z = sigmoid(gi_t[H + j] + gh[H + j]);
  const float hn = gh[2 * H + j];
  const float nv = tanhf(gi_t[2 * H + j] + (linear_before_reset ? r * hn : hn));
  if (res) {
    res[j] = r;
    res[H + j] = z;
    res[2 * H + j] = nv;
    res[3 * H + j] = hn;
    res[4 * H + j] = h_prev;
  }
  return (1.0f - z) * nv + z * h_prev;
}

// Unit j's gate gradients from g = dL/dh' and its reserve entries, written to its entries of the
// rows dgi and dgh and of the step's block step_dgh (reset after: the reset gate's entries come
// later, from d(r * h)); returns dL/dh_prev's direct part, g * z.
__device__ inline float unit_backward(const float* res, int64_t H, int64_t j, float g, bool linear_before_reset,
                                      float* dgi, float* dgh, float* step_dgh) {
  const float r = res[j], z = res[H + j], nv = res[2 * H + j], hn = res[3 * H + j], h_prev = res[4 * H + j];
  const float dn_pre = g * (1.0f - z) * (1.0f - nv * nv);
  const float dz_pre = g * (h_prev - nv) * z * (1.0f - z);
  dgi[H + j] = dgh[H + j] = step_dgh[H + j] = dz_pre;
  dgi[2 * H + j] = dn_pre;
  if (linear_before_reset) {
    const float dr_pre = dn_pre * hn * r * (1.0f - r);
    dgi[j] = dgh[j] = step_dgh[j] = dr_pre;
    dgh[2 * H + j] = step_dgh[2 * H + j] = dn_pre * r;
  } else {
    dgh[2 * H + j] = step_dgh[2 * H + j] = dn_pre;
    step_dgh[j] = 0.0f;
  }
  return g * z;
}


// C[i][j] = (C[i][j] if accumulate, else bias[j] or 0) + sum_k A(i, k) B(k, j) with
// A(i, k) = a[i * a_row + k * a_col] and B(k, j) = b[k * b_row + j * b_col]: strides make
// transposed operands free. Tiles of kTile x kTile, grid-stride over tiles in both directions.
__global__ void gemm_kernel(int64_t m, int64_t n, int64_t k, const float* __restrict__ a, int64_t a_row,
                            int64_t a_col, const float* __restrict__ b, int64_t b_row, int64_t b_col,
                            float* __restrict__ c, int64_t ldc, const float* __restrict__ bias, bool accumulate) {
  __shared__ float a_tile[kTile][kTile + 1];
  __shared__ float b_tile[kTile][kTile + 1];
  const int tx = threadIdx.x, ty = threadIdx.y;
  for (int64_t i0 = blockIdx.x * static_cast<int64_t>(kTile); i0 < m; i0 += static_cast<int64_t>(gridDim.x) * kTile) {
    for (int64_t j0 = blockIdx.y * static_cast<int64_t>(kTile); j0 < n;
         j0 += static_cast<int64_t>(gridDim.y) * kTile) {
      const int64_t i = i0 + ty, j = j0 + tx;
      float acc = 0.0f;
      for (int64_t k0 = 0; k0 < k; k0 += kTile) {
        a_tile[ty][tx] = (i < m && k0 + tx < k) ? a[i * a_row + (k0 + tx) * a_col] : 0.0f;
        b_tile[ty][tx] = (k0 + ty < k && j < n) ? b[(k0 + ty) * b_row + j * b_col] : 0.0f;
        __syncthreads();
        for (int kk = 0; kk < kTile; ++kk) acc += a_tile[ty][kk] * b_tile[kk][tx];
        __syncthreads();
      }
      if (i < m && j < n) {
        const float base = accumulate ? c[i * ldc + j] : (bias ? bias[j] : 0.0f);
        c[i * ldc + j] = base + acc;
      }
    }
  }
}

__device__ inline int64_t sequence_length(const int64_t* lengths, int64_t i, int64_t steps) {
  return lengths ? lengths[i] : steps;
}

// One step's gate math for every (sequence, unit): gh holds the step's recurrent pre-activations
// (N, 3H); updates h in place (each element reads only its own state) and writes y and reserve.
__global__ void gates_fwd_kernel(GruShape s, int64_t step, const float* __restrict__ gi, const float* __restrict__ gh,
                                 float* __restrict__ h, float* __restrict__ y, float* __restrict__ reserve,
                                 const int64_t* __restrict__ lengths) {
  const int64_t H = s.hidden, G = 3 * H, N = s.batch;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < N * H;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / H, j = e % H;
    const int64_t t = gru_step_time(sequence_length(lengths, i, s.steps), step, s.reverse);
    if (t < 0) continue;
    float* res = reserve ? reserve + (t * N + i) * kGruReserveGates * H : nullptr;
    const float h_new = unit_forward(gi + (t * N + i) * G, gh + i * G, H, j, h[e], s.linear_before_reset, res);
    h[e] = h_new;
    y[(t * N + i) * H + j] = h_new;
  }
}

// Reset after (linear_before_reset false): rh = r * h from the step's r and z pre-activations.
__global__ void reset_fwd_kernel(GruShape s, int64_t step, const float* __restrict__ gi, const float* __restrict__ gh,
                                 const float* __restrict__ h, float* __restrict__ rh,
                                 const int64_t* __restrict__ lengths) {
  const int64_t H = s.hidden, G = 3 * H, N = s.batch;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < N * H;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / H, j = e % H;
    const int64_t t = gru_step_time(sequence_length(lengths, i, s.steps), step, s.reverse);
    rh[e] = t < 0 ? 0.0f : sigmoid(gi[(t * N + i) * G + j] + gh[i * G + j]) * h[e];
  }
}

// The whole forward recurrence of sequence blockIdx.x (grid-stride over sequences), W_hh, b_hh
// and the state in shared memory; thread g < 3H owns recurrent pre-activation g, thread j < H
// owns unit j. gi already holds x W_ih^T + b_ih.
__global__ void persistent_fwd_kernel(GruShape s, const float* __restrict__ gi, const float* __restrict__ h0,
                                      const float* __restrict__ w_hh, const float* __restrict__ b_hh,
                                      const int64_t* __restrict__ lengths, float* __restrict__ y,
                                      float* __restrict__ h_n, float* __restrict__ reserve) {
  extern __shared__ float shared[];
  const int64_t H = s.hidden, G = 3 * H, N = s.batch;
  float* w = shared;      // (3H, H)
  float* b = w + G * H;   // (3H,)
  float* h = b + G;       // (H,)
  float* gh = h + H;      // (3H,)
  float* rh = gh + G;     // (H,)
  for (int64_t q = threadIdx.x; q < G * H; q += blockDim.x) w[q] = w_hh[q];
  for (int64_t g = threadIdx.x; g < G; g += blockDim.x) b[g] = b_hh ? b_hh[g] : 0.0f;
  for (int64_t i = blockIdx.x; i < N; i += gridDim.x) {
    const int64_t length = sequence_length(lengths, i, s.steps);
    for (int64_t j = threadIdx.x; j < H; j += blockDim.x) h[j] = h0 ? h0[i * H + j] : 0.0f;
    __syncthreads();
    for (int64_t step = 0; step < length; ++step) {
      const int64_t t = gru_step_time(length, step, s.reverse);
      const float* gi_t = gi + (t * N + i) * G;
      const int64_t first_rows = s.linear_before_reset ? G : 2 * H;
      for (int64_t g = threadIdx.x; g < first_rows; g += blockDim.x) {
        float acc = b[g];
        for (int64_t k = 0; k < H; ++k) acc += w[g * H + k] * h[k];
        gh[g] = acc;
      }
      __syncthreads();
      if (!s.linear_before_reset) {
        for (int64_t j = threadIdx.x; j < H; j += blockDim.x) rh[j] = sigmoid(gi_t[j] + gh[j]) * h[j];
        __syncthreads();
        for (int64_t g = 2 * H + threadIdx.x; g < G; g += blockDim.x) {
          float acc = b[g];
          for (int64_t k = 0; k < H; ++k) acc += w[g * H + k] * rh[k];
          gh[g] = acc;
        }
        __syncthreads();
      }
      for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
        float* res = reserve ? reserve + (t * N + i) * kGruReserveGates * H : nullptr;
        const float h_new = unit_forward(gi_t, gh, H, j, h[j], s.linear_before_reset, res);
        y[(t * N + i) * H + j] = h_new;
        gh[j] = h_new;  // r's slot is free now; h changes only after every thread read it
      }
      __syncthreads();
      for (int64_t j = threadIdx.x; j < H; j += blockDim.x) h[j] = gh[j];
      __syncthreads();
    }
    for (int64_t j = threadIdx.x; j < H; j += blockDim.x) h_n[i * H + j] = h[j];
    __syncthreads();
  }
}

// The whole backward recurrence of sequence blockIdx.x (grid-stride over sequences): per step,
// from the last to the first, thread j < H derives unit j's gate gradients (writing its rows of
// d_gi and d_gh), then thread k < H gathers dh_prev[k] through W_hh from shared memory. d_gi and
// d_gh are zero past each length (the launcher clears them).
__global__ void persistent_bwd_kernel(GruShape s, const float* __restrict__ grad_y, const float* __restrict__ grad_h_n,
                                      const float* __restrict__ w_hh, const float* __restrict__ reserve,
                                      const int64_t* __restrict__ lengths, float* __restrict__ d_gi,
                                      float* __restrict__ d_gh, float* __restrict__ grad_h0) {
  extern __shared__ float shared[];
  const int64_t H = s.hidden, G = 3 * H, N = s.batch, R = kGruReserveGates * H;
  const bool lbr = s.linear_before_reset;
  float* w = shared;       // (3H, H)
  float* dgh = w + G * H;  // (3H,) the step's recurrent pre-activation gradients
  float* dh = dgh + G;     // (H,) dL/dh after the step
  float* dhp = dh + H;     // (H,) dL/dh_prev's direct part
  for (int64_t q = threadIdx.x; q < G * H; q += blockDim.x) w[q] = w_hh[q];
  for (int64_t i = blockIdx.x; i < N; i += gridDim.x) {
    const int64_t length = sequence_length(lengths, i, s.steps);
    for (int64_t j = threadIdx.x; j < H; j += blockDim.x) dh[j] = grad_h_n ? grad_h_n[i * H + j] : 0.0f;
    __syncthreads();
    for (int64_t step = length - 1; step >= 0; --step) {
      const int64_t t = gru_step_time(length, step, s.reverse);
      const float* res = reserve + (t * N + i) * R;
      float* dgi_row = d_gi + (t * N + i) * G;
      float* dgh_row = d_gh + (t * N + i) * G;
      for (int64_t j = threadIdx.x; j < H; j += blockDim.x) {
        const float g = dh[j] + grad_y[(t * N + i) * H + j];
        dhp[j] = unit_backward(res, H, j, g, lbr, dgi_row, dgh_row, dgh);
      }
      __syncthreads();
      if (!lbr) {  // d(r * h) = dn_pre W_hn, then the reset gate's gradient and r d(r * h)
        for (int64_t k = threadIdx.x; k < H; k += blockDim.x) {
          float drh = 0.0f;
          for (int64_t j = 0; j < H; ++j) drh += dgh[2 * H + j] * w[(2 * H + j) * H + k];
          const float r = res[k], h_prev = res[4 * H + k];
          const float dr_pre = drh * h_prev * r * (1.0f - r);
          dgi_row[k] = dgh_row[k] = dr_pre;
          dhp[k] += drh * r;
        }
        __syncthreads();
        for (int64_t k = threadIdx.x; k < H; k += blockDim.x) dgh[k] = dgh_row[k];
        __syncthreads();
      }
      // dh_prev = the direct part + dgh W_hh (reset after: the r and z rows only).
      const int64_t rows = lbr ? G : 2 * H;
      for (int64_t k = threadIdx.x; k < H; k += blockDim.x) {
        float acc = dhp[k];
        for (int64_t g = 0; g < rows; ++g) acc += dgh[g] * w[g * H + k];
        dh[k] = acc;
      }
      __syncthreads();
    }
    for (int64_t j = threadIdx.x; j < H; j += blockDim.x) grad_h0[i * H + j] = dh[j];
    __syncthreads();
  }
}

// Zeros y and the reserve past each sequence's length.
__global__ void zero_past_length_kernel(GruShape s, const int64_t* __restrict__ lengths, float* __restrict__ y,
                                        float* __restrict__ reserve) {
  const int64_t H = s.hidden, N = s.batch, R = kGruReserveGates * H;
  const int64_t total = s.steps * N * R;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < total;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t q = e % R, i = (e / R) % N, t = e / (R * N);
    if (t < lengths[i]) continue;
    if (q < H) y[(t * N + i) * H + q] = 0.0f;
    if (reserve) reserve[e] = 0.0f;
  }
}

// One backward step's gate gradients (see the CPU driver, cpu/gru/gru.cpp, for the algebra):
// from dh (gradient after the step) writes d_gi and d_gh rows at time t, the step's (N, 3H)
// block step_dgh (zero rows for inactive sequences) and dh_prev's direct part.
__global__ void gates_bwd_kernel(GruShape s, int64_t step, const float* __restrict__ grad_y,
                                 const float* __restrict__ reserve, const float* __restrict__ dh,
                                 float* __restrict__ dh_prev, float* __restrict__ d_gi, float* __restrict__ d_gh,
                                 float* __restrict__ step_dgh, const int64_t* __restrict__ lengths) {
  const int64_t H = s.hidden, G = 3 * H, N = s.batch, R = kGruReserveGates * H;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < N * H;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / H, j = e % H;
    const int64_t t = gru_step_time(sequence_length(lengths, i, s.steps), step, s.reverse);
    float* sd = step_dgh + i * G;
    if (t < 0) {
      dh_prev[e] = dh[e];
      sd[j] = sd[H + j] = sd[2 * H + j] = 0.0f;
      continue;
    }
    const float g = dh[e] + grad_y[(t * N + i) * H + j];
    dh_prev[e] = unit_backward(reserve + (t * N + i) * R, H, j, g, s.linear_before_reset, d_gi + (t * N + i) * G,
                               d_gh + (t * N + i) * G, sd);
  }
}

// Reset after: from d(r * h) = dn_pre W_hn, the reset gate's gradient and dh_prev's part r d(rh).
__global__ void reset_bwd_kernel(GruShape s, int64_t step, const float* __restrict__ reserve,
                                 const float* __restrict__ d_rh, float* __restrict__ dh_prev, float* __restrict__ d_gi,
                                 float* __restrict__ d_gh, float* __restrict__ step_dgh,
                                 const int64_t* __restrict__ lengths) {
  const int64_t H = s.hidden, G = 3 * H, N = s.batch, R = kGruReserveGates * H;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < N * H;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t i = e / H, j = e % H;
    const int64_t t = gru_step_time(sequence_length(lengths, i, s.steps), step, s.reverse);
    if (t < 0) continue;
    const float* res = reserve + (t * N + i) * R;
    const float r = res[j], h_prev = res[4 * H + j], drh = d_rh[e];
    const float dr_pre = drh * h_prev * r * (1.0f - r);
    d_gi[(t * N + i) * G + j] = d_gh[(t * N + i) * G + j] = step_dgh[i * G + j] = dr_pre;
    dh_prev[e] += drh * r;
  }
}

// dst[row][j] = reserve's h_prev (or r * h_prev) of row, (T*N, H).
__global__ void reserve_state_kernel(int64_t rows, int64_t H, const float* __restrict__ reserve, bool times_reset,
                                     float* __restrict__ dst) {
  const int64_t R = kGruReserveGates * H;
  for (int64_t e = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; e < rows * H;
       e += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    const int64_t row = e / H, j = e % H;
    const float* res = reserve + row * R;
    dst[e] = times_reset ? res[j] * res[4 * H + j] : res[4 * H + j];
  }
}

// out[j] = sum over rows of src[row][j], in row order, in double.
__global__ void column_sum_kernel(int64_t rows, int64_t cols, const float* __restrict__ src, float* __restrict__ out) {
  for (int64_t j = blockIdx.x * static_cast<int64_t>(blockDim.x) + threadIdx.x; j < cols;
       j += static_cast<int64_t>(gridDim.x) * blockDim.x) {
    double acc = 0.0;
    for (int64_t row = 0; row < rows; ++row) acc += src[row * cols + j];
    out[j] = static_cast<float>(acc);
  }
}

// ----------------------------------------------------------------------------------- launchers

struct Gemm {
  int64_t m, n, k;
  const float* a;
  int64_t a_row, a_col;
  const float* b;
  int64_t b_row, b_col;
  float* c;
  int64_t ldc;
  const float* bias;
  bool accumulate;
};

void launch_gemm(const Gemm& g, cudaStream_t st) {
  if (g.m == 0 || g.n == 0) return;
  const int64_t row_tiles = (g.m + kTile - 1) / kTile, col_tiles = (g.n + kTile - 1) / kTile;
  const dim3 grid(static_cast<unsigned>(row_tiles < 65535 * 32 ? row_tiles : 65535 * 32),
                  static_cast<unsigned>(col_tiles < 65535 ? col_tiles : 65535));
  gemm_kernel<<<grid, dim3(kTile, kTile), 0, st>>>(g.m, g.n, g.k, g.a, g.a_row, g.a_col, g.b, g.b_row, g.b_col, g.c,
                                                   g.ldc, g.bias, g.accumulate);
  ICTUS_CUDA_CHECK_LAUNCH();
}

int64_t persistent_shared_bytes(const GruShape& s) {
  const int64_t H = s.hidden, G = 3 * H;
  return (G * H + G + H + G + H) * static_cast<int64_t>(sizeof(float));
}

// Stream-ordered device scratch, freed on the stream when it goes out of scope.
class DeviceScratch {
 public:
  DeviceScratch(size_t bytes, cudaStream_t st) : st_(st) {
    if (bytes > 0) ICTUS_CUDA_CHECK(cudaMallocAsync(&data_, bytes, st));
  }
  ~DeviceScratch() {
    if (data_) cudaFreeAsync(data_, st_);  // no throw from a destructor; errors surface later
  }
  DeviceScratch(const DeviceScratch&) = delete;
  DeviceScratch& operator=(const DeviceScratch&) = delete;
  float* floats() const { return static_cast<float*>(data_); }
  int64_t* ints() const { return static_cast<int64_t*>(data_); }

 private:
  void* data_ = nullptr;
  cudaStream_t st_;
};

size_t float_bytes(int64_t count) { return static_cast<size_t>(count) * sizeof(float); }

// The host lengths (or none) copied to the device; the copy from pageable memory completes
// before this returns, so the caller's array may go.
class DeviceLengths {
 public:
  DeviceLengths(const int64_t* host, int64_t count, cudaStream_t st)
      : scratch_(host ? static_cast<size_t>(count) * sizeof(int64_t) : 0, st) {
    if (host) {
      ICTUS_CUDA_CHECK(cudaMemcpyAsync(scratch_.ints(), host, static_cast<size_t>(count) * sizeof(int64_t),
                                       cudaMemcpyHostToDevice, st));
    }
  }
  const int64_t* get(const int64_t* host) const { return host ? scratch_.ints() : nullptr; }

 private:
  DeviceScratch scratch_;
};

}  // namespace

bool gru_persistent(const GruShape& s) { return persistent_shared_bytes(s) <= kPersistentSharedBytes; }

void gru_forward(const GruShape& s, const GruForward& a, int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  const int64_t T = s.steps, N = s.batch, D = s.input_size, H = s.hidden, G = 3 * H, TN = T * N;
  DeviceScratch scratch(float_bytes(TN * G + N * G + 2 * N * H), st);
  const DeviceLengths device_lengths(a.lengths, N, st);
  const int64_t* lengths = device_lengths.get(a.lengths);
  float* gi = scratch.floats();
  float* gh = gi + TN * G;
  float* h = gh + N * G;
  float* rh = h + N * H;
  // gi = x W_ih^T + b_ih: B(k, j) = W_ih[j][k].
  launch_gemm({TN, G, D, a.x, D, 1, a.w_ih, 1, D, gi, G, a.b_ih, false}, st);
  if (gru_persistent(s)) {
    const int threads = static_cast<int>((G + 31) / 32 * 32);
    const unsigned blocks = static_cast<unsigned>(N < 65535 ? N : 65535);
    persistent_fwd_kernel<<<blocks, threads, static_cast<size_t>(persistent_shared_bytes(s)), st>>>(
        s, gi, a.h0, a.w_hh, a.b_hh, lengths, a.y, a.h_n, a.reserve);
    ICTUS_CUDA_CHECK_LAUNCH();
  } else {
    if (a.h0) {
      ICTUS_CUDA_CHECK(cudaMemcpyAsync(h, a.h0, static_cast<size_t>(N * H) * sizeof(float), cudaMemcpyDeviceToDevice, st));
    } else {
      ICTUS_CUDA_CHECK(cudaMemsetAsync(h, 0, static_cast<size_t>(N * H) * sizeof(float), st));
    }
    const float* b_hn = a.b_hh ? a.b_hh + 2 * H : nullptr;
    for (int64_t step = 0; step < T; ++step) {
      // gh = h W_hh^T + b_hh: B(k, j) = W_hh[j][k].
      if (s.linear_before_reset) {
        launch_gemm({N, G, H, h, H, 1, a.w_hh, 1, H, gh, G, a.b_hh, false}, st);
      } else {
        launch_gemm({N, 2 * H, H, h, H, 1, a.w_hh, 1, H, gh, G, a.b_hh, false}, st);
        reset_fwd_kernel<<<grid_for(N * H), kThreads, 0, st>>>(s, step, gi, gh, h, rh, lengths);
        ICTUS_CUDA_CHECK_LAUNCH();
        launch_gemm({N, H, H, rh, H, 1, a.w_hh + 2 * H * H, 1, H, gh + 2 * H, G, b_hn, false}, st);
      }
      gates_fwd_kernel<<<grid_for(N * H), kThreads, 0, st>>>(s, step, gi, gh, h, a.y, a.reserve, lengths);
      ICTUS_CUDA_CHECK_LAUNCH();
    }
    ICTUS_CUDA_CHECK(cudaMemcpyAsync(a.h_n, h, static_cast<size_t>(N * H) * sizeof(float), cudaMemcpyDeviceToDevice, st));
  }
  if (lengths) {
    zero_past_length_kernel<<<grid_for(TN * kGruReserveGates * H), kThreads, 0, st>>>(s, lengths, a.y, a.reserve);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
}

void gru_backward(const GruShape& s, const GruBackward& a, int device, uintptr_t stream) {
  ICTUS_CUDA_CHECK(cudaSetDevice(device));
  const auto st = reinterpret_cast<cudaStream_t>(stream);
  const int64_t T = s.steps, N = s.batch, D = s.input_size, H = s.hidden, G = 3 * H, TN = T * N;
  const bool lbr = s.linear_before_reset;
  DeviceScratch scratch(float_bytes(2 * TN * G + TN * H + N * G + 3 * N * H), st);
  const DeviceLengths device_lengths(a.lengths, N, st);
  const int64_t* lengths = device_lengths.get(a.lengths);
  float* d_gi = scratch.floats();
  float* d_gh = d_gi + TN * G;
  float* h_src = d_gh + TN * G;
  float* step_dgh = h_src + TN * H;
  float* dh = step_dgh + N * G;
  float* dh_prev = dh + N * H;
  float* d_rh = dh_prev + N * H;
  ICTUS_CUDA_CHECK(cudaMemsetAsync(d_gi, 0, static_cast<size_t>(2 * TN * G) * sizeof(float), st));
  if (gru_persistent(s)) {
    const int threads = static_cast<int>((G + 31) / 32 * 32);
    const unsigned blocks = static_cast<unsigned>(N < 65535 ? N : 65535);
    persistent_bwd_kernel<<<blocks, threads, static_cast<size_t>(persistent_shared_bytes(s)), st>>>(
        s, a.grad_y, a.grad_h_n, a.w_hh, a.reserve, lengths, d_gi, d_gh, a.grad_h0);
    ICTUS_CUDA_CHECK_LAUNCH();
  } else {
    if (a.grad_h_n) {
      ICTUS_CUDA_CHECK(cudaMemcpyAsync(dh, a.grad_h_n, static_cast<size_t>(N * H) * sizeof(float),
                                       cudaMemcpyDeviceToDevice, st));
    } else {
      ICTUS_CUDA_CHECK(cudaMemsetAsync(dh, 0, static_cast<size_t>(N * H) * sizeof(float), st));
    }
    for (int64_t step = T - 1; step >= 0; --step) {
      gates_bwd_kernel<<<grid_for(N * H), kThreads, 0, st>>>(s, step, a.grad_y, a.reserve, dh, dh_prev, d_gi, d_gh,
                                                             step_dgh, lengths);
      ICTUS_CUDA_CHECK_LAUNCH();
      if (!lbr) {
        // d(r * h) = dn_pre W_hn: B(k, j) = W_hh[2H + k][j].
        launch_gemm({N, H, H, step_dgh + 2 * H, G, 1, a.w_hh + 2 * H * H, H, 1, d_rh, H, nullptr, false}, st);
        reset_bwd_kernel<<<grid_for(N * H), kThreads, 0, st>>>(s, step, a.reserve, d_rh, dh_prev, d_gi, d_gh, step_dgh,
                                                               lengths);
        ICTUS_CUDA_CHECK_LAUNCH();
      }
      // dh_prev += step_dgh W_hh (reset after: the r and z rows only).
      launch_gemm({N, H, lbr ? G : 2 * H, step_dgh, G, 1, a.w_hh, H, 1, dh_prev, H, nullptr, true}, st);
      std::swap(dh, dh_prev);
    }
    ICTUS_CUDA_CHECK(cudaMemcpyAsync(a.grad_h0, dh, static_cast<size_t>(N * H) * sizeof(float),
                                     cudaMemcpyDeviceToDevice, st));
  }
  // grad_x = d_gi W_ih; grad W_ih = d_gi^T x; grad W_hh = d_gh^T h_prev (W_hn, reset after: r * h_prev).
  launch_gemm({TN, D, G, d_gi, G, 1, a.w_ih, D, 1, a.grad_x, D, nullptr, false}, st);
  launch_gemm({G, D, TN, d_gi, 1, G, a.x, D, 1, a.grad_w_ih, D, nullptr, false}, st);
  reserve_state_kernel<<<grid_for(TN * H), kThreads, 0, st>>>(TN, H, a.reserve, false, h_src);
  ICTUS_CUDA_CHECK_LAUNCH();
  launch_gemm({lbr ? G : 2 * H, H, TN, d_gh, 1, G, h_src, H, 1, a.grad_w_hh, H, nullptr, false}, st);
  if (!lbr) {
    reserve_state_kernel<<<grid_for(TN * H), kThreads, 0, st>>>(TN, H, a.reserve, true, h_src);
    ICTUS_CUDA_CHECK_LAUNCH();
    launch_gemm({H, H, TN, d_gh + 2 * H, 1, G, h_src, H, 1, a.grad_w_hh + 2 * H * H, H, nullptr, false}, st);
  }
  if (a.grad_b_ih) {
    column_sum_kernel<<<grid_for(G), kThreads, 0, st>>>(TN, G, d_gi, a.grad_b_ih);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
  if (a.grad_b_hh) {
    column_sum_kernel<<<grid_for(G), kThreads, 0, st>>>(TN, G, d_gh, a.grad_b_hh);
    ICTUS_CUDA_CHECK_LAUNCH();
  }
}

}  // namespace ictus::cuda
