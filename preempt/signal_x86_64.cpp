// x86-64: reading and rewriting a signal context for asynchronous
// preemption, and the size of the register state the trampoline saves.
#include <cpuid.h>

#include "preempt/signal.h"

extern "C" {
void gort_async_preempt();  // asyncpreempt_x86_64.S
// Read by the trampoline: how many bytes xsave writes for every component
// XCR0 enables (CPUID leaf 0xD), or 512 for fxsave on a CPU without XSAVE.
__attribute__((visibility("hidden"))) std::uint32_t gort_xsave_size = 512;
__attribute__((visibility("hidden"))) std::uint8_t gort_have_xsave = 0;
}

namespace gort::rt {

namespace {
// The interrupted function's red zone, which the System V ABI lets a leaf
// keep data in below rsp: the injected return address goes below it.
constexpr std::uintptr_t kRedZone = 128;
}  // namespace

void arch_preempt_init() {
  unsigned a, b, c, d;
  // CPUID.1:ECX.OSXSAVE: the OS has enabled XSAVE (and so XCR0 is valid).
  if (__get_cpuid(1, &a, &b, &c, &d) && (c & bit_OSXSAVE) && __get_cpuid_max(0, nullptr) >= 0xD) {
    __cpuid_count(0xD, 0, a, b, c, d);
    // EBX: the size of the XSAVE area for the features XCR0 enables now.
    if (b >= 576) {
      gort_xsave_size = b;
      gort_have_xsave = 1;
    }
  }
}

std::size_t arch_async_frame_size() {
  // Red zone + return address, 16 saved words, the extended state with its
  // 64-byte alignment, and the scheduler's frames below the trampoline
  // (gort_async_preempt2 → mcall → gort_swapctx: well under 4 KiB).
  return kRedZone + 8 + 16 * 8 + gort_xsave_size + 64 + 4096;
}

std::uintptr_t ctx_pc(const ucontext_t* uc) { return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]); }
std::uintptr_t ctx_sp(const ucontext_t* uc) { return static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]); }

// The frame the trampoline expects (see asyncpreempt_x86_64.S): the
// interrupted rip stored at rsp - 136, just below the red zone, and rsp
// pointing at it, as if the interrupted instruction had called from there.
void ctx_inject_async_preempt(ucontext_t* uc) {
  greg_t* r = uc->uc_mcontext.gregs;
  std::uintptr_t sp = static_cast<std::uintptr_t>(r[REG_RSP]) - kRedZone - 8;
  *reinterpret_cast<std::uintptr_t*>(sp) = static_cast<std::uintptr_t>(r[REG_RIP]);
  r[REG_RSP] = static_cast<greg_t>(sp);
  r[REG_RIP] = reinterpret_cast<greg_t>(&gort_async_preempt);
}

}  // namespace gort::rt
