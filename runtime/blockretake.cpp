// Blocked-M retake: a thread that blocks in code gort never sees loses its P.
//
// Go never meets this: its Mutex parks the goroutine and every system call
// goes through entersyscall. A C++ goroutine calls std::mutex::lock, plain
// read(2), getaddrinfo or a database client, and its thread blocks in the
// kernel while it holds a P. At GOMAXPROCS=1 that can hang the program for
// good: goroutine A, preempted while it holds a std::mutex, waits in the
// run queue of the only P, whose thread is blocked in B's
// std::mutex::lock. So sysmon watches the running Ps and does for such a
// thread what entersyscall would have done, and then retakes the P as it
// retakes one in gort::syscall (sysmon.cpp: retake, handoffp).
//
// Seeing that a thread is blocked (retake_blocked). For each running P,
// sysmon reads the CPU clock of the P's thread (clock_gettime on
// pthread_getcpuclockid's clock: ~0.4 µs, a system call, since the vDSO
// serves only the caller's own clocks). A thread whose CPU time has not
// moved for a whole sysmon tick (and at least kSyscallHandoffNs), still
// running the same G, did not run at all. That is either blocked or
// runnable but not given a CPU (an oversubscribed machine); only
// /proc/self/task/TID/syscall tells the two apart ("running" for a
// runnable thread; for a blocked one the system call and its user sp and
// pc, which the G keeps as its syscallsp/pc). Reading it costs ~13 µs, so
// it is read only for a thread whose clock stood still, or that ran for
// only part of the last tick or has just started a G, while other work
// waits for its P, and whose clock does not move in the µs sysmon then
// waits (a running thread's does); such a thread is then watched for
// kSyscallHandoffNs on the spot (confirm_blocked) rather than a tick later. All of that only while a
// CPU is free for sysmon; when every CPU runs a goroutine, sysmon's own
// wake-ups would make busy threads look stopped. HACKING.md has the numbers.
//
// Taking the P from a thread that may wake at any moment. The M uses its P
// only with m->locks raised (the rule in HACKING.md), and every rise from
// 0 (locks_inc, runtime2.h) checks m->blockretake after a fence. sysmon
// sets blockretake = kBlockRetaking, fences, and reads m->locks: a Dekker
// pair. Either sysmon sees locks > 0 and backs off, or the M sees
// kBlockRetaking and waits until sysmon has made the M's state exactly
// that of a G inside gort::syscall (G status syscall, P status syscall
// with no M, m->p null, m->oldp the P) and set kBlockRetaken. The fence on
// the M's side is on every runtime entry, so it is made asymmetric:
// sysmon's side is membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED), which
// runs a full barrier on every CPU running one of our threads, and the M's
// side is then only a compiler barrier (the technique of liburcu and
// folly's asymmetric fences). A kernel without it gets real fences.
//
// Coming back. The G does not know it lost its P. Once its call returns it
// runs its own code until it enters gort: mcall (every park and yield),
// acquirem_p (gosched, stop the world), a yield point (sysmon poisoned its
// stackguard0) or an asynchronous preemption. There it takes Go's
// exitsyscall path (exitblocked): its old P if still free, else an idle
// P, else the global queue while its M stops. Code without calls gets no
// yield point, so the request is also asynchronous: a CPU-time timer on
// the thread's own clock (timer_create with SIGEV_THREAD_ID), armed at the
// retake. It cannot fire while the thread is blocked, so the blocking call
// is never interrupted; it fires at the first kernel tick after the thread
// has run again, and every millisecond of CPU time after that until the G
// is back (the kernel looks at CPU timers at its ticks). So a G runs its
// own code without a P for about one tick of CPU time (1/CONFIG_HZ: 4 ms
// at HZ=250), two if the first signal finds it at a point that is not safe
// (libc, the runtime), as any asynchronous preemption may.
#include <fcntl.h>
#include <linux/membarrier.h>
#include <sched.h>
#include <signal.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <climits>
#include <cstdio>
#include <cstdlib>
#include <cstring>

#include "gort/syscall.h"
#include "preempt/preempt.h"
#include "runtime2.h"
#include "trace.h"
#include "sanitizer.h"

