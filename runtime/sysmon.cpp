// sysmon: the monitor thread. It runs on its own M without a P, so it keeps
// working while every P is busy (or stuck). Each round it:
//   - starts an M for due timers that nobody is waiting for,
//   - looks at every P (retake): the place where Ps are taken back from long
//     system calls and Gs that ran past their time slice are preempted,
//   - prints the scheduler trace (GORTDEBUG=schedtrace),
// sleeping 20 µs between rounds while there is activity and doubling the
// sleep up to 10 ms while idle (Go's rule). When every P is idle it sleeps
// until woken (acquirep wakes it), so an idle program costs no CPU.
//
// System calls are where gort departs from Go's sysmon. Go hands a P off
// after it has seen the same syscalltick in two rounds, i.e. 20 µs to 10 ms
// into the call depending on how deeply sysmon sleeps. gort stamps the entry
// time on the P, so:
//   - retake hands a P off as soon as its call has lasted kSyscallHandoffNs;
//   - sysmon never sleeps past the hand-off deadline of a P it has seen in a
//     system call;
//   - a call that begins while sysmon sleeps longer than that wakes it
//     (sysmon_wake, from entersyscall). The wake-up is a futex syscall on
//     the calling thread, so it must be rare: sysmon counts a round in which
//     any P made a system call as activity (20 µs sleeps), and while calls
//     keep coming it is always due within 20 µs and nobody needs to wake it.
//     A program that makes system calls pays for that with sysmon waking
//     every 20 µs, as Go's sysmon does while it retakes Ps;
//   - a timed sleep ends late (by a few µs on bare metal, by 20-60 µs on
//     VMs whose idle vCPUs halt), so for a hand-off that is due sysmon
//     sleeps that much less and spins the rest (sysmon_sleep);
//   - the M that should run a retaken P is asleep, and waking a thread on an
//     idle CPU costs as much again. sysmon is awake and on time: when the
//     P has work waiting it runs the P itself and hands the monitor role to
//     the idle M instead (sysmon_handover). Go's sysmon is one fixed thread;
//     gort's is a role that one M at a time holds, and its state (below)
//     outlives the thread.
#include <algorithm>
#include <climits>

#include "preempt/preempt.h"
#include "netpoll.h"
#include "runtime2.h"
#include "trace.h"

namespace gort::rt {

namespace {

// How much later than a hand-off deadline sysmon may be due before
// entersyscall bothers to wake it (a wake-up costs the caller a syscall).
constexpr std::int64_t kSysmonWakeSlackNs = 10'000;
// A P in a system call that has no work of its own while other Ms could
// take work is left alone this long (Go's rule: handing it off would only
// move it to the idle list, but it must not keep sysmon from sleeping deeply
// forever).
constexpr std::int64_t kSyscallIdleRetakeNs = 10'000'000;

// Would retake hand pp, in a system call past its deadline, to another M?
// Not if it has no work of its own and some M is spinning or some P idle:
// they will pick up whatever work comes.
// (While the world stops, always: the P must stop, and its M will not.)
bool handoff_wanted(P* pp) {
  return !runqempty(pp) || sched.nmspinning.load() + sched.npidle.load() == 0 || sched.gcwaiting.load() != 0;
}

// The next time sysmon must look at the Ps in system calls. `handoff` is a
// deadline at which a P is expected to be handed off: sysmon must be on time
// for it (see sysmon_sleep); `look` is one where it probably is not.
struct SyscallDue {
  std::int64_t handoff = LLONG_MAX;
  P* pp = nullptr;         // the P due at `handoff`
  std::uint32_t tick = 0;  // its syscalltick then: the call that is due
  std::int64_t look = LLONG_MAX;

