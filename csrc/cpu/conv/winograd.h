// Winograd F(2x2, 3x3), F(4x2, 3x3) and F(6x2, 3x3) for 3x3 convolutions at stride 1 without
// dilation (Lavin and Gray, "Fast Algorithms for Convolutional Neural Networks", 2016), nested:
// F(M, 3) along the rows (M = 2, 4 or 6), F(2, 3) along the columns. Every block of M x 2 outputs
// (a tile) is
//   y = A_M^T [ (G_M g G_2^T) . (B_M^T d B_2) ] A_2
// over the (M + 2) x 4 input patch d under it, so a tile costs 4(M + 2) multiplies per channel pair
// instead of 18M. Summed over input channels the element-wise products become 4(M + 2)
// independent GEMMs,
//   M_e (C_out x tiles) = U_e (C_out x C_in) V_e (C_in x tiles),  e = (i, j) of the patch,
// run by the GEMM kernel. Per output F(2x2) takes 4 multiplies, F(4x2) 3, F(6x2) 2.67; their
// float32 errors against float64 in a NumPy model (16..96 channels) are 1.5e-7 to 2e-7, 4e-7 to
// 5e-7 and 6e-7 to 8e-7, norm-wise. Two output columns per tile keep the transforms' lanes full on
// the field's narrow frequency axes (24 outputs: 12 tiles per row, where F(4x4)'s 6 would fill 6
// of 16 lanes). The transforms (weights to U, input patches to V, M to outputs) are SIMD kernels
// written once against the SIMD vocabulary (winograd_simd.h), vectorised over tiles that are
// neighbours along a row (over input channels for the weights). The input gradient of such a
// convolution is one too (grad_y convolved with the flipped, transposed weights), and runs here.
// Inputs with inf or NaN go to the direct kernels: Winograd's sums would turn inf into NaN where
// torch's direct sum keeps inf, or NaN into outputs that never read it.
#pragma once

#include <cstdint>

#include "common/conv_geometry.h"
#include "cpu/isa.h"

namespace ictus::cpu {

// A tile's output columns; its patch's elements (the GEMMs) for tile_h output rows.
inline constexpr int64_t kWinogradTileCols = 2;
inline constexpr int64_t winograd_elems(int64_t tile_h) { return 4 * (tile_h + 2); }

// One convolution's transforms. Tiles are numbered t = (n * tile_rows + th) * tile_cols + tw; tile
// (th, tw) computes output rows M th .. M th + M - 1 (M = tile_h) and columns 2tw, 2tw + 1 from the
// (M + 2) x 4 input patch at rows M th - pad_top, columns 2tw - pad_left (zero outside the input).
struct WinogradConv {
  const float* x;  // (batch, in_channels, in_h, in_w)
  int64_t batch, in_channels, in_h, in_w, pad_top, pad_left;
  int64_t out_channels, out_h, out_w;
  int tile_h;  // 2, 4 or 6
  int64_t tile_rows, tile_cols;
  // The weights as the convolution reads them: tap (i, j) of (o, c) at
  // weight[o * weight_out_stride + c * weight_in_stride + (flipped ? 8 - 3i - j : 3i + j)].
  const float* weight;
  int64_t weight_out_stride, weight_in_stride;
  bool flipped;
  float* u;  // winograd_elems(tile_h) x (out_channels x in_channels), row-major, u_stride apart: the GEMMs' A
  int64_t u_stride;
  const float* bias;  // nullable
  float* y;           // (batch, out_channels, out_h, out_w)
};

// A block of tiles [t_begin, t_end) (local index t - t_begin), run by one thread so that its
// matrices stay in L2. The matrices of each kind are aliasing-safe strides apart
// (cache_sets.h): the transforms touch all of them at once.
struct WinogradBlock {
  int64_t t_begin, t_end;
  // The GEMMs' B (in_channels x block tiles), each in the GEMM kernel's packed layout: panels of
  // `panel` tiles, in_channels x panel values each, zero past the last tile.
  float* v;
  int64_t panel, v_stride;
  // The GEMMs' C (out_channels x m_row_stride), rows padded (zeros) past the block's tiles so that
  // the output transform's vectors read inside.
  float* m;
  int64_t m_row_stride, m_stride;
};

// Per ISA: U from the weights for out-channels [begin, end); a block's V from x for in-channels
// [begin, end), false when a value it reads is inf or NaN (V then partly written); y from a
// block's M for out-channels [begin, end). The scalar ISA has none (its convolutions stay
// textbook sums).
struct WinogradKernels {
  int64_t min_channels;  // in and out, from which the variant beats its direct kernels (winograd.cpp)
  int64_t min_tiles_below_24_channels;  // tiles of 2x2 outputs it needs below 24 channels
  void (*weights)(const WinogradConv&, int64_t, int64_t);
  bool (*input)(const WinogradConv&, const WinogradBlock&, int64_t, int64_t);
  void (*output)(const WinogradConv&, const WinogradBlock&, int64_t, int64_t);
};
void winograd_weights_avx2(const WinogradConv& p, int64_t begin, int64_t end);
bool winograd_input_avx2(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end);
void winograd_output_avx2(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end);
void winograd_weights_avx512(const WinogradConv& p, int64_t begin, int64_t end);
bool winograd_input_avx512(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end);
void winograd_output_avx512(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end);
void winograd_weights_portable(const WinogradConv& p, int64_t begin, int64_t end);
bool winograd_input_portable(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end);
void winograd_output_portable(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end);

// The tile's output rows, 2, 4 or 6, for outputs (batch, out_h, out_w): the tile whose GEMMs, in
// whole panels of tiles, multiply least.
int winograd_tile_h(Isa isa, int64_t batch, int64_t out_h, int64_t out_w);
// Whether conv_forward runs shape s through Winograd under isa (3x3, stride 1, no dilation, enough
// channels, tiles and tile columns that the GEMMs dominate the transforms).
bool winograd_applies(Isa isa, const ConvShape& s);
// y = conv(x, weight) + bias for such a shape; with `input_gradient`, s is the forward convolution
// and the call computes its grad_x from grad_y (x = grad_y, y = grad_x, no bias). False, with
// nothing promised about y, when x holds inf or NaN: the caller runs the direct kernels.
bool winograd_conv(Isa isa, const ConvShape& s, const float* x, const float* weight, const float* bias, float* y,
                   bool input_gradient);

}  // namespace ictus::cpu
