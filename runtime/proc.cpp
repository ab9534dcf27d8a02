// The scheduler: find a runnable G and run it (Go's proc.go).
//
// Every M runs schedule_loop on its g0. The loop asks find_runnable for a G,
// runs it until it switches back (mcall), lets the mcall function decide the
// G's fate, and goes round again. find_runnable looks, in order, at:
//   1. every 61st schedtick, one G of the global queue (fairness: otherwise
//      two Gs that keep readying each other on one P starve the global queue);
//   2. the local runnext and ring;
//   3. the global queue (a batch);
//   4. the netpoller, without blocking, if any G waits for I/O;
//   5. other Ps: steal half of a random victim's ring, several rounds, in the
//      last round also their runnext and their due timers;
// and then gives the P up and stops the M (after re-checking everything, so
// that no work submitted meanwhile is missed: see the "spinning" comments).
// The last M to stop first blocks in the netpoller (netpoll.cpp) until I/O
// is ready or the earliest timer is due.
//
// Spinning Ms: an M looking for work without finding it yet is spinning. At
// most half the busy Ps' worth of Ms spin at once. A spinning M that finds
// work calls wakep() to wake another one in its place; that way bursts of new
// work spread over idle Ps without waking every thread for every G.
#include <climits>

#include "netpoll.h"
#include "runtime2.h"
#include "trace.h"

