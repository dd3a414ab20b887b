// Max-pool backward gather, AVX2: 8 outputs per vector. See max_pool_bwd_simd.h.
#include "cpu/simd/vec_avx2.h"
#include "cpu/pool/max_pool_bwd_simd.h"

namespace ictus::cpu {

bool max_pool_bwd_avx2(const PoolGradProblem& p, int64_t begin, int64_t end) { return max_pool_bwd_simd<Avx2>(p, begin, end); }

}  // namespace ictus::cpu
