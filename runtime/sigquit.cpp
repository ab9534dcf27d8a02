// SIGQUIT (kill -QUIT, Ctrl-\): print every goroutine and exit with status
// 2, as a Go program does:
//
//   SIGQUIT: quit
//   PC=0x55d0c0a1b2c3 m=3 sigcode=0
//
//   goroutine 1 [sleep]:
//   ...
//
// Go prints from inside its signal handler; its tracebacks allocate nothing
// and take no lock. gort's do both (libunwind, libdw's symbol tables), and a
// handler that interrupted malloc, or a thread holding a lock the dump needs,
// would deadlock if it printed there. So the work is split:
//
//   - the handler (any thread) only records where the signal landed (the
//     PC, the M, si_code) and wakes the dumper: two stores and a futex wake,
//     all async-signal-safe;
//   - the dumper, a thread of its own made when gort::run starts, prints the
//     header, freezes the world and prints every goroutine, then _exit(2).
//
// Freezing is stop the world without a stopper: the dumper has no G and no
// P, and must never wait forever, whatever state the program is in (that is
// often why someone sends SIGQUIT). It sets sched.gcwaiting, so every M that
// enters the scheduler stops its P (gcstopm), and asks every running G to
// yield (preemptall) every 100 µs, for at most 100 ms. A G stopped that way
// is switched out with its registers saved, so its stack is printed in full
// (one stopped by a signal shows the exact instruction it was at). What is
// still running after 100 ms (a G in gort::syscall, a thread blocked in the
// kernel while holding its P, a call-free loop without asynchronous
// preemption) is printed as Go prints a G running on another thread:
// `goroutine N [running]:` and "goroutine running on other thread; stack
// unavailable". Nothing here takes a runtime lock: dump_goroutines reads
// allgs without one, and a frozen M never holds one (it is preempted only
// with m->locks == 0, and gcstopm parks after unlocking sched.lock). The
// world is never restarted: the process ends.
//
// Whose signal it is (Go's rule, signal_unix.go's sigInstallGoHandler): a
// program that installed its own SIGQUIT handler before gort::run keeps it.
// An ignored SIGQUIT is taken over, as Go does (it respects an inherited
// SIG_IGN only for SIGHUP and SIGINT): a shell starts background jobs of a
// script with SIGQUIT ignored, and `./server &` then `kill -QUIT` must still
// dump. A program that wants it ignored says so after gort::run has
// started (Go's signal.Ignore).
//
// The dumper thread also prints for a fatal signal (sigfault.cpp): it is
// made even when the program keeps SIGQUIT for itself.
//
// GOTRACEBACK=crash: after the dump, abort (SIGABRT, a core file where the
// system keeps them), as Go does. A second SIGQUIT while the dump is being
// written ends the process at once with status 2: the way out if the dump
// itself cannot finish.
#include <pthread.h>
#include <signal.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <cstring>

#include "crash.h"
#include "preempt/preempt.h"
#include "preempt/signal.h"
#include "runtime2.h"
#include "traceback.h"

