// sysmon: the monitor thread. It runs on its own M without a P, so it keeps
// working while every P is busy (or stuck). Each round it:
//   - starts an M for due timers that nobody is waiting for,
//   - looks at every P (retake): the place where Ps are taken back from long
//     system calls and Gs that ran past their time slice are preempted,
//   - prints the scheduler trace (GORTDEBUG=schedtrace),
// sleeping 20 µs between rounds while there is activity and doubling the
// sleep up to 10 ms while idle (Go's rule). When every P is idle it sleeps
// until woken (acquirep wakes it), so an idle program costs no CPU.
#include <sys/prctl.h>
#include <time.h>

#include "runtime2.h"

namespace gort::rt {

namespace {

// retake: one pass over the Ps. Records each running P's schedtick and when
// it was first seen; the preemption and syscall hand-off policies (preempt/,
// syscalls) act on these snapshots. Returns how many Ps it acted on.
std::uint32_t retake(std::int64_t now) {
  std::uint32_t n = 0;
  std::int32_t procs = gomaxprocs.load();
  for (std::int32_t i = 0; i < procs; ++i) {
    P* pp = allp[i];
    std::uint32_t s = pp->status.load(std::memory_order_relaxed);
    SysmonTick& pd = pp->sysmontick;
    if (s == Prunning || s == Psyscall) {
      std::uint32_t t = pp->schedtick;
      if (pd.schedtick != t) {
        pd.schedtick = t;
        pd.schedwhen = now;
      }
    }
  }
  return n;
}

void usleep_precise(std::int64_t us) {
  timespec ts{static_cast<time_t>(us / 1000000), static_cast<long>((us % 1000000) * 1000)};
  clock_nanosleep(CLOCK_MONOTONIC, 0, &ts, nullptr);
}

}  // namespace

// Lock-free: acquirep calls it, sometimes with sched.lock held. The note is
// one-shot; sysmon clears it after waking, under sched.lock.
void wake_sysmon() {
  if (sched.sysmonwait.exchange(false)) sched.sysmonnote.wakeup();
}

void sysmon() {
  std::int64_t delay = 0;  // µs
  int idle = 0;            // how many cycles in succession we had not woken anybody up
  std::int64_t lasttrace = 0;
  for (;;) {
    if (idle == 0) delay = 20;       // start with 20us sleep...
    else if (idle > 50) delay *= 2;  // ...then start doubling the sleep
    if (delay > 10 * 1000) delay = 10 * 1000;
    usleep_precise(delay);
    if (sched.exiting.load()) {
      std::atomic<std::uint32_t> never{0};
      for (;;) futexsleep(&never, 0, -1);
    }
    std::int64_t now = nanotime();
    if (debug.schedtrace_ms <= 0 && (sched.gcwaiting.load() || sched.npidle.load() == gomaxprocs.load())) {
      sched.lock.lock();
      if (sched.gcwaiting.load() || sched.npidle.load() == gomaxprocs.load()) {
        checkdead();
        sched.sysmonwait.store(true);
        sched.lock.unlock();
        // Sleep until a P starts running again, or the next timer is due
        // (nobody else may be waiting for it), or 100 ms pass: checkdead is
        // not conclusive while threads gort did not make exist, so it is
        // asked again now and then.
        constexpr std::int64_t kIdleCheck = 100'000'000;
        std::int64_t next = earliest_timer();
        std::int64_t sleep = next != 0 ? next - nanotime() : kIdleCheck;
        if (sleep > kIdleCheck) sleep = kIdleCheck;
        if (sleep > 0) sched.sysmonnote.tsleep(sleep);
        sched.lock.lock();
        sched.sysmonwait.store(false);
        sched.sysmonnote.clear();
        sched.lock.unlock();
        idle = 0;
        delay = 20;
        now = nanotime();
      } else {
        sched.lock.unlock();
      }
    }
    // A timer is overdue and no M is waiting for timers or looking for
    // work: start one (Go relies on its netpoller for this).
    std::int64_t next = earliest_timer();
    if (next != 0 && next < now && !sched.polling.load() && sched.nmspinning.load() == 0 &&
        sched.npidle.load() > 0) {
      startm(nullptr, false);
      idle = 0;
    } else if (retake(now) != 0) {
      idle = 0;
    } else {
      idle++;
    }
    if (debug.schedtrace_ms > 0 && lasttrace + debug.schedtrace_ms * 1000000 <= now) {
      lasttrace = now;
      schedtrace(debug.scheddetail);
    }
  }
}

}  // namespace gort::rt