namespace gort::rt {

// Every status transition is made by the one party that owns the G at that
// moment (the M running it, the waker that took it off a wait queue under a
// lock, the code that took it off a run queue), so a checked store suffices;
// Go needs a CAS only because its GC sets a scan bit concurrently, and gort's
// stop-the-world scans happen with the world stopped.
void casgstatus(G* gp, std::uint32_t oldval, std::uint32_t newval) {
  std::uint32_t v = gp->atomicstatus.load(std::memory_order_relaxed);
  if (v == oldval) {
    gp->atomicstatus.store(newval, std::memory_order_release);
    return;
  }
  fatal("casgstatus: bad incoming values: goroutine %lld has status %s, expected %s (to %s)",
          static_cast<long long>(gp->goid), gstatus_string(v), gstatus_string(oldval), gstatus_string(newval));
}

namespace {

G* globrunqget_locked(P* pp, std::int32_t max) {
  sched.lock.lock();
  G* gp = globrunqget(pp, max);
  sched.lock.unlock();
  return gp;
}

// A different random permutation of 0..n-1 per call: a random start and a
// random step coprime with n (Go's randomOrder).
struct RandomOrder {
  std::uint32_t n, pos, inc, i = 0;
  explicit RandomOrder(std::uint32_t count) : n(count) {
    pos = fastrandn(n);
    inc = 1;
    if (n > 1) {
      std::uint32_t start = fastrandn(n - 1) + 1;
      for (std::uint32_t k = 0; k < n; ++k) {
        std::uint32_t c = (start + k - 1) % (n - 1) + 1;
        std::uint32_t a = c, b = n;
        while (b) {
          std::uint32_t t = a % b;
          a = b;
          b = t;
        }
        if (a == 1) {
          inc = c;
          break;
        }
      }
    }
  }
  bool done() const { return i == n; }
  std::uint32_t position() const { return pos; }
  void next() {
    ++i;
    pos = (pos + inc) % n;
  }
};

// Stop the current M for the duration of a stop-the-world.
void gcstopm() {
  M* mp = getm();
  if (!sched.gcwaiting.load()) fatal("gcstopm: not waiting for gc");
  if (mp->spinning) {
    mp->spinning = false;
    GORT_TRACE(GORT_TRACE_EV_M_SPIN, 0);
    if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("gcstopm: negative nmspinning");
  }
  P* pp = releasep();
  sched.lock.lock();
  pp->status.store(Pgcstop);
  if (--sched.stopwait == 0) sched.stopnote.wakeup();
  sched.lock.unlock();
  stopm(/*may_exit=*/false);
}

// Looks for work on other Ps. *new_work: timers ran or the world is
// stopping, so the caller should look again from the top.
G* steal_work(M* mp, std::int64_t now, bool* inherit_time, bool* new_work, std::int64_t* poll_until) {
  P* pp = mp->p;
  bool ran_timer = false;
  constexpr int kStealTries = 4;
  for (int i = 0; i < kStealTries; ++i) {
    bool steal_timers_or_runnext = i == kStealTries - 1;
    std::int32_t n = gomaxprocs.load(std::memory_order_relaxed);
    for (RandomOrder e(static_cast<std::uint32_t>(n)); !e.done(); e.next()) {
      if (sched.gcwaiting.load(std::memory_order_relaxed) || sched.exiting.load(std::memory_order_relaxed)) {
        *new_work = true;
        return nullptr;
      }
      P* p2 = allp[e.position()];
      if (p2 == pp) continue;
      // Timers of p2 are due and p2's M may be busy or gone: run them here.
      // Only on the last round, so that plain stealing is tried first.
      if (steal_timers_or_runnext) {
        std::int64_t w = p2->timer0when.load(std::memory_order_acquire);
        if (w != 0 && w <= now) {
          std::int64_t next = checktimers(p2, now);
          ran_timer = true;
          if (next != 0 && (*poll_until == 0 || next < *poll_until)) *poll_until = next;
          // Running a timer may have readied a G onto our P.
          if (G* gp = runqget(pp, inherit_time)) return gp;
        } else if (w != 0 && (*poll_until == 0 || w < *poll_until)) {
          *poll_until = w;
        }
      }
      if (p2->status.load(std::memory_order_relaxed) != Pidle) {
        if (G* gp = runqsteal(pp, p2, steal_timers_or_runnext)) {
          *inherit_time = false;
          return gp;
        }
      }
    }
  }
  *new_work = ran_timer;
  return nullptr;
}

// Gs the netpoller made ready: the first is the one to run (runnable now),
// the rest are queued (injectglist). nullptr if the list is empty.
G* run_first(GList list, bool* inherit_time) {
  G* gp = list.pop();
  if (gp == nullptr) return nullptr;
  injectglist(list);
  casgstatus(gp, Gwaiting, Grunnable);
  GORT_TRACE(GORT_TRACE_EV_GO_READY, gp->goid, 0);
  gp->waitreason = WaitReason::Zero;
  *inherit_time = false;
  return gp;
}

// Finds a runnable G, blocking (stopm) until there is one. nullptr means the
// program is exiting.
G* find_runnable(M* mp, bool* inherit_time) {
top:
  if (sched.exiting.load(std::memory_order_relaxed)) return nullptr;
  P* pp = mp->p;
  if (sched.gcwaiting.load(std::memory_order_relaxed)) {
    gcstopm();
    goto top;
  }

  std::int64_t poll_until = checktimers(pp, 0);

  // Fairness: every 61st schedtick look at the global queue first.
  if (pp->schedtick % 61 == 0 && sched.runqsize.load(std::memory_order_relaxed) > 0) {
    if (G* gp = globrunqget_locked(pp, 1)) {
      *inherit_time = false;
      return gp;
    }
  }

  if (G* gp = runqget(pp, inherit_time)) return gp;

  if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
    if (G* gp = globrunqget_locked(pp, 0)) {
      *inherit_time = false;
      return gp;
    }
  }

  // The netpoller, without blocking: an optimisation before stealing. Not
  // while another M blocks in it (it will hand over what it finds).
  if (netpoll_waiters() > 0 && !sched.polling.load(std::memory_order_relaxed)) {
    if (G* gp = run_first(netpoll(0), inherit_time)) {
      sched.lastpoll.store(nanotime(), std::memory_order_relaxed);
      return gp;
    }
  }

  // Spinning Ms: steal work from other Ps. Limit the number of spinning Ms
  // to half the number of busy Ps: this keeps CPU use reasonable when
  // GOMAXPROCS>1 but parallelism is low.
  {
    std::int32_t procs = gomaxprocs.load(std::memory_order_relaxed);
    if (mp->spinning ||
        2 * sched.nmspinning.load(std::memory_order_relaxed) < procs - sched.npidle.load(std::memory_order_relaxed)) {
      if (!mp->spinning) {
        mp->spinning = true;
        GORT_TRACE(GORT_TRACE_EV_M_SPIN, 1);
        sched.nmspinning.fetch_add(1);
      }
      bool new_work = false;
      if (G* gp = steal_work(mp, nanotime(), inherit_time, &new_work, &poll_until)) return gp;
      if (new_work) goto top;  // there may be new timer or GC work; restart to discover it
    }
  }

