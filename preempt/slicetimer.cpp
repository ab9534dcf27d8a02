// The slice timer: each M's own CLOCK_MONOTONIC timer (timer_create,
// SIGEV_THREAD_ID, SIGURG), which ends time slices where they end.
//
// sysmon alone is late on a VM. Its wake-up at a slice's end is a timed
// sleep on a vCPU that is usually idle, and an idle vCPU halts: the host
// must schedule it again before sysmon runs (10.04 ms median, 13.83 ms p99
// from a 10 ms slice's start to sysmon's request, measured here), and its
// tgkill then interrupts another vCPU. A timer that the spinning thread
// arms itself fires on the thread's own (busy) CPU and the signal is taken
// on the way back from that interrupt: 59 µs median, 248 µs p99 late in a
// test outside gort, against 185 µs and 1.1-3.2 ms for sleep + tgkill.
// (Armed from another thread it fires on that thread's CPU, and was as bad
// as sysmon: so each M arms its own.)
//
// Arming costs a system call (timer_settime: ~0.7 µs here, 30 times a
// goroutine switch), so it is not done per slice. The timer is a heartbeat
// that follows the slices lazily:
//   - a slice that begins while the M's timer is disarmed arms it for the
//     slice's end (slicetimer_begin: one load when it is armed already);
//   - when it fires, the handler (below, on the M's own thread) looks at
//     the slice running now: not over yet (the G it was armed for left
//     long ago, and this is a later one): armed again for its end; over,
//     with work waiting for the P: the G is asked to yield, exactly as
//     sysmon's preemptone asks, and the asynchronous half is done on the
//     spot, no tgkill needed; over, and nothing else to run: left alone, as
//     sysmon leaves it, and looked at again later;
//   - an M without a P (parked, in a system call, retaken) lets it lapse.
// So a busy M takes at most one signal per slice length (100 a second at
// 10 ms; for a G that nothing waits for, one per max(slice, 1 ms)), and a
// switch costs nothing more. The timer fires late when its thread has
// moved to another CPU since arming it (the timer stays behind, on a CPU
// that may be idle) and when the host takes the vCPU away: bench/README.md
// has the numbers.
//
// A signal interrupts what the thread is doing, and blocking calls that the
// kernel does not restart after a handler (poll, nanosleep, epoll_wait;
// SA_RESTART covers read, write, accept...) fail with EINTR. Go's SIGURG
// has the same effect, but Go never signals a thread in a system call.
// Neither does the slice timer:
//   - entersyscall disarms it (slicetimer_disarm): one timer_settime
//     (~0.45 µs) for the first gort::syscall after the timer was armed; the
//     next slice to begin arms it again. (Disarming only when it would
//     fire soon and leaving longer calls to sysmon's hand-off would be
//     cheaper, but sysmon wakes milliseconds late on a VM now and then.)
//   - a thread found blocked in a call gort did not see (the signal found
//     it at a syscall instruction) is left to sysmon, which watches such
//     threads (blockretake.cpp) and never signals them while they are
//     blocked; and sysmon disarms the timer of a thread whose P it finds
//     in a system call. That one signal may have cost an EINTR.
// Nor does preemptone's tgkill (sysmon, stop_the_world): it reads the P's
// status again after claiming m->signal_pending, and entersyscall, after
// publishing Psyscall, waits for a signal already on its way.
// sysmon still checks every slice, later (kSliceTimerBackstopNs): it ends
// those the timer could not.
//
// The state (m->slicetimerstate) moves Idle → Busy → Armed → Idle with
// CASes, since the handler may interrupt the M's own arming and sysmon may
// disarm the timer of a thread blocked in a system call: whoever holds Busy
// does the timer_settime; the others leave it be (the handler marks it
// Fired, so that an arming that was too late is not taken for armed).
#include <signal.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>

#include "preempt/preempt.h"
#include "preempt/signal.h"
#include "runtime/trace.h"
#include "runtime2.h"
#include "sanitizer.h"

