// Convolution dispatch and the SIMD variants' driver: plans the taps of the correlation primitive
// (conv.h) for forward, input gradient and weight gradient, splits rows into phases for strides,
// and spreads work items over the thread pool; 3x3 stride-1 convolutions with enough channels take
// Winograd instead (winograd.h) for the forward pass and the input gradient. Shapes are validated
// by the caller (bindings).
#include "cpu/conv/conv.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>
#include <string>
#include <vector>

#include "common/check.h"
#include "common/finite.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "cpu/cache_sets.h"
#include "cpu/conv/conv_sparse_grad.h"
#include "cpu/conv/winograd.h"

namespace ictus::cpu {
namespace {

struct SimdKernels {
  CorrelateForwardKernel fwd;
  FlatForwardKernel flat;
  WindowForwardKernel windows;
  WindowInputGradKernel windows_grad;
  ScatterInputGradKernel bwd_data;
  CorrelateWeightGradKernel wgrad;
  CorrelateWeightGradDotKernel wgrad_dot;
  SimdTiling tiling;
  const char* fwd_name;
  const char* bwd_data_name;
  const char* wgrad_name;
  const char* winograd_name;
  const char* windows_name;
  const char* windows_grad_name;
  const char* sparse_wgrad_name;
  const char* sparse_igrad_name;
};

// Null for the scalar variant.
const SimdKernels* simd_kernels(Isa isa) {
  static const SimdKernels portable{conv_fwd_portable, conv_fwd_flat_portable, conv_fwd_windows_portable,
                                    conv_bwd_data_windows_portable, conv_bwd_data_portable, conv_bwd_weight_portable,
                                    conv_bwd_weight_dot_portable, kPortableTiling, "conv_fwd_portable", "conv_bwd_data_portable",
                                    "conv_bwd_weight_portable", "winograd_portable", "conv_fwd_windows_portable",
                                    "conv_bwd_data_windows_portable", "conv_sparse_wgrad_portable", "conv_sparse_igrad_portable"};
#if defined(ICTUS_X86)
  static const SimdKernels avx2{conv_fwd_avx2, conv_fwd_flat_avx2, conv_fwd_windows_avx2,
                                conv_bwd_data_windows_avx2, conv_bwd_data_avx2, conv_bwd_weight_avx2,
                                conv_bwd_weight_dot_avx2, kAvx2Tiling, "conv_fwd_avx2", "conv_bwd_data_avx2",
                                "conv_bwd_weight_avx2", "winograd_avx2", "conv_fwd_windows_avx2",
                                "conv_bwd_data_windows_avx2", "conv_sparse_wgrad_avx2", "conv_sparse_igrad_avx2"};
  static const SimdKernels avx512{conv_fwd_avx512, conv_fwd_flat_avx512, conv_fwd_windows_avx512,
                                  conv_bwd_data_windows_avx512, conv_bwd_data_avx512, conv_bwd_weight_avx512,
                                  conv_bwd_weight_dot_avx512, kAvx512Tiling, "conv_fwd_avx512", "conv_bwd_data_avx512",
                                  "conv_bwd_weight_avx512", "winograd_avx512", "conv_fwd_windows_avx512",
                                  "conv_bwd_data_windows_avx512", "conv_sparse_wgrad_avx512", "conv_sparse_igrad_avx512"};
  if (isa == Isa::kAvx2) return &avx2;
  if (isa == Isa::kAvx512) return &avx512;
#endif
  if (isa == Isa::kPortable) return &portable;
  return nullptr;
}

// Whether a forward correlation that is not flat (1-d, or strided; see flat_feed) takes the packed
// feed (conv_fwd_simd.h): when its weights do not fit in L1; when a tap meets fewer than 4 input
// channels, so that the direct feed would spend more on each tap's window than on its FMAs.
bool packed_feed(int64_t out_channels, int64_t in_channels, int64_t taps) {
  constexpr int64_t kL1Weights = 16 * 1024;
  return in_channels < 4 || out_channels * in_channels * taps * 4 > kL1Weights;
}

// A correlation source over `planes` planes of `rows` rows of `length` values. Stride 1: the
// planes as they are, or copied to an aliasing-safe plane stride when `avoid_aliasing`. Stride s:
// each row split into phases (phase p holds values p, p+s, p+2s, ...), so that every tap reads
// contiguous values: tap j reads t*s + j*d - pad = (t + q)*s + p, i.e. value t + q of phase p.
// Only phases p < length hold values; `empty_phase` is a last phase of length 0 for taps whose p
// is beyond them.
struct Source {
  std::vector<int64_t> phase_length;
  int64_t empty_phase;
  const float* data;
  int64_t plane_stride, row_stride, phase_stride;
};

Source split_source(const float* in, int64_t planes, int64_t rows, int64_t length, int64_t stride,
                    bool avoid_aliasing, ScratchSlot slot) {
  Source src;
  const int64_t phases = stride < length ? stride : length;
  for (int64_t p = 0; p < phases; ++p) src.phase_length.push_back(phase_length(length, stride, p));
  src.empty_phase = phases;
  src.phase_length.push_back(0);
  if (stride == 1 && !(avoid_aliasing && aliasing_prone(rows * length))) {
    src.data = in;
    src.plane_stride = rows * length;
    src.row_stride = length;
    src.phase_stride = 0;
    return src;
  }
  src.phase_stride = src.phase_length[0];
  src.row_stride = phases * src.phase_stride;
  src.plane_stride = aliasing_safe_stride(checked_mul(rows, src.row_stride, "split signal plane"));
  float* packed = scratch_floats(slot, static_cast<size_t>(checked_mul(planes, src.plane_stride, "split signal")));
  ThreadPool::instance().parallel_for(planes * rows, [&](int64_t begin, int64_t end) {
    for (int64_t pr = begin; pr < end; ++pr) {
      const int64_t plane = pr / rows, row = pr % rows;
      const float* from = in + pr * length;
      float* to = packed + plane * src.plane_stride + row * src.row_stride;
      for (int64_t p = 0; p < phases; ++p) {
        for (int64_t m = 0; m < src.phase_length[p]; ++m) to[p * src.phase_stride + m] = from[m * stride + p];
      }
    }
  });
  src.data = packed;
  return src;
}

CorrelateSource correlate_source(const Source& rows, int64_t channels, int64_t num_rows,
                                 const std::vector<CorrelateTap>& taps) {
  CorrelateSource src{};
  src.data = rows.data;
  src.batch_stride = channels * rows.plane_stride;
  src.channel_stride = rows.plane_stride;
  src.row_stride = rows.row_stride;
  src.phase_stride = rows.phase_stride;
  src.rows = num_rows;
  src.phase_length = rows.phase_length.data();
  src.taps = taps.data();
  src.num_taps = static_cast<int64_t>(taps.size());
  src.channels = channels;
  return src;
}

// x as the source of the forward correlation and of the weight gradient: tap (i, j) reads row
// h*sh + i*dh - pad_top and, in that row, phase (j*dw - pad_left) mod sw at offset
// floor((j*dw - pad_left) / sw).
struct InputPlan {
  Source rows;
  std::vector<CorrelateTap> taps;
  CorrelateSource source;
};

InputPlan plan_input(const ConvShape& s, const float* x, bool avoid_aliasing) {
  InputPlan plan;
  plan.rows = split_source(x, s.batch * s.in_channels, s.in_h, s.in_w, s.stride_w, avoid_aliasing,
                           ScratchSlot::kPackedInput);
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    for (int64_t j = 0; j < s.kernel_w; ++j) {
      const int64_t col = j * s.dilation_w - s.pad_left, phase = floor_mod(col, s.stride_w);
      plan.taps.push_back({i * s.kernel_w + j, floor_div(col, s.stride_w),
                           phase < plan.rows.empty_phase ? phase : plan.rows.empty_phase,
                           i * s.dilation_h - s.pad_top});
    }
  }
  plan.source = correlate_source(plan.rows, s.in_channels, s.in_h, plan.taps);
  return plan;
}

std::vector<int64_t> weight_offsets(const CorrelateSource& src) {
  std::vector<int64_t> offsets;
  for (int64_t i = 0; i < src.num_taps; ++i) offsets.push_back(src.taps[i].weight_offset);
  return offsets;
}

// The weights W(o, c, tap) = weight[o*out_stride + c*in_stride + weight_offsets[tap]] packed for the
// packed and flat feeds: per block of output channels (BalancedBlocks of fwd_channels), [tap][c][o].
void pack_weights(const SimdKernels& k, const float* weight, int64_t out_stride, int64_t in_stride,
                  int64_t out_channels, int64_t channels, const std::vector<int64_t>& weight_offsets, float* packed) {
  const int64_t taps = static_cast<int64_t>(weight_offsets.size());
  const BalancedBlocks blocks(out_channels, k.tiling.fwd_channels);
  ThreadPool::instance().parallel_for(blocks.count, [&](int64_t begin, int64_t end) {
    for (int64_t b = begin; b < end; ++b) {
      const int64_t o0 = blocks.begin(b), m = blocks.size(b);
      float* dst = packed + o0 * taps * channels;
      for (int64_t i = 0; i < taps; ++i) {
        for (int64_t c = 0; c < channels; ++c) {
          for (int64_t mm = 0; mm < m; ++mm) {
            dst[(i * channels + c) * m + mm] = weight[(o0 + mm) * out_stride + c * in_stride + weight_offsets[i]];
          }
        }
      }
    }
  });
}

// Runs the forward correlation p over the pool, choosing the feed (conv_fwd_simd.h): direct, one
// tile per work item, when all weights fit in L1 (packed_feed false); otherwise packed, with runs
// of tiles whose packed input and output values fit in L2 together, and the weights packed here
// (flat tiles when the output rows are contiguous: conv.h).
void run_forward(const SimdKernels& k, CorrelateForward p) {
  constexpr int64_t kL2Run = 256 * 1024;
  const int64_t tile = static_cast<int64_t>(k.tiling.fwd_vectors) * k.tiling.width;
  const int64_t q_count = p.src.num_taps * p.src.channels;
  int64_t run = 1;
  p.packed_weight = nullptr;
  if (packed_feed(p.out_channels, p.src.channels, p.src.num_taps)) {
    float* packed = scratch_floats(ScratchSlot::kPackedWeight, static_cast<size_t>(p.out_channels * q_count));
    p.packed_weight = packed;  // filled below
    const int64_t tiles = correlate_tiles(p, tile);
    const int64_t tile_bytes = (q_count + p.out_channels) * tile * 4;
    run = kL2Run / tile_bytes > 1 ? kL2Run / tile_bytes : 1;
    const int64_t balanced = p.batch * tiles / (4 * ThreadPool::instance().num_threads());
    if (balanced < run) run = balanced > 1 ? balanced : 1;
    if (run > tiles) run = tiles;
    pack_weights(k, p.weight, p.weight_out_stride, p.weight_in_stride, p.out_channels, p.src.channels,
                 weight_offsets(p.src), packed);
  }
  p.tiles_per_item = run;
  const int64_t tiles = correlate_tiles(p, tile);
  ThreadPool::instance().parallel_for(p.batch * ((tiles + run - 1) / run),
                                      [&](int64_t b, int64_t e) { k.fwd(p, b, e); });
}

// A stride-1 correlation for the flat feed (conv_fwd_flat_simd.h): out[n][o][h][w] = bias[o] +
// sum over taps and channels c of W(o, c, tap) * src[n][c][h + row_offset][w + col_offset], zero
// outside the source's rows x length.
struct StrideOneTap {
  int64_t weight_offset, row_offset, col_offset;
};

struct FlatProblem {
  const float* src;
  int64_t batch, channels, rows, length;
  std::vector<StrideOneTap> taps;
  const float* weight;
  int64_t weight_out_stride, weight_in_stride;
  const float* bias;
  int64_t out_channels, out_rows, out_length;
  float* out;
};

// Whether flat tiles run over output positions only (conv_fwd_flat_simd.h): when a row holds at
// least a vector and the flat tiles would drop 1/17 of their positions or more. Measured (AVX-512,
// 1 thread, forward): 20->20 1x10 keeping 17 of 26 bins 7.25 -> 4.87 ms, 16->16 3x3 keeping 24 of
// 26 4.32 -> 4.19 ms; with 79 of 81 kept the merged loads cost more than they save (1.42 -> 1.63).
bool compact_flat_tiles(const SimdKernels& k, int64_t out_length, int64_t pitch) {
  return out_length >= k.tiling.width && pitch * 16 >= out_length * 17;
}

// Runs f with the flat feed: reads the source in place when no tap reaches into padding (a 'valid'
// convolution), else a zero-padded copy whose rows are wide enough for every tap.
void run_flat_forward(const SimdKernels& k, const FlatProblem& f, ScratchSlot pad_slot) {
  int64_t min_row = 0, max_row = 0, min_col = 0, max_col = 0;
  std::vector<int64_t> weight_offsets;
  for (const StrideOneTap& t : f.taps) {
    min_row = std::min(min_row, t.row_offset);
    max_row = std::max(max_row, t.row_offset);
    min_col = std::min(min_col, t.col_offset);
    max_col = std::max(max_col, t.col_offset);
    weight_offsets.push_back(t.weight_offset);
  }
  const int64_t top = -min_row, left = -min_col;
  const int64_t pitch = std::max(left + f.length, left + f.out_length + max_col);
  const int64_t rows = std::max(top + f.rows, top + f.out_rows + max_row);
  FlatCorrelation p{};
  p.src = f.src;
  p.extent = checked_mul(rows, pitch, "padded plane");
  p.channel_stride = p.extent;
  if (top != 0 || left != 0 || pitch != f.length || rows != f.rows) {
    float* padded = scratch_floats(pad_slot, static_cast<size_t>(checked_mul(f.batch * f.channels, p.extent, "padded signal")));
    ThreadPool::instance().parallel_for(f.batch * f.channels * rows, [&](int64_t begin, int64_t end) {
      for (int64_t pr = begin; pr < end; ++pr) {
        const int64_t plane = pr / rows, r = pr % rows - top;
        float* to = padded + pr * pitch;
        std::fill(to, to + pitch, 0.0f);
        if (r >= 0 && r < f.rows) std::copy_n(f.src + (plane * f.rows + r) * f.length, f.length, to + left);
      }
    });
    p.src = padded;
  }
  std::vector<int64_t> offsets;
  for (const StrideOneTap& t : f.taps) offsets.push_back((t.row_offset + top) * pitch + t.col_offset + left);
  p.batch_stride = f.channels * p.channel_stride;
  p.channels = f.channels;
  p.pitch = pitch;
  p.tap_offsets = offsets.data();
  p.num_taps = static_cast<int64_t>(offsets.size());
  p.max_tap_offset = *std::max_element(offsets.begin(), offsets.end());
  float* packed = scratch_floats(ScratchSlot::kPackedWeight, static_cast<size_t>(f.out_channels * p.num_taps * f.channels));
  pack_weights(k, f.weight, f.weight_out_stride, f.weight_in_stride, f.out_channels, f.channels, weight_offsets, packed);
  p.packed_weight = packed;
  p.bias = f.bias;
  p.batch = f.batch;
  p.out_channels = f.out_channels;
  p.out_rows = f.out_rows;
  p.out_length = f.out_length;
  p.out = f.out;
  p.out_channel_stride = f.out_rows * f.out_length;
  p.out_batch_stride = f.out_channels * p.out_channel_stride;
  p.compact = compact_flat_tiles(k, f.out_length, pitch);
  const int64_t tile = static_cast<int64_t>(k.tiling.fwd_vectors) * k.tiling.width;
  const int64_t tiles = (flat_positions(p) + tile - 1) / tile;
  p.tiles_per_item = std::max<int64_t>(1, std::min(tiles, f.batch * tiles / (4 * ThreadPool::instance().num_threads())));
  ThreadPool::instance().parallel_for(f.batch * ((tiles + p.tiles_per_item - 1) / p.tiles_per_item),
                                      [&](int64_t b, int64_t e) { k.flat(p, b, e); });
}

// Whether a convolution (or its input gradient) takes the flat feed: stride 1 and more than one row
// (2-d). The feeds of conv_fwd_simd.h ran the front end's 16->16 3x3 on 26 bins at 41% of peak
// (direct: rows of 24 fill 1.5 vectors) and the 1->16 3x3 on 81 bins at 29% (packing); flat: 65%
// and 38%, the key-CNN's 3x3 layers 85% instead of 56-71%. One row (a TCN layer) keeps the
// direct feed, which runs near peak without a padded copy.
bool flat_feed(const ConvShape& s) { return s.stride_h == 1 && s.stride_w == 1 && s.out_h > 1 && s.in_h > 1; }

// Whether the input gradient is scattered from grad_y (conv_bwd_data_simd.h) rather than run as the
// flat forward feed on a zero-padded grad_y with transposed weights: at stride 1 in 2-d, where
// grad_y rows hold a whole vector (narrower rows split each vector into many masked segments)
// and the padded correlation would spend over a quarter of its taps on the padding, or its
// output blocks would hold fewer than 4 channels. Measured (AVX-512, 1 thread, grad_x alone):
// 20->20 1x10 on 26 bins 6.3 -> 4.7 ms at N=1, T=3000; 1->20 3x3 on 81 bins at N=8, T=1000
// 12 -> 7.5 ms; where the rule keeps the flat feed it was as fast or faster (16->16 3x3 on 26
// bins 3.5 ms either way, 24->24 3x3 'same' on 100x105 0.84 vs 1.1 ms, 20->20 3x3 on 5 bins
// 3.6 vs 4.1 ms).
bool scatter_input_grad(const SimdKernels& k, const ConvShape& s) {
  return flat_feed(s) && s.out_w >= k.tiling.width && (s.out_w * 4 < s.in_w * 3 || s.in_channels < 4);
}

// The input gradient scattered from grad_y (see scatter_input_grad).
void scatter_backward_data(const SimdKernels& k, const ConvShape& s, const float* grad_y, const float* weight,
                           float* grad_x) {
  const int64_t taps = s.kernel_h * s.kernel_w;
  std::vector<int64_t> row_offsets, col_offsets;
  for (int64_t i = 0; i < s.kernel_h; ++i) {
    for (int64_t j = 0; j < s.kernel_w; ++j) {
      row_offsets.push_back(i * s.dilation_h - s.pad_top);
      col_offsets.push_back(j * s.dilation_w - s.pad_left);
    }
  }
  // W(c, o, tap) = weight[o][c][tap], packed per block of input channels as the flat feed's
  std::vector<int64_t> weight_offsets(static_cast<size_t>(taps));
  for (int64_t t = 0; t < taps; ++t) weight_offsets[t] = t;
  float* packed = scratch_floats(ScratchSlot::kPackedWeight, static_cast<size_t>(taps * s.in_channels * s.out_channels));
  pack_weights(k, weight, taps, s.in_channels * taps, s.in_channels, s.out_channels, weight_offsets, packed);
  ScatterInputGrad g{};
  g.grad_y = grad_y;
  g.batch = s.batch;
  g.out_channels = s.out_channels;
  g.out_h = s.out_h;
  g.out_w = s.out_w;
  g.packed_weight = packed;
  g.row_offsets = row_offsets.data();
  g.col_offsets = col_offsets.data();
  g.num_taps = taps;
  g.min_row_offset = *std::min_element(row_offsets.begin(), row_offsets.end());
  g.max_row_offset = *std::max_element(row_offsets.begin(), row_offsets.end());
  g.grad_x = grad_x;
  g.in_channels = s.in_channels;
  g.in_h = s.in_h;
  g.in_w = s.in_w;
  // A sweep covers about 256 grad_y positions of whole rows (its grad_y and its part of grad_x stay
  // in L1); items of at least 16 rows, enough of them to share among the threads.
  g.chunk_rows = std::max<int64_t>(1, 256 / s.out_w);
  const int64_t threads = ThreadPool::instance().num_threads();
  g.rows_per_item = std::min(s.in_h, std::max<int64_t>(16, s.batch * s.in_h / (4 * threads)));
  const int64_t items = s.batch * ((s.in_h + g.rows_per_item - 1) / g.rows_per_item);
  ThreadPool::instance().parallel_for(items, [&](int64_t b, int64_t e) { k.bwd_data(g, b, e); });
}

// grad_x[n][c][r][col] = sum over (o, i, j) of W[o][c][i][j] grad_y[n][o][h][w] with
// r = h*sh + i*dh - pad_top, col = w*sw + j*dw - pad_left: a scatter from grad_y where
// scatter_input_grad says so; otherwise for each phase (rh, rw) of grad_x (rows m*sh + rh,
// columns k*sw + rw) a correlation of grad_y with the weights transposed and the taps that divide
// exactly (for stride 1 one correlation straight into grad_x).
void simd_backward_data(const SimdKernels& k, const ConvShape& s, const float* grad_y, const float* weight,
                        float* grad_x) {
  const int64_t taps_per_weight = s.kernel_h * s.kernel_w;
  if (scatter_input_grad(k, s)) {
    scatter_backward_data(k, s, grad_y, weight, grad_x);
    return;
  }
  if (flat_feed(s)) {
    FlatProblem f{grad_y, s.batch, s.out_channels, s.out_h, s.out_w, {}, weight, taps_per_weight,
                  s.in_channels * taps_per_weight, nullptr, s.in_channels, s.in_h, s.in_w, grad_x};
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      for (int64_t j = 0; j < s.kernel_w; ++j) {
        f.taps.push_back({i * s.kernel_w + j, s.pad_top - i * s.dilation_h, s.pad_left - j * s.dilation_w});
      }
    }
    run_flat_forward(k, f, ScratchSlot::kPackedGradOut);
    return;
  }
  const Source grad_rows =
      split_source(grad_y, s.batch * s.out_channels, s.out_h, s.out_w, 1,
                   !packed_feed(s.in_channels, s.out_channels, taps_per_weight), ScratchSlot::kPackedGradOut);
  CorrelateForward p{};
  p.batch = s.batch;
  p.out_channels = s.in_channels;
  p.row_step = 1;
  p.weight = weight;
  p.weight_out_stride = taps_per_weight;  // W(c, o, tap) = weight[o][c][tap]
  p.weight_in_stride = s.in_channels * taps_per_weight;
  p.bias = nullptr;

