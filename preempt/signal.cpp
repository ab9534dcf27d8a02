// The SIGURG handler: asynchronous preemption (Go's doSigPreempt and
// isAsyncSafePoint).
//
// The M's own slice timer (slicetimer.cpp) fires when the slice of the G it
// runs ends, and sysmon (or stop the world) sends SIGURG to the M of a G
// that has held its P too long (preempt.cpp). The handler runs on that M's
// thread, on the alternate signal stack, and decides whether the G may be
// stopped exactly where it is. If so it rewrites the signal context so
// that, when the kernel resumes the thread, the G calls gort_async_preempt
// (the trampoline, asyncpreempt_x86_64.S), which saves every register and
// yields. If not it returns and the G goes on; the cooperative half of the
// request is still armed, and the timer or sysmon asks again a little later.
//
// A safe point is where nothing would break if the G stopped for a while
// and then went on, on the same thread:
//   - the signal hit the M's current user G running its own code: not g0,
//     not the scheduler, not a G inside gort::syscall (status syscall), and
//     on the G's own stack (sp inside it: not on a system stack);
//   - the G was asked to yield (g->preempt) and is not already on its way
//     (g->asyncpreempted): a late or foreign SIGURG does nothing;
//   - the M holds no runtime lock (m->locks) and has not turned preemption
//     off (m->preemptoff): stopping there could deadlock the scheduler;
//   - the PC is in the program's own code, outside the runtime
//     (safepoint.cpp): the runtime's code has windows where the G, M and P
//     disagree without a lock held, and libc or another shared object may
//     hold a lock (malloc's) that the next G on this thread would need;
//   - the G's stack has room for the trampoline's frame below the red zone.
//
// Everything here is async-signal-safe: loads of fields this thread owns,
// a table built before the first signal was sent, no allocation, no locks.
// errno is saved and restored around it.
#include "preempt/signal.h"

#include <sys/syscall.h>
#include <unistd.h>

#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cerrno>
#include <iterator>

#include "preempt/preempt.h"
#include "runtime2.h"
#include "runtime/trace.h"

