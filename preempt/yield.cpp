// The slow path of a yield point (Go's morestack/newstack, for preemption
// only: gort's stacks do not grow), the instrumentation hooks that make every
// function entry a yield point, and what a preempted G does: yield, and come
// back on the same thread.
//
// Both kinds of preemption end in preempt_yield. The G goes to the global
// run queue (Go's gopreempt_m), so that every other runnable G on the
// machine gets a turn before it. If nothing else is runnable there is no
// switch at all: the G just starts a new time slice.
//
// Thread-local storage. A preempted G did not ask to stop: the compiler may
// hold the address of a thread_local or of errno (__errno_location is
// "const": its result is reused freely) in a register or stack slot across
// the very instruction where it stopped. If the G went on on another thread
// it would read and write the first thread's variables, while that thread
// runs other Gs. So a preempted G is locked to its M (lock_os_thread's
// machinery, lockosthread.cpp) until it runs again, and unlocked the moment
// it does: it resumes on the thread it left, and that thread runs nothing
// else meanwhile. A G that blocks or calls gort::gosched has called into
// gort and may resume anywhere, as documented for thread_local. The price:
// while other Gs are runnable, a preemption moves the P to another thread
// and back (two thread hand-offs, as for any locked G).
#include "gort/preempt.h"

#include <libunwind.h>

#include <cerrno>

#include "preempt/preempt.h"
#include "runtime2.h"
#include "traceback.h"

namespace gort::rt {

// The preempted G goes to the global run queue as for gosched (Go's
// gopreempt_m → goschedImpl), locked to this M unless it is locked to it
// already (lock_os_thread). Locked before it is queued: any M may take it
// from there. Returns whether it pinned gp.
bool pin_to_m(G* gp, M* mp) {
  if (gp->lockedm != nullptr) return false;
  gp->lockedm = mp;
  mp->lockedg = gp;
  gp->preemptpinned = true;
  return true;
}

// Running again, on mp: the one M allowed to run us.
void unpin_from_m(G* gp, M* mp) {
  gp->preemptpinned = false;
  gp->lockedm = nullptr;
  mp->lockedg = nullptr;
}

namespace {

void preempt_switch(G* gp, bool async) {
  M* mp = gp->m;
  gp->preempt = false;
  gp->stackguard0.store(gp->stack.lo + kStackGuard, std::memory_order_relaxed);
  // The P only with locks raised: sysmon may have taken it while the thread
  // was blocked, and then this is the way back (exitblocked, pinned).
  locks_inc(mp);
  if (mp->blockretake.load(std::memory_order_acquire) == kBlockRetaken) {
    mp->locks--;
    exitblocked(gp, /*pin=*/true);
    return;
  }
  P* pp = mp->p;
  if (!work_waiting(pp, 0)) {
    pp->schedtick++;
    pp->slicestart = cputicks();
    slicetimer_begin(mp, pp->slicestart);
    mp->locks--;
    return;
  }
  mp->locks--;
  // Pinned before the switch: if the P is taken before mcall gets there,
  // mcall's way back (exitblocked) must keep the G on this thread too.
  bool pinned = pin_to_m(gp, mp);
  mcall(async ? gopreempt_async_m : gopreempt_m);
  if (pinned) unpin_from_m(gp, mp);
}

// errno is the thread's, and the preempted code may be anywhere between
// setting it and reading it; the scheduler code that runs on this thread
// meanwhile (futex waits, timers) sets it too. A preempted G resumes on
// this same thread (pinned), so saving and restoring it here is exact.
void preempt_yield(G* gp, bool async) {
  const int saved_errno = errno;
  preempt_switch(gp, async);
  errno = saved_errno;
}

[[noreturn]] void stack_overflow(G* gp, std::uintptr_t sp) {
  // Less than kStackGuard of stack is left: print from the system stack,
  // walking the G's stack from a context captured here.
  unw_context_t ctx;
  unw_getcontext(&ctx);
  struct Args {
    G* gp;
    std::uintptr_t sp;
    unw_context_t* ctx;
  } args{gp, sp, &ctx};
  systemstack([](void* p) {
    auto* a = static_cast<Args*>(p);
    fatal_stack_overflow(a->gp, a->sp, a->ctx);
  }, &args);
  __builtin_unreachable();
}

}  // namespace

}  // namespace gort::rt

using namespace gort::rt;

// A yield point found sp below stackguard0: a preemption request (the guard
// is poisoned) or a stack about to overflow.
extern "C" void gort_morestack() noexcept {
  G* gp = getg();
  M* mp = getm();
  if (gp == nullptr || mp == nullptr || gp != mp->curg) return;
  auto sp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  // Not on the G's stack: a signal handler on an alternate stack, say.
  if (sp < gp->stack.lo || sp >= gp->stack.hi) return;
  if (sp < gp->stack.lo + kStackGuard) stack_overflow(gp, sp);
  if (gp->stackguard0.load(std::memory_order_relaxed) != kStackPreempt) return;
  // sysmon took the P while the thread was blocked, and poisoned the guard
  // so that the G comes back here: Go's exitsyscall, on this thread.
  if (mp->blockretake.load(std::memory_order_acquire) != kBlockNone && mp->locks == 0 && mp->preemptoff == 0) {
    const int saved_errno = errno;
    exitblocked(gp, /*pin=*/true);
    errno = saved_errno;
    return;
  }
  if (mp->locks > 0 || mp->preemptoff > 0 || !gp->preempt ||
      gp->atomicstatus.load(std::memory_order_relaxed) != Grunning) {
    // Not now. The request stays in gp->preempt: releasem_rearm (or
    // exitsyscall, for a G in a system call) poisons the guard again.
    gp->stackguard0.store(gp->stack.lo + kStackGuard, std::memory_order_relaxed);
    return;
  }
  sched.npreemptsync.fetch_add(1, std::memory_order_relaxed);
  preempt_yield(gp, /*async=*/false);
}

// Called by the trampoline (asyncpreempt_x86_64.S) with every register of
// the interrupted code saved below.
extern "C" __attribute__((visibility("hidden"))) void gort_async_preempt2() {
  G* gp = getg();
  preempt_yield(gp, /*async=*/true);
  gp->asyncpreempted = false;
}

// -finstrument-functions (gort_enable_yield_points) calls these at every
// function entry and exit of the instrumented code.
extern "C" __attribute__((no_instrument_function)) void __cyg_profile_func_enter(void*, void*) {
  GORT_YIELD_POINT();
}
extern "C" __attribute__((no_instrument_function)) void __cyg_profile_func_exit(void*, void*) {}
// clang's -finstrument-function-entry-bare: entry only, no arguments.
extern "C" __attribute__((no_instrument_function)) void __cyg_profile_func_enter_bare() { GORT_YIELD_POINT(); }
