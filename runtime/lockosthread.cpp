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

#include <sched.h>

#include "runtime2.h"

namespace gort::rt {

namespace {
// A direct hand-off: lm is to run the caller's P, and the caller, whose
// G ran on this CPU until now, is about to sleep. Woken as usual, lm would
// be put on an idle CPU, and on a VM an idle vCPU has halted: waking it
// costs an IPI and the hypervisor's wake-up (23 µs median on the 2-vCPU
// VM, against 2.5 µs on the waker's own CPU, which the waker is about to
// leave). So lm is woken on the caller's CPU alone (its CPU set narrowed
// first, if that CPU is in it) and puts its own set back once it runs
// (handoff_unpin): the kernel has no "wake here" for futexes. Three system
// calls, ~2 µs all told (0.2 to read lm's set, 1.2 to narrow it, 0.7 to
// put it back). Not where the set has one CPU, nor with
// GORTDEBUG=handoffcpu=0. A program that changes a locked thread's CPU set
// itself keeps it: lm's set is read each time.
//
// Only from an M whose G has just stopped (stoplockedm), not from one that
// was woken to find a locked G (startlockedm): the kernel chose that one's
// CPU a moment ago, maybe beside a busy thread (start_the_world's caller
// on the same CPU: stops took twice as long with the G's thread pinned
// there).
void wake_here(M* lm) {
  int cpu;
  if (debug.handoffcpu && lm->procid != 0 && !lm->handoffpinned && (cpu = sched_getcpu()) >= 0 && cpu < CPU_SETSIZE &&
      sched_getaffinity(lm->procid, sizeof lm->handoffcpus, &lm->handoffcpus) == 0 &&
      CPU_ISSET(cpu, &lm->handoffcpus) && CPU_COUNT(&lm->handoffcpus) > 1) {
    cpu_set_t here;
    CPU_ZERO(&here);
    CPU_SET(cpu, &here);
    // Read by lm after its wake-up (the note orders it).
    lm->handoffpinned = sched_setaffinity(lm->procid, sizeof here, &here) == 0;
    if (lm->handoffpinned) sched.nhandoffcpu.fetch_add(1, std::memory_order_relaxed);
  }
  lm->park.wakeup();
}

// On the woken M's own thread, before it runs anything.
void handoff_unpin(M* mp) {
  if (!mp->handoffpinned) return;
  mp->handoffpinned = false;
  sched_setaffinity(0, sizeof mp->handoffcpus, &mp->handoffcpus);
}
}  // namespace

// sched.lock not held. A positive change may complete a deadlock.
void incidlelocked(std::int32_t v) {
  sched.lock.lock();
  sched.nmidlelocked += v;
  if (v > 0) checkdead();
  sched.lock.unlock();
}

// pp was just released by an M whose locked G stopped. If the G that should
// run next (pp's runnext, or with pp's queue empty the head of the global
// queue) is itself locked to an M waiting here in stoplockedm, pp goes
// straight to that M. That is the common case after preemption, which
// locks each preempted G to its thread (preempt/yield.cpp): Gs taking
// turns on a P each wait on their own M; and between locked Gs that hand
// each other values over channels (the receiver is readied into runnext).
// The general path would wake a third M only for it to find the G and hand
// pp on (startlockedm): two thread wake-ups per switch, not one. Go takes
// that path.
namespace {
bool handoff_to_locked(P* pp) {
  G* next = pp->runnext.load();
  if (next == nullptr && !runqempty(pp)) return false;
  sched.lock.lock();
  G* gp = next != nullptr ? next : globrunqpeek();
  M* lm = gp ? static_cast<M*>(gp->lockedm) : nullptr;
  if (sched.gcwaiting.load() || sched.exiting.load() || lm == nullptr || !lm->blocked || lm->lockedg != gp ||
      lm->nextp != nullptr || (next != nullptr && !pp->runnext.compare_exchange_strong(next, nullptr))) {
    sched.lock.unlock();
    return false;
  }
  if (next == nullptr) globrunqget(pp, 1);  // gp
  sched.nmidlelocked--;  // lm is about to run (startlockedm's incidlelocked(-1))
  sched.lock.unlock();
  lm->nextp = pp;
  wake_here(lm);
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
  handoff_unpin(mp);
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
