// Winograd F(2x2, 3x3), F(4x2, 3x3) and F(6x2, 3x3) driver (winograd.h): picks the tile, plans
// the transforms and the GEMMs and spreads them over the thread pool.
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

constexpr int64_t kMinTiles = 36;  // of 2x2 outputs

// Where Winograd beats the direct kernels (Zen 4 guest, 1 thread, 3x3, C -> C, N = 1, forward and
// forward + backward). AVX-512: from 16 channels (C = 16 on the front end's 3000x26 2.82 vs 3.63
// ms forward, 6.70 vs 8.03 with the gradients; 100x105 0.39 vs 0.47; 13x13 even; C = 12 even,
// C = 8 slower), C = 32..128 on 13x13 1.2-2.0x forward, 1.1-1.6x for the input gradient. AVX2
// (8 lanes, smaller GEMM tiles), with F(4x2) and F(6x2): from 16 channels, and below 24 from 256
// tiles of 2x2 outputs (forward, ms, Winograd vs direct: C = 16 on 2998x26 2.73-2.89 vs
// 3.26-3.69, 48x24 0.043 vs 0.051, 40x40 0.067 vs 0.080, but 25x26 (169 tiles) 0.041 vs 0.036,
// 13x13 0.018 vs 0.014; C = 20 on 25x26 0.058 vs 0.054; C = 24 on 2998x26 5.3-5.6 vs 7.9-8.2,
// 100x105 0.70 vs 1.05, 25x26 0.071 vs 0.077; C = 32 on 13x13 0.046 vs 0.050). Portable: 2x forward
// from C = 16. All from 36 tiles: on 9x9 = 25 tiles they break even, below the O(C^2) weight
// transform dominates.
const WinogradKernels* winograd_kernels(Isa isa) {
  static const WinogradKernels portable{16, kMinTiles, winograd_weights_portable, winograd_input_portable,
                                        winograd_output_portable};
#if defined(ICTUS_X86)
  static const WinogradKernels avx2{16, 256, winograd_weights_avx2, winograd_input_avx2, winograd_output_avx2};
  static const WinogradKernels avx512{16, kMinTiles, winograd_weights_avx512, winograd_input_avx512,
                                      winograd_output_avx512};
  if (isa == Isa::kAvx2) return &avx2;
  if (isa == Isa::kAvx512) return &avx512;
#endif
  if (isa == Isa::kPortable) return &portable;
  return nullptr;
}

// The transforms' lanes run along a row of tiles, so narrow outputs leave lanes idle: Winograd
// needs 4 tile columns (out_w >= 7), 6 (out_w >= 11) below 24 channels, where the transforms weigh
// more against the products. Measured (AVX-512, N=1, forward): 3000 rows, C = 20 with 2 tile
// columns (5 bins) 1.7-2.4 vs 1.07 ms direct, C = 16 with 3 1.37 vs 1.10; 1000 rows, C = 16 with
// 4-5 0.48-0.56 vs 0.43-0.51, 6 0.61 vs 0.62, 8 0.65 vs 0.74; C = 24 with 4 0.86 vs 0.99, C = 32
// with 4 1.72 either way.
int64_t min_tile_cols(int64_t channels) { return channels < 24 ? 6 : 4; }
// The weight transform gathers filters through int32 offsets (up to 16 filters apart).
constexpr int64_t kMaxChannels = int64_t{1} << 20;
// A block's transformed inputs and products (4(M + 2) x (in + out channels) floats per tile) in about
// half of a 1 MiB L2, in whole GEMM panels, at least two.
constexpr int64_t kBlockTileBytes = int64_t{512} << 10;

int64_t winograd_tile_cols(int64_t out_w) { return (out_w + kWinogradTileCols - 1) / kWinogradTileCols; }
int64_t winograd_tiles(int64_t batch, int64_t out_h, int64_t out_w, int64_t tile_h) {
  return batch * ((out_h + tile_h - 1) / tile_h) * winograd_tile_cols(out_w);
}

}  // namespace

// The GEMMs' multiplies, tiles rounded up to whole panels: a tile of 2x2 outputs takes 16 GEMMs,
// 4x2 24, 6x2 32. On 13x13 outputs (49 F(2x2) tiles, 28 F(4x2), one 64-tile panel either way)
// F(4x2) was slower (AVX-512, C = 64: 0.164 vs 0.120 ms); on the front end's 2996x24 faster (C = 16:
// 2.09-2.11 vs 2.85-2.97 ms), and on 100x105 (C = 24: 0.57 vs 0.75 ms). Ties go to the taller
// tile: fewer transformed values per output.
int winograd_tile_h(Isa isa, int64_t batch, int64_t out_h, int64_t out_w) {
  const auto gemm_columns = [&](int64_t tile_h) {
    const int64_t tiles = winograd_tiles(batch, out_h, out_w, tile_h), panel = gemm_panel(isa, tiles);
    return winograd_elems(tile_h) * ((tiles + panel - 1) / panel) * panel;
  };
  int best = 2;
  for (int tile_h : {4, 6}) {
    if (gemm_columns(tile_h) <= gemm_columns(best)) best = tile_h;
  }
  return best;
}

