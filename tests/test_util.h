// Small helpers shared by the suites.
#pragma once

#include <gtest/gtest.h>

#include <fcntl.h>
#include <gort/gort.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace gort_test {

// Which sanitizer the suites are built with: GCC says so with
// __SANITIZE_*__, clang with __has_feature (GCC 12 has no __has_feature).
#if defined(__has_feature)
#define GORT_TEST_HAS_FEATURE(x) __has_feature(x)
#else
#define GORT_TEST_HAS_FEATURE(x) 0
#endif
#if defined(__SANITIZE_THREAD__) || GORT_TEST_HAS_FEATURE(thread_sanitizer)
inline constexpr bool kUnderTsan = true;
#else
inline constexpr bool kUnderTsan = false;
#endif
#if defined(__SANITIZE_ADDRESS__) || GORT_TEST_HAS_FEATURE(address_sanitizer)
inline constexpr bool kUnderAsan = true;
#else
inline constexpr bool kUnderAsan = false;
#endif

// TSan delivers signals late, at points of its own, with a context that is
// not where the thread was: gort turns asynchronous preemption off under it,
// and tests that need a call-free loop to be preempted are skipped. (True
// exactly under TSan.)
inline constexpr bool kNoAsyncPreemption = kUnderTsan;
#define GORT_SKIP_WITHOUT_ASYNC_PREEMPTION() \
  if (gort_test::kNoAsyncPreemption) GTEST_SKIP() << "no asynchronous preemption under TSan"

// Under ThreadSanitizer the process has a thread gort did not make (TSan's
// background thread), and the runtime does not report a deadlock while such
// a thread exists (it might still wake a goroutine): a deadlock death test
// would hang. Those tests skip themselves under TSan.
#define GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN() \
  if (gort_test::kUnderTsan) GTEST_SKIP() << "TSan's background thread keeps the runtime from reporting deadlocks"

// ASan and TSan install their own SIGSEGV/SIGBUS/SIGFPE handlers before
// main, and gort keeps a handler it finds (runtime/sigfault.cpp): the
// sanitizer reports the fault instead.
inline constexpr bool kSanitizerOwnsFaults = kUnderAsan || kUnderTsan;

// Sets GOMAXPROCS for one test and restores the previous value after it, so
// that a test can rely on one P (deterministic cooperative scheduling) or on
// several, whatever GOMAXPROCS the suite was started with.
class ScopedGomaxprocs {
 public:
  explicit ScopedGomaxprocs(int n) : prev_(gort::gomaxprocs(n)) {}
  ~ScopedGomaxprocs() { gort::gomaxprocs(prev_); }
  ScopedGomaxprocs(const ScopedGomaxprocs&) = delete;
  ScopedGomaxprocs& operator=(const ScopedGomaxprocs&) = delete;

 private:
  int prev_;
};

// A pipe, both ends closed at scope exit. flags are pipe2's: 0 gives ends
// that block; the netpoller's tests ask for O_NONBLOCK.
struct Pipe {
  int r = -1, w = -1;
  explicit Pipe(int flags = 0) {
    int fds[2];
    if (::pipe2(fds, flags) != 0) throw std::runtime_error(std::string("pipe: ") + std::strerror(errno));
    r = fds[0];
    w = fds[1];
  }
  ~Pipe() {
    ::close(r);
    ::close(w);
  }
  Pipe(const Pipe&) = delete;
  Pipe& operator=(const Pipe&) = delete;
  void put(const char* s) const { ASSERT_EQ(::write(w, s, std::strlen(s)), static_cast<ssize_t>(std::strlen(s))); }
};

// A goroutine that has called WaitGroup::done() may not have exited yet.
// Yields until num_goroutine() drops to `want` or `max_yields` yields have
// passed (a goroutine that never exits, e.g. one lost by the scheduler,
// makes the caller's assertion fail instead of hanging). Returns the count.
inline int settle_goroutines(int want, int max_yields = 1'000'000) {
  int n = gort::num_goroutine();
  for (int i = 0; i < max_yields && n > want; ++i) {
    gort::gosched();
    n = gort::num_goroutine();
  }
  return n;
}

// The child process run_child() is waiting for, if any: the watchdog kills it
// too, so that a hung child does not outlive a test that gave up on it.
inline std::atomic<int> g_child_pid{0};

// Hang detection. A runtime bug in these suites often shows as a hang (a
// lost wake-up, a self-deadlock in the scheduler) rather than a wrong value.
// This listener arms an alarm for each test; a test that has not ended after
// GORT_TEST_WATCHDOG seconds (default 120, below ctest's timeout) gets its
// name printed and the process ends with status 3. It is not a timing
// assertion: the limit is orders of magnitude above any test's normal
// running time. Death-test children have it too, so a child that hangs
// instead of dying is reported the same way.
//
// It is a SIGALRM, not a watchdog thread, on purpose: the runtime does not
// report a deadlock while threads it did not make exist (they might still
// wake a goroutine), so a helper thread would turn every deadlock death test
// into a hang.
class HangWatchdog : public testing::EmptyTestEventListener {
 public:
  void OnTestStart(const testing::TestInfo& info) override {
    std::snprintf(message_, sizeof message_, "\nwatchdog: %s.%s has not finished after %u s: it hangs\n",
                  info.test_suite_name(), info.name(), seconds_);
    alarm(seconds_);
  }
  void OnTestEnd(const testing::TestInfo&) override { alarm(0); }

  static void install() {
    if (const char* v = std::getenv("GORT_TEST_WATCHDOG")) {
      long s = std::atol(v);
      if (s > 0) seconds_ = static_cast<unsigned>(s);
    }
    struct sigaction sa {};
    sa.sa_handler = on_alarm;
    sa.sa_flags = SA_ONSTACK;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGALRM, &sa, nullptr);
    testing::UnitTest::GetInstance()->listeners().Append(new HangWatchdog);
  }

 private:
  static void on_alarm(int) {
    // Async-signal-safe: kill(2), write(2) and _exit(2) only.
    if (int child = g_child_pid.load(); child > 0) kill(child, SIGKILL);
    std::size_t n = 0;
    while (n < sizeof message_ && message_[n]) ++n;
    ssize_t w = write(2, message_, n);
    (void)w;
    _exit(3);
  }
  static inline char message_[512] = "\nwatchdog: a test hangs\n";
  static inline unsigned seconds_ = 120;
};

inline const bool kHangWatchdogInstalled = (HangWatchdog::install(), true);

}  // namespace gort_test