  const bool strided = s.stride_h > 1 || s.stride_w > 1;
  const int64_t planes = s.batch * s.in_channels;
  const int64_t max_phase = phase_length(s.in_h, s.stride_h, 0) * phase_length(s.in_w, s.stride_w, 0);
  float* phase_out = strided ? scratch_floats(ScratchSlot::kPhaseGrad,
                                              static_cast<size_t>(checked_mul(planes, max_phase, "gradient phase")))
                             : nullptr;
  std::vector<CorrelateTap> taps;
  for (int64_t rh = 0; rh < s.stride_h && rh < s.in_h; ++rh) {
    for (int64_t rw = 0; rw < s.stride_w && rw < s.in_w; ++rw) {
      const int64_t rows = phase_length(s.in_h, s.stride_h, rh), cols = phase_length(s.in_w, s.stride_w, rw);
      taps.clear();
      for (int64_t i = 0; i < s.kernel_h; ++i) {
        const int64_t nh = rh + s.pad_top - i * s.dilation_h;
        if (floor_mod(nh, s.stride_h) != 0) continue;
        for (int64_t j = 0; j < s.kernel_w; ++j) {
          const int64_t nw = rw + s.pad_left - j * s.dilation_w;
          if (floor_mod(nw, s.stride_w) == 0) {
            taps.push_back({i * s.kernel_w + j, floor_div(nw, s.stride_w), 0, floor_div(nh, s.stride_h)});
          }
        }
      }
      float* out = strided ? phase_out : grad_x;
      if (!taps.empty()) {
        p.src = correlate_source(grad_rows, s.out_channels, s.out_h, taps);
        p.out_rows = rows;
        p.out_length = cols;
        p.out = out;
        p.out_batch_stride = s.in_channels * rows * cols;
        p.out_channel_stride = rows * cols;
        p.out_row_stride = cols;
        run_forward(k, p);
      }
      if (!strided) {
        if (taps.empty()) std::memset(grad_x, 0, static_cast<size_t>(planes * rows * cols) * sizeof(float));
        continue;
      }
      const bool empty = taps.empty();
      ThreadPool::instance().parallel_for(planes * rows, [&](int64_t begin, int64_t end) {
        for (int64_t pr = begin; pr < end; ++pr) {
          const int64_t plane = pr / rows, m = pr % rows;
          float* to = grad_x + (plane * s.in_h + m * s.stride_h + rh) * s.in_w + rw;
          const float* from = phase_out + pr * cols;
          for (int64_t c = 0; c < cols; ++c) to[c * s.stride_w] = empty ? 0.0f : from[c];
        }
      });
    }
  }
}

