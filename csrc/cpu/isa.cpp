#include "cpu/isa.h"

#include <cstdlib>
#include <stdexcept>

#if defined(ICTUS_X86)
#include <cpuid.h>
#endif

namespace ictus::cpu {
namespace {

#if defined(ICTUS_X86)
unsigned long long xgetbv0() {
  unsigned eax = 0, edx = 0;
  __asm__ volatile("xgetbv" : "=a"(eax), "=d"(edx) : "c"(0));
  return (static_cast<unsigned long long>(edx) << 32) | eax;
}

Isa detect() {
  unsigned a = 0, b = 0, c = 0, d = 0;
  if (!__get_cpuid(1, &a, &b, &c, &d)) return Isa::kPortable;
  const bool fma = c & (1u << 12), osxsave = c & (1u << 27), avx = c & (1u << 28);
  if (!(fma && osxsave && avx)) return Isa::kPortable;
  const unsigned long long xcr0 = xgetbv0();
  if ((xcr0 & 0x6) != 0x6) return Isa::kPortable;  // XMM and YMM state
  if (!__get_cpuid_count(7, 0, &a, &b, &c, &d)) return Isa::kPortable;
  const bool avx2 = b & (1u << 5);
  if (!avx2) return Isa::kPortable;
  const bool avx512 = (b & (1u << 16)) && (b & (1u << 17)) && (b & (1u << 30)) && (b & (1u << 31));  // F DQ BW VL
  const bool zmm_state = (xcr0 & 0xe6) == 0xe6;  // opmask, ZMM_Hi256, Hi16_ZMM
  return (avx512 && zmm_state) ? Isa::kAvx512 : Isa::kAvx2;
}
#else
Isa detect() { return Isa::kPortable; }
#endif

Isa detected() {
  static const Isa isa = detect();
  return isa;
}

}  // namespace

const char* isa_name(Isa isa) {
  switch (isa) {
    case Isa::kScalar: return "scalar";
    case Isa::kPortable: return "portable";
    case Isa::kAvx2: return "avx2";
    case Isa::kAvx512: return "avx512";
  }
  return "unknown";
}

Isa parse_isa(const std::string& name) {
  for (Isa isa : {Isa::kScalar, Isa::kPortable, Isa::kAvx2, Isa::kAvx512}) {
    if (name == isa_name(isa)) return isa;
  }
  throw std::invalid_argument("ictus: unknown CPU ISA '" + name +
                              "'; use one of scalar, portable, avx2, avx512");
}

bool isa_supported(Isa isa) { return static_cast<int>(isa) <= static_cast<int>(detected()); }

Isa active_isa() {
  static const Isa isa = [] {
    const char* cap = std::getenv("ICTUS_CPU_ISA");
    if (cap == nullptr || *cap == '\0') return detected();
    const Isa wanted = parse_isa(cap);  // an unknown name fails the import with a clear message
    return static_cast<int>(wanted) < static_cast<int>(detected()) ? wanted : detected();
  }();
  return isa;
}

}  // namespace ictus::cpu
