// GORTDEBUG=blockwarn=1: say where goroutines block their threads outside
// gort::syscall (the analogue of Java's -Djdk.tracePinnedThreads).
//
// sysmon (retake_blocked) finds a thread whose CPU time has not moved for
// more than 1 ms while it runs the same G, and asks for the G's stack: it
// sets m->blockcapture and sends the thread SIGURG. The handler
// (preempt/signal.cpp) unwinds from the interrupted context, which is the
// blocking call's, and leaves the pcs in the M. A later sysmon round picks
// them up here, off the thread, finds the call site (the first frame in the
// program's own code) and prints the report the first time it sees that
// call site:
//
//   gort: goroutine 7 blocked thread 12345 outside gort::syscall for more than 1ms:
//   goroutine 7 [syscall]:
//   __GI___libc_read(...)
//   	./io/../sysdeps/unix/sysv/linux/read.c:26 +0x11
//   reader(int)
//   	/src/examples/blocking.cpp:40 +0x2a
//   created by ...
//
// The signal interrupts the blocking call. Most calls restart (the handler
// is SA_RESTART); the few the kernel never restarts (poll, epoll_wait,
// nanosleep, recv with a timeout) fail with EINTR, as they may for any
// signal, which is why this is a debugging switch and not always on.
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <unordered_set>
#include <vector>

#include "preempt/preempt.h"
#include "runtime2.h"
#include "traceback.h"

namespace gort::rt {

namespace {

// What is printed of the G is copied when it is asked for: by the time
// sysmon prints, the G may have ended and its G been reused.
struct Pending {
  M* mp;
  G* gp;
  std::int64_t goid;
  std::uintptr_t gopc;
  std::int64_t parentgoid;
  pid_t tid;
  std::uint32_t status;  // the G's when asked (running, or syscall once its P is taken)
  std::int64_t asked;    // nanotime() of the request
};

// sysmon's alone (the role moves between threads, but one holds it at a
// time). Never freed: sysmon runs on while the process exits and static
// destructors run.
std::vector<Pending>& pending = *new std::vector<Pending>;
std::unordered_set<std::uintptr_t>& reported = *new std::unordered_set<std::uintptr_t>;
// Requests not yet reported or dropped, for blockwarn_drain (main's thread).
std::atomic<int> inflight{0};

// A handler that never answers (signals blocked by the program on that
// thread, or no handler at all) does not keep the request forever.
constexpr std::int64_t kCaptureTimeoutNs = 100'000'000;

// Where the program called what blocked: the first frame in its own code
// (outside gort and the system's libraries). A header's function inlined
// there (std::mutex::lock) has the same address. Found by address, not by
// name: under clang the names of code inlined into gort's start thunk are
// not always known.
std::uintptr_t call_site(const std::uintptr_t* pcs, std::uint32_t n) {
  for (std::uint32_t i = 0; i < n; ++i)
    if (program_code_pc(i == 0 ? pcs[i] : pcs[i] - 1)) return pcs[i];
  return pcs[0];
}

void report(const Pending& p) {
  M* mp = p.mp;
  std::uint32_t n = mp->nblockpcs;
  if (n == 0) return;
  std::uintptr_t site = call_site(mp->blockpcs, n);
  if (!reported.insert(site).second) return;
  fdprintf(2, "gort: goroutine %lld blocked thread %d outside gort::syscall for more than 1ms:\n",
           static_cast<long long>(p.goid), static_cast<int>(p.tid));
  fdprintf(2, "goroutine %lld [%s]:\n", static_cast<long long>(p.goid), gstatus_string(p.status));
  traceback_pcs(2, mp->blockpcs, n);
  print_created_by(2, p.goid, p.gopc, p.parentgoid);
  fdprintf(2, "\n");
}

}  // namespace

void blockwarn_request(M* mp, G* gp) {
  std::uint32_t idle = 0;
  if (mp->blockcapture.load() != 0) return;  // one in flight per M
  mp->blockcaptureg = gp;
  if (!mp->blockcapture.compare_exchange_strong(idle, 1)) return;
  if (syscall(SYS_tgkill, getpid(), mp->procid, SIGURG) != 0) {
    mp->blockcapture.store(0);
    return;
  }
  inflight.fetch_add(1);
  pending.push_back(Pending{mp, gp, gp->goid, gp->gopc, gp->parentgoid, mp->procid, readgstatus(gp), nanotime()});
}

void blockwarn_report() {
  if (pending.empty()) return;
  std::int64_t now = nanotime();
  for (std::size_t i = 0; i < pending.size();) {
    Pending& p = pending[i];
    std::uint32_t c = p.mp->blockcapture.load(std::memory_order_acquire);
    if (c != 2 && now - p.asked < kCaptureTimeoutNs) {
      ++i;
      continue;
    }
    if (c == 2) report(p);
    p.mp->blockcapture.store(0, std::memory_order_release);
    pending[i] = pending.back();
    pending.pop_back();
    inflight.fetch_sub(1);
  }
}

// main has returned: sysmon stops with the program, so give it a moment to
// print the reports it has asked for (a short program's only block may be
// its last moments; the first report also loads the debug information).
void blockwarn_drain() {
  if (!debug.blockwarn) return;
  const std::int64_t deadline = nanotime() + 5'000'000'000;  // loading the debug information can take seconds on a loaded machine
  while (inflight.load() > 0 && nanotime() < deadline) thread_sleep(1'000'000);
}

}  // namespace gort::rt
