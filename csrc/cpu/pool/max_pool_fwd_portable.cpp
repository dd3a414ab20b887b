// Max-pool forward, portable vector C++: 16 outputs per vector. See max_pool_fwd_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/pool/max_pool_fwd_simd.h"

namespace ictus::cpu {

void max_pool_fwd_portable(const PoolProblem& p, int64_t begin, int64_t end) { max_pool_fwd_simd<Portable>(p, begin, end); }

}  // namespace ictus::cpu