namespace gort::rt {

namespace {

// How long the dumper waits for running goroutines to stop before it prints
// anyway (Go's crash path waits about as long for other Ms to freeze).
constexpr std::int64_t kFreezeNs = 100'000'000;
constexpr std::int64_t kFreezeRetryNs = 100'000;  // ask again this often, as stop the world does

// What the handler saw, for the header. Written by the one handler that
// claims the signal, before it sets `requested` (release); read by the
// dumper after it sees `requested` (acquire).
std::uintptr_t sig_pc;
std::int64_t sig_mid;
int sig_code;

std::atomic<bool> claimed{false};          // a SIGQUIT has been taken: a second one exits at once
std::atomic<std::uint32_t> requested{0};   // the dumper's futex word: kDumpQuit or kDumpFault when it should dump
std::atomic<bool> dumper_made{false};      // the thread exists (it may not have run yet)
std::atomic<pid_t> dumper_tid{0};          // 0 until the dumper runs

void sigquit_handler(int, siginfo_t* si, void* ctx) {
  int saved_errno = errno;
  if (claimed.exchange(true)) {
    write_stderr("SIGQUIT: quit (again): exiting without the goroutine dump\n");
    _exit(2);
  }
  M* mp = getm();
  sig_pc = ctx_pc(static_cast<ucontext_t*>(ctx));
  sig_mid = mp != nullptr ? mp->id : -1;
  sig_code = si->si_code;
  dumper_wake(kDumpQuit);
  errno = saved_errno;
}
}  // namespace

std::atomic<std::uint64_t> dump_progress{0};

void write_stderr(const char* s) {
  // write(2) is async-signal-safe; a short write to a dying process's
  // stderr is not worth a retry loop.
  ssize_t rc = ::write(2, s, std::strlen(s));
  (void)rc;
}

// Not dumper_tid: a signal may come before the new thread has run at all
// (it reads `requested` when it starts).
bool dumper_wake(std::uint32_t why) {
  if (!dumper_made.load(std::memory_order_acquire)) return false;
  std::uint32_t none = 0;
  if (!requested.compare_exchange_strong(none, why, std::memory_order_acq_rel)) return true;  // one dump only
  futexwakeup(&requested, 1);
  return true;
}

bool on_dumper() { return dumper_tid.load(std::memory_order_relaxed) == static_cast<pid_t>(gettid()); }

namespace {
// Every P is out of Prunning: the Gs that ran are switched out (or in a
// system call, without a P) and hold still.
bool world_frozen() {
  std::int32_t n = gomaxprocs.load();
  for (std::int32_t i = 0; i < n; ++i)
    if (allp[i]->status.load() == Prunning) return false;
  return true;
}
}  // namespace

// Stop the world as far as it will stop within kFreezeNs, and leave it so.
// Not stop_the_world_internal: that needs a G with a P, waits as long as it
// takes, and keeps count of the Ps it stops (sched.stopwait), which an M
// stopping here decrements past zero harmlessly (it wakes the stopper only
// at exactly zero, and there is none).
// gcwaiting is set again on every round: a goroutine's own stop of the
// world that was under way may end meanwhile (start_the_world clears it).
// stopsleeping too: this thread sleeps between rounds, and sysmon may use
// a CPU to take the Ps of threads blocked outside gort::syscall.
void freeze_world() {
  const std::int64_t deadline = nanotime() + kFreezeNs;
  for (;;) {
    sched.gcwaiting.store(1);
    sched.stopsleeping.store(true);
    if (world_frozen() || nanotime() >= deadline) return;
    preemptall();
    thread_sleep(kFreezeRetryNs);
  }
}

[[noreturn]] void dump_exit() {
  // No fflush: a frozen goroutine may hold stdout's lock, and Go's exit
  // does not flush anything either.
  if (gotraceback() == Traceback::Crash) {
    // Go's GOTRACEBACK=crash: die by SIGABRT, for a core file.
    signal(SIGABRT, SIG_DFL);
    sigset_t abrt;
    sigemptyset(&abrt);
    sigaddset(&abrt, SIGABRT);
    pthread_sigmask(SIG_UNBLOCK, &abrt, nullptr);
    raise(SIGABRT);
  }
  _exit(2);
}

namespace {

[[noreturn]] void dump_and_exit() {
  startpanic();  // a panic already printing wins; its dump ends the process
  fdprintf(2, "SIGQUIT: quit\nPC=0x%lx m=%lld sigcode=%d\n", static_cast<unsigned long>(sig_pc),
           static_cast<long long>(sig_mid), sig_code);
  freeze_world();
  dump_goroutines(2, nullptr);  // each goroutine after an empty line, as in Go
  dump_exit();
}

void* dumper(void*) {
  // Signals belong to the program's threads and the Ms (SIGURG is sent to
  // Ms by thread id, SIGQUIT's handler must run on a thread that can be
  // interrupted harmlessly): block what may be blocked here. Faults in the
  // dumper itself (SIGSEGV and co.) cannot be blocked and still end it.
  sigset_t all;
  sigfillset(&all);
  pthread_sigmask(SIG_BLOCK, &all, nullptr);
  dumper_tid.store(static_cast<pid_t>(gettid()), std::memory_order_release);
  std::uint32_t why;
  while ((why = requested.load(std::memory_order_acquire)) == 0) futexsleep(&requested, 0, -1);
  if (why == kDumpFault) fault_dump_and_exit();
  dump_and_exit();
}

}  // namespace

// After sysmon's M has been made (run_end): the dumper is a runtime thread,
// counted like sysmon in sched.mcount (so that checkdead does not take it
// for a thread of the program that might still wake a goroutine) and in
// sched.nmsys (so that checkdead does not count it as running user code).
// newm counts sysmon's role in nmsys only while nmsys is 0, hence "after".
void sigquit_init() {
  sched.lock.lock();
  sched.mcount++;
  sched.nmsys++;
  sched.lock.unlock();
  pthread_attr_t attr;
  pthread_attr_init(&attr);
  pthread_attr_setdetachstate(&attr, PTHREAD_CREATE_DETACHED);
  pthread_t thread;
  int err = pthread_create(&thread, &attr, dumper, nullptr);
  pthread_attr_destroy(&attr);
  if (err != 0) {
    // Not fatal: the program runs as before, and SIGQUIT keeps its default
    // action (quit with a core file).
    sched.lock.lock();
    sched.mcount--;
    sched.nmsys--;
    sched.lock.unlock();
    return;
  }
  pthread_setname_np(thread, "gort-sigquit");
  dumper_made.store(true, std::memory_order_release);

  struct sigaction old{};
  if (sigaction(SIGQUIT, nullptr, &old) != 0) return;
  // The program's own handler: theirs (see the header).
  if ((old.sa_flags & SA_SIGINFO) || (old.sa_handler != SIG_DFL && old.sa_handler != SIG_IGN)) return;
  struct sigaction sa{};
  sa.sa_sigaction = sigquit_handler;
  // SA_ONSTACK: a goroutine's stack may be nearly full (the Ms have an
  // alternate stack); SA_RESTART: the threads the dump does not stop go on.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK | SA_RESTART;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGQUIT, &sa, nullptr);
}

}  // namespace gort::rt