  void add(P* p, std::uint32_t t, std::int64_t when) {
    if (handoff_wanted(p)) {
      if (when < handoff) {
        handoff = when;
        pp = p;
        tick = t;
      }
    } else {
      look = std::min(look, when);
    }
  }
};

// The monitor's state between rounds. It belongs to the role, not to a
// thread: when sysmon_handover gives the role to another M, that M carries
// on from here. Only the holder touches it; the hand-over (sched.lock, the
// new holder's park note) orders the accesses.
struct SysmonState {
  std::int64_t delay = 0;  // µs
  int idle = 0;            // how many cycles in succession we had not woken anybody up
  std::int64_t lasttrace = 0;
  SyscallDue due;  // retake: when the Ps in system calls need the next look
  std::int64_t preemptnext = LLONG_MAX;  // when a running G's time slice ends (or a request is retried)
};
SysmonState sm;

// A P just retaken from a system call has work waiting (its queue or the
// global one). Instead of waking an idle M to run it (handoffp → startm),
// the caller, sysmon, runs it, and the idle M is woken to be sysmon: its
// wake-up latency then delays sysmon's next round, not the P's work. Only an
// M parked by stopm(may_exit=true) can take the role (its caller returns to
// mstart, which runs sysmon()); never m0, whose schedule_loop must return
// from gort::run. If there is none, a new thread takes the role: handoffp
// would have had to make one (or wake m0) for the P anyway, and this way the
// P does not wait for it to start. Returns false (the caller hands the P off
// as usual) if the world is stopping or the program exiting.
bool sysmon_handover(P* pp) {
  if (runqempty(pp) && sched.runqsize.load() == 0) return false;
  sched.lock.lock();
  if (sched.gcwaiting.load() || sched.exiting.load()) {
    sched.lock.unlock();
    return false;
  }
  M* nmp = nullptr;
  for (M** l = &sched.midle; *l; l = &(*l)->schedlink) {
    if ((*l)->stopm_may_exit) {
      nmp = *l;
      *l = nmp->schedlink;
      sched.nmidle--;
      nmp->blocked = false;
      break;
    }
  }
  // sched.nmsys still counts one M: the role moves, the counts do not.
  M* mp = getm();
  mp->sysmon = false;
  mp->nextp = pp;  // mstart acquires it once sysmon() has returned
  if (nmp) nmp->sysmon = true;
  sched.sysmonwhen.store(0);  // nobody sleeps until the new holder publishes
  sm.idle = 0;  // a hand-off is activity. The last write to sm by this holder:
  sched.lock.unlock();  // the new one reads it after the wake-up below.
  if (nmp)
    nmp->park.wakeup();
  else
    newm(sysmon, nullptr);
  return true;
}

// retake: one pass over the Ps. Hands off Ps whose system call has lasted
// long enough (time slices are preempt_slices' job). *due: when the Ps still
// in system calls need another look; *syscalls: some P made a system call
// since the last pass; *handed: this M gave the sysmon role away and has a
// P to run (nextp), so the pass stopped there. Returns how many Ps it
// handed off.
std::uint32_t retake(std::int64_t now, SyscallDue* due, bool* syscalls, bool* handed) {
  std::uint32_t n = 0;
  *due = SyscallDue{};
  *syscalls = false;
  *handed = false;
  std::int32_t procs = gomaxprocs.load();
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp[i];
    std::uint32_t s = pp->status.load();
    SysmonTick& pd = pp->sysmontick;
    std::uint32_t st = pp->syscalltick;
    if (pd.syscalltick != st) {
      pd.syscalltick = st;
      *syscalls = true;
    }
    if (s != Psyscall) continue;
    // Read after the status: entersyscall stamps it before storing Psyscall.
    std::int64_t when = pp->syscallwhen;
    pd.syscallwhen = when;
    if (now < when + kSyscallHandoffNs) {
      due->add(pp, st, when + kSyscallHandoffNs);
      continue;
    }
    // The call blocks: its thread's slice timer must not interrupt it
    // (preempt/slicetimer.cpp). Whether or not the P is handed off.
    if (M* mp = pp->syscallm) slicetimer_disarm(mp);
    // On the one hand we don't want to retake Ps if there is no other work
    // to do, but on the other hand we want to retake them eventually because
    // they can prevent the sysmon thread from deep sleep.
    if (!handoff_wanted(pp) && now < when + kSyscallIdleRetakeNs) {
      due->look = std::min(due->look, when + kSyscallIdleRetakeNs);
      continue;
    }
    // Go lowers nmidlelocked around this CAS so that the syscall's M, failing
    // to get a P back and stopping, does not report a deadlock while the P
    // is in flight. gort's checkdead never reports one while a G is runnable
    // or in a syscall (the G's state, not the counts, decides), so it is not
    // needed here.
    if (pp->status.compare_exchange_strong(s, Pidle)) {
      GORT_TRACE(GORT_TRACE_EV_PROC_HANDOFF, pp->id, GORT_TRACE_NO_M);
      n++;
      pp->syscalltick++;
      pd.syscalltick = pp->syscalltick;
      if (sysmon_handover(pp)) {
        *handed = true;
        return n;
      }
      handoffp(pp);
    }
  }
  return n;
}

// Time slices (the other half of Go's retake): the G on a running P whose
// slice began timeslice ago is asked to yield (preemptone: the yield-point
// poison and SIGURG). Go notices a slice only once sysmon has seen the same
// schedtick in two rounds, up to 10 ms apart when the program is busy, so
// its 10 ms slice lasts 10-20 ms. gort stamps the slice's start on the P
// (execute) and sysmon sleeps until the earliest end: a slice is the slice.
// Unlike Go, a G that nothing else is waiting for is left alone: a signal
// per slice would be pure loss for it.
//
// A request can fail: the signal may land in libc or in the runtime, or
// async preemption may be off and the loop have no yield point. It is
// repeated 50 µs later, and then at intervals that double (up to a slice): a G stuck at unsafe points costs a few signals, not
// a signal storm.
//
// sysmon wakes only for these deadlines: a slice that starts while it
// sleeps past the slice's end wakes it (execute → sysmon_wake), and a G left
// alone is looked at again after max(slice, 1 ms) or when its P's next timer
// is due. (A wake-up of sysmon takes a CPU from a running G: on a 2-CPU VM,
// waking every 100 µs cost the spinners a third of their time.) Returns when
// sysmon must look again, LLONG_MAX if no slice is running.
std::int64_t preempt_slices(std::int64_t now) {
  if (debug.preemptoff) return LLONG_MAX;
  const std::int64_t slice = debug.timeslice_ns;
  std::int64_t next = LLONG_MAX;
  const std::int64_t ticks = cputicks();
  std::int32_t procs = gomaxprocs.load();
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp[i];
    if (pp->status.load() != Prunning) continue;
    M* mp = pp->m;
    if (mp == nullptr || mp->curg == nullptr) continue;  // the scheduler itself, looking for work
    SysmonTick& pd = pp->sysmontick;
    std::int64_t start = pp->slicestart;  // cputicks: identifies the slice; its start in nanotime:
    const std::int64_t start_ns = now - ticks_to_ns(ticks - start);
    // An M with a slice timer ends its slices itself (preempt/slicetimer.cpp):
    // sysmon comes later, for those it could not end.
    const bool timer = mp->slicetimerstate.load(std::memory_order_relaxed) != kSliceTimerNone;
    std::int64_t due = pd.preemptslice == start ? pd.preemptwhen : start_ns + slice + (timer ? kSliceTimerBackstopNs : 0);
    // A thread that has not run since sysmon's last look (blocked, most
    // likely: retake_blocked is about to take its P) gains nothing from a
    // signal, and a blocking call it interrupts may fail with EINTR.
    const SysmonTick& bt = pp->sysmontick;
    const bool stood = bt.blockg == mp->curg && bt.blockcpuwhen < now && (debug.blockretake || debug.blockwarn);
    if (now >= due && stood) {
      due = now + kPreemptRetryNs;
    } else if (now >= due && !work_waiting(pp, now)) {
      // Nothing else could run here: a preemption would only start a new
      // slice for the same G, at the price of a signal. Look again later,
      // or when a timer of this P is due.
      pd.preemptslice = start;
      pd.preemptfirst = 0;
      // (An M with a slice timer looks again itself, from its handler:
      // sysmon's look is only the backstop, and a wake-up of sysmon takes
      // a CPU from a running G.)
      pd.preemptwhen = now + std::max(slice, kSliceIdleRecheckNs) * (timer ? 10 : 1);
      std::int64_t t = pp->timer0when.load(std::memory_order_relaxed);
      if (t > now && t < pd.preemptwhen) pd.preemptwhen = t;
      due = pd.preemptwhen;
    } else if (now >= due) {
      preemptone(pp);
      if (pd.preemptslice != start || pd.preemptfirst == 0) pd.preemptfirst = now;
      std::int64_t retry = std::clamp(now - pd.preemptfirst, kPreemptRetryNs, slice);
      pd.preemptslice = start;
      pd.preemptwhen = now + retry;
      due = pd.preemptwhen;
    }
    next = std::min(next, due);
  }
  return next;
}

