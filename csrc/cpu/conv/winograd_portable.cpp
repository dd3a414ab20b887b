// Winograd F(Mx2, 3x3) transforms (M = 2, 4, 6), portable vector C++: 16 lanes. See winograd_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/conv/winograd_simd.h"

namespace ictus::cpu {

void winograd_weights_portable(const WinogradConv& p, int64_t begin, int64_t end) { winograd_weights_simd<Portable>(p, begin, end); }
bool winograd_input_portable(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  return winograd_input_simd<Portable>(p, b, begin, end);
}
void winograd_output_portable(const WinogradConv& p, const WinogradBlock& b, int64_t begin, int64_t end) {
  winograd_output_simd<Portable>(p, b, begin, end);
}

}  // namespace ictus::cpu
