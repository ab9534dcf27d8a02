// Switching between a G and its M's g0, and the thread-local "current G".
//
// The scheduler runs on g0, the thread's own stack. A G leaves its M with
// mcall(fn): it saves its registers on its stack (gort_swapctx), g0 resumes
// in run_g below and runs fn(G) there — fn decides what becomes of the G
// (parked, requeued, dead) — and then schedules the next G. A G is resumed
// by run_g, which switches from g0 to the G's saved context. One shortcut,
// which Go does not take: a G that parks or ends when the scheduler would
// only take the next G of its P's queue switches to that G directly
// (switch_direct), and its parking or end is finished on the other side
// (switched_in). So the G that comes back to g0 is not always the one
// run_g started: it is m->curg.
//
// Three things must travel with a switch besides registers:
//  - the current G pointer (thread-local gort_tls_g),
//  - the C++ exception state (__cxa_get_globals: caught exceptions and the
//    uncaught count are per thread, but belong to the G),
//  - the sanitizers' idea of the current stack (ASan fake stacks, TSan fibers).
#include <cxxabi.h>

#include <utility>

#include "runtime2.h"
#include "sanitizer.h"

extern "C" void gort_swapctx(gort::rt::Gobuf* from, const gort::rt::Gobuf* to);
extern "C" void gort_systemstack_switch(void (*fn)(void*), void* arg, std::uintptr_t sp);

namespace gort::rt {

namespace {
const std::uintptr_t kNoGuard = 0;  // off a goroutine: no sp is below it, a yield point never fires

// Swap the thread's C++ exception globals with the ones stored in gp. Done
// once before a G runs and once after it switches out, on g0: the thread
// then has the G's state exactly while the G runs, and g0's otherwise. The
// address is per thread, so the M keeps it (looking it up costs a call into
// libstdc++ and a __tls_get_addr).
void swap_eh(M* mp, G* gp) {
  if (mp->eh_globals == nullptr) mp->eh_globals = abi::__cxa_get_globals();
  std::swap(*static_cast<EhGlobals*>(mp->eh_globals), gp->eh);
}
}  // namespace

}  // namespace gort::rt

// The current G and M (getg and getm in runtime2.h read them in asm).
// initial-exec: the runtime is a static library linked into the program, so
// its TLS sits at a fixed offset from %fs and needs no __tls_get_addr call
// (the default for -fPIC code), which would cost more than a context switch.
extern "C" {
__attribute__((tls_model("initial-exec"))) thread_local gort::rt::G* gort_tls_g = nullptr;
__attribute__((tls_model("initial-exec"))) thread_local gort::rt::M* gort_tls_m = nullptr;
}

// What GORT_YIELD_POINT reads (gort/preempt.h): the running G's stackguard0,
// or kNoGuard. Kept in step with gort_tls_g by setg and run_g. extern "C" and
// initial-exec because the yield point's inline asm names it.
extern "C" {
__attribute__((tls_model("initial-exec"))) thread_local const std::uintptr_t* gort_tls_stackguard = &gort::rt::kNoGuard;
}