  // Nothing to do: give up the P. Before dropping it, look at the global
  // queue once more with the lock held.
  sched.lock.lock();
  if (sched.gcwaiting.load() || sched.exiting.load()) {
    sched.lock.unlock();
    goto top;
  }
  if (sched.runqsize.load(std::memory_order_relaxed) != 0) {
    G* gp = globrunqget(pp, 0);
    sched.lock.unlock();
    *inherit_time = false;
    return gp;
  }
  if (releasep() != pp) fatal("findrunnable: wrong p");
  pidleput(pp);
  sched.lock.unlock();

  // Delicate dance: a thread transitions from spinning to non-spinning, while
  // a producer may submit work concurrently. The producer does
  // "submit work; if nmspinning == 0 and an idle P exists, wake an M", we do
  // "nmspinning--; re-check all queues". Either we see the work or the
  // producer sees nmspinning == 0 and our idle P, and wakes someone.
  bool was_spinning = mp->spinning;
  if (mp->spinning) {
    mp->spinning = false;
    GORT_TRACE(GORT_TRACE_EV_M_SPIN, 0);
    if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("findrunnable: negative nmspinning");
    std::int32_t procs = gomaxprocs.load(std::memory_order_relaxed);
    for (std::int32_t i = 0; i < procs; ++i) {
      if (!runqempty(allp[i])) {
        sched.lock.lock();
        P* p2 = pidleget();
        sched.lock.unlock();
        if (p2) {
          acquirep(p2);
          mp->spinning = true;
          GORT_TRACE(GORT_TRACE_EV_M_SPIN, 1);
          sched.nmspinning.fetch_add(1);
          goto top;
        }
        break;
      }
    }
    std::int64_t w = earliest_timer();
    if (w != 0 && (poll_until == 0 || w < poll_until)) poll_until = w;
  }
  (void)was_spinning;

  // Timers pending somewhere, or Gs waiting for I/O: one M at a time blocks
  // in the netpoller until the earliest timer (Go's findrunnable does the
  // same; the others stop).
  if (poll_until != 0 || netpoll_waiters() > 0) {
    bool expected = false;
    if (sched.polling.compare_exchange_strong(expected, true)) {
      sched.pollwhen.store(poll_until);
      // First a short spin without blocking, while I/O keeps coming soon
      // after the Ms go idle (netpoll.cpp: netpoll_spin).
      const std::int64_t idle_start = nanotime();
      const std::int64_t spin = netpoll_spin_window();
      GList list;
      if (spin > 0 && (poll_until == 0 || poll_until - idle_start > spin)) list = netpoll_spin(spin);
      if (list.empty() && sched.runqsize.load(std::memory_order_relaxed) == 0) {
        std::int64_t delay = -1;
        if (poll_until != 0) delay = std::max<std::int64_t>(poll_until - nanotime(), 0);
        list = netpoll(delay);
      }
      const std::int64_t idle_end = nanotime();
      sched.lastpoll.store(idle_end, std::memory_order_relaxed);
      netpoll_idle_end(idle_end - idle_start, !list.empty());
      sched.pollwhen.store(0);
      sched.polling.store(false);
      sched.lock.lock();
      P* p2 = pidleget();
      sched.lock.unlock();
      if (p2 == nullptr) {
        injectglist(list);  // every P is busy: the global queue
      } else {
        acquirep(p2);
        if (G* gp = run_first(list, inherit_time)) return gp;
        goto top;
      }
    } else if (poll_until != 0) {
      std::int64_t pw = sched.pollwhen.load();
      if (pw == 0 || pw > poll_until) netpoll_break();
    }
  }
  if (!stopm(/*may_exit=*/true)) return nullptr;  // idle too long: the M exits
  goto top;
}

void resetspinning(M* mp) {
  mp->stealwait = 0;  // found work: the next wait for a runnext is the shortest again (runq.cpp)
  mp->spinning = false;
  GORT_TRACE(GORT_TRACE_EV_M_SPIN, 0);
  if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("resetspinning: negative nmspinning");
  // M wakeup policy is deliberately somewhat conservative, so check if we
  // need to wake another P here.
  wakep();
}

}  // namespace

