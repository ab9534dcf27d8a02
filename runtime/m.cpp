// Ms (OS threads) and handing Ps between them: newm, mstart, stopm, startm,
// handoffp, wakep, the idle lists, and checkdead.
#include <pthread.h>
#include <sys/prctl.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "preempt/preempt.h"
#include "runtime2.h"
#include "trace.h"
#include "sanitizer.h"

namespace gort::rt {

namespace {
// g0 stacks: the scheduler, timers, dumps, and blockwarn's reports (libdw,
// on sysmon's M). TSan's instrumentation makes libdw's frames several
// times larger (ASan's does not need it, and address space is what its
// out-of-memory test limits).
constexpr std::size_t kMStackSize = (san::kTsan ? 4096 : 512) * 1024;

struct MStart {
  M* mp;
  void (*fn)();
};

void minit(M* mp) {
  mp->procid = static_cast<pid_t>(syscall(SYS_gettid));
  mp->g0->m = mp;
  setg(mp->g0);
  // The scheduler sleeps for precise deadlines (timers, sysmon): the
  // default 50 µs of timer slack would be added to every one.
  prctl(PR_SET_TIMERSLACK, 1UL, 0, 0, 0);
  pthread_attr_t attr;
  if (pthread_getattr_np(pthread_self(), &attr) == 0) {
    void* addr;
    std::size_t size;
    pthread_attr_getstack(&attr, &addr, &size);
    pthread_attr_destroy(&attr);
    mp->g0_stack_bottom = addr;
    mp->g0_stack_size = size;
    mp->g0->stack.lo = reinterpret_cast<std::uintptr_t>(addr);
    mp->g0->stack.hi = mp->g0->stack.lo + size;
  }
  mp->g0->tsan_fiber = san::current_fiber();
  preempt_minit(mp);
  slicetimer_minit(mp);
  blockretake_minit(mp);
}

void* mstart(void* arg) {
  MStart st = *static_cast<MStart*>(arg);
  delete static_cast<MStart*>(arg);
  M* mp = st.mp;
  minit(mp);
  GORT_TRACE(GORT_TRACE_EV_M_START, mp->id, mp->procid);
  if (st.fn) st.fn();
  if (mp->spinning) GORT_TRACE(GORT_TRACE_EV_M_SPIN, 1);  // (mspinning and sysmon are set up by newm through the M's flags)
  // The sysmon role moves between Ms (sysmon.cpp): sysmon() returns when
  // this M has handed it on and has a P to run (nextp), and schedule_loop
  // returns when this M has been handed the role (or when it ends).
  for (;;) {
    if (mp->sysmon) sysmon();
    if (mp->nextp) {
      acquirep(mp->nextp);
      mp->nextp = nullptr;
    }
    schedule_loop(mp);
    if (!mp->sysmon) break;
  }
  // The M is leaving (idle for too long, or its locked G ended): stopm or
  // mexit took it out of mcount. It stays on allm, marked, for the inspector.
  mp->exited = true;
  blockretake_mexit(mp);
  slicetimer_mexit(mp);
  preempt_mexit(mp);
  setg(nullptr);
  return nullptr;
}

void mspinning() { getm()->spinning = true; }

M* allocm() {
  M* mp = new M();
  mp->g0 = new G();
  mp->g0->m = mp;
  mp->g0->goid = 0;
  mp->fastrand = static_cast<std::uint64_t>(nanotime()) * 0x9E3779B97F4A7C15ull | 1;
  return mp;
}

void mcommoninit(M* mp) {
  sched.lock.lock();
  mp->id = sched.mnext++;
  sched.mcount++;
  sched.lock.unlock();
  M* head = allm.load();
  do mp->alllink = head;
  while (!allm.compare_exchange_weak(head, mp));
}
}  // namespace

M* m0 = nullptr;
std::atomic<M*> allm{nullptr};

// m0: the thread that called gort::run.
M* m0init() {
  M* mp = allocm();
  mcommoninit(mp);
  mp->thread = pthread_self();
  minit(mp);
  return mp;
}

// Creates a new M running fn (if any) and then the scheduler with pp.
void newm(void (*fn)(), P* pp) {
  M* mp = allocm();
  mp->nextp = pp;
  if (fn == &mspinning) mp->spinning = true;
  if (fn == &sysmon) {
    mp->sysmon = true;
    // Counted before mcount counts it, so checkdead never sees sysmon as
    // running user code. Only the first holder of the role: one that
    // sysmon_handover makes takes over a role already counted.
    sched.lock.lock();
    if (sched.nmsys == 0) sched.nmsys++;
    sched.lock.unlock();
  }
  mcommoninit(mp);
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setstacksize(&attr, kMStackSize);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  // Signals are delivered to the Ms on purpose (preemption): block nothing.
  int err = pthread_create(&mp->thread, &attr, mstart, new MStart{mp, fn == &mspinning || fn == &sysmon ? nullptr : fn});
  pthread_attr_destroy(&attr);
  if (err != 0)
    fatal("newm: cannot create an OS thread (pthread_create: %s); threads in use: %d", std::strerror(err),
          sched.mcount.load());
}

// Put mp on the idle list. sched.lock held.
void mput(M* mp) {
  mp->schedlink = sched.midle;
  sched.midle = mp;
  sched.nmidle++;
  mp->blocked = true;
  checkdead();
}

// Take an M off the idle list. sched.lock held.
M* mget() {
  M* mp = sched.midle;
  if (mp) {
    sched.midle = mp->schedlink;
    sched.nmidle--;
    mp->blocked = false;
  }
  return mp;
}

namespace {
// Removes mp from the idle list if it is still there. sched.lock held.
bool mremove(M* mp) {
  for (M** pp = &sched.midle; *pp; pp = &(*pp)->schedlink) {
    if (*pp == mp) {
      *pp = mp->schedlink;
      sched.nmidle--;
      mp->blocked = false;
      return true;
    }
  }
  return false;
}
}  // namespace

// Stops the current M until it is given a P (startm), then acquires it.
// With may_exit, an M that stays idle longer than debug.idlethreadexit_ns
// while another idle M exists leaves for good (Go never frees threads; a
// C++ program that once needed 200 threads for blocking calls should not keep
// them forever). Returns false then, and the caller ends the thread; also
// (may_exit only) when the M was handed the sysmon role, and the caller
// returns to mstart all the same.
bool stopm(bool may_exit) {
  M* mp = getm();
  if (mp->locks != 0) fatal("stopm holding locks");
  if (mp->p) fatal("stopm holding p");
  if (mp->spinning) fatal("stopm spinning");
  sched.lock.lock();
  mp->stopm_may_exit = may_exit && mp != m0;
  mput(mp);
  // main_exited sets sched.exiting and then looks, under sched.lock, for m0
  // on the idle list to wake it. If it looked before m0 got here, m0 must see
  // exiting now, or it would sleep through the end of the program.
  if (mp == m0 && sched.exiting.load()) {
    mremove(mp);
    sched.lock.unlock();
    return true;
  }
  sched.lock.unlock();
  GORT_TRACE(GORT_TRACE_EV_M_STOP, mp->id);
  for (;;) {
    std::int64_t timeout = (may_exit && mp != m0 && !mp->lockedg) ? debug.idlethreadexit_ns.load() : std::int64_t{-1};
    if (mp->park.tsleep(timeout)) break;
    sched.lock.lock();
    if (sched.nmidle > 1 && mremove(mp)) {
      sched.mcount--;
      sched.nmfreed++;
      sched.lock.unlock();
      return false;
    }
    sched.lock.unlock();
  }
  mp->park.clear();
  GORT_TRACE(GORT_TRACE_EV_M_WAKE, mp->id);
  if (sched.exiting.load()) return true;
  // Handed the sysmon role (sysmon_handover): the caller returns to mstart,
  // which runs sysmon(); like an M that exits, only may_exit callers can.
  if (mp->sysmon) return false;
  if (mp->nextp) {
    acquirep(mp->nextp);
    mp->nextp = nullptr;
  }
  return true;
}

// The G locked to mp ended (goexit0 set mp->exitlocked): the thread ends
// instead of returning to the idle pool (Go's mexit), because the G may have
// left it in a state other goroutines must not inherit. The caller returns
// from schedule_loop and the thread exits. m0 cannot end (gort::run returns
// on it when main returns), so, as Go wedges m0, it parks here until the
// program exits and runs no goroutine again.
void mexit(M* mp) {
  mp->exitlocked = false;
  handoffp(releasep());
  sched.lock.lock();
  sched.mcount--;
  sched.nmfreed++;
  // main_exited sets exiting and then looks at m0->blocked under this lock.
  bool wedge = mp == m0 && !sched.exiting.load();
  if (wedge) mp->blocked = true;
  checkdead();
  sched.lock.unlock();
  if (!wedge) return;
  while (!sched.exiting.load()) {
    mp->park.sleep();
    mp->park.clear();
  }
}

// Schedules some M to run pp (creating an M if necessary). If pp is null,
// tries to get an idle P; if there is none, does nothing. If spinning, the
// caller has incremented nmspinning and the new M starts spinning.
void startm(P* pp, bool spinning) {
  acquirem();
  sched.lock.lock();
  if (pp == nullptr) {
    pp = pidleget();
    if (pp == nullptr) {
      sched.lock.unlock();
      if (spinning) {
        // The caller incremented nmspinning, but there are no idle Ps, so
        // it's okay to just undo the increment and give up.
        if (sched.nmspinning.fetch_sub(1) - 1 < 0) fatal("startm: negative nmspinning");
      }
      releasem();
      return;
    }
  }
  M* nmp = mget();
  if (nmp == nullptr) {
    sched.lock.unlock();
    newm(spinning ? &mspinning : nullptr, pp);
    releasem();
    return;
  }
  sched.lock.unlock();
  if (nmp->spinning) fatal("startm: m is spinning");
  if (nmp->nextp) fatal("startm: m has p");
  if (spinning && !runqempty(pp)) fatal("startm: p has runnable gs");
  // The caller incremented nmspinning, so set m.spinning in the new M.
  nmp->spinning = spinning;
  nmp->nextp = pp;
  nmp->park.wakeup();
  releasem();
}

namespace {
// sched.lock held. If the world is stopping, pp stops (and the stopper is
// woken when it was the last): true.
bool gcstopp_locked(P* pp) {
  if (!sched.gcwaiting.load()) return false;
  pp->status.store(Pgcstop);
  if (--sched.stopwait == 0) sched.stopnote.wakeup();
  return true;
}
}  // namespace

// Hands off P from a syscall or locked M. Always runs without a P.
void handoffp(P* pp) {
  // The world is stopping: stop the P, even with work (start_the_world
  // starts Ms for Ps with work). A preempted G's M hands its P off here;
  // starting another M only for it to stop the P would make every stop
  // wait for a thread to wake.
  if (sched.gcwaiting.load()) {
    sched.lock.lock();
    bool stopped = gcstopp_locked(pp);
    sched.lock.unlock();
    if (stopped) return;
  }
  // if it has local work, start it straight away
  if (!runqempty(pp) || sched.runqsize.load() != 0) {
    startm(pp, false);
    return;
  }
  // no local work, check that there are no spinning/idle M's,
  // otherwise our help is not required
  std::int32_t zero = 0;
  if (sched.nmspinning.load() + sched.npidle.load() == 0 && sched.nmspinning.compare_exchange_strong(zero, 1)) {
    startm(pp, true);
    return;
  }
  sched.lock.lock();
  if (gcstopp_locked(pp)) {
    sched.lock.unlock();
    return;
  }
  if (sched.runqsize.load() != 0) {
    sched.lock.unlock();
    startm(pp, false);
    return;
  }
  // If this is the last running P and nobody waits for timers, an M must
  // stay around to run them.
  if (sched.npidle.load() == gomaxprocs.load() - 1 && pp->timer0when.load() != 0 && !sched.polling.load()) {
    sched.lock.unlock();
    startm(pp, false);
    return;
  }
  std::int64_t when = pp->timer0when.load();
  pidleput(pp);
  sched.lock.unlock();
  if (when != 0) timers_wake_poller(when);
}

// Tries to add one more P to execute Gs. Called when a G is made runnable.
void wakep() {
  if (sched.npidle.load(std::memory_order_acquire) == 0) return;
  // Be conservative about spinning threads: one at a time.
  std::int32_t zero = 0;
  if (sched.nmspinning.load(std::memory_order_acquire) != 0 || !sched.nmspinning.compare_exchange_strong(zero, 1))
    return;
  startm(nullptr, true);
}

// Put pp on the idle list. sched.lock held.
void pidleput(P* pp) {
  if (!runqempty(pp)) fatal("pidleput: P has non-empty run queue");
  pp->link = sched.pidle;
  sched.pidle = pp;
  sched.npidle.fetch_add(1);
}

// Take a P off the idle list. sched.lock held.
P* pidleget() {
  P* pp = sched.pidle;
  if (pp) {
    sched.pidle = pp->link;
    sched.npidle.fetch_sub(1);
  }
  return pp;
}

void acquirep(P* pp) {
  M* mp = getm();
  if (mp->p || pp->m || pp->status.load() != Pidle)
    fatal("acquirep: invalid p state (m->p=%p p->m=%p p->status=%u)", static_cast<void*>(mp->p),
          static_cast<void*>(pp->m), pp->status.load());
  mp->p = pp;
  pp->m = mp;
  pp->status.store(Prunning);
  GORT_TRACE(GORT_TRACE_EV_PROC_START, pp->id);
  if (sched.sysmonwait.load(std::memory_order_relaxed)) wake_sysmon();
}

P* releasep() {
  M* mp = getm();
  P* pp = mp->p;
  if (pp == nullptr || pp->m != mp || pp->status.load() != Prunning)
    fatal("releasep: invalid p state");
  mp->p = nullptr;
  pp->m = nullptr;
  pp->status.store(Pidle);
  GORT_TRACE(GORT_TRACE_EV_PROC_STOP, pp->id);
  return pp;
}

// Threads of this process that are not live Ms nor the trace's writer
// (from /proc/self/stat's num_threads). Called only when every M is idle, so its cost is no concern.
int foreign_threads() {
  FILE* f = std::fopen("/proc/self/stat", "r");
  if (f == nullptr) return 0;
  char buf[1024];
  std::size_t n = std::fread(buf, 1, sizeof buf - 1, f);
  std::fclose(f);
  buf[n] = 0;
  // Fields after the command name (which may contain spaces) start after the last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  long v = 0;
  int field = 2;
  for (const char* q = p + 1; *q && field < 20; ++q)
    if (*q == ' ') {
      ++field;
      if (field == 20) v = std::strtol(q + 1, nullptr, 10);
    }
  return static_cast<int>(v) - sched.mcount - trace::writer_threads.load();
}

// Checks for deadlock: no M is running user code and nothing will ever wake
// a G. sched.lock held.
void checkdead() {
  if (sched.exiting.load() || !sched.mainstarted.load()) return;
  std::int32_t run = sched.mcount - sched.nmidle - sched.nmidlelocked - sched.nmsys;
  if (run > 0) return;
  if (run < 0) fatal("checkdead: inconsistent counts: mcount=%d nmidle=%d nmidlelocked=%d nmsys=%d",
                     sched.mcount.load(), sched.nmidle.load(), sched.nmidlelocked, sched.nmsys);
  int grunning = 0;
  std::size_t n = allgs.len.load(std::memory_order_acquire);
  G** gs = allgs.ptr.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    switch (readgstatus(gp) & ~Gscan) {
      case Gwaiting:
      case Gpreempted:
        grunning++;
        break;
      case Grunnable:
      case Grunning:
      case Gsyscall:
        // Go throws here ("checkdead: runnable g"): only running Ms ready
        // Gs there. In gort a thread that is not an M may have just readied
        // a G (global queue) and be on its way to wakep(): not dead.
        return;
      default:
        break;
    }
  }
  if (grunning == 0) fatal("no goroutines (main called runtime.Goexit) - deadlock!");
  // There are no goroutines running, so we can look at the Ps' timers.
  std::int32_t procs = gomaxprocs.load();
  for (std::int32_t i = 0; i < procs; ++i)
    if (allp[i]->timer0when.load() != 0) return;
  // Unlike Go, a C++ program has threads the runtime did not make, and they
  // may still wake a goroutine (WaitGroup::done, gort::go from a callback
  // thread). While any exists, "all asleep" is not a proof of deadlock.
  // sysmon calls checkdead again while the Ps are idle, so a deadlock is
  // still reported once those threads are gone.
  if (foreign_threads() > 0) return;
  sched.lock.unlock();
  fatal("all goroutines are asleep - deadlock!");
}

}  // namespace gort::rt
