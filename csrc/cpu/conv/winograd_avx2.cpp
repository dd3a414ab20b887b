// Winograd F(Mx2, 3x3) transforms (M = 2, 4, 6), AVX2: 8 lanes. See winograd_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/conv/winograd_simd.h"

namespace ictus::cpu {

void winograd_weights_avx2(const WinogradConv& p, int64_t begin, int64_t end) { winograd_weights_simd<Avx2>(p, begin, end); }
bool winograd_input_avx2(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  return winograd_input_simd<Avx2>(p, b, begin, end);
}
void winograd_output_avx2(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  winograd_output_simd<Avx2>(p, b, begin, end);
}

}  // namespace ictus::cpu