// grad_w via the GEMM kernel of conv_bwd_weight_simd.h, which writes it transposed to
// (taps, C_in, C_out rounded up to the vector width), transposed back here; for fewer than 4 input
// channels (as packed_feed) via the kernel of conv_bwd_weight_dot_simd.h, straight into grad_w,
// with grad_b too (when given).
bool uses_dot_weight_grad(const ConvShape& s) { return s.in_channels < 4; }

void simd_backward_weight(const SimdKernels& k, const ConvShape& s, const float* grad_y, const CorrelateSource& src,
                          float* grad_weight, float* grad_bias) {
  const int64_t width = k.tiling.width;
  const int64_t taps = s.kernel_h * s.kernel_w;
  const int64_t padded = ceil_div(s.out_channels, width) * width;
  float* weight_t = scratch_floats(ScratchSlot::kWeightGradT, static_cast<size_t>(taps * s.in_channels * padded));
  CorrelateWeightGrad p{};
  p.src = src;
  p.batch = s.batch;
  p.out_channels = s.out_channels;
  p.out_rows = s.out_h;
  p.out_length = s.out_w;
  p.row_step = s.stride_h;
  p.out_padded = padded;
  // Positions per chunk: one block's panel of transposed grad_y, chunk x (vectors * width) floats,
  // fills about 48 KiB (the L1 of AVX-512 cores; 512 positions with AVX2, 192 with AVX-512).
  p.chunk = 48 * 1024 / (4 * k.tiling.wgrad_vectors * width) / 64 * 64;
  p.grad_out = grad_y;
  p.grad_out_batch_stride = s.out_channels * s.out_h * s.out_w;
  p.grad_out_channel_stride = s.out_h * s.out_w;
  p.grad_weight_t = weight_t;
  if (uses_dot_weight_grad(s)) {
    ThreadPool::instance().parallel_for(BalancedBlocks(s.out_channels, kDotOuts).count,
                                        [&](int64_t b, int64_t e) { k.wgrad_dot(p, grad_weight, grad_bias, b, e); });
    return;
  }
  const int64_t items = BalancedBlocks(padded / width, k.tiling.wgrad_vectors).count * taps *
                        BalancedBlocks(s.in_channels, k.tiling.wgrad_channels).count;
  ThreadPool::instance().parallel_for(items, [&](int64_t b, int64_t e) { k.wgrad(p, b, e); });
  for (int64_t o = 0; o < s.out_channels; ++o) {
    for (int64_t c = 0; c < s.in_channels; ++c) {
      for (int64_t t = 0; t < taps; ++t) {
        grad_weight[(o * s.in_channels + c) * taps + t] = weight_t[(t * s.in_channels + c) * padded + o];
      }
    }
  }
}

