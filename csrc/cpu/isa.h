// Which instruction sets the CPU kernels may use. Chosen once per process from CPUID and XGETBV
// (the OS must save the wide registers), capped by ICTUS_CPU_ISA=scalar|portable|avx2|avx512.
#pragma once

#include <string>

namespace ictus::cpu {

// Ordered from the most portable to the fastest.
enum class Isa : int { kScalar = 0, kPortable = 1, kAvx2 = 2, kAvx512 = 3 };

const char* isa_name(Isa isa);
// Whether this CPU and OS can run kernels of `isa`.
bool isa_supported(Isa isa);
// The best supported ISA, capped by ICTUS_CPU_ISA; what dispatch uses.
Isa active_isa();
// Parses an ISA name; throws std::invalid_argument for an unknown one.
Isa parse_isa(const std::string& name);

}  // namespace ictus::cpu
