// lock_os_thread: a goroutine wired to its M (Go's LockOSThread, and the
// scheduler's side of it: stoplockedm, startlockedm).
//
// Locking sets m->lockedg = g and g->lockedm = m. The invariant is: a locked
// G runs only on its M, and that M runs nothing else. The scheduler keeps it
// in two places (schedule_loop, proc.cpp), as Go's schedule() does:
//
//   - When the M's locked G stops running (parks, yields, is preempted, or
//     its syscall lost the P), the M must not look for other work: it gives
//     its P away (handoffp) and sleeps (stoplockedm) until some M hands the G
//     back to it, together with a P.
//   - When an M's find_runnable returns a G locked to another M (the G was
//     readied onto our queue, or stolen, like any other), the M does not run
//     it: it gives its P to the G's M, wakes that M (startlockedm), and
//     stops itself. The locked M then runs the G with our P.
//
// So a switch away from and back to a locked G costs two thread hand-offs.
//
// sched.nmidlelocked counts Ms asleep in stoplockedm: they are not idle
// (they cannot take work) but not running either, and checkdead must count
// them out to report "all goroutines are asleep" when a locked G waits for
// nothing.
//
// A locked G that ends takes its thread with it (goexit0 sets
// m->exitlocked, schedule_loop calls mexit): it may have locked the thread
// because it changed the thread's state (namespace, signal mask, priority),
// and the next goroutine must not inherit that.
#include "gort/thread.h"

#include "runtime2.h"

namespace gort::rt {

// sched.lock not held. A positive change may complete a deadlock.
void incidlelocked(std::int32_t v) {
  sched.lock.lock();
  sched.nmidlelocked += v;
  if (v > 0) checkdead();
  sched.lock.unlock();
}

// pp was just released by an M whose locked G stopped. If the G that should
// run next (pp's queue is empty: the head of the global queue) is itself
// locked to an M waiting here in stoplockedm, pp goes straight to that M.
// This is the common case after preemption, which locks each preempted G to
// its thread (preempt/yield.cpp): Gs taking turns on a P each wait on their
// own M. The general path would wake a third M only for it to find the G
// and hand pp on (startlockedm): two thread wake-ups per switch, not one.
namespace {
bool handoff_to_locked(P* pp) {
  if (!runqempty(pp)) return false;
  sched.lock.lock();
  G* gp = globrunqpeek();
  M* lm = gp ? static_cast<M*>(gp->lockedm) : nullptr;
  if (sched.gcwaiting.load() || sched.exiting.load() || lm == nullptr || !lm->blocked || lm->lockedg != gp ||
      lm->nextp != nullptr) {
    sched.lock.unlock();
    return false;
  }
  globrunqget(pp, 1);  // gp
  sched.nmidlelocked--;  // lm is about to run (startlockedm's incidlelocked(-1))
  sched.lock.unlock();
  lm->nextp = pp;
  lm->park.wakeup();
  return true;
}
}  // namespace

// Stops mp, whose locked G is not running, until the G is runnable again
// and handed to it by startlockedm. Returns with a P (or without one when
// the program is exiting).
void stoplockedm(M* mp) {
  G* lg = mp->lockedg;
  if (lg == nullptr || lg->lockedm != mp) fatal("stoplockedm: inconsistent locking");
  if (mp->p) {
    // Schedule another M to run this P.
    P* pp = releasep();
    if (!handoff_to_locked(pp)) handoffp(pp);
  }
  sched.lock.lock();
  // main_exited wakes m0 only if it sees it blocked; it sets exiting before
  // looking (under this lock), so checking here cannot miss it.
  if (sched.exiting.load()) {
    sched.lock.unlock();
    return;
  }
  sched.nmidlelocked++;
  mp->blocked = true;
  checkdead();
  sched.lock.unlock();
  // Wait until another thread schedules lockedg again.
  mp->park.sleep();
  mp->park.clear();
  mp->blocked = false;
  if (sched.exiting.load()) return;
  std::uint32_t status = readgstatus(lg);
  if ((status & ~Gscan) != Grunnable)
    fatal("stoplockedm: locked goroutine %lld is %s, not runnable", static_cast<long long>(lg->goid),
          gstatus_string(status));
  acquirep(mp->nextp);
  mp->nextp = nullptr;
}

// Hands the current M's P to gp's locked M and wakes it. The caller owns gp
// (it took it off a run queue) and, having no P afterwards, stops.
void startlockedm(G* gp) {
  M* mp = getm();
  M* lm = gp->lockedm;
  if (lm == mp) fatal("startlockedm: locked to me");
  if (lm->nextp) fatal("startlockedm: m has p");
  // Directly hand off the current P to the locked M.
  incidlelocked(-1);
  P* pp = releasep();
  lm->nextp = pp;
  lm->park.wakeup();
}

}  // namespace gort::rt

namespace gort {

using namespace gort::rt;

namespace {
// The calling goroutine, or nullptr off one (a foreign thread, g0, sysmon).
G* locking_g() {
  M* mp = getm();
  if (mp == nullptr) return nullptr;
  G* gp = mp->curg;
  return (gp != nullptr && getg() == gp) ? gp : nullptr;
}
}  // namespace

// No switch happens in here, and runtime code is never preempted
// asynchronously, so the M read at the top is the G's M throughout.
void lock_os_thread() {
  G* gp = locking_g();
  if (gp == nullptr) return;
  M* mp = gp->m;
  if (++mp->lockedext == 0) {
    mp->lockedext--;
    fatal("lock_os_thread nesting overflow");
  }
  mp->lockedg = gp;
  gp->lockedm = mp;
}

void unlock_os_thread() {
  G* gp = locking_g();
  if (gp == nullptr) return;
  M* mp = gp->m;
  if (mp->lockedext == 0) return;
  if (--mp->lockedext != 0) return;
  mp->lockedg = nullptr;
  gp->lockedm = nullptr;
}

}  // namespace gort