namespace gort::rt {

bool asymmetric_fence = false;

namespace {

int ncpu = 1;  // CPUs this process may run on

// How often sysmon looks at a P whose thread may be blocked while work
// waits for it, when that costs no running G a CPU (Go's sysmon's shortest
// sleep). On a VM such a sleep lasts ~60 µs.
constexpr std::int64_t kBlockPollNs = 20'000;
// While every watched thread keeps running (its clock advanced over most of
// the last interval), the looks space out, doubling up to this: a busy
// server's thread switches goroutines and makes short system calls all the
// time, and sysmon looking at it every 20 µs cost such a server a fifth of
// its requests (examples/echo at GOMAXPROCS=1 on 2 CPUs, the other used by
// the load client: "spare" counts only gort's threads). A thread seen
// running only in part brings the looks back to 20 µs.
constexpr std::int64_t kBlockPollMaxNs = 500'000;
std::int64_t pollgap = kBlockPollNs;
// GORTDEBUG=blockwarn reports blocks longer than this, looking this often.
constexpr std::int64_t kBlockWarnNs = 1'000'000;
constexpr std::int64_t kBlockWarnPollNs = 500'000;

// Reads a small /proc file of one of our threads into buf.
bool read_task_file(pid_t tid, const char* name, char* buf, std::size_t size) {
  char path[64];
  std::snprintf(path, sizeof path, "/proc/self/task/%d/%s", static_cast<int>(tid), name);
  int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  ssize_t n = ::read(fd, buf, size - 1);
  ::close(fd);
  if (n <= 0) return false;
  buf[n] = 0;
  return true;
}

// Is the thread blocked in a system call (not running, not runnable)? If it
// is, *sp and *pc are where it entered the kernel (0 if unknown).
// /proc/TID/syscall says "running" for a thread that is running or
// runnable; otherwise "NR args... sp pc", or "-1 sp pc" outside a system
// call. The last is a thread stopped by a debugger or by SIGSTOP (the
// inspector's --stop, gcore: the P must not move under them) or, briefly,
// in a page fault: not blocked. Where the file cannot be read, the state
// letter of /proc/TID/stat (S: sleeping, D: uninterruptible) says as
// much, without the place.
bool thread_blocked(pid_t tid, std::uintptr_t* sp, std::uintptr_t* pc) {
  char buf[256];
  *sp = *pc = 0;
  if (read_task_file(tid, "syscall", buf, sizeof buf)) {
    if (std::strncmp(buf, "running", 7) == 0 || std::strncmp(buf, "-1 ", 3) == 0) return false;
    std::uintptr_t v[9] = {};
    int n = 0;
    for (char* p = buf; n < 9 && *p && *p != '\n';) {
      char* end;
      v[n] = std::strtoull(p, &end, 0);
      if (end == p) break;
      ++n;
      p = end;
    }
    if (n >= 3) {
      *sp = v[n - 2];
      *pc = v[n - 1];
    }
    return true;
  }
  if (!read_task_file(tid, "stat", buf, sizeof buf)) return false;
  const char* p = std::strrchr(buf, ')');
  return p != nullptr && p[1] == ' ' && (p[2] == 'S' || p[2] == 'D');
}

void arm_timer(M* mp, bool on) {
  if (!mp->hasblocktimer) return;
  // The handler injects only at safe points, whose table is built on first
  // use (sysmon's first preemption request, or here).
  if (on && !async_preempt_enabled()) return;
  itimerspec its{};
  if (on) {
    its.it_value.tv_nsec = 1;              // as soon as the thread has run at all (at a tick)
    its.it_interval.tv_nsec = 1'000'000;  // then every ms of CPU time, should the G be at an unsafe point
  }
  timer_settime(static_cast<timer_t>(mp->blocktimer), 0, &its, nullptr);
}

// The thread ran during part of the last interval and work waits: is it
// blocked now, and does it stay blocked for kSyscallHandoffNs? sysmon
// watches its CPU clock that long (spinning: a timed sleep on a VM ends
// tens of µs late) instead of coming back a tick later; a sleep of sysmon's
// costs more than the wait. cpu: the clock just read.
bool confirm_blocked(M* mp, std::int64_t cpu, std::uintptr_t* sp, std::uintptr_t* pc) {
  if (!thread_blocked(mp->procid, sp, pc)) return false;
  const std::int64_t until = nanotime() + kSyscallHandoffNs;
  do {
    procyield(50);
    if (thread_cpu_ns(mp) != cpu) return false;
  } while (nanotime() < until);
  return true;
}

// sysmon: the thread of mp, running gp on pp, is blocked. Take the P, as
// entersyscall would have given it up. False if the M is in the runtime
// or has moved on meanwhile.
bool retake_one(P* pp, M* mp, G* gp, std::uintptr_t sp, std::uintptr_t pc, const SysmonTick& pd) {
  std::uint32_t none = kBlockNone;
  if (!mp->blockretake.compare_exchange_strong(none, kBlockRetaking)) return false;
  // The other half of locks_inc's fence.
  if (asymmetric_fence) {
    membarrier_all();
  } else {
#if !GORT_TSAN  // (TSan supports no fences; the CAS above is a full barrier on x86)
    std::atomic_thread_fence(std::memory_order_seq_cst);
#endif
  }
  // acquire: everything the M did with its P (locks > 0) happens before.
  if (mp->locks.load_acquire() != 0 || pp->status.load() != Prunning || pp->m != mp || mp->p != pp ||
      mp->curg.load_acquire() != gp || readgstatus(gp) != Grunning) {
    mp->blockretake.store(kBlockNone, std::memory_order_release);
    return false;
  }
  // The M cannot use its P now: on its way into gort it waits for us. Do
  // what its entersyscall would have done (syscall.cpp), with the hand-off
  // due at once (retake, right after this pass, hands it off).
  gp->syscallsp = sp;
  gp->syscallpc = pc;
  casgstatus(gp, Grunning, Gsyscall);
  pp->syscalltick++;
  pp->syscallwhen = nanotime() - kSyscallHandoffNs;
  pp->syscallm = mp;
  slicetimer_disarm(mp);  // its blocking call must not fail with EINTR
  pp->m = nullptr;
  mp->oldp = pp;
  mp->p = nullptr;
  mp->blockedsince = pd.blockcpuwhen;
  mp->blockcpu = pd.blockcpu;
  mp->blockwarned = pd.blockwarned;
  // The way back: the next yield point, or the signal once it runs again.
  // Before kBlockRetaken is published: from then on the M may come back
  // at once and disarm both (exitblocked); a request set after that would
  // stay behind, and the timer would go on firing every ms of CPU time.
  gp->preempt = true;
  gp->stackguard0.store(kStackPreempt, std::memory_order_relaxed);
  arm_timer(mp, true);
  // Recorded before it is published: the M may come back (GO_SYSEXIT) as
  // soon as it sees kBlockRetaken.
  GORT_TRACE(GORT_TRACE_EV_GO_BLOCKED, gp->goid, pp->id);
  pp->status.store(Psyscall, std::memory_order_seq_cst);
  mp->blockretake.store(kBlockRetaken, std::memory_order_release);
  sched.nblockretake.fetch_add(1, std::memory_order_relaxed);
  return true;
}

// blockwarn for the Gs that have lost their P already: their thread may
// block again and again without the G entering gort (a loop of plain
// reads), each stretch a new chance to see a new call site. Returns
// whether there are such Ms.
bool blockwarn_retaken(std::int64_t now) {
  bool any = false;
  for (M* mp = allm.load(); mp != nullptr; mp = mp->alllink) {
    if (mp->blockretake.load(std::memory_order_acquire) != kBlockRetaken) continue;
    any = true;
    std::int64_t cpu = thread_cpu_ns(mp);
    if (cpu != mp->blockcpu) {
      mp->blockcpu = cpu;
      mp->blockedsince = now;
      mp->blockwarned = false;
    } else if (!mp->blockwarned && now - mp->blockedsince >= kBlockWarnNs && mp->locks == 0) {
      std::uintptr_t sp, pc;
      mp->blockwarned = true;
      G* gp = mp->curg.load_acquire();
      if (gp != nullptr && thread_blocked(mp->procid, &sp, &pc)) blockwarn_request(mp, gp);
    }
  }
  return any;
}

}  // namespace

std::int64_t thread_cpu_ns(M* mp) {
  timespec ts;
  if (clock_gettime(mp->cpuclock, &ts) != 0) return -1;
  return ts.tv_sec * 1'000'000'000LL + ts.tv_nsec;
}

void membarrier_all() {
  if (syscall(SYS_membarrier, MEMBARRIER_CMD_PRIVATE_EXPEDITED, 0, 0) != 0)
    fatal("membarrier(MEMBARRIER_CMD_PRIVATE_EXPEDITED) failed after registration");
}

void blockretake_init() {
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) == 0) ncpu = CPU_COUNT(&set);
  if (ncpu < 1) ncpu = 1;
  // TSan does not know membarrier: it gets the fences it can see.
  if (!san::kTsan && syscall(SYS_membarrier, MEMBARRIER_CMD_REGISTER_PRIVATE_EXPEDITED, 0, 0) == 0)
    asymmetric_fence = true;
}

