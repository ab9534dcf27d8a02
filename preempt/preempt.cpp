// Asking a goroutine to yield (Go's preemptone), and the per-M set-up that
// asynchronous preemption needs.
//
// A request has two halves, as in Go:
//   - cooperative: g->preempt is set and g->stackguard0 poisoned with
//     kStackPreempt, which is above every stack pointer, so the G's next
//     yield point (GORT_YIELD_POINT, an instrumented function entry) takes
//     the slow path and yields (yield.cpp);
//   - asynchronous: one SIGURG to the G's M (tgkill), whose handler
//     (signal.cpp) makes the G yield from wherever it is, if that is a safe
//     point. At most one signal is in flight per M (m->signal_pending): a
//     storm of requests for a G stuck at unsafe points must not become a
//     storm of signals; sysmon asks again later.
// Either half may find the G gone (it parked or was switched out since the
// P was looked at); the other G on the M then sees a request it did not
// need and yields early, which is harmless. execute() clears both halves
// whenever a G starts running.
#include "preempt/preempt.h"

#include <signal.h>
#include <sys/mman.h>

#include "preempt/signal.h"
#include "runtime2.h"
#include "runtime/trace.h"
#include "sanitizer.h"

namespace gort::rt {

namespace {
// Large enough for the kernel's signal frame with the full extended state
// (AVX-512: ~3.5 KiB; AMX tiles: ~11 KiB) and the handler, which calls
// nothing deep.
constexpr std::size_t kSigStackSize = 64 * 1024;
}  // namespace

void preempt_init() {
  if (debug.preemptoff && debug.asyncpreemptoff) return;
  signal_init();
}

bool program_code_pc(std::uintptr_t pc) { return safepoints_ready() && async_safe_pc(pc); }

bool async_preempt_enabled() {
  // TSan runs signal handlers late, at its own points, with a context that
  // is not where the thread was: the signals would do nothing but cost.
  return !debug.asyncpreemptoff && !san::kTsan && signal_installed() && safepoints_ready();
}

// The handler runs on an alternate stack: the G's stack may have just a
// few hundred bytes left below its guard, and the kernel's frame for the
// extended state alone is larger than that.
void preempt_minit(M* mp) {
  stack_t cur;
  if (sigaltstack(nullptr, &cur) == 0 && !(cur.ss_flags & SS_DISABLE)) return;  // the program's own (m0): keep it
  void* mem = mmap(nullptr, kSigStackSize, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
  if (mem == MAP_FAILED) return;  // no altstack: the handler then runs on the G's stack and checks for room
  stack_t st{};
  st.ss_sp = mem;
  st.ss_size = kSigStackSize;
  if (sigaltstack(&st, nullptr) != 0) {
    munmap(mem, kSigStackSize);
    return;
  }
  mp->sigstack = mem;
}

void preempt_mexit(M* mp) {
  if (mp->sigstack == nullptr) return;
  stack_t st{};
  st.ss_flags = SS_DISABLE;
  sigaltstack(&st, nullptr);
  munmap(mp->sigstack, kSigStackSize);
  mp->sigstack = nullptr;
}

void ask_to_yield(G* gp, P* pp) {
  gp->preempt = true;
  gp->stackguard0.store(kStackPreempt, std::memory_order_relaxed);
  pp->preemptcount++;
}

void preemptone(P* pp) {
  M* mp = pp->m;
  if (mp == nullptr) return;
  G* gp = mp->curg.load_acquire();
  if (gp == nullptr || gp == mp->g0) return;
  ask_to_yield(gp, pp);
  const bool async = async_preempt_enabled() && mp->procid != 0;
  GORT_TRACE(GORT_TRACE_EV_PREEMPT_REQ, gp->goid, pp->id, async ? GORT_TRACE_PREEMPT_ASYNC : GORT_TRACE_PREEMPT_COOP);
  if (!async) return;
  if (mp->signal_pending.exchange(1) != 0) return;
  // mp and gp were read before: gp may have gone into a system call since
  // (entersyscall gave up the P), and a signal would interrupt a call the
  // kernel does not restart after a handler (poll, nanosleep: EINTR in the
  // user's fn). A Dekker pair with entersyscall, both seq_cst: it stores
  // Psyscall, then waits while signal_pending is set; this sets
  // signal_pending, then reads the P's status (and that mp still runs it:
  // an mp that went on to another P and a system call there gave this one
  // up before). Either the signal is not sent, or entersyscall takes it
  // before it enters the call.
  if (pp->status.load() != Prunning || pp->m != mp) {
    mp->signal_pending.store(0);
    return;
  }
  if (!signal_thread(mp->procid)) mp->signal_pending.store(0);
}

// Not the caller's own P: the caller is the one stopping the world.
void preemptall() {
  M* self = getm();
  P* mine = self ? static_cast<P*>(self->p) : nullptr;
  std::int32_t n = gomaxprocs.load();
  for (std::int32_t i = 0; i < n; ++i)
    if (allp[i] != mine && allp[i]->status.load() == Prunning) preemptone(allp[i]);
}

}  // namespace gort::rt
