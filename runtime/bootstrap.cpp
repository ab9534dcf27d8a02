// gort::run: the runtime's start (Go's rt0_go → schedinit → newproc(main)
// → mstart) and its end when main returns.
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <exception>

#include "crash.h"
#include "gort/debug_layout.h"
#include "netpoll.h"
#include "preempt/preempt.h"
#include "runtime2.h"
#include "trace.h"

extern "C" struct gort_debug_descriptor gort_debug_descriptor;  // runtime/debugdesc.cpp

namespace gort::rt {

namespace {

std::int32_t procs_from_env() {
  long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  std::int32_t procs = ncpu > 0 ? static_cast<std::int32_t>(ncpu) : 1;
  if (const char* v = std::getenv("GOMAXPROCS")) {
    char* end = nullptr;
    long n = std::strtol(v, &end, 10);
    // Go ignores a GOMAXPROCS it cannot parse or that is not positive.
    if (end != v && *end == '\0' && n > 0) procs = n > kMaxProcs ? kMaxProcs : static_cast<std::int32_t>(n);
  }
  return procs;
}

void schedinit() {
  // Links runtime/debugdesc.cpp's descriptor into every program (a static
  // library's object is linked only when something refers to it).
  asm volatile("" : : "r"(&gort_debug_descriptor));
  sched.starttime = nanotime();
  parsedebugvars();
  cputicks_init();  // before any M (they read tsc_ticks unsynchronised), after the time slice is known
  preempt_init();
  blockretake_init();  // before any M: minit reads what it sets
  crash_reserve_init();
  stackinit();
  netpollinit();
  m0 = m0init();
  if (!debug.trace.empty()) trace::start_from_env();  // before procresize: m0 acquiring P0 is its first event
  sched.lock.lock();
  procresize_locked(procs_from_env());
  sched.lock.unlock();
}

}  // namespace

namespace {
std::atomic<bool> m0_returned{false};  // gort::run is returning: the program is the caller's again

// How long the program's exit waits for goroutines to get out of the way
// (wait_for_m0, stop_goroutines_for_exit).
constexpr std::int64_t kExitGraceNs = 100'000'000;

// main returned on another M while m0 runs a goroutine: m0 must come back
// to its scheduler to return from gort::run. Ask that goroutine to yield
// (by signal, or at its next yield point; preemptoff does not stop this),
// and again, every 100 µs. If m0 does not come back within kExitGraceNs (a
// goroutine in a long system call, or a call-free loop with signals off),
// end the process from here with main's status, as Go's runtime.main does
// (without static destructors, which could run under goroutines still running).
void wait_for_m0() {
  const std::int64_t deadline = nanotime() + kExitGraceNs;
  while (!m0_returned.load()) {
    if (nanotime() > deadline) {
      std::fflush(nullptr);
      _exit(sched.exit_status);
    }
    P* pp = m0->p;
    if (pp != nullptr && m0->curg != nullptr && pp->status.load() == Prunning) preemptone(pp);
    thread_sleep(100'000);
  }
}

// m0 is about to return from gort::run, and the caller's main to return to
// exit(), which runs the program's static destructors. Go's goroutines
// simply stop at os.Exit; C++ goroutines still running then would run
// under those destructors and use destroyed objects (a std::error_category
// whose vptr is gone, a logger's stream). So, beyond Go's rule, the
// goroutines still on a P are asked to yield (as stop-the-world asks:
// poison and SIGURG), and their Ms park for good in the scheduler
// (schedule_loop sees exiting). gort::run waits for that, up to
// kExitGraceNs: a goroutine that cannot stop (a call-free loop with
// signals off, a thread blocked outside gort::syscall) is left running, as
// before. A goroutine returning from gort::syscall meanwhile parks in
// exitsyscall.
void stop_goroutines_for_exit() {
  const std::int64_t deadline = nanotime() + kExitGraceNs;
  for (;;) {
    bool running = false;
    const std::int32_t n = gomaxprocs.load();
    for (std::int32_t i = 0; i < n; ++i) {
      P* pp = allp[i];
      if (pp->status.load() != Prunning) continue;
      M* mp = pp->m;
      if (mp == nullptr || mp == m0 || mp->curg.load_acquire() == nullptr) continue;
      running = true;
      preemptone(pp);
    }
    if (!running || nanotime() > deadline) return;
    thread_sleep(50'000);
  }
}
}  // namespace

// The main goroutine returned (on whatever M it ran): the program ends.
// m0 returns from gort::run at its next trip through the scheduler; every
// other M parks for good at its next one (and so runs no more goroutines
// while the process exits).
void main_exited() {
  trace::stop();  // GORTDEBUG=trace, or a trace the program did not stop
  blockwarn_drain();
  sched.exiting.store(true);
  sched.lock.lock();
  bool m0_idle = m0->blocked;
  sched.lock.unlock();
  if (m0_idle) m0->park.wakeup();
  netpoll_break();
  if (getm() != m0) wait_for_m0();
}

}  // namespace gort::rt

namespace gort::detail {

using namespace gort::rt;

FnSlot* run_begin() {
  if (getm() != nullptr) fatal("gort::run called from a goroutine or runtime thread");
  bool expected = false;
  if (!sched.started.compare_exchange_strong(expected, true)) fatal("gort::run called twice");
  std::set_terminate(on_terminate);
  schedinit();
  return newproc_begin();
}

int run_end(FnSlot* slot) {
  newproc_end(slot);  // the main goroutine, goid 1, in m0's runnext
  sched.mainstarted.store(true);
  newm(sysmon, nullptr);
  sigquit_init();  // after sysmon: its thread is counted as a system M like sysmon's (sigquit.cpp)
  sigfault_init();  // after the dumper it hands faults to
  schedule_loop(m0);  // returns when main has returned
  m0_returned.store(true);
  stop_goroutines_for_exit();
  slicetimer_mexit(m0);  // no SIGURG for this thread once gort::run has returned
  setg(nullptr);
  return sched.exit_status;
}

void set_exit_status(int status) noexcept { sched.exit_status = status; }

}  // namespace gort::detail