// grad_bias[o] = sum over n, h, w of grad_y[n][o][h][w], in double (cheap; long sums lose digits),
// in 8 interleaved partial sums so that the adds do not wait on each other.
void backward_bias(const ConvShape& s, const float* grad_y, float* grad_bias) {
  constexpr int64_t kPartials = 8;
  const int64_t plane = s.out_h * s.out_w;
  ThreadPool::instance().parallel_for(s.out_channels, [&](int64_t begin, int64_t end) {
    for (int64_t o = begin; o < end; ++o) {
      double partial[kPartials] = {};
      double acc = 0.0;
      for (int64_t n = 0; n < s.batch; ++n) {
        const float* g = grad_y + (n * s.out_channels + o) * plane;
        int64_t f = 0;
        for (; f + kPartials <= plane; f += kPartials) {
          for (int64_t k = 0; k < kPartials; ++k) partial[k] += g[f + k];
        }
        for (; f < plane; ++f) acc += g[f];
      }
      for (int64_t k = 0; k < kPartials; ++k) acc += partial[k];
      grad_bias[o] = static_cast<float>(acc);
    }
  });
}

// A kernel as wide as the unpadded input (the front end's 1x8 on 8 bins) leaves one output per
// row, which would use one lane in a vector. Flattening each plane to one row of H*W values turns
// it into a 1-d convolution over H with kernel KH*W, stride sh*W and padding pt*W, pb*W (for
// dilation_h 1): same memory layouts of x, weight and y, every lane used.
ConvShape fold_full_width(const ConvShape& s) {
  if (s.kernel_w != s.in_w || s.pad_left != 0 || s.pad_right != 0 || s.dilation_h != 1 || s.in_h == 1) return s;
  ConvShape f = s;
  f.in_w = s.in_h * s.in_w;
  f.kernel_w = s.kernel_h * s.in_w;
  f.stride_w = s.stride_h * s.in_w;
  f.dilation_w = 1;
  f.pad_left = s.pad_top * s.in_w;
  f.pad_right = s.pad_bottom * s.in_w;
  f.out_w = s.out_h;
  f.in_h = f.out_h = f.kernel_h = f.stride_h = 1;
  f.pad_top = f.pad_bottom = 0;
  return f;
}