namespace {

// A block's matrices, in this thread's scratch.
WinogradBlock plan_block(Isa isa, const WinogradConv& p, int64_t t_begin, int64_t t_end, int64_t panel) {
  WinogradBlock b{};
  b.t_begin = t_begin;
  b.t_end = t_end;
  const int64_t n = t_end - t_begin;
  b.panel = panel;
  b.v_stride = aliasing_safe_stride(gemm_packed_b_floats(isa, p.in_channels, n));
  b.v = scratch_floats(ScratchSlot::kWinogradTiles, static_cast<size_t>(winograd_elems(p.tile_h) * b.v_stride));
  b.m_row_stride = n + 16;  // the output transform's last vector may read 15 values past the tiles
  b.m_stride = aliasing_safe_stride(p.out_channels * b.m_row_stride);
  b.m = scratch_floats(ScratchSlot::kWinogradProducts, static_cast<size_t>(winograd_elems(p.tile_h) * b.m_stride));
  return b;
}

// M_e = U_e V_e for e in [begin, end), rows zero-padded past the block's tiles.
void block_products(Isa isa, const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  const int64_t n = b.t_end - b.t_begin;
  for (int64_t e = begin; e < end; ++e) {
    GemmArgs g{};
    g.m = p.out_channels;
    g.n = n;
    g.k = p.in_channels;
    g.a = p.u + e * p.u_stride;
    g.lda = p.in_channels;
    g.b = b.v + e * b.v_stride;
    g.b_packed = true;
    g.c = b.m + e * b.m_stride;
    g.ldc = b.m_row_stride;
    gemm_packed_on_this_thread(isa, g);
    for (int64_t o = 0; o < p.out_channels; ++o) {
      std::memset(g.c + o * g.ldc + n, 0, static_cast<size_t>(g.ldc - n) * sizeof(float));
    }
  }
}

}  // namespace

bool winograd_applies(Isa isa, const ConvShape& s) {
  const WinogradKernels* k = winograd_kernels(isa);
  return k != nullptr && s.kernel_h == 3 && s.kernel_w == 3 && s.stride_h == 1 && s.stride_w == 1 &&
         s.dilation_h == 1 && s.dilation_w == 1 && s.in_channels >= k->min_channels &&
         s.out_channels >= k->min_channels && s.pad_top <= 2 && s.pad_bottom <= 2 && s.pad_left <= 2 &&
         s.pad_right <= 2 &&
         winograd_tiles(s.batch, s.out_h, s.out_w, 2) >=
             (std::min(s.in_channels, s.out_channels) < 24 ? k->min_tiles_below_24_channels : kMinTiles) &&
         winograd_tile_cols(s.out_w) >= min_tile_cols(std::min(s.in_channels, s.out_channels)) &&
         s.in_channels <= kMaxChannels && s.out_channels <= kMaxChannels;
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
  p.tile_h = winograd_tile_h(isa, p.batch, p.out_h, p.out_w);
  p.tile_rows = (p.out_h + p.tile_h - 1) / p.tile_h;
  p.tile_cols = winograd_tile_cols(p.out_w);
  const int64_t elems = winograd_elems(p.tile_h);
  p.u_stride = aliasing_safe_stride(p.out_channels * p.in_channels);
  p.u = scratch_floats(ScratchSlot::kWinogradWeights, static_cast<size_t>(elems * p.u_stride));
  ThreadPool& pool = ThreadPool::instance();
  pool.parallel_for(p.out_channels, [&](int64_t b, int64_t e) { k->weights(p, b, e); });

  const int64_t tiles = p.batch * p.tile_rows * p.tile_cols;
  const int64_t panel = gemm_panel(isa, tiles);
  const int64_t tile_bytes = elems * (p.in_channels + p.out_channels) * int64_t{sizeof(float)};
  const int64_t block = panel * std::max<int64_t>(2, kBlockTileBytes / (tile_bytes * panel));
  const int64_t blocks = (tiles + block - 1) / block;
  std::atomic<bool> finite{true};
  // Too few blocks to share among the threads (C = 96 on 25x26: 91 F(4x2) tiles, blocks of 128):
  // one block of all tiles, each stage spread over the threads (channels, the products, channels).
  if (blocks < 2 * pool.num_threads()) {
    const WinogradBlock b = plan_block(isa, p, 0, tiles, panel);
    pool.parallel_for(p.in_channels, [&](int64_t begin, int64_t end) {
      if (!k->input(p, b, begin, end)) finite.store(false, std::memory_order_relaxed);
    });
    if (!finite.load()) return false;
    pool.parallel_for(elems, [&](int64_t begin, int64_t end) { block_products(isa, p, b, begin, end); });
    pool.parallel_for(p.out_channels, [&](int64_t begin, int64_t end) { k->output(p, b, begin, end); });
    return true;
  }
  pool.parallel_for(blocks, [&](int64_t begin, int64_t end) {
    for (int64_t item = begin; item < end && finite.load(std::memory_order_relaxed); ++item) {
      const WinogradBlock b = plan_block(isa, p, item * block, std::min(tiles, (item + 1) * block), panel);
      if (!k->input(p, b, 0, p.in_channels)) {
        finite.store(false, std::memory_order_relaxed);
        break;
      }
      block_products(isa, p, b, 0, elems);
      k->output(p, b, 0, p.out_channels);
    }
  });
  return finite.load();
}

}  // namespace ictus::cpu