namespace gort::rt {

// Where the yield point of code running as gp looks. g0's stackguard0 is 0:
// the scheduler and systemstack code never yield.
inline const std::uintptr_t* guard_of(G* gp) {
  return gp ? reinterpret_cast<const std::uintptr_t*>(&gp->stackguard0) : &kNoGuard;
}

// Not inlined: a caller that switches goroutines after it must not be left
// holding the TLS addresses it wrote through (noipa: nor may GCC deduce
// what it does; clang never does that for a function it cannot see into).
#if defined(__clang__)
__attribute__((noinline))
#else
__attribute__((noipa))
#endif
void setg(G* gp) {
  gort_tls_g = gp;
  gort_tls_stackguard = guard_of(gp);
  gort_tls_m = gp ? static_cast<M*>(gp->m) : nullptr;
}

void acquirem() {
  if (M* mp = getm()) locks_inc(mp);
}
void releasem() {
  if (M* mp = getm()) releasem(mp);
}

// On g0: run gp until it switches back with mcall. Returns what the mcall
// function returned (a G to run next without a trip through the scheduler).
// g0 never changes threads, so run_g may write the thread-locals directly.
G* run_g(M* mp, G* gp) {
  swap_eh(mp, gp);
  gort_tls_g = gp;
  gort_tls_stackguard = guard_of(gp);
  san::switch_to(&mp->g0->asan_fake_stack, gp, /*leaving_for_good=*/false);
  gort_swapctx(&mp->g0->sched, &gp->sched);
  san::switched_back(mp->g0->asan_fake_stack);
  gort_tls_g = mp->g0;
  gort_tls_stackguard = &kNoGuard;
  // The G that called mcall: gp, or one that gp (or a G after it) switched
  // to directly when it parked (switch_direct).
  G* from = mp->curg;
  swap_eh(mp, from);
  auto fn = mp->mcall_fn;
  mp->mcall_fn = nullptr;
  G* next = fn(from);
  mp->locks--;  // mcall's (fn has dropped the G: sysmon no longer looks at this M)
  return next;
}

// m->locks stays raised from here until fn has dropped the G on g0, and
// from execute() until the G runs again (below, and gort_goroutine_main):
// while m->curg is set but the thread runs the scheduler, sysmon must not
// take the P for a blocked G (blockretake.cpp).
void mcall(G* (*fn)(G*), bool exiting) {
  // A G that lost its P while blocked (blockretake.cpp) leaves that state
  // first: exitsyscall, which may wait for a P. Not while it holds a runtime
  // lock (gopark from a channel or semaphore): then it takes a free P if
  // there is one, or parks without one, and the M stops.
  M* mp = getm();
  locks_inc(mp);
  if (mp->blockretake.load(std::memory_order_acquire) == kBlockRetaken) {
    if (mp->locks > 1) {
      exitblocked_nowait(mp);
    } else {
      // exitblocked may move the G to another M: gopark's unlock function
      // goes with it (set on this M before the call).
      UnlockFnPtr unlockf = mp->waitunlockf;
      void* lock = mp->waitlock;
      mp->waitunlockf = nullptr;
      mp->waitlock = nullptr;
      mp->locks--;
      exitblocked(mp->curg, /*pin=*/false);
      mp = acquirem_p();
      mp->waitunlockf = unlockf;
      mp->waitlock = lock;
    }
  }
  G* gp = mp->curg;
  mp->mcall_fn = fn;
  san::switch_to(&gp->asan_fake_stack, mp->g0, exiting);
  gort_swapctx(&gp->sched, &mp->g0->sched);
  // Resumed, possibly on another M: nothing read from TLS above is valid.
  switched_in(gp->asan_fake_stack);
}

// A G switched to (run_g, switch_direct) resumes here, or in
// gort_goroutine_main if it never ran: the sanitizers learn where they
// are, a G that parked by switching here directly finishes parking, and
// the count execute raised is lowered (sysmon may look at this M again).
void switched_in(void* asan_fake_stack) {
  san::switched_back(asan_fake_stack);
  M* mp = getm();
  if (mp->parkedg)
    finish_park_direct(mp);
  else if (mp->exitedg)
    finish_exit_direct(mp);
  mp->locks--;  // execute's
}

// gp parks or ends, and next, already made current by execute, takes the
// thread from it without a trip through g0 (proc.cpp's direct_next says
// when). What run_g does around its switch, but from one G to another: the
// exception state goes back to the thread's own and then to next's, the
// thread-locals name next. The switch lands where next last left (its own
// mcall or switch_direct) or at its start, which call switched_in.
void switch_direct(M* mp, G* gp, G* next, bool exiting) {
  swap_eh(mp, gp);
  swap_eh(mp, next);
  gort_tls_g = next;
  gort_tls_stackguard = guard_of(next);
  san::switch_to(&gp->asan_fake_stack, next, exiting);
  gort_swapctx(&gp->sched, &next->sched);
  // gp runs again, possibly on another M (never if it ended).
  switched_in(gp->asan_fake_stack);
}

void systemstack(void (*fn)(void*), void* arg) {
  M* mp = getm();
  G* gp = getg();
  if (mp == nullptr || gp == mp->g0) {
    fn(arg);
    return;
  }
  // g0 is suspended inside run_g at g0->sched.sp; the space below it, past
  // the red zone, is free for as long as this G holds the M.
  std::uintptr_t sp = mp->g0->sched.sp - 256;
  locks_inc(mp);  // the thread runs runtime code (dumps, libdw) that may block: not a blocked G
  san::switch_stack_begin(mp->g0);
  setg(mp->g0);
  gort_systemstack_switch(fn, arg, sp);
  setg(gp);
  san::switch_stack_end(gp);
  mp->locks--;
}

}  // namespace gort::rt
