// Telling ASan and TSan about stack switches. Without this ASan reports
// false stack-buffer overflows on goroutine stacks and TSan mixes up the
// shadow call stacks of different goroutines. Compiled away otherwise.
#pragma once

#include <cstddef>

#include "runtime2.h"

#if defined(__SANITIZE_ADDRESS__)
#define GORT_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define GORT_ASAN 1
#endif
#endif
#if defined(__SANITIZE_THREAD__)
#define GORT_TSAN 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define GORT_TSAN 1
#endif
#endif

#if GORT_ASAN
#include <sanitizer/asan_interface.h>
#include <sanitizer/common_interface_defs.h>
#endif
#if GORT_TSAN
#include <sanitizer/tsan_interface.h>
#endif

namespace gort::rt::san {

#if GORT_TSAN
inline constexpr bool kTsan = true;
#else
inline constexpr bool kTsan = false;
#endif


// Under ASan a G lives on the heap, not at the top of its stack (g.cpp's
// malg): LeakSanitizer scans the heap from the roots it knows, and a G's
// timer and its callable's captures are reachable only from the G.
// (Registering each G as a root region instead made the leak check at exit
// take minutes: LSan walks the process's mappings once per region.)
#if GORT_ASAN
inline constexpr bool kGOnHeap = true;
#else
inline constexpr bool kGOnHeap = false;
#endif

inline void stack_of(G* gp, const void** bottom, std::size_t* size) {
  if (gp->m && gp == gp->m->g0) {
    *bottom = gp->m->g0_stack_bottom;
    *size = gp->m->g0_stack_size;
  } else {
    *bottom = reinterpret_cast<const void*>(gp->stack.lo);
    *size = gp->stack.hi - gp->stack.lo;
  }
}

// Before switching from the current stack to `to`'s. fake_stack_save keeps
// the leaving fiber's ASan fake stack; a G that is exiting passes
// leaving_for_good so that ASan frees it.
inline void switch_to([[maybe_unused]] void** fake_stack_save, [[maybe_unused]] G* to,
                      [[maybe_unused]] bool leaving_for_good) {
#if GORT_ASAN
  const void* bottom;
  std::size_t size;
  stack_of(to, &bottom, &size);
  __sanitizer_start_switch_fiber(leaving_for_good ? nullptr : fake_stack_save, bottom, size);
#endif
#if GORT_TSAN
  __tsan_switch_to_fiber(to->tsan_fiber, 0);
#endif
}

// First thing on the new stack after a switch.
inline void switched_back([[maybe_unused]] void* fake_stack_save) {
#if GORT_ASAN
  __sanitizer_finish_switch_fiber(fake_stack_save, nullptr, nullptr);
#endif
}

// systemstack: a call on g0's stack from a G, and back. TSan follows call
// stacks, not stack memory, so only ASan needs to know.
inline void switch_stack_begin([[maybe_unused]] G* g0) {
#if GORT_ASAN
  const void* bottom;
  std::size_t size;
  stack_of(g0, &bottom, &size);
  __sanitizer_start_switch_fiber(nullptr, bottom, size);
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}
inline void switch_stack_end([[maybe_unused]] G* gp) {
#if GORT_ASAN
  const void* bottom;
  std::size_t size;
  stack_of(gp, &bottom, &size);
  __sanitizer_start_switch_fiber(nullptr, bottom, size);
  __sanitizer_finish_switch_fiber(nullptr, nullptr, nullptr);
#endif
}

// A G ends without returning from its last frames (gort_goroutine_main and
// the exit path, g.cpp): ASan's redzones around their locals stay
// poisoned, and the next goroutine on the stack would trip over them.
// [lo, hi): from the G's last saved sp to the top of its stack.
inline void unpoison_stack([[maybe_unused]] std::uintptr_t lo, [[maybe_unused]] std::uintptr_t hi) {
#if GORT_ASAN
  __asan_unpoison_memory_region(reinterpret_cast<const void*>(lo), hi - lo);
#endif
}

inline void* new_fiber() {
#if GORT_TSAN
  return __tsan_create_fiber(0);
#else
  return nullptr;
#endif
}
inline void* current_fiber() {
#if GORT_TSAN
  return __tsan_get_current_fiber();
#else
  return nullptr;
#endif
}

}  // namespace gort::rt::san