void execute(M* mp, G* gp, bool inherit_time, bool direct) {
  // Raised until gp runs (mcall, gort_goroutine_main lower it): while curg
  // is set but this thread still runs the scheduler, sysmon must not take
  // the P for a blocked G. Before curg's release store: sysmon reads curg
  // and then locks.
  locks_inc(mp);
  mp->curg.store_release(gp);  // preemptone (sysmon) follows it
  gp->m = mp;
  casgstatus(gp, Grunnable, Grunning);
  P* pp = mp->p;
  pp->runs.store(pp->runs.load(std::memory_order_relaxed) + 1, std::memory_order_relaxed);
  GORT_TRACE(static_cast<std::uint8_t>(GORT_TRACE_EV_GO_START | (direct ? trace::kSameInstant : 0)), gp->goid, pp->id);
  gp->waitsince = 0;
  gp->preempt = false;
  gp->stackguard0.store(gp->stack.lo + kStackGuard, std::memory_order_relaxed);
  if (!inherit_time) {
    // A new time slice; sysmon preempts the P at slicestart + timeslice. (A
    // G readied by the one before, in runnext, inherits the rest of its.)
    mp->p->schedtick++;
    mp->p->slicestart = cputicks();
    // Without a slice timer, sysmon ends the slice, and it may be sleeping
    // past its end (nothing was running, or nothing needed it sooner): one
    // load, and rarely a wake-up. Only for slices shorter than sysmon's
    // longest sleep (10 ms), and so never with the default slice:
    // sysmonwhen is written by sysmon, and reading it here costs a cache
    // miss per switch.
    if (debug.timeslice_ns < kSysmonMaxSleepNs && !debug.preemptoff &&
        mp->slicetimerstate.load(std::memory_order_relaxed) == kSliceTimerNone)
      sysmon_wake(nanotime() + debug.timeslice_ns);
  }
  // A G that inherits the slice may find the timer disarmed too (by the
  // last G's system call, or by its firing).
  slicetimer_begin(mp, mp->p->slicestart);
}

// Parks this thread for good: the program is exiting (or dying) and this
// thread must not run anything more (it ends with the process).
[[noreturn]] void park_forever() {
  for (;;) thread_sleep(-1);
}

namespace {

// mp's locked G is one it just preempted (preempt/yield.cpp: pinned to mp
// until it runs again). Often it was preempted for timers that had come
// due: run them, and if nothing else is runnable then, and the G is next
// in the global queue, take it back here. Otherwise the M would hand its P
// to another M (one more thread, and a wake-up) only for that M to find the
// G and hand the P back.
G* take_back_preempted(M* mp) {
  G* lg = mp->lockedg;
  P* pp = mp->p;
  if (!lg->preemptpinned || pp == nullptr) return nullptr;
  checktimers(pp, 0);
  if (!runqempty(pp) || sched.gcwaiting.load()) return nullptr;
  sched.lock.lock();
  G* gp = nullptr;
  if (globrunqpeek() == lg && !sched.gcwaiting.load()) gp = globrunqget(pp, 1);
  sched.lock.unlock();
  return gp;
}

}  // namespace

