// Stopping the world, and changing the number of Ps (GOMAXPROCS) while
// goroutines run, which needs a stopped world (Go's stopTheWorldWithSema,
// startTheWorldWithSema, procresize).
//
// stop_the_world_internal runs on a G that keeps its M and P while every
// other P is brought to Pgcstop: idle Ps are taken off the idle list, a P
// whose M notices sched.gcwaiting in the scheduler stops itself (gcstopm),
// and running Gs are asked to yield (preemptall). It waits on sched.stopnote
// with a 100 µs timeout and asks again each time, as Go does: a request may
// have been missed by a G that was just starting to run.
#include <unistd.h>

#include <cstdlib>
#include <mutex>

#include "gort/sync.h"

#include "preempt/preempt.h"
#include "runtime2.h"
#include "trace.h"

namespace gort::rt {

Sched sched;
std::atomic<std::int32_t> gomaxprocs{0};
P* allp[kMaxProcs];

namespace {

P* newp(std::int32_t id) {
  P* pp = new P();
  pp->id = id;
  pp->status.store(Pgcstop);
  return pp;
}

// pp is going away (GOMAXPROCS shrinks): its Gs go to the global queue, in
// order, its timers to the current P, its free Gs to the global list.
void destroyp(P* pp, P* into) {
  // Pop from the tail of the local queue, push onto the head of the global
  // one: the order is kept.
  std::uint32_t t = pp->runqtail.load();
  while (pp->runqhead.load() != t) {
    t--;
    globrunqputhead(pp->runq[t % kRunqSize].load());
    pp->runqtail.store(t);
  }
  if (G* next = pp->runnext.exchange(nullptr)) globrunqputhead(next);
  moveTimers(into, pp);
  sched.gflock.lock();
  gfpush_global(pp->gfree, pp->gfreecnt);
  pp->gfreecnt = 0;
  sched.gflock.unlock();
  pp->status.store(Pdead);
}

P* runnable_ps = nullptr;  // set by procresize, consumed by start_the_world

// Is a P that is still to stop held by a thread that is not running while
// its preemption signal is on its way (sent, not yet handled)? Such a
// thread's CPU clock stands still between two looks (stopclock: the last
// look's readings, by P; `first`: there was none in this stop). Its signal
// cannot arrive before it runs, and it may be waiting for the stopper's
// own CPU. One clock read per such P (a system call, ~0.5-1 µs).
std::int64_t stopclock[kMaxProcs];  // written by the stopper only (worldsema)

bool stop_target_off_cpu(bool first) {
  bool off = false;
  std::int32_t n = gomaxprocs.load();
  for (std::int32_t i = 0; i < n; ++i) {
    P* pp = allp[i];
    if (pp->status.load() == Pgcstop) continue;
    M* mp = pp->m.load();
    if (mp == nullptr || mp->signal_pending.load(std::memory_order_relaxed) == 0) continue;
    const std::int64_t cpu = thread_cpu_ns(mp);
    if (!first && cpu == stopclock[i]) off = true;
    stopclock[i] = cpu;
  }
  return off;
}

}  // namespace

// One stop-the-world at a time (Go's worldsema): two goroutines stopping
// the world at once would each wait for the other's P forever.
Mutex& worldsema() {
  static Mutex m;
  return m;
}

// Changes the number of Ps to nprocs. sched.lock held, world stopped (or not
// yet started). Ps with local work are left on runnable_ps for the caller to
// start Ms for; the others go to the idle list.
void procresize_locked(std::int32_t nprocs) {
  std::int32_t old = gomaxprocs.load();
  if (nprocs < 1 || nprocs > kMaxProcs) fatal("procresize: invalid arg %d", nprocs);
  for (std::int32_t i = old; i < nprocs; ++i) {
    if (allp[i] == nullptr) allp[i] = newp(i);
    else allp[i]->status.store(Pgcstop);
  }
  M* mp = getm();
  if (mp->p && mp->p->id < nprocs) {
    // continue to use the current P
    mp->p->status.store(Prunning);
  } else {
    // release the current P and acquire allp[0]
    if (mp->p) {
      mp->p->m = nullptr;
      mp->p->status.store(Pgcstop);
    }
    mp->p = nullptr;
    P* pp = allp[0];
    pp->m = nullptr;
    pp->status.store(Pidle);
    acquirep(pp);
  }
  for (std::int32_t i = nprocs; i < old; ++i) destroyp(allp[i], mp->p);
  gomaxprocs.store(nprocs);
  runnable_ps = nullptr;
  for (std::int32_t i = nprocs - 1; i >= 0; --i) {
    P* pp = allp[i];
    if (mp->p == pp) continue;
    pp->status.store(Pidle);
    if (runqempty(pp)) {
      pidleput(pp);
    } else {
      pp->link = runnable_ps;
      runnable_ps = pp;
    }
  }
}

void stop_the_world_internal(WaitReason reason, const char* why) {
  M* mp = getm();
  G* gp = mp ? static_cast<G*>(mp->curg) : nullptr;
  if (gp == nullptr || getg() != gp) fatal("stop_the_world called off a goroutine");
  // This G must not be preempted or moved while the world is stopped; and
  // it needs its P (a G whose P was taken while blocked gets one back).
  mp = acquirem_p();
  if (mp->p == nullptr) fatal("stop_the_world called inside gort::syscall");
  gp->waitreason = reason;
  sched.lock.lock();
  sched.stopwait = gomaxprocs.load();
  sched.gcwaiting.store(1);
  preemptall();
  // stop current P
  mp->p->status.store(Pgcstop);
  sched.stopwait--;
  // try to retake all P's in Psyscall status
  std::int32_t n = gomaxprocs.load();
  for (std::int32_t i = 0; i < n; ++i) {
    std::uint32_t s = Psyscall;
    if (allp[i]->status.compare_exchange_strong(s, Pgcstop)) {
      allp[i]->syscalltick++;
      sched.stopwait--;
    }
  }
  // stop idle P's
  while (P* pp = pidleget()) {
    pp->status.store(Pgcstop);
    sched.stopwait--;
  }
  bool wait = sched.stopwait > 0;
  sched.lock.unlock();
  // A G may miss a request: it was just being scheduled when preemptall
  // looked, or a signal found it at an unsafe point (in libc, say). Ask
  // again every 100 µs, as Go does.
  if (wait) {
    // Spin a little first: the Ps usually stop within microseconds (a
    // signal and a switch away), sooner than a thread sleeping on a futex
    // can be woken on a VM. Then sleep, asking again every 100 µs.
    //
    // The spin is PAUSEs, and yields the CPU (sched_yield) while a thread
    // that must take a signal is not running: it may be runnable on this
    // very CPU, behind the stopper (more threads than CPUs: a busy machine,
    // a container with one CPU), and PAUSEs would keep it off until the
    // spin ended (`taskset -c 0 bench_preempt stw 1`: median stop 76-80 µs
    // with PAUSEs only). Not at every turn: a yield hands the CPU to any
    // other runnable thread, another process's too, which may keep it for
    // its whole slice (with a yield at every turn one stop in a thousand
    // took 2.6 ms so, though its P had stopped after 20 µs).
    constexpr std::int64_t kStopSpinNs = 50'000;
    constexpr std::int64_t kStopLookNs = 2'000;  // how often to read the targets' CPU clocks
    bool first = true;
    for (std::int64_t start = nanotime(), now = start, look = start;
         !sched.stopnote.is_set() && now - start < kStopSpinNs; now = nanotime()) {
      if (now >= look) {
        look = now + kStopLookNs;
        const bool off = stop_target_off_cpu(first);
        first = false;
        if (off) {
          osyield();
          continue;
        }
      }
      procyield(10);
    }
    // A P whose thread is blocked outside gort::syscall stops only when
    // sysmon takes it (blockretake.cpp): have it look now, not after its
    // sleep. Only after the spin: woken at once, sysmon would take a CPU
    // from the very threads that are stopping (on a 2-CPU machine, one of
    // the two), for nothing in the usual case.
    if (!sched.stopnote.is_set()) {
      sched.stopsleeping.store(true);
      sysmon_wake(nanotime());
      if (sched.sysmonwait.load()) wake_sysmon();
    }
    for (;;) {
      if (sched.stopnote.tsleep(100000)) {
        sched.stopnote.clear();
        break;
      }
      preemptall();
    }
    sched.stopsleeping.store(false);
  }
  if (sched.stopwait != 0) fatal("stopTheWorld: not stopped (stopwait=%d)", sched.stopwait.load());
  for (std::int32_t i = 0; i < n; ++i)
    if (allp[i]->status.load() != Pgcstop) fatal("stopTheWorld: not stopped (status=%u)", allp[i]->status.load());
  // Recorded once every P has stopped: the trace's STW is the time no
  // goroutine but this one can run (the stopping itself shows as the
  // preemption requests before it).
  GORT_TRACE(GORT_TRACE_EV_STW_BEGIN, trace::reason_id(why));
  gp->waitreason = WaitReason::Zero;
}

void start_the_world_internal(std::int32_t newprocs) {
  M* mp = getm();
  GORT_TRACE(GORT_TRACE_EV_STW_END);  // before any P can run again
  sched.lock.lock();
  procresize_locked(newprocs > 0 ? newprocs : gomaxprocs.load());
  P* ps = runnable_ps;
  runnable_ps = nullptr;
  sched.gcwaiting.store(0);
  wake_sysmon();
  sched.lock.unlock();
  while (ps) {
    P* pp = ps;
    ps = pp->link;
    sched.lock.lock();
    M* nmp = mget();
    sched.lock.unlock();
    if (nmp) {
      nmp->nextp = pp;
      nmp->park.wakeup();
    } else {
      newm(nullptr, pp);
    }
  }
  // Wake an additional P to be safe: there may be more work than the Ps
  // with local queues (the global queue).
  wakep();
  mp->locks--;
}

}  // namespace gort::rt

namespace gort {

int gomaxprocs(int n) {
  using namespace rt;
  if (!sched.started.load()) fatal("gort::gomaxprocs called before gort::run (set GOMAXPROCS in the environment instead)");
  if (n < 1) return rt::gomaxprocs.load();
  if (n > kMaxProcs) n = kMaxProcs;
  std::lock_guard<Mutex> world(rt::worldsema());
  int prev = rt::gomaxprocs.load();
  if (n == prev) return prev;
  stop_the_world_internal(WaitReason::StopTheWorld, "gomaxprocs");
  start_the_world_internal(n);
  return prev;
}

}  // namespace gort
