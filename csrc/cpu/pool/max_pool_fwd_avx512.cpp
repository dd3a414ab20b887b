// Max-pool forward, AVX-512F: 16 outputs per vector, tails and -inf padding through opmasks. See max_pool_fwd_simd.h.
#include "cpu/simd/vec_avx512.h"
#include "cpu/pool/max_pool_fwd_simd.h"

namespace ictus::cpu {

void max_pool_fwd_avx512(const PoolProblem& p, int64_t begin, int64_t end) { max_pool_fwd_simd<Avx512>(p, begin, end); }

}  // namespace ictus::cpu