// The scheduler loop of an M, on its g0. Returns only on m0 when main has
// returned, and on an M that exits (idle too long, or its locked G ended).
void schedule_loop(M* mp) {
  G* next = nullptr;
  bool inherit = false;
  for (;;) {
    // acquire: main's last writes (its exit status, whatever the program
    // reads after gort::run) happen before m0 returns (main_exited's store).
    if (sched.exiting.load(std::memory_order_acquire)) {
      if (mp == m0) return;
      park_forever();
    }
    if (mp->exitlocked) {
      // The G locked to this thread ended (goexit0): the thread goes with it.
      mexit(mp);
      if (mp != m0) return;
      continue;  // m0 cannot end; mexit returned because the program is exiting
    }
    if (next != nullptr && mp->p == nullptr) {
      // An mcall function handed a G back to an M without a P: a G parking
      // on its way back from a blocked-M retake with no P free
      // (exitblocked_nowait), whose park was called off. It waits in the
      // global queue like a G leaving a system call (exitsyscall0).
      globrunqput_wake(next);
      next = nullptr;
    }
    if (next == nullptr && mp->lockedg && (next = take_back_preempted(mp)) != nullptr) inherit = false;
    if (next == nullptr && mp->lockedg) {
      // This M runs only its locked G, which has stopped running (parked,
      // yielded, or lost the P in a syscall): give the P away and sleep
      // until an M that finds the G runnable hands it back (startlockedm).
      stoplockedm(mp);
      if (sched.exiting.load()) continue;
      next = mp->lockedg;
      inherit = false;
    }
    if (next == nullptr) {
      if (mp->p == nullptr) {
        // An mcall function left this M without a P (exitsyscall0 found
        // none, startlockedm gave ours away): wait for one.
        if (!stopm(/*may_exit=*/true) && mp != m0 && !sched.exiting.load()) return;  // idle too long
        continue;
      }
      next = find_runnable(mp, &inherit);
      if (next == nullptr) {
        if (mp != m0 && !sched.exiting.load()) return;  // idle too long: the M exits
        continue;
      }
      if (mp->spinning) resetspinning(mp);
      if (next->lockedm && next->lockedm != mp) {
        // Hands off own P to the locked M, then waits for a new P.
        startlockedm(next);
        next = nullptr;
        continue;
      }
    }
    execute(mp, next, inherit);
    next = run_g(mp, next);
    inherit = true;  // an mcall function that hands back a G keeps the time slice
  }
}

// ---- park and ready -------------------------------------------------------

namespace {
// A park, both ways (park_m on g0, park_direct on the G itself): the G is
// waiting and no longer mp's.
void park_begin(M* mp, G* gp) {
  casgstatus(gp, Grunning, Gwaiting);
  GORT_TRACE(GORT_TRACE_EV_GO_PARK, gp->goid, static_cast<int>(WaitReason(gp->waitreason)) + 1);
  dropg(mp, gp);
}

// Then, off its stack, gopark's unlock function. false: it called the park
// off, and the G is runnable again.
bool park_commit(M* mp, G* gp) {
  UnlockFnPtr fn = mp->waitunlockf;
  void* lock = mp->waitlock;
  mp->waitunlockf = nullptr;
  mp->waitlock = nullptr;
  if (fn == nullptr || fn(gp, lock)) return true;
  casgstatus(gp, Gwaiting, Grunnable);
  GORT_TRACE(GORT_TRACE_EV_GO_READY, gp->goid, gp->goid);
  return false;
}

G* park_m(G* gp) {
  M* mp = getm();
  park_begin(mp, gp);
  return park_commit(mp, gp) ? nullptr : gp;  // called off: run it again at once
}

G* goyield_m(G* gp) {
  M* mp = getm();
  casgstatus(gp, Grunning, Grunnable);
  GORT_TRACE(GORT_TRACE_EV_GO_SCHED, gp->goid);
  dropg(mp, gp);
  runqput(mp->p, gp, false);
  return nullptr;
}

}  // namespace

bool work_waiting(P* pp, std::int64_t now) {
  if (sched.runqsize.load(std::memory_order_relaxed) != 0 || sched.gcwaiting.load(std::memory_order_relaxed) ||
      !runqempty(pp))
    return true;
  std::int64_t t = pp->timer0when.load(std::memory_order_relaxed);
  return t != 0 && t <= (now != 0 ? now : nanotime());
}

namespace {
G* gosched_common(G* gp) {
  casgstatus(gp, Grunning, Grunnable);
  dropg(getm(), gp);
  sched.lock.lock();
  globrunqput(gp);
  sched.lock.unlock();
  // An idle P may run it (Go 1.21's goschedImpl does the same): else two
  // goroutines yielding to each other at GOMAXPROCS=2 could take turns on
  // one P for good while the other stayed idle (Sched.GoroutinesYielding
  // ToEachOtherSpreadOverIdlePs, under TSan: round 10 of 20).
  wakep();
  return nullptr;
}

G* gopreempt(G* gp, int kind) {
  P* pp = getm()->p;
  GORT_TRACE(GORT_TRACE_EV_GO_PREEMPT, gp->goid, kind, pp ? ticks_to_ns(cputicks() - pp->slicestart) : 0);
  return gosched_common(gp);
}
}  // namespace