// Whether a kernel as wide as its input (folded from `shape` to `s`) runs on the windows feed
// (conv_fwd_windows_simd.h): when the fold left no padding, so every window lies in its plane, and
// the weights fit in L2, which every tile reads whole (AVX-512 / AVX2 forward, windows -> strided
// feed, 1 thread: 16->16 1x8 on 2998x8 0.13 vs 0.24 / 0.17 vs 0.28 ms, 32->32 1x12 on 4x1000x12
// 1.0 vs 2.0-3.0 / 1.3-1.5 vs 2.3-2.9, 64->64 1x26 2.3-2.6 vs 3.8-4.6 / 3.5-3.7 vs 5.7-6.5, 128->128
// 1x8 (512 KiB of weights) 3.1-4.7 vs 3.7-4.8 / 4.4-6.0 vs 3.3-5.8; 256->256 1x8, 2 MiB: 12.8-15.3
// vs 12.9-14.7 / 19.5-19.9 vs 15.5-15.8 ms).
bool windows_feed(const ConvShape& shape, const ConvShape& s) {
  constexpr int64_t kMaxWeightBytes = 1 << 20;
  return s.in_h == 1 && shape.in_h > 1 && s.pad_left == 0 && s.pad_right == 0 &&
         s.out_channels * s.in_channels * s.kernel_w <= kMaxWeightBytes / 4;
}

