// Winograd F(Mx2, 3x3) transforms (M = 2, 4, 6), AVX-512F: 16 lanes. See winograd_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/conv/winograd_simd.h"

namespace ictus::cpu {

void winograd_weights_avx512(const WinogradConv& p, int64_t begin, int64_t end) { winograd_weights_simd<Avx512>(p, begin, end); }
bool winograd_input_avx512(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  return winograd_input_simd<Avx512>(p, b, begin, end);
}
void winograd_output_avx512(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  winograd_output_simd<Avx512>(p, b, begin, end);
}

}  // namespace ictus::cpu