G* gosched_m(G* gp) {
  GORT_TRACE(GORT_TRACE_EV_GO_SCHED, gp->goid);
  return gosched_common(gp);
}

// Go's gopreempt_m: a yield point (cooperative) or the asyncPreempt
// trampoline found a preemption request.
G* gopreempt_m(G* gp) { return gopreempt(gp, GORT_TRACE_PREEMPT_COOP); }
G* gopreempt_async_m(G* gp) { return gopreempt(gp, GORT_TRACE_PREEMPT_ASYNC); }

G* current_user_g(const char* what) {
  G* gp = getg();
  if (gp == nullptr || gp->m == nullptr || gp->m->curg != gp) fatal("%s called off a goroutine", what);
  // Inside gort::syscall the G has no P: there is nothing to park or yield to.
  // (A G whose P sysmon took while it was blocked is in an implicit system
  // call instead: mcall and acquirem_p take it out of it first.)
  if (readgstatus(gp) == Gsyscall && gp->m->blockretake.load() == kBlockNone)
    fatal("%s called inside gort::syscall (a goroutine in a system call has no P: it cannot park or yield)", what);
  return gp;
}

// A G that parks or ends hands its M straight to the G the scheduler would
// run next, when nothing else would happen first: Go goes through g0
// (mcall, schedule, gogo), two switches where one does. Two switches cost
// more than twice one: each breaks the CPU's return-address predictions,
// and every return after it on the new stack mispredicts; between two
// goroutines that park at the same call sites (the two ends of a channel)
// the predictions of one are right for the other. Unbuffered ping-pong
// P=1: 83 -> 44 ns.
//
// Only when schedule() would do nothing but take the local queue's next
// G: no stop of the world or exit, no timers on the P (schedule runs the
// due ones), not a 61st tick with work in the global queue, no locked
// thread on either side, no blocked-M retake under way. Called with
// m->locks raised (as mcall raises it). nullptr: take the ordinary way.
G* direct_next(M* mp, bool* inherit_time) {
  P* pp = mp->p;
  if (pp == nullptr || mp->lockedg != nullptr || mp->blockretake.load(std::memory_order_acquire) != kBlockNone ||
      sched.gcwaiting.load(std::memory_order_relaxed) || sched.exiting.load(std::memory_order_relaxed) ||
      pp->timer0when.load(std::memory_order_relaxed) != 0 ||
      (pp->schedtick % 61 == 0 && sched.runqsize.load(std::memory_order_relaxed) != 0))
    return nullptr;
  G* next = runqget(pp, inherit_time);
  if (next != nullptr && next->lockedm) {
    // Its thread must run it (startlockedm): back where runqget found it
    // (runnext, or the ring's head, which runnext precedes), for the
    // ordinary way.
    runqput(pp, next, true);
    return nullptr;
  }
  return next;
}

namespace {

bool park_direct(M* mp, G* gp) {
  locks_inc(mp);  // as mcall's: no preemption and no retake until the next G runs
  bool inherit = false;
  G* next = direct_next(mp, &inherit);
  if (next == nullptr) {
    mp->locks--;
    return false;
  }
  park_begin(mp, gp);
  execute(mp, next, inherit, /*direct=*/true);
  // gp's stack is in use until the switch: its unlock function (which lets
  // others ready it) runs on next's, in finish_park_direct.
  mp->parkedg = gp;
  switch_direct(mp, gp, next, /*exiting=*/false);
  return true;
}

}  // namespace

// On the G that park_direct switched to, before it goes on: park_m's end
// for the G that parked. An unlock function that calls the park off (the
// netpoller's, when the fd became ready) makes it runnable again: it runs
// next.
void finish_park_direct(M* mp) {
  G* gp = mp->parkedg;
  mp->parkedg = nullptr;
  if (!park_commit(mp, gp)) runqput(mp->p, gp, true);
  mp->locks--;  // park_direct's
}

