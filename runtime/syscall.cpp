// System calls: entersyscall and exitsyscall (Go's proc.go), behind
// gort::syscall (gort/syscall.h).
//
// A goroutine about to block in the kernel keeps its M (the thread is the one
// that blocks) but must not keep its P, or every G queued on the P would wait
// for the call too. Handing the P to another M on every call would cost two
// thread switches even for calls that return at once, so Go does it lazily,
// and so does gort:
//
//   entersyscall: the G becomes Gsyscall; the P becomes Psyscall and is
//     detached from the M (p->m = nullptr, m->p = nullptr, m->oldp = p).
//     Nobody owns the P now, but nobody takes it yet either.
//   sysmon (retake, sysmon.cpp): a P that has been in Psyscall for
//     kSyscallHandoffNs while it has work (or while no other M could take
//     work) is taken with a CAS Psyscall → Pidle and handed to another M.
//   exitsyscall: fast path, the CAS Psyscall → Pidle on the old P succeeds
//     (nobody took it): the G continues on it, no switch. Otherwise any idle
//     P. Otherwise exitsyscall0 on g0: the G goes to the global run queue
//     and the M stops (or, if the G is locked to this M, waits for it).
//
// The CAS on p->status is what makes the P's ownership unambiguous: the
// syscall's M, sysmon and stop the world all race for a Psyscall P with a
// CAS from Psyscall, and exactly one wins.
//
// Different from Go:
//  - The entry time is stamped on the P (p->syscallwhen): sysmon hands the P
//    off as soon as the call has lasted 20 µs, instead of needing to see the
//    same syscalltick twice (20 µs to 10 ms later, depending on how deeply
//    sysmon sleeps), and entersyscall wakes sysmon when its current sleep
//    would make the hand-off late (sysmon_wake). A nanotime() per call is the
//    price (a vDSO read, ~20 ns).
//  - syscalltick is incremented on entry, not on exit, so that while a P is
//    in Psyscall its tick names the current call (sysmon compares it with
//    what it saw last round).
//  - errno is carried to the thread the G resumes on, and fn may be any C++
//    callable that may throw (the guard in gort/syscall.h).
#include <signal.h>

#include <cerrno>

#include "gort/syscall.h"
#include "preempt/preempt.h"
#include "runtime2.h"
#include "trace.h"

