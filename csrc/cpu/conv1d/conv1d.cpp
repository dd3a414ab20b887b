// Conv1d dispatch and the SIMD variants' driver: plans the taps of the correlation primitive
// (conv1d.h) for forward, input gradient and weight gradient, splits strided signals into phases,
// and spreads work items over the thread pool. Shapes are validated by the caller (bindings).
#include "cpu/conv1d/conv1d.h"

#include <cstring>
#include <stdexcept>
#include <vector>

#include "common/check.h"
#include "common/scratch.h"
#include "common/thread_pool.h"

namespace ictus::cpu {
namespace {

struct SimdKernels {
  CorrelateForwardKernel fwd;
  CorrelateWeightGradKernel wgrad;
  SimdTiling tiling;
  const char* fwd_name;
  const char* wgrad_name;
};

// Null for the scalar variant.
const SimdKernels* simd_kernels(Isa isa) {
  static const SimdKernels portable{conv1d_fwd_portable, conv1d_bwd_weight_portable, kPortableTiling,
                                    "conv1d_fwd_portable", "conv1d_bwd_weight_portable"};
#if defined(ICTUS_X86)
  static const SimdKernels avx2{conv1d_fwd_avx2, conv1d_bwd_weight_avx2, kAvx2Tiling, "conv1d_fwd_avx2",
                                "conv1d_bwd_weight_avx2"};
  static const SimdKernels avx512{conv1d_fwd_avx512, conv1d_bwd_weight_avx512, kAvx512Tiling,
                                  "conv1d_fwd_avx512", "conv1d_bwd_weight_avx512"};
  if (isa == Isa::kAvx2) return &avx2;
  if (isa == Isa::kAvx512) return &avx512;
#endif
  if (isa == Isa::kPortable) return &portable;
  return nullptr;
}

// Rows whose byte stride is (nearly) a multiple of 4 KiB map to few L1 sets: the direct forward
// feed, which reads one vector from each of 64 channels, then thrashes L1 (T = 1024 or 4096 ran at
// half speed). For that feed such signals are copied to rows of a stride that spreads over all 64
// sets; the packed feed and the weight gradient read few rows at a time and need no copy.
bool aliasing_prone(int64_t row_floats) {
  int64_t delta = (row_floats / 16) % 64;  // L1 sets (of 64 B) that one row moves the next
  int64_t g = 64;
  while (delta != 0) {
    const int64_t r = g % delta;
    g = delta;
    delta = r;
  }
  return g > 4;  // fewer than 16 distinct sets
}

int64_t aliasing_safe_stride(int64_t row_floats) {
  int64_t stride = (row_floats + 15) / 16 * 16;
  while (aliasing_prone(stride)) stride += 16;
  return stride;
}

// Whether a forward correlation takes the packed feed: when its weights do not fit in L1.
bool packed_feed(int64_t out_channels, int64_t in_channels, int64_t taps) {
  constexpr int64_t kL1Weights = 16 * 1024;
  return out_channels * in_channels * taps * 4 > kL1Weights;
}

// A correlation source over `rows` rows of `length` frames. Stride 1: the rows as they are, or
// copied to an aliasing-safe row stride when `avoid_aliasing`. Stride s: each row split into
// phases (phase r holds frames r, r+s, r+2s, ...), so that every tap reads contiguous frames: tap
// k reads frame t*s + k*d - pad_left = (t + q)*s + r, i.e. frame t + q of phase r. Only phases
// r < length hold frames; `empty_phase` is a last phase of length 0 for taps whose r is beyond.
struct Source {
  std::vector<int64_t> phase_length;
  int64_t empty_phase;
  const float* data;
  int64_t row_stride, phase_stride;
};

Source split_source(const float* rows_in, int64_t rows, int64_t length, int64_t stride, bool avoid_aliasing,
                    ScratchSlot slot) {
  Source src;
  const int64_t phases = stride < length ? stride : length;
  for (int64_t r = 0; r < phases; ++r) src.phase_length.push_back(phase_length(length, stride, r));
  src.empty_phase = phases;
  src.phase_length.push_back(0);
  if (stride == 1 && !(avoid_aliasing && aliasing_prone(length))) {
    src.data = rows_in;
    src.row_stride = length;
    src.phase_stride = 0;
    return src;
  }
  src.phase_stride = aliasing_safe_stride(src.phase_length[0]);
  src.row_stride = checked_mul(phases, src.phase_stride, "packed row");
  float* packed = scratch_floats(slot, static_cast<size_t>(checked_mul(rows, src.row_stride, "packed signal")));
  ThreadPool::instance().parallel_for(rows, [&](int64_t begin, int64_t end) {
    for (int64_t row = begin; row < end; ++row) {
      const float* in = rows_in + row * length;
      for (int64_t r = 0; r < phases; ++r) {
        float* out = packed + row * src.row_stride + r * src.phase_stride;
        for (int64_t m = 0; m < src.phase_length[r]; ++m) out[m] = in[m * stride + r];
      }
    }
  });
  src.data = packed;
  return src;
}

// x as the source of the forward correlation and of the weight gradient, with tap k at
// phase (k*d - pad_left) mod s, offset floor((k*d - pad_left) / s).
struct SourcePlan {
  Source rows;
  std::vector<CorrelateTap> taps;
  CorrelateSource source;
};

SourcePlan plan_input_source(const Conv1dShape& s, const float* x, bool avoid_aliasing) {
  SourcePlan plan;
  plan.rows = split_source(x, s.batch * s.in_channels, s.in_length, s.stride, avoid_aliasing,
                           ScratchSlot::kPackedInput);
  for (int64_t k = 0; k < s.kernel_size; ++k) {
    const int64_t j = k * s.dilation - s.pad_left, phase = floor_mod(j, s.stride);
    plan.taps.push_back({k, floor_div(j, s.stride), phase < plan.rows.empty_phase ? phase : plan.rows.empty_phase});
  }
  CorrelateSource& src = plan.source;
  src.data = plan.rows.data;
  src.batch_stride = s.in_channels * plan.rows.row_stride;
  src.channel_stride = plan.rows.row_stride;
  src.phase_stride = plan.rows.phase_stride;
  src.phase_length = plan.rows.phase_length.data();
  src.taps = plan.taps.data();
  src.num_taps = s.kernel_size;
  src.channels = s.in_channels;
  return plan;
}

// Runs the forward correlation p over the pool, choosing the feed (conv1d_fwd_simd.h): direct,
// one tile per work item, when all weights fit in L1 (packed_feed false); otherwise packed, with
// runs of tiles whose packed input and output frames fit in L2 together, and the weights packed here.
void run_forward(const SimdKernels& k, CorrelateForward p) {
  constexpr int64_t kL2Run = 256 * 1024;
  const int64_t tile = static_cast<int64_t>(k.tiling.fwd_vectors) * k.tiling.width;
  const int64_t tiles = (p.out_length + tile - 1) / tile;
  const int64_t q_count = p.src.num_taps * p.src.channels;
  int64_t run = 1;
  p.packed_weight = nullptr;
  if (packed_feed(p.out_channels, p.src.channels, p.src.num_taps)) {
    const int64_t tile_bytes = (q_count + p.out_channels) * tile * 4;
    run = kL2Run / tile_bytes > 1 ? kL2Run / tile_bytes : 1;
    const int64_t balanced = p.batch * tiles / (4 * ThreadPool::instance().num_threads());
    if (balanced < run) run = balanced > 1 ? balanced : 1;
    if (run > tiles) run = tiles;
    float* packed = scratch_floats(ScratchSlot::kPackedWeight, static_cast<size_t>(p.out_channels * q_count));
    const BalancedBlocks blocks(p.out_channels, k.tiling.fwd_channels);
    ThreadPool::instance().parallel_for(blocks.count, [&](int64_t begin, int64_t end) {
      for (int64_t b = begin; b < end; ++b) {
        const int64_t o0 = blocks.begin(b), m = blocks.size(b);
        float* dst = packed + o0 * q_count;
        for (int64_t i = 0; i < p.src.num_taps; ++i) {
          for (int64_t c = 0; c < p.src.channels; ++c) {
            for (int64_t mm = 0; mm < m; ++mm) {
              dst[(i * p.src.channels + c) * m + mm] =
                  p.weight[(o0 + mm) * p.weight_out_stride + c * p.weight_in_stride + p.src.taps[i].weight_offset];
            }
          }
        }
      }
    });
    p.packed_weight = packed;
  }
  p.tiles_per_item = run;
  ThreadPool::instance().parallel_for(p.batch * ((tiles + run - 1) / run),
                                      [&](int64_t b, int64_t e) { k.fwd(p, b, e); });
}

// grad_x[n][c][j] = sum_o sum_k W[o][c][k] grad_y[n][o][(j + pad_left - k*d) / s] over exact divisions:
// for stride 1 one correlation of grad_y with the transposed weights; for stride s one per phase
// r of grad_x (frames j = m*s + r), each with the taps k that divide exactly.
void simd_backward_data(const SimdKernels& k, const Conv1dShape& s, const float* grad_y, const float* weight,
                        float* grad_x) {
  const int64_t st = s.stride;
  const Source grad_rows = split_source(grad_y, s.batch * s.out_channels, s.out_length, 1,
                                        !packed_feed(s.in_channels, s.out_channels, s.kernel_size),
                                        ScratchSlot::kPackedGradOut);
  CorrelateSource src{};
  src.data = grad_rows.data;
  src.batch_stride = s.out_channels * grad_rows.row_stride;
  src.channel_stride = grad_rows.row_stride;
  src.phase_stride = 0;
  src.phase_length = grad_rows.phase_length.data();
  src.channels = s.out_channels;
  CorrelateForward p{};
  p.batch = s.batch;
  p.out_channels = s.in_channels;
  p.weight = weight;
  p.weight_out_stride = s.kernel_size;  // W(c, o, k) = weight[o][c][k]
  p.weight_in_stride = s.in_channels * s.kernel_size;
  p.bias = nullptr;

  std::vector<CorrelateTap> taps;
  if (st == 1) {
    for (int64_t kk = 0; kk < s.kernel_size; ++kk) taps.push_back({kk, s.pad_left - kk * s.dilation, 0});
    src.taps = taps.data();
    src.num_taps = s.kernel_size;
    p.src = src;
    p.out_length = s.in_length;
    p.out = grad_x;
    p.out_batch_stride = s.in_channels * s.in_length;
    p.out_channel_stride = s.in_length;
    run_forward(k, p);
    return;
  }
  const int64_t rows = s.batch * s.in_channels;
  const int64_t max_phase = phase_length(s.in_length, st, 0);
  float* phase_out = scratch_floats(ScratchSlot::kPhaseGrad,
                                    static_cast<size_t>(checked_mul(rows, max_phase, "input-gradient phase")));
  for (int64_t r = 0; r < st && r < s.in_length; ++r) {
    const int64_t len = phase_length(s.in_length, st, r);
    taps.clear();
    for (int64_t kk = 0; kk < s.kernel_size; ++kk) {
      const int64_t num = r + s.pad_left - kk * s.dilation;
      if (floor_mod(num, st) == 0) taps.push_back({kk, floor_div(num, st), 0});
    }
    if (!taps.empty()) {
      src.taps = taps.data();
      src.num_taps = static_cast<int64_t>(taps.size());
      p.src = src;
      p.out_length = len;
      p.out = phase_out;
      p.out_batch_stride = s.in_channels * len;
      p.out_channel_stride = len;
      run_forward(k, p);
    }
    const bool empty = taps.empty();
    ThreadPool::instance().parallel_for(rows, [&](int64_t begin, int64_t end) {
      for (int64_t row = begin; row < end; ++row) {
        float* out = grad_x + row * s.in_length + r;
        const float* in = phase_out + row * len;
        for (int64_t m = 0; m < len; ++m) out[m * st] = empty ? 0.0f : in[m];
      }
    });
  }
}

// grad_w via the GEMM kernel of conv1d_bwd_weight_simd.h, which writes it transposed to
// (K, C_in, C_out rounded up to the vector width); transposed back here.
void simd_backward_weight(const SimdKernels& k, const Conv1dShape& s, const float* grad_y,
                          const CorrelateSource& src, float* grad_weight) {
  const int64_t width = k.tiling.width;
  const int64_t padded = (s.out_channels + width - 1) / width * width;
  float* weight_t = scratch_floats(ScratchSlot::kWeightGradT,
                                   static_cast<size_t>(s.kernel_size * s.in_channels * padded));
  CorrelateWeightGrad p{};
  p.src = src;
  p.batch = s.batch;
  p.out_channels = s.out_channels;
  p.out_length = s.out_length;
  p.out_padded = padded;
  // Frames per chunk: one block's panel of transposed grad_y, chunk x (vectors * width) floats, fills
  // about 48 KiB (the L1 of AVX-512 cores; 512 frames with AVX2, 192 with AVX-512).
  p.chunk = 48 * 1024 / (4 * k.tiling.wgrad_vectors * width) / 64 * 64;
  p.grad_out = grad_y;
  p.grad_out_batch_stride = s.out_channels * s.out_length;
  p.grad_out_channel_stride = s.out_length;
  p.grad_weight_t = weight_t;
  const int64_t items = BalancedBlocks(padded / width, k.tiling.wgrad_vectors).count * s.kernel_size *
                        BalancedBlocks(s.in_channels, k.tiling.wgrad_channels).count;
  ThreadPool::instance().parallel_for(items, [&](int64_t b, int64_t e) { k.wgrad(p, b, e); });
  for (int64_t o = 0; o < s.out_channels; ++o) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t kk = 0; kk < s.kernel_size; ++kk) {
        grad_weight[(o * s.in_channels + c) * s.kernel_size + kk] = weight_t[(kk * s.in_channels + c) * padded + o];
      }
    }
  }
}