// How late sysmon's timed sleeps end, learned from its short sleeps: a few
// µs on bare metal, 20-60 µs on some VMs, whatever the timer slack. Biased
// high (it rises fast and decays slowly), since it is used as a margin.
std::int64_t sleep_overshoot = 0;

void learn_overshoot(std::int64_t sample) {
  if (sample > sleep_overshoot)
    sleep_overshoot += (sample - sleep_overshoot) / 2;
  else
    sleep_overshoot -= (sleep_overshoot - sample) / 16;
  sleep_overshoot = std::clamp<std::int64_t>(sleep_overshoot, 0, 200'000);
}

// sysmon's sleep between rounds: until `until` or the Ps' due times, or
// until entersyscall needs a hand-off earlier (sysmon_wake).
//
// A hand-off deadline must be met to the µs, and a timed sleep ends late by
// sleep_overshoot: so sysmon sleeps that much less and spins the rest,
// watching the P. The spin ends as soon as the P's call does, so it costs at
// most the call's own duration, and only for calls that will be handed off.
void sysmon_sleep(std::int64_t until, SyscallDue due) {
  sched.sysmonwake.store(0);
  // Publish the wake-up time, then look for Ps that entered a system call
  // since retake's pass (their syscalltick is not the one retake recorded).
  // entersyscall does the opposite (stores Psyscall, then reads sysmonwhen),
  // both seq_cst: either we see its P here or it sees our time and wakes us.
  until = std::min(until, due.look);
  std::int64_t published = std::min(until, due.handoff);
  sched.sysmonwhen.store(published);
  std::int32_t procs = gomaxprocs.load();
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp[i];
    if (pp->status.load() != Psyscall) continue;
    std::uint32_t st = pp->syscalltick;
    if (st == pp->sysmontick.syscalltick) continue;
    due.add(pp, st, pp->syscallwhen + kSyscallHandoffNs);
  }
  until = std::min(until, due.look);
  if (std::min(until, due.handoff) < published) sched.sysmonwhen.store(std::min(until, due.handoff));
  // Spin for the hand-off only if it comes before the ordinary wake-up.
  const bool spin = due.pp != nullptr && due.handoff - sleep_overshoot < until;
  const std::int64_t wake = spin ? due.handoff - sleep_overshoot : until;
  const std::int64_t start = nanotime();
  for (;;) {
    std::int64_t now = nanotime();
    if (sched.sysmonwake.load() != 0) return;
    if (now >= wake) {
      if (wake - start > 0 && wake - start < 200'000) learn_overshoot(now - wake);
      break;
    }
    futexsleep(&sched.sysmonwake, 0, wake - now);
  }
  if (!spin) return;
  while (nanotime() < due.handoff) {
    if (sched.sysmonwake.load(std::memory_order_relaxed) != 0) return;
    if (due.pp->status.load(std::memory_order_relaxed) != Psyscall || due.pp->syscalltick != due.tick) return;
    procyield(20);
  }
}

}  // namespace