namespace gort::rt {

namespace {

struct sigaction previous;  // the program's SIGURG disposition before gort::run
bool installed = false;
pid_t self_pid;

// SIGURG that preemptone or sysmon sent: tgkill from this process, or the
// M's own CPU-time timer (blockretake.cpp), whose value is the M. (A
// program that tgkills itself with SIGURG is taken for the runtime; the
// handler then does nothing unless a preemption was requested anyway.)
bool from_runtime(const siginfo_t* si, M* mp) {
  if (si->si_code == SI_TIMER) return si->si_value.sival_ptr == mp;
  return si->si_code == SI_TKILL && si->si_pid == self_pid;
}

// GORTDEBUG=blockwarn: sysmon saw this thread blocked and wants the G's
// stack. The signal interrupted the blocking call (which restarts, or
// fails with EINTR where the kernel never restarts it: poll, nanosleep...),
// so the context is the call's. libunwind's local unwinder walks from it;
// sysmon symbolizes the pcs later, off this thread.
void capture_blocked(M* mp, ucontext_t* uc) {
  if (mp->blockcapture.load(std::memory_order_acquire) != 1) return;
  unw_cursor_t cursor;
  std::uint32_t n = 0;
  // Only the G asked about, on its own stack (the thread may have moved on
  // to the scheduler or another G), and not blocked in the runtime (a
  // runtime lock's futex: gort's wait, not the program's).
  G* gp = mp->curg;
  const bool ours = gp != nullptr && getg() == gp && gp == mp->blockcaptureg.load() && mp->locks == 0;
  if (ours && unw_init_local2(&cursor, reinterpret_cast<unw_context_t*>(uc), UNW_INIT_SIGNAL_FRAME) == 0) {
    do {
      unw_word_t ip = 0;
      if (unw_get_reg(&cursor, UNW_REG_IP, &ip) < 0 || ip == 0) break;
      mp->blockpcs[n++] = ip;
    } while (n < std::size(mp->blockpcs) && unw_step(&cursor) > 0);
  }
  mp->nblockpcs = n;
  mp->blockcapture.store(2, std::memory_order_release);
}

// A SIGURG that is not ours (out-of-band data on a socket, `kill -URG`)
// still reaches the handler the program had installed.
void forward(int sig, siginfo_t* si, void* ctx) {
  if (previous.sa_flags & SA_SIGINFO) {
    if (previous.sa_sigaction != nullptr) previous.sa_sigaction(sig, si, ctx);
  } else if (previous.sa_handler != SIG_DFL && previous.sa_handler != SIG_IGN) {
    previous.sa_handler(sig);
  }
}

}  // namespace

bool try_async_preempt(M* mp, ucontext_t* uc) {
  G* gp = mp->curg;
  if (gp == nullptr || getg() != gp) return false;  // g0, or a G on the system stack
  if (!gp->preempt || gp->asyncpreempted) return false;
  if (mp->locks > 0 || mp->preemptoff > 0) return false;
  // A G whose P sysmon took while its thread was blocked runs without a P
  // (status syscall) once the call returns: it is stopped like a running
  // G, and the trampoline's yield takes it back through exitsyscall.
  if (mp->blockretake.load(std::memory_order_relaxed) != kBlockRetaken &&
      (mp->p == nullptr || gp->atomicstatus.load(std::memory_order_relaxed) != Grunning))
    return false;
  std::uintptr_t sp = ctx_sp(uc);
  if (sp <= gp->stack.lo || sp > gp->stack.hi) return false;
  if (sp - gp->stack.lo < arch_async_frame_size()) return false;  // cooperatively, at the next yield point (or overflow)
  if (!async_safe_pc(ctx_pc(uc))) return false;
  gp->asyncpreempted = true;  // refuses a second signal until the trampoline is done
  sched.npreemptasync.fetch_add(1, std::memory_order_relaxed);
  ctx_inject_async_preempt(uc);
  return true;
}

namespace {

void sigurg(int sig, siginfo_t* si, void* ctx) {
  int saved_errno = errno;
  M* mp = getm();
  const bool timer = mp != nullptr && is_slicetimer_signal(si, mp);
  if (timer || (mp != nullptr && from_runtime(si, mp))) {
    // SIGURG is not a queued signal: one sent while another is pending is
    // merged into it, and the handler runs once, with the first one's
    // siginfo. So whichever of the runtime's it was, it stands for all of
    // them: sysmon's tgkill (signal_pending), the slice timer (due, though
    // its own signal may have been the one merged away), blockwarn's
    // capture request, and the G's pending preemption request.
    mp->signal_pending.store(0);
    capture_blocked(mp, static_cast<ucontext_t*>(ctx));
    auto* uc = static_cast<ucontext_t*>(ctx);
    if (!slicetimer_signal(mp, uc, timer)) try_async_preempt(mp, uc);
  } else {
    if (mp != nullptr) mp->signal_pending.store(0);
    // `gort trace PID` left a request in gort_trace_ctl and sent this
    // signal to wake sysmon, which serves it.
    if (trace::request_pending()) sysmon_poke();
    forward(sig, si, ctx);
  }
  errno = saved_errno;
}

}  // namespace

void signal_init() {
  self_pid = getpid();
  arch_preempt_init();
  struct sigaction sa{};
  sa.sa_sigaction = sigurg;
  // SA_RESTART: a blocking read(2) that the signal interrupts goes on
  // instead of failing with EINTR. SA_ONSTACK: see preempt_minit.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  if (sigaction(SIGURG, &sa, &previous) == 0) installed = true;
}

bool signal_installed() { return installed; }

// The pid is read once: getpid() is a system call, and this is per request.
bool signal_thread(pid_t tid) { return syscall(SYS_tgkill, self_pid, tid, SIGURG) == 0; }

}  // namespace gort::rt