namespace gort::rt {

namespace {

// The world is being stopped and our P has just gone to Psyscall: give it to
// stop the world now, instead of waiting for sysmon or for the call to end
// (Go's entersyscall_gcwait).
void entersyscall_gcwait(P* pp) {
  sched.lock.lock();
  std::uint32_t s = Psyscall;
  if (sched.stopwait > 0 && pp->status.compare_exchange_strong(s, Pgcstop)) {
    pp->syscalltick++;
    if (--sched.stopwait == 0) sched.stopnote.wakeup();
  }
  sched.lock.unlock();
}

// Tries to get a P for a G leaving a system call without switching: its old
// P if nobody took it, else an idle one.
bool exitsyscallfast(P* oldp) {
  std::uint32_t s = Psyscall;
  if (oldp != nullptr && oldp->status.load(std::memory_order_relaxed) == Psyscall &&
      oldp->status.compare_exchange_strong(s, Pidle)) {
    // There's a cpu for us, so we can run. (acquirep: Pidle → Prunning.)
    acquirep(oldp);
    return true;
  }
  if (sched.npidle.load(std::memory_order_relaxed) > 0) {
    sched.lock.lock();
    P* pp = pidleget();
    sched.lock.unlock();
    if (pp != nullptr) {
      acquirep(pp);  // wakes sysmon if it sleeps because every P was idle
      return true;
    }
  }
  return false;
}

// exitsyscall's slow path, on g0: no P was free. gp becomes runnable and
// goes to the global queue; this M has no P and stops (schedule_loop), or,
// if gp is locked to it, waits for someone to hand gp back with a P
// (stoplockedm, also from schedule_loop).
G* exitsyscall0(G* gp) {
  M* mp = getm();
  casgstatus(gp, Gsyscall, Grunnable);
  dropg(mp, gp);
  sched.lock.lock();
  P* pp = pidleget();  // a P may have become idle since exitsyscallfast looked
  if (pp == nullptr) globrunqput(gp);
  sched.lock.unlock();
  if (pp != nullptr) {
    acquirep(pp);
    return gp;  // run it at once on this M
  }
  // globrunqput gave gp away: another M may already be running it. What
  // happens to this M now depends only on this M's own lockedg (gp can run
  // elsewhere only if it is not locked here), so schedule_loop decides.
  return nullptr;
}

// errno is *__errno_location(), a function declared const: within one
// function the compiler may compute the address once and reuse it after
// mcall, when the G may be on another thread. Writing it in a function of
// its own that is never inlined nor analysed makes it the current thread's.
#if defined(__clang__)
__attribute__((noinline))
#else
__attribute__((noinline, noipa))
#endif
void set_errno(int v) {
  errno = v;
}

}  // namespace

// A G leaving a system call that must not wait for a P (it holds a runtime
// lock and is about to park: mcall from gopark, after a blocked-M retake).
// It takes its old P or an idle one if free; if not, it parks without a P
// (park_m needs none) and its M stops in schedule_loop.
void exitsyscall_nowait(M* mp, G* gp) {
  gp->waitsince = 0;
  P* oldp = mp->oldp;
  mp->oldp = nullptr;
  const bool got = exitsyscallfast(oldp);
  casgstatus(gp, Gsyscall, Grunning);
  // Without a P it runs only to park (park_m): no run slice on a P, and
  // its GO_PARK follows.
  const std::uint64_t p = got ? static_cast<std::uint64_t>(mp->p->id) : GORT_TRACE_NO_P;
  GORT_TRACE(GORT_TRACE_EV_GO_SYSEXIT, gp->goid, p);
  if (got) GORT_TRACE(GORT_TRACE_EV_GO_START, gp->goid, p);
}

}  // namespace gort::rt