// Lock-free: acquirep calls it, sometimes with sched.lock held. The note is
// one-shot; sysmon clears it after waking, under sched.lock.
void wake_sysmon() {
  if (sched.sysmonwait.exchange(false)) sched.sysmonnote.wakeup();
}

// A tool's trace request arrived (the SIGURG handler, gort trace PID): wake
// sysmon from whichever sleep it is in. Async-signal-safe: atomics and
// futex wakes only.
void sysmon_poke() {
  wake_sysmon();
  if (sched.sysmonwake.exchange(1) == 0) futexwakeup(&sched.sysmonwake, 1);
}

// A P has just entered a system call whose hand-off is due at deadline:
// make sure sysmon looks by then. Usually it is due sooner anyway (it polls
// every 20 µs while system calls are being made) and this is one load. The
// CAS makes one caller the waker when several enter at once.
void sysmon_wake(std::int64_t deadline) {
  std::int64_t w = sched.sysmonwhen.load();
  while (w > deadline + kSysmonWakeSlackNs) {
    if (sched.sysmonwhen.compare_exchange_weak(w, deadline)) {
      if (sched.sysmonwake.exchange(1) == 0) futexwakeup(&sched.sysmonwake, 1);
      return;
    }
  }
}

// Gs wait for I/O, and nobody has polled for kSysmonPollNs: every P is busy
// (an idle one's M would be blocked in the netpoller, or would have
// polled on its way there). Go polls here after 10 ms; and until a P
// looks at the global queue, the Gs wait there (with call-free loops on
// every P, until the next time slice ends: golang/go#51651).
namespace {
void netpoll_sysmon(std::int64_t now) {
  if (netpoll_waiters() == 0 || sched.polling.load()) return;
  if (now - sched.lastpoll.load(std::memory_order_relaxed) < kSysmonPollNs) return;
  sched.lastpoll.store(now, std::memory_order_relaxed);
  injectglist(netpoll(0));
}
}  // namespace