void blockretake_minit(M* mp) {
  if (pthread_getcpuclockid(pthread_self(), &mp->cpuclock) != 0) mp->cpuclock = CLOCK_THREAD_CPUTIME_ID;
  // The way back from a retake for a G in code without yield points. Not
  // under TSan (it delivers signals late, in its own context) nor without
  // asynchronous preemption.
  if (!debug.blockretake || debug.preemptoff || debug.asyncpreemptoff || san::kTsan) return;
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGURG;
  sev._sigev_un._tid = mp->procid;  // glibc's sigev_notify_thread_id
  sev.sigev_value.sival_ptr = mp;
  timer_t t;
  if (timer_create(mp->cpuclock, &sev, &t) == 0) {
    mp->blocktimer = t;
    mp->hasblocktimer = true;
  }
}

void blockretake_mexit(M* mp) {
  if (!mp->hasblocktimer) return;
  timer_delete(static_cast<timer_t>(mp->blocktimer));
  mp->hasblocktimer = false;
}

// locks_inc found sysmon deciding whether to take this M's P: wait for it
// (it decides without blocking, in a few µs).
void blockretake_wait(M* mp) {
  while (mp->blockretake.load(std::memory_order_acquire) == kBlockRetaking) procyield(10);
}

M* acquirem_p() {
  for (;;) {
    M* mp = getm();
    locks_inc(mp);
    if (mp->blockretake.load(std::memory_order_acquire) != kBlockRetaken) return mp;
    mp->locks--;
    exitblocked(mp->curg, /*pin=*/false);
  }
}