void run_windows_forward(const SimdKernels& k, const ConvShape& s, const float* x, const float* weight,
                         const float* bias, float* y) {
  const int64_t width = k.tiling.width, window = s.kernel_w;
  const int64_t padded = ceil_div(s.out_channels, width) * width;
  const int64_t rows = checked_mul(s.in_channels, window, "packed weights");
  float* packed =
      scratch_floats(ScratchSlot::kPackedWeight, static_cast<size_t>(checked_mul(rows + 1, padded, "packed weights")));
  for (int64_t r = 0; r < rows; ++r) {
    const int64_t c = r / window, t = r % window;
    for (int64_t o = 0; o < padded; ++o) {
      packed[r * padded + o] = o < s.out_channels ? weight[(o * s.in_channels + c) * window + t] : 0.0f;
    }
  }
  float* packed_bias = packed + rows * padded;
  for (int64_t o = 0; o < padded; ++o) packed_bias[o] = bias && o < s.out_channels ? bias[o] : 0.0f;
  const WindowForward p{x, s.batch, s.in_channels, s.in_w, s.stride_w, window, packed, packed_bias,
                        s.out_channels, padded, s.out_w, y};
  const int64_t tiles = (s.out_w + kWindowRows - 1) / kWindowRows;
  ThreadPool::instance().parallel_for(s.batch * tiles, [&](int64_t b, int64_t e) { k.windows(p, b, e); });
}