// grad_bias[o] = sum_n sum_t grad_y[n][o][t], in double (it is cheap and long sums lose digits).
void backward_bias(const Conv1dShape& s, const float* grad_y, float* grad_bias) {
  ThreadPool::instance().parallel_for(s.out_channels, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      double acc = 0.0;
      for (int64_t n = 0; n < s.batch; ++n) {
        const float* g = grad_y + (n * s.out_channels + o) * s.out_length;
        for (int64_t t = 0; t < s.out_length; ++t) acc += g[t];
      }
      grad_bias[o] = static_cast<float>(acc);
    }
  });
}

}  // namespace

void conv1d_forward(Isa isa, const Conv1dShape& s, const float* x, const float* weight, const float* bias,
                    float* y) {
  const SimdKernels* k = simd_kernels(isa);
  if (k == nullptr) {
    conv1d_fwd_scalar(s, x, weight, bias, y);
    return;
  }
  const SourcePlan plan = plan_input_source(s, x, !packed_feed(s.out_channels, s.in_channels, s.kernel_size));
  CorrelateForward p{};
  p.src = plan.source;
  p.batch = s.batch;
  p.out_channels = s.out_channels;
  p.out_length = s.out_length;
  p.weight = weight;
  p.weight_out_stride = s.in_channels * s.kernel_size;
  p.weight_in_stride = s.kernel_size;
  p.bias = bias;
  p.out = y;
  p.out_batch_stride = s.out_channels * s.out_length;
  p.out_channel_stride = s.out_length;
  run_forward(*k, p);
}

