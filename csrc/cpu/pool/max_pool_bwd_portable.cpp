// Max-pool backward gather, portable vector C++: 16 outputs per vector. See max_pool_bwd_simd.h.
#include "cpu/simd/vec_portable.h"
#include "cpu/pool/max_pool_bwd_simd.h"

namespace ictus::cpu {

bool max_pool_bwd_portable(const PoolGradProblem& p, int64_t begin, int64_t end) { return max_pool_bwd_simd<Portable>(p, begin, end); }

}  // namespace ictus::cpu