namespace {
// From here the M is in an ordinary system call (sysmon looks only at
// running Ps, so it will not come back for this one). m->locks > 0.
void clear_retaken(M* mp, G* gp) {
  arm_timer(mp, false);
  sched.nblockreturn.fetch_add(1, std::memory_order_relaxed);
  mp->blockretake.store(kBlockNone, std::memory_order_relaxed);
  mp->blockedsince = 0;
  gp->preempt = false;  // the request was the retake's; sysmon asks again if a slice has ended
  gp->stackguard0.store(gp->stack.lo + kStackGuard, std::memory_order_relaxed);
}
}  // namespace

void exitblocked_nowait(M* mp) {
  G* gp = mp->curg;
  clear_retaken(mp, gp);
  exitsyscall_nowait(mp, gp);
}

void exitblocked(G* gp, bool pin) {
  M* mp = getm();
  locks_inc(mp);  // waits out a retake in flight
  if (mp->blockretake.load(std::memory_order_acquire) != kBlockRetaken) {
    if (--mp->locks == 0) releasem_rearm(mp);
    return;
  }
  clear_retaken(mp, gp);
  mp->locks--;
  const bool pinned = pin && pin_to_m(gp, mp);
  detail::exitsyscall();
  if (pinned) unpin_from_m(gp, mp);
}