// The monitor loop. Returns only when this M has handed the role to another
// M and has a P to run (mstart then schedules).
void sysmon() {
  for (;;) {
    trace::serve_requests();
    if (sm.idle == 0) sm.delay = 20;       // start with 20us sleep...
    else if (sm.idle > 50) sm.delay *= 2;  // ...then start doubling the sleep
    if (sm.delay > kSysmonMaxSleepNs / 1000) sm.delay = kSysmonMaxSleepNs / 1000;
    // Gs wait for I/O and nobody may be polling (every P busy): look every
    // kSysmonPollNs (netpoll_sysmon).
    if (sm.delay > kSysmonPollNs / 1000 && netpoll_waiters() > 0) sm.delay = kSysmonPollNs / 1000;
    sysmon_sleep(std::min(nanotime() + sm.delay * 1000, sm.preemptnext), sm.due);
    if (sched.exiting.load()) park_forever();
    std::int64_t now = nanotime();
    cputicks_calibrate(now);
    // Asleep while the world is stopped (not while it is stopping: a P whose
    // thread is blocked outside gort::syscall stops only when retaken).
    auto quiet = [] {
      return (sched.gcwaiting.load() && sched.stopwait.load() == 0) || sched.npidle.load() == gomaxprocs.load();
    };
    if (debug.schedtrace_ms <= 0 && quiet()) {
      sched.lock.lock();
      if (quiet()) {
        checkdead();
        sched.sysmonwait.store(true);
        sched.lock.unlock();
        // Sleep until a P starts running again, or the next timer is due
        // (nobody else may be waiting for it), or 100 ms pass: checkdead is
        // not conclusive while threads gort did not make exist, so it is
        // asked again now and then.
        constexpr std::int64_t kIdleCheck = 100'000'000;
        std::int64_t t = earliest_timer();
        std::int64_t sleep = t != 0 ? t - nanotime() : kIdleCheck;
        if (sleep > kIdleCheck) sleep = kIdleCheck;
        if (sleep > 0) sched.sysmonnote.tsleep(sleep);
        sched.lock.lock();
        sched.sysmonwait.store(false);
        sched.sysmonnote.clear();
        sched.lock.unlock();
        // Go starts over with 20 µs rounds here. gort's sysmon sleeps
        // until the deadlines it knows of (time slices, hand-offs, blocked
        // threads), so short rounds buy nothing; and a request/response
        // server goes idle and wakes thousands of times a second, each
        // time paying for fifty rounds on a CPU it needs.
        now = nanotime();
      } else {
        sched.lock.unlock();
      }
    }
    bool woke = false;
    // A timer is overdue and no M is waiting for timers or looking for
    // work: start one (Go relies on its netpoller for this).
    std::int64_t t = earliest_timer();
    if (t != 0 && t < now && !sched.polling.load() && sched.nmspinning.load() == 0 && sched.npidle.load() > 0) {
      startm(nullptr, false);
      woke = true;
    }
    // Not activity (Go's rule too): while a P's M is busy and I/O keeps
    // coming, this finds something every kSysmonPollNs, and 20 µs rounds
    // would cost that M's CPU.
    netpoll_sysmon(now);
    // Threads blocked outside gort::syscall first: their Ps go to Psyscall,
    // and retake hands them off in the same round.
    bool retook = false;
    std::int64_t blocknext = retake_blocked(now, &retook);
    bool syscalls = false, handed = false;
    if (retake(now, &sm.due, &syscalls, &handed) != 0 || syscalls || retook) woke = true;
    if (handed) return;  // another M holds the role (and sm) now
    sm.preemptnext = std::min(preempt_slices(now), blocknext);
    sm.idle = woke ? 0 : sm.idle + 1;
    if (debug.schedtrace_ms > 0 && sm.lasttrace + debug.schedtrace_ms * 1000000 <= now) {
      sm.lasttrace = now;
      schedtrace(debug.scheddetail);
    }
  }
}

}  // namespace gort::rt