void conv1d_backward(Isa isa, const Conv1dShape& s, const float* grad_y, const float* x, const float* weight,
                     const Conv1dGrads& grads) {
  const SimdKernels* k = simd_kernels(isa);
  if (grads.grad_x) {
    if (k) simd_backward_data(*k, s, grad_y, weight, grads.grad_x);
    else conv1d_bwd_data_scalar(s, grad_y, weight, grads.grad_x);
  }
  if (grads.grad_weight) {
    if (k) simd_backward_weight(*k, s, grad_y, plan_input_source(s, x, false).source, grads.grad_weight);
    else conv1d_bwd_weight_scalar(s, grad_y, x, grads.grad_weight);
  }
  if (grads.grad_bias) backward_bias(s, grad_y, grads.grad_bias);
}

const char* conv1d_kernel_name(Isa isa, const char* op) {
  const SimdKernels* k = simd_kernels(isa);
  if (std::strcmp(op, "conv1d_fwd") == 0) return k ? k->fwd_name : "conv1d_fwd_scalar";
  // The SIMD input gradient is the forward correlation with transposed weights.
  if (std::strcmp(op, "conv1d_bwd_data") == 0) return k ? k->fwd_name : "conv1d_bwd_data_scalar";
  if (std::strcmp(op, "conv1d_bwd_weight") == 0) return k ? k->wgrad_name : "conv1d_bwd_weight_scalar";
  throw std::invalid_argument(std::string("ictus: unknown op '") + op +
                              "'; use conv1d_fwd, conv1d_bwd_data or conv1d_bwd_weight");
}

}  // namespace ictus::cpu