// One pass of sysmon over the running Ps (see the header). *retook: some P
// is now in Psyscall, for retake() to hand off.
std::int64_t retake_blocked(std::int64_t now, bool* retook) {
  *retook = false;
  if (!debug.blockretake && !debug.blockwarn) return LLONG_MAX;
  static std::int64_t lastpass = 0;
  const std::int64_t interval = lastpass != 0 ? now - lastpass : 0;
  lastpass = now;
  std::int32_t procs = gomaxprocs.load();
  // Is a CPU free for sysmon? Then looking often and closely costs no
  // running G anything. When every CPU runs a goroutine's thread, sysmon's
  // own wake-ups would take CPU from them (and make them look as if they
  // had stopped running), and no thread of theirs is blocked: sysmon then
  // only compares the threads' clocks in its ordinary rounds (time slices,
  // at most 10 ms apart while Gs wait), and a thread found standing still
  // over a whole round is taken then.
  //
  // A P whose M is in the scheduler (no G yet: it was just started, or it
  // is looking for work) has that M on a CPU too. And while the world is
  // stopping, no CPU is spare: the stopper spins on one, and the others'
  // threads are about to take the preemption signal, which sysmon, woken
  // on their CPU, would delay (the kernel lets a thread that mostly sleeps
  // preempt the one running; on the 2-CPU VM sysmon's polls, aliased with
  // a stop every 130 µs, made 3 % of stops 20-60 µs slower, one of them
  // 1.6 ms). The stopper asks sysmon to look once it has spun in vain and
  // sleeps (stop_the_world_internal); from then on a CPU is spare.
  int running = 0;
  for (std::int32_t i = 0; i < procs; ++i)
    if (allp[i]->status.load() == Prunning && allp[i]->m.load() != nullptr) running++;
  const bool spare = sched.gcwaiting.load() ? sched.stopsleeping.load() : running < ncpu;
  bool watched = false;  // a P whose thread may block while work waits for it
  bool suspect = false;  // a watched thread ran only in part of the interval
  std::int64_t next = LLONG_MAX;
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp[i];
    SysmonTick& pd = pp->sysmontick;
    M* mp = pp->status.load() == Prunning ? static_cast<M*>(pp->m) : nullptr;
    G* gp = mp ? mp->curg.load_acquire() : nullptr;
    if (gp == nullptr) {
      pd.blockg = nullptr;
      continue;
    }
    const bool waiting = work_waiting(pp, now);
    watched |= waiting;
    const std::int64_t cpu = thread_cpu_ns(mp);
    const bool newrun = gp != pd.blockg || pp->schedtick != pd.blocktick;
    const bool samem = pd.blockm == mp;  // the last clock reading was this thread's
    pd.blockm = mp;
    if (newrun) {
      pd.blockg = gp;
      pd.blocktick = pp->schedtick;
      pd.blockwarned = false;
      pd.blockcheckat = 0;  // the backoff is per run of a G
      pd.blockbackoff = 0;
    }
    if (newrun || cpu != pd.blockcpu) {
      // It ran since the last look. If only for part of it, or it has just
      // started a G, while work waits, it may have blocked since: look now
      // instead of a tick later (confirm_blocked).
      // (A new G on a thread that kept running is not suspect by itself:
      // a busy thread runs many.)
      const bool part = !samem || interval == 0 || cpu - pd.blockcpu < interval / 2;
      pd.blockcpu = cpu;
      pd.blockcpuwhen = now;
      if (!waiting || !part || !spare) continue;
      suspect = true;
      if (!debug.blockretake || mp->locks != 0) continue;
      // Running right now (its clock moves within a µs or two): most
      // threads, for the price of one more clock read.
      procyield(20);
      if (thread_cpu_ns(mp) != cpu || now < pd.blockcheckat) continue;
      std::uintptr_t sp, pc;
      if (confirm_blocked(mp, cpu, &sp, &pc)) {
        if (retake_one(pp, mp, gp, sp, pc, pd)) {
          pd.blockg = nullptr;
          pd.blockbackoff = 0;
          *retook = true;
        }
      } else {
        // Not blocked, or not for long: a thread that blocks often and
        // briefly is looked at this way less and less often (up to 1 ms).
        pd.blockbackoff = std::clamp<std::int64_t>(pd.blockbackoff * 2, kBlockPollNs, 1'000'000);
        pd.blockcheckat = now + pd.blockbackoff;
      }
      continue;
    }
    // The thread has not run since blockcpuwhen.
    if (waiting) suspect = true;
    const std::int64_t stood = now - pd.blockcpuwhen;
    if (debug.blockwarn && !pd.blockwarned && stood >= kBlockWarnNs && mp->locks == 0) {
      std::uintptr_t sp, pc;
      pd.blockwarned = true;
      if (thread_blocked(mp->procid, &sp, &pc)) blockwarn_request(mp, gp);
    }
    if (!debug.blockretake || !waiting) continue;
    if (stood < kSyscallHandoffNs) {
      next = std::min(next, pd.blockcpuwhen + kSyscallHandoffNs);
      continue;
    }
    if (mp->locks != 0) continue;  // in the runtime (a runtime lock's futex): not ours to take
    std::uintptr_t sp, pc;
    if (!thread_blocked(mp->procid, &sp, &pc)) {
      pd.blockcpuwhen = now;  // runnable, waiting for a CPU: not blocked
      continue;
    }
    if (retake_one(pp, mp, gp, sp, pc, pd)) {
      pd.blockg = nullptr;
      *retook = true;
    }
  }
  pollgap = suspect ? kBlockPollNs : std::min(pollgap * 2, kBlockPollMaxNs);
  if (watched && spare) next = std::min(next, now + pollgap);
  if (debug.blockwarn) {
    if (blockwarn_retaken(now) || running > 0) next = std::min(next, now + kBlockWarnPollNs);
    blockwarn_report();
  }
  return next;
}

}  // namespace gort::rt
