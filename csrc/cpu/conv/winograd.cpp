// Winograd F(2x2, 3x3) driver (winograd.h): plans the transforms and the 16 GEMMs and spreads them
// over the thread pool.
#include "cpu/conv/winograd.h"

#include <algorithm>
#include <atomic>
#include <cstring>

#include "common/check.h"
#include "common/scratch.h"
#include "common/thread_pool.h"
#include "cpu/cache_sets.h"
#include "cpu/gemm/gemm.h"

namespace ictus::cpu {
namespace {

const WinogradKernels* winograd_kernels(Isa isa) {
  static const WinogradKernels portable{winograd_weights_portable, winograd_input_portable, winograd_output_portable};
#if defined(ICTUS_X86)
  static const WinogradKernels avx2{winograd_weights_avx2, winograd_input_avx2, winograd_output_avx2};
  static const WinogradKernels avx512{winograd_weights_avx512, winograd_input_avx512, winograd_output_avx512};
  if (isa == Isa::kAvx2) return &avx2;
  if (isa == Isa::kAvx512) return &avx512;
#endif
  if (isa == Isa::kPortable) return &portable;
  return nullptr;
}

// Where Winograd beats the direct kernels (Zen 4 guest, 1 thread, 'same' 3x3, C -> C): from 32
// channels (C = 24 on 100x105: 1.04 vs 1.03 ms) and 36 tiles (C = 32..128: 9x9 = 25 tiles
// break even, 13x13 = 49 tiles run 1.4-2.1x faster forward, 1.2-1.6x for the input gradient; below,
// the O(C^2) weight transform dominates). Past 2^26 floats of transformed inputs and products
// (256 MiB of scratch) the direct kernels, which need none, run instead.
constexpr int64_t kMinChannels = 32;
constexpr int64_t kMinTiles = 36;
constexpr int64_t kMaxScratchFloats = int64_t{1} << 26;

int64_t winograd_tiles(int64_t batch, int64_t out_h, int64_t out_w) { return batch * ((out_h + 1) / 2) * ((out_w + 1) / 2); }

}  // namespace

bool winograd_applies(Isa isa, const ConvShape& s) {
  return winograd_kernels(isa) != nullptr && s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 1 &&
         s.stride_w == 1 && s.dilation_h == 1 && s.dilation_w == 1 && s.in_channels >= kMinChannels &&
         s.out_channels >= kMinChannels && s.pad_top <= 2 && s.pad_bottom <= 2 && s.pad_left <= 2 &&
         s.pad_right <= 2 && winograd_tiles(s.batch, s.out_h, s.out_w) >= kMinTiles &&
         winograd_tiles(s.batch, std::max(s.in_h, s.out_h), std::max(s.in_w, s.out_w)) <=
             kMaxScratchFloats / (16 * (s.in_channels + s.out_channels));
}

bool winograd_conv(Isa isa, const ConvShape& s, const float* x, const float* weight, const float* bias, float* y,
                   bool input_gradient) {
  const WinogradKernels* k = winograd_kernels(isa);
  ICTUS_CHECK(k != nullptr && winograd_applies(isa, s), "winograd_conv: shape or ISA not supported");
  WinogradConv p{};
  p.x = x;
  p.batch = s.batch;
  p.weight = weight;
  p.y = y;
  if (!input_gradient) {
    p.in_channels = s.in_channels;
    p.in_h = s.in_h;
    p.in_w = s.in_w;
    p.pad_top = s.pad_top;
    p.pad_left = s.pad_left;
    p.out_channels = s.out_channels;
    p.out_h = s.out_h;
    p.out_w = s.out_w;
    p.weight_out_stride = s.in_channels * 9;
    p.weight_in_stride = 9;
    p.bias = bias;
  } else {  // grad_x = grad_y correlated with W'(c, o) = weight[o][c] flipped, padded by 2 - pad
    p.in_channels = s.out_channels;
    p.in_h = s.out_h;
    p.in_w = s.out_w;
    p.pad_top = 2 - s.pad_top;
    p.pad_left = 2 - s.pad_left;
    p.out_channels = s.in_channels;
    p.out_h = s.in_h;
    p.out_w = s.in_w;
    p.weight_out_stride = 9;
    p.weight_in_stride = s.in_channels * 9;
    p.flipped = true;
  }
  p.tile_rows = (p.out_h + 1) / 2;
  p.tile_cols = (p.out_w + 1) / 2;
  p.tiles = winograd_tiles(p.batch, p.out_h, p.out_w);
  p.panel = gemm_panel(isa, p.tiles);
  p.v_stride = aliasing_safe_stride(gemm_packed_b_floats(isa, p.in_channels, p.tiles));
  p.m_row_stride = p.tiles + 16;  // the output transform's last vector may read 15 values past the tiles
  p.m_stride = aliasing_safe_stride(checked_mul(p.out_channels, p.m_row_stride, "Winograd products"));
  p.u_stride = aliasing_safe_stride(p.out_channels * p.in_channels);
  p.u = scratch_floats(ScratchSlot::kWinogradWeights, static_cast<size_t>(16 * p.u_stride));
  p.v = scratch_floats(ScratchSlot::kWinogradTiles, static_cast<size_t>(checked_mul(16, p.v_stride, "Winograd tiles")));
  float* m = scratch_floats(ScratchSlot::kWinogradProducts, static_cast<size_t>(checked_mul(16, p.m_stride, "Winograd products")));
  p.m = m;

  ThreadPool& pool = ThreadPool::instance();
  std::atomic<bool> finite{true};
  pool.parallel_for(p.batch * p.in_channels, [&](int64_t b, int64_t e) {
    if (!k->input(p, b, e)) finite.store(false, std::memory_order_relaxed);
  });
  if (!finite.load()) return false;
  pool.parallel_for(p.out_channels, [&](int64_t b, int64_t e) { k->weights(p, b, e); });
  pool.parallel_for(16, [&](int64_t begin, int64_t end) {
    for (int64_t e = begin; e < end; ++e) {
      GemmArgs g{};
      g.m = p.out_channels;
      g.n = p.tiles;
      g.k = p.in_channels;
      g.a = p.u + e * p.u_stride;
      g.lda = p.in_channels;
      g.b = p.v + e * p.v_stride;
      g.b_packed = true;
      g.c = m + e * p.m_stride;
      g.ldc = p.m_row_stride;
      gemm_packed_on_this_thread(isa, g);
      for (int64_t o = 0; o < p.out_channels; ++o) {  // the padding that the output transform reads
        std::memset(g.c + o * g.ldc + p.tiles, 0, static_cast<size_t>(g.ldc - p.tiles) * sizeof(float));
      }
    }
  });
  pool.parallel_for(p.batch * p.out_channels, [&](int64_t b, int64_t e) { k->output(p, b, e); });
  return true;
}

}  // namespace ictus::cpu
