// Max-pool forward, AVX2: 8 outputs per vector. See max_pool_fwd_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/pool/max_pool_fwd_simd.h"

namespace ictus::cpu {

void max_pool_fwd_avx2(const PoolProblem& p, int64_t begin, int64_t end) { max_pool_fwd_simd<Avx2>(p, begin, end); }

}  // namespace ictus::cpu
