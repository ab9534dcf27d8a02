// Fatal signals in the program (SIGSEGV, SIGBUS, SIGFPE): Go's messages
// and a goroutine dump, not a bare "Segmentation fault".
//
// A goroutine that runs off its stack in code without yield points (a
// library, deep recursion) reaches the guard page below it (stack.cpp) and
// faults; so does a null pointer. Go turns both into messages:
//
//   runtime: goroutine stack exceeds 262080-byte limit
//   runtime: sp=0x7f... stack=[0x7f..., 0x7f...]
//   fatal error: stack overflow
//
//   panic: runtime error: invalid memory address or nil pointer dereference
//   [signal SIGSEGV: segmentation violation code=0x1 addr=0x0 pc=0x55...]
//
// each followed by the goroutine's stack (and, for fatal errors or with
// GOTRACEBACK=all, every other goroutine's), then exit status 2; GOTRACEBACK
// =crash ends with SIGABRT for a core file instead.
//
// The handler runs on the M's alternate signal stack (an overflowing G has
// no stack left) and prints nothing itself: tracebacks allocate and take
// locks, and the fault may have happened inside malloc. It records the
// fault and the thread's registers and wakes the dumper thread (sigquit.cpp),
// which walks the faulting stack from those registers while the faulting
// thread waits in the handler. If the dumper makes no progress for 5 s (it
// needs a lock the faulting thread holds), the faulting thread says so and
// exits with status 2: nothing hangs.
//
// Whose signal it is: a handler the program (or a sanitizer) installed
// before gort::run is kept, as for SIGQUIT.
#include <libunwind.h>
#include <signal.h>
#include <sys/ucontext.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>

#include "crash.h"
#include "runtime2.h"
#include "traceback.h"

namespace gort::rt {

namespace {

constexpr std::int64_t kStuckNs = 5'000'000'000;  // no progress this long: the dump is stuck
// A fault this far below a G's stack is an overflow that jumped the guard
// page (a large frame) rather than a wild pointer.
constexpr std::uintptr_t kOverflowReach = 64 * 1024;

// What the handler saw. Written by the one handler that claims the fault
// before it wakes the dumper (whose futex wake and acquire order it).
struct Fault {
  int sig;
  int code;
  std::uintptr_t addr;
  std::uintptr_t pc;
  std::uintptr_t sp;
  std::int64_t mid;  // -1: not an M
  pid_t tid;
  G* gp;             // the user G that faulted, or nullptr (g0, a thread gort did not make)
  mcontext_t regs;
};
Fault fault;
std::atomic<bool> claimed{false};

void fault_handler(int sig, siginfo_t* si, void* ctx) {
  if (on_dumper()) {
    write_stderr("fatal error: unexpected signal while printing the goroutine dump\n");
    _exit(2);
  }
  // A second fault (another thread) waits for the first one's dump to end
  // the process.
  if (claimed.exchange(true)) park_forever();
  auto* uc = static_cast<ucontext_t*>(ctx);
  M* mp = getm();
  G* gp = getg();
  fault.sig = sig;
  fault.code = si->si_code;
  fault.addr = reinterpret_cast<std::uintptr_t>(si->si_addr);
  fault.pc = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RIP]);
  fault.sp = static_cast<std::uintptr_t>(uc->uc_mcontext.gregs[REG_RSP]);
  fault.mid = mp != nullptr ? mp->id : -1;
  fault.tid = static_cast<pid_t>(gettid());
  fault.gp = mp != nullptr && gp != nullptr && gp == mp->curg ? gp : nullptr;
  fault.regs = uc->uc_mcontext;
  if (!dumper_wake(kDumpFault)) {
    // No dumper: the default action, when the instruction faults again.
    signal(sig, SIG_DFL);
    return;
  }
  std::uint64_t seen = dump_progress.load();
  std::int64_t since = nanotime();
  for (;;) {
    thread_sleep(100'000'000);
    std::uint64_t now_seen = dump_progress.load();
    if (now_seen != seen) {
      seen = now_seen;
      since = nanotime();
    } else if (nanotime() - since > kStuckNs) {
      write_stderr("\nruntime: the goroutine dump is stuck (the faulting thread may hold a lock it needs); exiting\n");
      _exit(2);
    }
  }
}