// The input gradient on the windows feed (conv_bwd_data_windows_simd.h), for windows that do not
// overlap: values under no window (gaps between windows, rows past the last) are zeroed here.
void run_windows_backward_data(const SimdKernels& k, const ConvShape& s, const float* grad_y, const float* weight,
                               float* grad_x) {
  const int64_t width = k.tiling.width, window = s.kernel_w;
  const int64_t r_count = checked_mul(s.in_channels, window, "packed weights");
  const int64_t r_padded = ceil_div(r_count, width) * width;
  const int64_t block_width = k.tiling.window_grad_vectors * width;
  const int64_t blocks = (r_padded + block_width - 1) / block_width;
  float* packed = scratch_floats(
      ScratchSlot::kPackedWeight,
      static_cast<size_t>(checked_mul(checked_mul(blocks, s.out_channels, "packed weights"), block_width, "packed weights")));
  for (int64_t b = 0; b < blocks; ++b) {
    for (int64_t o = 0; o < s.out_channels; ++o) {
      float* to = packed + (b * s.out_channels + o) * block_width;
      for (int64_t l = 0; l < block_width; ++l) {
        const int64_t r = b * block_width + l;
        to[l] = r < r_count ? weight[o * r_count + r] : 0.0f;
      }
    }
  }
  std::vector<WindowSegment> segments;
  std::vector<int64_t> segment_begin;
  for (int64_t r0 = 0; r0 < r_padded; r0 += width) {
    segment_begin.push_back(static_cast<int64_t>(segments.size()));
    for (int64_t r = r0; r < std::min(r0 + width, r_count);) {
      const int64_t c = r / window, j = r % window, lanes = std::min(window - j, std::min(r0 + width, r_count) - r);
      segments.push_back({c * s.in_w + j, static_cast<int>(r - r0), static_cast<int>(r - r0 + lanes)});
      r += lanes;
    }
  }
  segment_begin.push_back(static_cast<int64_t>(segments.size()));
  const int64_t planes = s.batch * s.in_channels, covered = s.out_w * s.stride_w;
  ThreadPool::instance().parallel_for(planes, [&](int64_t b, int64_t e) {
    for (int64_t plane = b; plane < e; ++plane) {
      float* gx = grad_x + plane * s.in_w;
      if (s.stride_w > window) {
        for (int64_t h = 0; h < s.out_w; ++h) {
          const int64_t gap = h * s.stride_w + window, gap_end = std::min((h + 1) * s.stride_w, s.in_w);
          if (gap < gap_end) std::memset(gx + gap, 0, static_cast<size_t>(gap_end - gap) * sizeof(float));
        }
      }
      if (covered < s.in_w) std::memset(gx + covered, 0, static_cast<size_t>(s.in_w - covered) * sizeof(float));
    }
  });
  const WindowInputGrad p{grad_y, s.batch, s.out_channels, s.out_w, packed, r_padded, s.in_channels, s.in_w,
                          s.stride_w, segments.data(), segment_begin.data(), grad_x};
  const int64_t tiles = (s.out_w + k.tiling.window_grad_rows - 1) / k.tiling.window_grad_rows;
  ThreadPool::instance().parallel_for(s.batch * tiles * blocks, [&](int64_t b, int64_t e) { k.windows_grad(p, b, e); });
}

// The SIMD feeds skip taps that read only padding and, for the input gradient, multiply weights
// by grad_y's zero border, which torch never reads: with a NaN or inf weight (a diverged run) the
// NaN pattern would differ from torch's. Such weights take the scalar kernels, which compute what
// torch computes. Checking the weights costs C_out*C_in*KH*KW reads per call.
const SimdKernels* kernels_for_weights(Isa isa, const ConvShape& s, const float* weight) {
  const SimdKernels* k = simd_kernels(isa);
  if (k == nullptr || all_finite(weight, s.out_channels * s.in_channels * s.kernel_h * s.kernel_w)) return k;
  return nullptr;
}

}  // namespace

void conv_forward(Isa isa, const ConvShape& shape, const float* x, const float* weight, const float* bias, float* y) {
  const SimdKernels* k = kernels_for_weights(isa, shape, weight);
  if (k == nullptr) {
    conv_fwd_scalar(shape, x, weight, bias, y);
    return;
  }
  const ConvShape s = fold_full_width(shape);
  if (windows_feed(shape, s)) {
    run_windows_forward(*k, s, x, weight, bias, y);
    return;
  }
  if (winograd_applies(isa, s) && winograd_conv(isa, s, x, weight, bias, y, false)) return;
  const int64_t taps = s.kernel_h * s.kernel_w;
  if (flat_feed(s)) {
    FlatProblem f{x, s.batch, s.in_channels, s.in_h, s.in_w, {}, weight, s.in_channels * taps, taps, bias,
                  s.out_channels, s.out_h, s.out_w, y};
    for (int64_t i = 0; i < s.kernel_h; ++i) {
      for (int64_t j = 0; j < s.kernel_w; ++j) {
        f.taps.push_back({i * s.kernel_w + j, i * s.dilation_h - s.pad_top, j * s.dilation_w - s.pad_left});
      }
    }
    run_flat_forward(*k, f, ScratchSlot::kPackedInput);
    return;
  }
  const InputPlan plan = plan_input(s, x, !packed_feed(s.out_channels, s.in_channels, taps));
  CorrelateForward p{};
  p.src = plan.source;
  p.batch = s.batch;
  p.out_channels = s.out_channels;
  p.out_rows = s.out_h;
  p.out_length = s.out_w;
  p.row_step = s.stride_h;
  p.weight = weight;
  p.weight_out_stride = s.in_channels * taps;
  p.weight_in_stride = taps;
  p.bias = bias;
  p.out = y;
  p.out_batch_stride = s.out_channels * s.out_h * s.out_w;
  p.out_channel_stride = s.out_h * s.out_w;
  p.out_row_stride = s.out_w;
  run_forward(*k, p);
}