void gopark(UnlockFnPtr unlockf, void* lock, WaitReason reason) {
  G* gp = current_user_g("gopark");
  M* mp = gp->m;
  mp->waitunlockf = unlockf;
  mp->waitlock = lock;
  gp->waitreason = reason;
  // Aged in minutes (Go's "[chan receive, 5 minutes]"), and every channel
  // wait passes here: the coarse clock, a fifth of nanotime's cost.
  gp->waitsince = nanotime_coarse();
  if (!park_direct(mp, gp)) mcall(park_m);
}

void goparkunlock(Lock* lock, WaitReason reason) {
  gopark([](G*, void* l) {
    static_cast<Lock*>(l)->unlock();
    return true;
  }, lock, reason);
}

// Mark gp ready to run. It goes to runnext of the current P: the G that
// readies another usually blocks soon, and the readied one should run next
// (e.g. the two ends of a channel). Off a P (sysmon, a foreign thread) it
// goes to the global queue.
void goready(G* gp) {
  casgstatus(gp, Gwaiting, Grunnable);
  GORT_TRACE(GORT_TRACE_EV_GO_READY, gp->goid, gort::goid());  // 0 off a goroutine: the runtime, a timer, a foreign thread
  gp->waitreason = WaitReason::Zero;
  M* mp = getm();
  if (mp) locks_inc(mp);
  if (P* pp = mp ? static_cast<P*>(mp->p) : nullptr) {
    runqput(pp, gp, true);
    wakep();
  } else {
    globrunqput_wake(gp);
  }
  if (mp) mp->locks--;
}

// Readying a G without a P (a foreign thread, sysmon): the global queue, and
// an M for an idle P if there is one. wakep() is not enough here: it trusts
// a spinning M to find the work, but a spinning M that has already checked
// the global queue re-checks only the local ones before it stops (Go never
// readies Gs off a P except through injectglist, which starts Ms the same way).
void globrunqput_wake(G* gp) {
  sched.lock.lock();
  globrunqput(gp);
  sched.lock.unlock();
  // Our put is ordered before this load by sched.lock: an M that releases
  // its P after it either saw the G or made npidle > 0 for us to see.
  if (sched.npidle.load() > 0) startm(nullptr, false);
}

void goyield() {
  current_user_g("goyield");
  mcall(goyield_m);
}

}  // namespace gort::rt

namespace gort {
void gosched() {
  using namespace rt;
  G* gp = current_user_g("gort::gosched");
  M* mp = acquirem_p();
  P* pp = mp->p;
  // Fast path: when nothing else is runnable here — the local queue and the
  // global queue are empty, no timer of this P is due, the world is not
  // stopping — Go's gosched puts the G on the global queue only for
  // find_runnable to take it straight back (the global queue is looked at
  // before stealing). The outcome is the same without the two switches: a
  // new time slice (schedtick) for the same G.
  if (!gp->preempt && !work_waiting(pp, 0)) {
    pp->schedtick++;
    // In the trace as what it stands for: yielded, and picked again.
    GORT_TRACE(GORT_TRACE_EV_GO_SCHED, gp->goid);
    GORT_TRACE(GORT_TRACE_EV_GO_START, gp->goid, pp->id);
    releasem(mp);
    return;
  }
  releasem(mp);
  mcall(gosched_m);
}
}  // namespace gort

namespace gort::rt {

// Per-M wyrand; threads that are not Ms (foreign callers) use a thread-local state.
std::uint32_t fastrand() {
  static thread_local std::uint64_t foreign_state = 0x2545F4914F6CDD1Dull ^ reinterpret_cast<std::uintptr_t>(&foreign_state);
  M* mp = getm();
  std::uint64_t& s = mp ? mp->fastrand : foreign_state;
  s += 0xa0761d6478bd642full;
  __uint128_t m = static_cast<__uint128_t>(s) * (s ^ 0xe7037ed1a0b428dbull);
  return static_cast<std::uint32_t>((m >> 64) ^ m);
}

// A random number in [0, n), without division (Lemire's reduction).
std::uint32_t fastrandn(std::uint32_t n) {
  return static_cast<std::uint32_t>((static_cast<std::uint64_t>(fastrand()) * n) >> 32);
}

}  // namespace gort::rt