const char* signame(int sig) {
  switch (sig) {
    case SIGSEGV: return "SIGSEGV: segmentation violation";
    case SIGBUS: return "SIGBUS: bus error";
    case SIGFPE: return "SIGFPE: floating-point exception";
  }
  return "signal";
}

bool is_overflow(const Fault& f) {
  if (f.gp == nullptr || f.sig != SIGSEGV) return false;
  const std::uintptr_t lo = f.gp->stack.lo;
  return (f.addr < lo && f.addr + kOverflowReach >= lo) || (f.sp < lo + 256 && f.sp + kOverflowReach >= lo);
}

// Go's sigpanic: which faults are a panic, and with what message; nullptr
// for "unexpected fault address" (a fatal error).
const char* panic_message(const Fault& f) {
  switch (f.sig) {
    case SIGSEGV:
    case SIGBUS:
      return f.addr < 0x1000 ? "invalid memory address or nil pointer dereference" : nullptr;
    case SIGFPE:
      if (f.code == FPE_INTDIV) return "integer divide by zero";
      if (f.code == FPE_INTOVF) return "integer overflow";
      return "floating point error";
  }
  return nullptr;
}

// The faulting thread's stack, walked from its registers at the fault.
void traceback_fault(const Fault& f) {
  unw_context_t ctx;
  std::memset(&ctx, 0, sizeof ctx);
  if (unw_getcontext(&ctx) != 0) return;  // the parts libunwind needs besides the registers
  auto* uc = reinterpret_cast<ucontext_t*>(&ctx);
  std::memcpy(uc->uc_mcontext.gregs, f.regs.gregs, sizeof uc->uc_mcontext.gregs);
  traceback_context(2, &ctx);
}

}  // namespace

void fault_dump_and_exit() {
  startpanic();
  const Fault& f = fault;
  G* gp = f.gp;
  bool all = gotraceback() >= Traceback::All || gp == nullptr;
  char sigline[160];
  std::snprintf(sigline, sizeof sigline, "[signal %s code=0x%x addr=0x%zx pc=0x%zx]\n", signame(f.sig),
                static_cast<unsigned>(f.code), static_cast<std::size_t>(f.addr), static_cast<std::size_t>(f.pc));
  if (is_overflow(f)) {
    print_stack_overflow(gp, f.sp);
    all = true;
  } else if (gp == nullptr) {
    fdprintf(2, "fatal error: unexpected signal%s\n%s",
             f.mid >= 0 ? " during runtime execution" : " in a thread gort did not make", sigline);
  } else if (const char* msg = panic_message(f)) {
    fdprintf(2, "panic: runtime error: %s\n%s", msg, sigline);
  } else {
    fdprintf(2, "unexpected fault address 0x%zx\nfatal error: fault\n%s", static_cast<std::size_t>(f.addr), sigline);
    all = true;
  }
  if (gp != nullptr) {
    fdprintf(2, "\ngoroutine %lld [running]:\n", static_cast<long long>(gp->goid));
    traceback_fault(f);
    print_created_by(2, gp);
  } else {
    // Go's "runtime stack:" (the scheduler's own code on an M), or a thread
    // gort did not make.
    if (f.mid >= 0)
      fdprintf(2, "\nruntime stack (m=%lld):\n", static_cast<long long>(f.mid));
    else
      fdprintf(2, "\nthread %d (not a gort thread) stack:\n", static_cast<int>(f.tid));
    traceback_fault(f);
  }
  dump_progress.fetch_add(1);
  if (all) {
    freeze_world();
    dump_goroutines(2, gp);
  }
  dump_exit();
}

void sigfault_init() {
  struct sigaction sa{};
  sa.sa_sigaction = fault_handler;
  // SA_ONSTACK: an overflowing G has no stack left (every M has an
  // alternate one). Everything blocked meanwhile: SIGURG would try to
  // preempt from inside this handler.
  sa.sa_flags = SA_SIGINFO | SA_ONSTACK;
  sigfillset(&sa.sa_mask);
  for (int sig : {SIGSEGV, SIGBUS, SIGFPE}) {
    struct sigaction old{};
    if (sigaction(sig, nullptr, &old) != 0) continue;
    if ((old.sa_flags & SA_SIGINFO) || old.sa_handler != SIG_DFL) continue;  // the program's (or a sanitizer's)
    sigaction(sig, &sa, nullptr);
  }
}

}  // namespace gort::rt