void conv_backward(Isa isa, const ConvShape& shape, const float* grad_y, const float* x, const float* weight,
                   const ConvGrads& grads) {
  const SimdKernels* k = simd_kernels(isa);
  const ConvShape s = k ? fold_full_width(shape) : shape;
  // A grad_y that a max-pool left mostly zero takes the sparse kernels (conv_sparse_grad.h).
  const bool sparse = k && sparse_grad_applies(isa, s) && grad_mostly_zero(s, grad_y);
  if (grads.grad_x) {
    const SimdKernels* kx = kernels_for_weights(isa, shape, weight);
    if (kx == nullptr) {
      conv_bwd_data_scalar(shape, grad_y, weight, grads.grad_x);
    } else if (sparse && sparse_input_grad_applies(isa, s)) {
      sparse_input_grad(isa, s, grad_y, weight, grads.grad_x);
    } else if (windows_feed(shape, s) && s.stride_w >= s.kernel_w) {
      run_windows_backward_data(*kx, s, grad_y, weight, grads.grad_x);
    } else if (!(winograd_applies(isa, s) && winograd_conv(isa, s, grad_y, weight, nullptr, grads.grad_x, true))) {
      simd_backward_data(*kx, s, grad_y, weight, grads.grad_x);
    }
  }
  const bool sparse_weights =
      grads.grad_weight && sparse && sparse_weight_grad(isa, s, grad_y, x, grads.grad_weight, grads.grad_bias);
  bool bias_done = sparse_weights;
  if (grads.grad_weight && !sparse_weights) {
    if (k) {
      // The GEMM kernel reads a full-width kernel's unfolded rows (one position per row) in place;
      // folded, each plane is first split into its W phases, a copy of x that took 40% of the
      // front end's 1x8 weight gradient (weight + bias 0.30-0.34 -> 0.17-0.18 ms, AVX-512).
      const ConvShape& ws = uses_dot_weight_grad(s) ? s : shape;
      simd_backward_weight(*k, ws, grad_y, plan_input(ws, x, false).source, grads.grad_weight, grads.grad_bias);
      bias_done = uses_dot_weight_grad(s);
    } else {
      conv_bwd_weight_scalar(s, grad_y, x, grads.grad_weight);
    }
  }
  if (grads.grad_bias && !bias_done) backward_bias(s, grad_y, grads.grad_bias);
}

int conv_winograd_tile_h(Isa isa, const ConvShape& s) {
  const ConvShape folded = fold_full_width(s);
  return winograd_applies(isa, folded) ? winograd_tile_h(isa, folded.batch, folded.out_h, folded.out_w) : 0;
}

bool conv_uses_sparse_weight_grad(Isa isa, const ConvShape& s) {
  return simd_kernels(isa) != nullptr && sparse_grad_applies(isa, fold_full_width(s));
}

bool conv_uses_sparse_input_grad(Isa isa, const ConvShape& s) {
  return simd_kernels(isa) != nullptr && sparse_input_grad_applies(isa, fold_full_width(s));
}

const char* conv_kernel_name(Isa isa, const char* direction) {
  const SimdKernels* k = simd_kernels(isa);
  if (std::strcmp(direction, "fwd") == 0) return k ? k->fwd_name : "conv_fwd_scalar";
  // The SIMD input gradient runs the forward kernel with transposed weights, or (scatter_input_grad)
  // the scatter kernel, which bwd_data_scatter names.
  if (std::strcmp(direction, "bwd_data") == 0) return k ? k->fwd_name : "conv_bwd_data_scalar";
  if (std::strcmp(direction, "bwd_data_scatter") == 0) return k ? k->bwd_data_name : "conv_bwd_data_scalar";
  if (std::strcmp(direction, "bwd_weight") == 0) return k ? k->wgrad_name : "conv_bwd_weight_scalar";
  // 3x3 stride-1 convolutions that winograd_applies to: the transforms (their products run on the GEMM kernel).
  if (std::strcmp(direction, "winograd") == 0) return k ? k->winograd_name : "conv_fwd_scalar";
  // Unpadded kernels as wide as their input that windows_feed takes (forward pass).
  if (std::strcmp(direction, "fwd_windows") == 0) return k ? k->windows_name : "conv_fwd_scalar";
  // Their input gradient, where the windows do not overlap.
  if (std::strcmp(direction, "bwd_data_windows") == 0) return k ? k->windows_grad_name : "conv_bwd_data_scalar";
  // The weight gradient of 3x3 stride-1 convolutions from a grad_y that is mostly zeros.
  if (std::strcmp(direction, "bwd_weight_sparse") == 0) return k ? k->sparse_wgrad_name : "conv_bwd_weight_scalar";
  // And their input gradient where sparse_input_grad_applies.
  if (std::strcmp(direction, "bwd_data_sparse") == 0) return k ? k->sparse_igrad_name : "conv_bwd_data_scalar";
  throw std::invalid_argument(std::string("ictus: unknown direction '") + direction +
                              "'; use fwd, bwd_data, bwd_data_scatter, bwd_weight, winograd, fwd_windows, "
                              "bwd_data_windows, bwd_weight_sparse or bwd_data_sparse");
}

}  // namespace ictus::cpu