namespace gort::rt {

namespace {

void settime(M* mp, std::int64_t when) {
  itimerspec its{};
  if (when > 0) {
    its.it_value.tv_sec = when / 1'000'000'000;
    its.it_value.tv_nsec = when % 1'000'000'000;
  }
  timer_settime(static_cast<timer_t>(mp->slicetimer), TIMER_ABSTIME, &its, nullptr);
}

// From Idle (or `from`): arms the timer for `when`. False if someone else
// holds it.
bool arm(M* mp, std::int64_t when, std::uint8_t from = kSliceTimerIdle) {
  std::uint8_t s = from;
  if (!mp->slicetimerstate.compare_exchange_strong(s, kSliceTimerBusy, std::memory_order_acquire)) return false;
  mp->slicetimerwhen = when;
  mp->slicetimerdue = cputicks() + ns_to_ticks(when - nanotime());
  settime(mp, when);
  // Fired: it went off while Busy (`when` had passed by the time it was
  // set: the thread was descheduled in between), and the handler did
  // nothing. That slice end is sysmon's; the next slice arms it again.
  s = kSliceTimerBusy;
  if (!mp->slicetimerstate.compare_exchange_strong(s, kSliceTimerArmed, std::memory_order_release))
    mp->slicetimerstate.store(kSliceTimerIdle, std::memory_order_relaxed);
  return true;
}

// The signal interrupted the thread at a system call: the kernel leaves the
// pc after the `syscall` instruction (0f 05) with -EINTR in rax, or rewinds
// it to the instruction to restart the call. Only bytes on the pc's own
// page are read (it is mapped: the thread runs there); a syscall
// instruction across a page boundary is missed, and then sysmon's
// blocked-thread watch still sees the thread.
bool at_syscall(const ucontext_t* uc) {
  const std::uintptr_t at = ctx_pc(uc);
  const auto* pc = reinterpret_cast<const unsigned char*>(at);
  const std::uintptr_t off = at & 4095;
  const long rax = static_cast<long>(uc->uc_mcontext.gregs[REG_RAX]);
  if (rax == -EINTR && off >= 2 && pc[-2] == 0x0f && pc[-1] == 0x05) return true;
  return off <= 4094 && pc[0] == 0x0f && pc[1] == 0x05;
}

}  // namespace

void slicetimer_minit(M* mp) {
  mp->slicetimerstate.store(kSliceTimerNone, std::memory_order_relaxed);
  // Only where sysmon would send signals itself (preempt.cpp:
  // async_preempt_enabled, less the safe-point table, built on first use).
  if (!debug.slicetimer || debug.preemptoff || debug.asyncpreemptoff || san::kTsan || !signal_installed()) return;
  sigevent sev{};
  sev.sigev_notify = SIGEV_THREAD_ID;
  sev.sigev_signo = SIGURG;
  sev._sigev_un._tid = mp->procid;  // glibc's sigev_notify_thread_id
  sev.sigev_value.sival_ptr = &mp->slicetimer;  // tells it from the blocked-M timer (blockretake.cpp)
  timer_t t;
  if (timer_create(CLOCK_MONOTONIC, &sev, &t) != 0) return;
  mp->slicetimer = t;
  mp->slicetimerstate.store(kSliceTimerIdle, std::memory_order_release);
}

void slicetimer_mexit(M* mp) {
  if (mp->slicetimerstate.exchange(kSliceTimerNone) == kSliceTimerNone) return;
  timer_delete(static_cast<timer_t>(mp->slicetimer));
}

void slicetimer_begin_slow(M* mp, std::int64_t start) {
  if (!async_preempt_enabled()) return;
  // A G that inherits the slice (runnext) may start after its end: two
  // goroutines handing a channel back and forth share one slice for good.
  // Armed for the past, the timer would fire inside arm (Busy: lost), and
  // the next G would arm it again: a signal per switch. The handler looks
  // a little later instead (and, with nothing else to run, rearms it for
  // a slice from then).
  const std::int64_t left = debug.timeslice_ns - ticks_to_ns(cputicks() - start);
  const std::int64_t when = nanotime() + std::max(left, kPreemptRetryNs);
  // Armed for an earlier slice's end (slicetimer_begin): moved, if the
  // handler or sysmon does not hold it meanwhile.
  if (!arm(mp, when)) arm(mp, when, kSliceTimerArmed);
}

// One load when it is not armed (entersyscall calls it for every call).
void slicetimer_disarm(M* mp) {
  std::uint8_t s = mp->slicetimerstate.load(std::memory_order_relaxed);
  if (s != kSliceTimerArmed) return;
  if (!mp->slicetimerstate.compare_exchange_strong(s, kSliceTimerBusy, std::memory_order_acquire)) return;
  settime(mp, 0);
  mp->slicetimerstate.store(kSliceTimerIdle, std::memory_order_release);
}

bool is_slicetimer_signal(const siginfo_t* si, const M* mp) {
  return si->si_code == SI_TIMER && si->si_value.sival_ptr == &mp->slicetimer;
}

// The handler's half (signal.cpp), for every SIGURG of the runtime's: a
// timer signal sent while sysmon's is pending is merged into it (and the
// other way round), so the timer is looked at whichever it was. `timer`:
// this one is the timer's. Returns whether it injected the trampoline.
// Async-signal-safe: atomics, fields of this M and its P, clock_gettime
// and timer_settime.
bool slicetimer_signal(M* mp, ucontext_t* uc, bool timer) {
  if (timer) sched.nslicetimerfired.fetch_add(1, std::memory_order_relaxed);
  std::uint8_t s = mp->slicetimerstate.load(std::memory_order_acquire);
  if (s != kSliceTimerArmed) {
    // Busy: this thread was arming it (interrupted here: see arm) or
    // sysmon is disarming it. Whoever holds it finds Fired.
    if (timer && s == kSliceTimerBusy) mp->slicetimerstate.compare_exchange_strong(s, kSliceTimerFired);
    return false;
  }
  std::int64_t now = nanotime();
  if (!timer && now < mp->slicetimerwhen) return false;  // sysmon's signal, and the timer is not due
  if (!mp->slicetimerstate.compare_exchange_strong(s, kSliceTimerIdle)) return false;
  P* pp = mp->p;
  // No P: parked, in gort::syscall, or retaken. The next slice arms it.
  if (pp == nullptr || sched.exiting.load(std::memory_order_relaxed)) return false;
  const std::int64_t slice = debug.timeslice_ns;
  G* gp = mp->curg;
  if (gp == nullptr) {  // the scheduler, looking for work with the P
    arm(mp, now + slice);
    return false;
  }
  if (at_syscall(uc)) return false;  // blocked where gort cannot see: sysmon's (blockretake.cpp)
  const std::int64_t start = pp->slicestart;
  const std::int64_t ran = ticks_to_ns(cputicks() - start);
  if (ran < slice) {
    arm(mp, now + (slice - ran));
    return false;
  }
  if (!work_waiting(pp, now)) {
    // As sysmon: a preemption would only start a new slice for the same G.
    std::int64_t next = now + std::max(slice, kSliceIdleRecheckNs);
    std::int64_t t = pp->timer0when.load(std::memory_order_relaxed);
    if (t > now && t < next) next = t;
    arm(mp, next);
    return false;
  }
  if (mp->slicereqstart != start) {  // the first request for this slice: retries count from here
    mp->slicereqstart = start;
    mp->slicereqfirst = now;
  }
  // (A slice can outlive its G: the next one, from runnext, inherits it,
  // and is asked in its turn.)
  if (!gp->preempt) {
    ask_to_yield(gp, pp);
    sched.npreempttimer.fetch_add(1, std::memory_order_relaxed);
    if (trace::on.load(std::memory_order_relaxed)) {
      const std::uint64_t args[] = {static_cast<std::uint64_t>(gp->goid), static_cast<std::uint64_t>(pp->id),
                                    GORT_TRACE_PREEMPT_TIMER};
      trace::emit_from_signal(GORT_TRACE_EV_PREEMPT_REQ, args, 3);
    }
  }
  if (try_async_preempt(mp, uc)) return true;  // the trampoline yields; the next slice arms it again
  // At a point that is not safe (libc, the runtime): the yield point's
  // poison is set; ask again, as sysmon does, at intervals that double.
  arm(mp, now + std::clamp(now - mp->slicereqfirst, kPreemptRetryNs, slice));
  return false;
}

}  // namespace gort::rt