namespace gort::detail {

using namespace gort::rt;

namespace {
// entersyscall's wait for a preemption signal already decided on for its
// thread (the other half of the pair is in preemptone: it claims
// signal_pending, sees the P still running, and sends). The signal arrives
// within microseconds of the tgkill; but the sender may be off its CPU
// between the claim and the tgkill for as long as the kernel likes (under
// ctest -j3 on 2 CPUs a 200 µs bound let one EINTR through in 2000
// calls). So: PAUSEs for kSignalInFlightSpinNs, then sched_yield (the
// sender may be queued on this very CPU), up to kSignalInFlightMaxNs, a
// bound only for a SIGURG handler that is not gort's any more. A thread
// that has SIGURG blocked does not wait: the signal stays pending, as
// before. Only when signal_pending is set: rare, and then a few µs.
constexpr std::int64_t kSignalInFlightSpinNs = 200'000;
constexpr std::int64_t kSignalInFlightMaxNs = 20'000'000;

void wait_signal_in_flight(M* mp) {
  sigset_t mask;
  if (pthread_sigmask(SIG_BLOCK, nullptr, &mask) != 0 || sigismember(&mask, SIGURG) == 1) return;
  const std::int64_t start = nanotime();
  for (std::int64_t now = start; mp->signal_pending.load(std::memory_order_seq_cst) != 0; now = nanotime()) {
    if (now - start >= kSignalInFlightMaxNs) return;
    if (now - start < kSignalInFlightSpinNs)
      procyield(10);
    else
      osyield();
  }
}
}  // namespace

bool entersyscall() noexcept {
  M* mp = getm();
  if (mp == nullptr) return false;  // a thread gort did not make: it may block as it likes
  G* gp = mp->curg;
  if (gp == nullptr || getg() != gp) return false;  // g0 or sysmon: runtime code
  // Not preemptible while the G's, M's and P's states disagree, and the P
  // is read only with locks raised (blockretake.cpp).
  locks_inc(mp);
  // Nested, or the P was taken while the thread was blocked (an implicit
  // system call, left at the next entry into gort): the P is already given up.
  if (readgstatus(gp) == Gsyscall) {
    mp->locks--;
    return false;
  }
  P* pp = mp->p;
  std::int64_t now = nanotime();
  slicetimer_disarm(mp);  // no EINTR from the slice timer in fn
  gp->syscallsp = reinterpret_cast<std::uintptr_t>(__builtin_frame_address(0));
  gp->syscallpc = reinterpret_cast<std::uintptr_t>(__builtin_return_address(0));
  casgstatus(gp, Grunning, Gsyscall);
  // sysmon sleeps deeply while every P is idle or the world is stopping;
  // this P is about to need it (Go's entersyscall_sysmon).
  if (sched.sysmonwait.load(std::memory_order_relaxed)) wake_sysmon();
  pp->syscalltick++;
  pp->syscallwhen = now;
  pp->syscallm = mp;
  pp->m = nullptr;
  mp->oldp = pp;
  mp->p = nullptr;
  // Recorded before Psyscall is published: from then on sysmon may hand the
  // P off, and its PROC_HANDOFF must come later in the trace (a thread
  // descheduled between the two put the call 2.5 ms after the hand-off:
  // trace_record_test's StartedAgainAndAgain failed once in 30 runs).
  GORT_TRACE(GORT_TRACE_EV_GO_SYSCALL, gp->goid, pp->id);
  // seq_cst: sysmon publishes sysmonwhen and then looks for Psyscall Ps;
  // we store Psyscall and then read sysmonwhen (in sysmon_wake). One of the
  // two sees the other, so the hand-off is never left to a 10 ms sleep.
  pp->status.store(Psyscall, std::memory_order_seq_cst);
  // A preemption signal that preemptone decided on before that store may
  // still be on its way: take it here, where the handler only clears
  // signal_pending (locks are raised), and not in fn, where it would
  // interrupt the call with EINTR.
  if (mp->signal_pending.load(std::memory_order_seq_cst) != 0) wait_signal_in_flight(mp);
  if (sched.gcwaiting.load(std::memory_order_relaxed)) entersyscall_gcwait(pp);
  sysmon_wake(now + kSyscallHandoffNs);
  mp->locks--;
  return true;
}

void exitsyscall() noexcept {
  // gort::run has returned or is returning: the caller's static destructors
  // may be running, and no goroutine code may run under them. Not m0: it
  // must get back to its scheduler to return from gort::run (a goroutine
  // that blocked m0's thread outside gort::syscall, retaken, comes back
  // here from its last mcall once main has returned).
  M* mp = getm();
  if (sched.exiting.load(std::memory_order_acquire) && mp != m0) park_forever();
  G* gp = mp->curg;
  if (readgstatus(gp) != Gsyscall) fatal("exitsyscall: goroutine %lld is not in a system call", static_cast<long long>(gp->goid));
  locks_inc(mp);
  gp->waitsince = 0;
  P* oldp = mp->oldp;
  mp->oldp = nullptr;
  if (exitsyscallfast(oldp)) {
    casgstatus(gp, Gsyscall, Grunning);
    GORT_TRACE(GORT_TRACE_EV_GO_SYSEXIT, gp->goid, mp->p->id);
    GORT_TRACE(GORT_TRACE_EV_GO_START, gp->goid, mp->p->id);
    mp->locks--;
    // A preemption requested before or during the call is still owed: a
    // yield point inside fn must not yield (the G has no P) and leaves the
    // request pending, so re-arm it here (Go restores stackguard0 the same way).
    if (gp->preempt) gp->stackguard0.store(kStackPreempt, std::memory_order_relaxed);
    return;
  }
  mp->locks--;
  GORT_TRACE(GORT_TRACE_EV_GO_SYSEXIT, gp->goid, GORT_TRACE_NO_P);
  // The scheduler may resume us on another thread: fn's errno comes along.
  int saved_errno = errno;
  mcall(exitsyscall0);
  set_errno(saved_errno);
}

}  // namespace gort::detail
