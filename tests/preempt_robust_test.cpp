// Asynchronous preemption in hostile places: signals that land in libc,
// external SIGURGs on top of the runtime's own, exceptions in flight, and a
// SIGURG handler the program had before gort::run.
//
// CMake runs this suite with GORTDEBUG=timeslice=100us, so that sysmon
// preempts many times a second and every test sees hundreds of preemptions
// by signal. The tests do a bounded amount of work: they go on until enough
// preemptions by signal have happened (sched_stats().preempted_by_signal),
// with a cap on iterations so that a runtime that never preempts makes them
// fail rather than hang. A lost goroutine or a deadlock (a G stopped while
// holding a lock in libc) hangs instead, and the watchdog reports it.
#include <gtest/gtest.h>

#include <dirent.h>
#include <gort/gort.h>
#include <signal.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <climits>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "child_process.h"
#include "test_util.h"

namespace {

std::uint64_t signal_preemptions() { return gort::debug::sched_stats().preempted_by_signal; }

// A small deterministic generator (xorshift32): sizes and contents.
struct Rng {
  std::uint32_t s;
  explicit Rng(std::uint32_t seed) : s(seed ? seed : 1) {}
  std::uint32_t next() {
    s ^= s << 13;
    s ^= s >> 17;
    s ^= s << 5;
    return s;
  }
};

// ---------------------------------------------------------------------------
// 1. Signals that land in libc.
//
// The handler must not stop a G inside malloc, memcpy or stdio: the G would
// stay stopped holding the arena's or the FILE's lock, and the next G on the
// P (one P: on the same or another thread) would block in the same lock for
// good. The workers spend much of their time in libc, so many signals land
// there; the ones that count are those that land between the calls. (The
// workers hold no lock in their own code: that is another matter.)

// Whether some thread holds f's lock, read without taking it: glibc's
// _IO_lock_t starts with the lock word (0: free). Not ftrylockfile: a
// goroutine preempted between ftrylockfile and funlockfile would itself be
// stopped holding the lock.
bool file_locked(std::FILE* f) {
#if defined(__GLIBC__)
  return f->_lock != nullptr && *static_cast<const volatile int*>(f->_lock) != 0;
#else
  (void)f;
  return false;
#endif
}

TEST(PreemptRobust, SignalsThatLandInLibcDoNotDeadlock) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs one(1);
  std::FILE* devnull = std::fopen("/dev/null", "w");  // shared by all workers: one FILE lock
  ASSERT_NE(devnull, nullptr);

  constexpr int kWorkers = 3;
  constexpr long kMinIters = 2'000;
  constexpr long kMaxIters = 3'000'000;  // a cap: never reached while preemption works
  constexpr std::uint64_t kWantPreemptions = 200;
  const std::uint64_t start = signal_preemptions();

  std::atomic<bool> enough{false};
  long iters[kWorkers] = {};
  long bad_blocks[kWorkers] = {}, bad_copies[kWorkers] = {}, bad_prints[kWorkers] = {}, locked_out[kWorkers] = {};
  gort::WaitGroup wg;
  wg.add(kWorkers);
  for (int w = 0; w < kWorkers; ++w) {
    gort::go([&, w] {
      constexpr std::size_t kBuf = 1 << 16;
      std::vector<unsigned char> src(kBuf), dst(kBuf);
      Rng rng(0x9e3779b9u * (w + 1));
      for (auto& b : src) b = static_cast<unsigned char>(rng.next());
      long i = 0;
      for (; i < kMaxIters; ++i) {
        if (i >= kMinIters && enough.load(std::memory_order_relaxed)) break;
        // Sizes from a few bytes to past malloc's mmap threshold (128 KiB).
        std::size_t n = 1 + rng.next() % ((i % 64 == 0) ? 300'000 : 4'096);
        auto* p = static_cast<unsigned char*>(std::malloc(n));
        if (p == nullptr) std::abort();
        const auto fill = static_cast<unsigned char>(i * 7 + w);
        std::memset(p, fill, n);
        // memcpy of a length the compiler cannot see: the libc call.
        std::size_t m = rng.next() % kBuf;
        std::size_t off = rng.next() % (kBuf - m + 1);
        std::memcpy(dst.data(), src.data() + off, m);
        // One P: while this worker runs no other goroutine runs, so none
        // can be inside fprintf holding the FILE's lock, unless it was
        // stopped there.
        if (file_locked(devnull)) locked_out[w]++;
        if (std::fprintf(devnull, "worker %d iteration %ld size %zu %s\n", w, i, n, "payload") <= 0) bad_prints[w]++;
        // The checks are loops of our own (not memcmp), over every 61st
        // byte and the last: short stretches of code where the signals may
        // stop the worker, between the libc calls.
        std::size_t diff = m > 0 ? dst[m - 1] ^ src[off + m - 1] : 0;
        for (std::size_t j = 0; j < m; j += 61) diff += dst[j] ^ src[off + j];
        if (diff != 0) bad_copies[w]++;
        std::size_t wrong = p[n - 1] != fill;
        for (std::size_t j = 0; j < n; j += 61) wrong += p[j] != fill;
        if (wrong != 0) bad_blocks[w]++;
        std::free(p);
        if (i % 512 == 0 && signal_preemptions() - start >= kWantPreemptions) enough.store(true);
      }
      iters[w] = i;
      wg.done();
    });
  }
  wg.wait();
  const std::uint64_t preempted = signal_preemptions() - start;
  EXPECT_EQ(std::ferror(devnull), 0);
  std::fclose(devnull);

  EXPECT_GE(preempted, kWantPreemptions) << "the workers were hardly preempted by signal (GORTDEBUG=timeslice=100us?)";
  for (int w = 0; w < kWorkers; ++w) {
    EXPECT_GE(iters[w], kMinIters) << "worker " << w;
    EXPECT_LT(iters[w], kMaxIters) << "worker " << w << " ran into the cap: preemption by signal too rare";
    EXPECT_EQ(bad_blocks[w], 0) << "worker " << w << ": a malloc'd block changed under it";
    EXPECT_EQ(bad_copies[w], 0) << "worker " << w << ": memcpy copied the wrong bytes";
    EXPECT_EQ(bad_prints[w], 0) << "worker " << w << ": fprintf failed";
    EXPECT_EQ(locked_out[w], 0) << "worker " << w << " found the FILE locked: another was stopped inside fprintf";
  }
}

// ---------------------------------------------------------------------------
// 2. An external SIGURG storm over blocking pipe I/O.
//
// SIGURG is also the signal for out-of-band socket data, and anyone may send
// it. A thread gort did not make sends SIGURG in a tight loop while
// goroutine pairs push a known byte sequence through pipes with blocking
// read(2)/write(2) inside gort::syscall. The handler is SA_RESTART, so a
// blocked call is restarted, never failed with EINTR; and a signal from
// outside must not preempt or otherwise disturb anybody.
//
// Half the signals go to the process (kill: the kernel mostly picks the
// main thread), half to each of its threads in turn, so that the threads
// blocked in read and write get their share. Those are queued with
// rt_tgsigqueueinfo (si_code SI_QUEUE): a tgkill from inside the process
// would be taken for the runtime's own.

// The process's threads, from /proc/self/task.
std::vector<pid_t> thread_ids() {
  std::vector<pid_t> tids;
  if (DIR* d = opendir("/proc/self/task")) {
    while (dirent* e = readdir(d))
      if (e->d_name[0] != '.') tids.push_back(static_cast<pid_t>(std::atol(e->d_name)));
    closedir(d);
  }
  return tids;
}

// SIGURG to one thread, as from another process would look: SI_QUEUE.
int sigurg_thread(pid_t pid, pid_t tid) {
  siginfo_t si{};
  si.si_signo = SIGURG;
  si.si_code = SI_QUEUE;
  si.si_pid = pid;
  si.si_uid = getuid();
  return static_cast<int>(::syscall(SYS_rt_tgsigqueueinfo, pid, tid, SIGURG, &si));
}

// Byte j of pair k's stream: depends on every bit of j, so that a lost,
// repeated or reordered chunk shows.
unsigned char stream_byte(int pair, std::uint64_t j) {
  return static_cast<unsigned char>(((j + 1'000'003ull * pair) * 2'654'435'761ull) >> 24);
}

TEST(PreemptRobust, ExternalSigurgStormDoesNotBreakBlockingPipeIO) {
  constexpr int kPairs = 4;
  constexpr long kWantSignals = 20'000;        // sent while the bytes flow
  constexpr std::uint64_t kMinBytes = 1 << 20;  // per pair
  constexpr std::uint64_t kMaxBytes = 256ull << 20;  // a cap: the storm is far faster than that

  std::atomic<bool> stop{false};
  std::atomic<long> sent{0}, to_threads{0}, kill_failures{0};
  std::atomic<int> kill_errno{0};
  std::thread storm([&] {
    const pid_t self = getpid();
    std::vector<pid_t> tids;
    for (long i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      if (i % 1024 == 0) tids = thread_ids();  // Ms come and go
      int rc;
      if (i % 2 == 0 || tids.empty()) {
        rc = kill(self, SIGURG);
      } else {
        rc = sigurg_thread(self, tids[static_cast<std::size_t>(i / 2) % tids.size()]);
        if (rc != 0 && errno == ESRCH) continue;  // that thread has exited
        if (rc == 0) to_threads.fetch_add(1, std::memory_order_relaxed);
      }
      if (rc == 0) {
        sent.fetch_add(1, std::memory_order_relaxed);
      } else {
        kill_errno = errno;
        kill_failures.fetch_add(1, std::memory_order_relaxed);
      }
    }
  });

  struct Pair {
    int r = -1, w = -1;
    std::uint64_t written = 0, read = 0;
    long sent_when_done = 0;
    long write_errors = 0, read_errors = 0, short_writes = 0;
    int write_errno = 0, read_errno = 0;
    std::uint64_t first_mismatch = ~0ull;
    long mismatches = 0;
  };
  Pair pairs[kPairs];
  for (auto& p : pairs) {
    int fds[2];
    ASSERT_EQ(::pipe(fds), 0) << std::strerror(errno);
    p.r = fds[0];
    p.w = fds[1];
  }

  gort::WaitGroup wg;
  wg.add(2 * kPairs);
  for (int k = 0; k < kPairs; ++k) {
    Pair& p = pairs[k];
    gort::go([&p, &wg, &sent, k] {  // the writer
      Rng rng(k + 17);
      unsigned char buf[PIPE_BUF];
      for (;;) {
        if (p.written >= kMaxBytes) break;
        if (p.written >= kMinBytes && sent.load(std::memory_order_relaxed) >= kWantSignals) break;
        // At most PIPE_BUF: a write to a pipe is then all or nothing, so a
        // signal can restart it but never cut it short.
        std::size_t n = 1 + rng.next() % PIPE_BUF;
        for (std::size_t i = 0; i < n; ++i) buf[i] = stream_byte(k, p.written + i);
        // errno is read inside the call: the goroutine may resume on
        // another thread, whose errno the compiler need not reload.
        ssize_t w = gort::syscall([&] {
          ssize_t r = ::write(p.w, buf, n);
          if (r < 0) p.write_errno = errno;
          return r;
        });
        if (w < 0) {
          p.write_errors++;
          break;
        }
        if (static_cast<std::size_t>(w) != n) p.short_writes++;
        p.written += static_cast<std::uint64_t>(w);
      }
      p.sent_when_done = sent.load();
      ::close(p.w);  // the reader sees EOF after the last byte
      wg.done();
    });
    gort::go([&p, &wg, k] {  // the reader
      Rng rng(k + 1001);
      std::vector<unsigned char> buf(3 * PIPE_BUF);
      for (;;) {
        std::size_t want = 1 + rng.next() % buf.size();
        ssize_t n = gort::syscall([&] {
          ssize_t r = ::read(p.r, buf.data(), want);
          if (r < 0) p.read_errno = errno;
          return r;
        });
        if (n < 0) {
          p.read_errors++;
          break;
        }
        if (n == 0) break;  // EOF: the writer is done
        for (ssize_t i = 0; i < n; ++i) {
          if (buf[i] != stream_byte(k, p.read + i)) {
            if (p.mismatches++ == 0) p.first_mismatch = p.read + i;
          }
        }
        p.read += static_cast<std::uint64_t>(n);
      }
      wg.done();
    });
  }
  wg.wait();
  stop.store(true);
  storm.join();
  for (auto& p : pairs) ::close(p.r);

  EXPECT_EQ(kill_failures.load(), 0) << std::strerror(kill_errno);
  EXPECT_GE(to_threads.load(), kWantSignals / 4) << "hardly any signal sent to single threads";
  for (int k = 0; k < kPairs; ++k) {
    const Pair& p = pairs[k];
    EXPECT_EQ(p.write_errors, 0) << "pair " << k << ": write failed: " << std::strerror(p.write_errno);
    EXPECT_EQ(p.read_errors, 0) << "pair " << k << ": read failed: " << std::strerror(p.read_errno);
    EXPECT_EQ(p.short_writes, 0) << "pair " << k;
    EXPECT_GE(p.written, kMinBytes) << "pair " << k;
    EXPECT_LT(p.written, kMaxBytes) << "pair " << k << ": the storm thread hardly ran";
    EXPECT_GE(p.sent_when_done, kWantSignals) << "pair " << k;
    EXPECT_EQ(p.read, p.written) << "pair " << k << ": bytes lost or invented";
    EXPECT_EQ(p.mismatches, 0) << "pair " << k << ": first wrong byte at offset " << p.first_mismatch;
  }
}

// ---------------------------------------------------------------------------
// 3. Exceptions in a loop that is preempted mid-way.
//
// Signals land in the arithmetic between throws and inside the catch blocks
// (user code, between __cxa_begin_catch and __cxa_end_catch: the thread's
// exception state then holds the caught exception), never inside the
// unwinder (libgcc_s) or __cxa_throw (libstdc++). A G stopped there must get
// its own exception state back. (A preempted G resumes on its own thread,
// which runs nothing else meanwhile; the handlers also call gort::gosched
// now and then, after which a G may go on anywhere while other Gs throw and
// catch on its old thread.) The arithmetic is redone at the end without
// exceptions or preemption: registers and flags came back intact.

// Opaque to the optimiser: the throw really happens, through a frame with
// a destructor to run.
struct Unwound {
  long* count;
  ~Unwound() { ++*count; }
};

[[gnu::noinline]] void throw_from_frame(int worker, long i, long* unwound) {
  Unwound guard{unwound};
  asm volatile("" ::: "memory");
  throw std::runtime_error("worker " + std::to_string(worker) + " iteration " + std::to_string(i));
}

// Work for the signals to land in: no calls, no memory traffic, and a
// carry that lives in the flags between two instructions.
inline std::uint64_t mix(std::uint64_t acc, long i) {
  for (int r = 0; r < 200; ++r) {
    acc = acc * 6'364'136'223'846'793'005ull + static_cast<std::uint64_t>(i);
    std::uint64_t sum;
    const bool carry = __builtin_add_overflow(acc, 0x9e37'79b9'7f4a'7c15ull, &sum);
    acc = (sum ^ (sum >> 29)) + carry;
  }
  return acc;
}

TEST(PreemptRobust, ExceptionsInAPreemptedLoopAreCaughtWhereTheyWereThrown) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  const int workers = 2 * gort::gomaxprocs(0) + 1;
  constexpr long kEvery = 97;  // prime: throws fall at every phase of everything else
  constexpr long kMinIters = 50 * kEvery;
  constexpr long kMaxIters = 5'000'000;
  constexpr std::uint64_t kWantPreemptions = 300;
  const std::uint64_t start = signal_preemptions();

  struct Worker {
    long iters = 0, catches = 0, unwound = 0, wrong_message = 0, wrong_rethrow = 0, uncaught_inside = 0;
    std::uint64_t acc = 0;
    bool escaped = false;
    std::string first_wrong;
  };
  std::vector<Worker> ws(static_cast<std::size_t>(workers));
  std::atomic<bool> enough{false};
  gort::WaitGroup wg;
  wg.add(workers);
  for (int w = 0; w < workers; ++w) {
    gort::go([&, w] {
      Worker& me = ws[static_cast<std::size_t>(w)];
      try {
        std::uint64_t acc = static_cast<std::uint64_t>(w) + 1;
        long i = 0;
        for (; i < kMaxIters; ++i) {
          if (i >= kMinIters && enough.load(std::memory_order_relaxed)) break;
          acc = mix(acc, i);
          if ((i + 1) % kEvery == 0) {
            const std::string expect = "worker " + std::to_string(w) + " iteration " + std::to_string(i);
            try {
              throw_from_frame(w, i, &me.unwound);
            } catch (const std::runtime_error& e) {
              // Inside the handler: more work for the signals, then check
              // that the exception being handled is still this one.
              acc = mix(acc, -i);
              if (e.what() != expect) {
                if (me.wrong_message++ == 0) me.first_wrong = e.what();
              }
              if (std::uncaught_exceptions() != 0) me.uncaught_inside++;
              // Now and then a voluntary switch inside the handler: the
              // worker may go on on another thread, and others throw and
              // catch on this one meanwhile.
              if (me.catches % 4 == 0) gort::gosched();
              try {
                throw;  // the thread's "currently handled exception" must be ours
              } catch (const std::runtime_error& again) {
                acc = mix(acc, i);
                if (&again != &e || again.what() != expect) me.wrong_rethrow++;
              }
              me.catches++;
            }
            if (me.catches % 16 == 0 && signal_preemptions() - start >= kWantPreemptions) enough.store(true);
          }
        }
        me.iters = i;
        me.acc = acc;
      } catch (...) {
        me.escaped = true;
      }
      wg.done();
    });
  }
  wg.wait();
  const std::uint64_t preempted = signal_preemptions() - start;
  EXPECT_GE(preempted, kWantPreemptions) << "the workers were hardly preempted by signal (GORTDEBUG=timeslice=100us?)";
  for (int w = 0; w < workers; ++w) {
    const Worker& me = ws[static_cast<std::size_t>(w)];
    SCOPED_TRACE("worker " + std::to_string(w) + ", " + std::to_string(me.iters) + " iterations");
    EXPECT_FALSE(me.escaped) << "an exception escaped the loop";
    EXPECT_GE(me.iters, kMinIters);
    EXPECT_LT(me.iters, kMaxIters) << "ran into the cap: preemption by signal too rare";
    EXPECT_EQ(me.catches, me.iters / kEvery);
    EXPECT_EQ(me.unwound, me.catches) << "destructors run by unwinding";
    EXPECT_EQ(me.wrong_message, 0) << "caught another's exception, e.g. " << me.first_wrong;
    EXPECT_EQ(me.wrong_rethrow, 0) << "throw; rethrew another exception";
    EXPECT_EQ(me.uncaught_inside, 0) << "std::uncaught_exceptions() != 0 inside a handler";
    // The arithmetic, redone without exceptions: the registers and flags
    // the signals interrupted came back intact.
    std::uint64_t acc = static_cast<std::uint64_t>(w) + 1;
    for (long i = 0; i < me.iters; ++i) {
      acc = mix(acc, i);
      if ((i + 1) % kEvery == 0) acc = mix(mix(acc, -i), i);
    }
    EXPECT_EQ(me.acc, acc) << "the computation went wrong: a register or flag was not restored";
  }
  EXPECT_EQ(std::uncaught_exceptions(), 0);
}

// ---------------------------------------------------------------------------
// 4. The program's own SIGURG handler.
//
// gort_probe sigurg-chain installs a counting SIGURG handler before
// gort::run, then sends itself 5 SIGURGs with kill(2) (one at a time, each
// awaited) while a spinner is preempted by the runtime's own SIGURGs
// (timeslice=1ms, one P). The handler must see exactly the 5 external
// signals: none lost, and none of the runtime's (sysmon's tgkills and the
// thread's slice timer).
TEST(PreemptRobust, TheProgramsSigurgHandlerSeesExternalSignalsOnly) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  for (const char* kind : {"handler", "siginfo"}) {
    SCOPED_TRACE(kind);
    auto r = gort_test::run_child({GORT_PROBE, "sigurg-chain", kind},
                                  {{"GORTDEBUG", "timeslice=1ms"}, {"GOMAXPROCS", "1"}});
    EXPECT_FALSE(r.timed_out);
    EXPECT_EQ(r.term_signal, 0);
    EXPECT_EQ(r.exit_code, 0) << r.out << r.err;
    std::smatch m;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("handler calls: ([0-9]+)\n"))) << r.out << r.err;
    EXPECT_EQ(m[1].str(), "5") << r.out;
    ASSERT_TRUE(std::regex_search(r.out, m, std::regex("preempted by signal: ([0-9]+)\n"))) << r.out << r.err;
    EXPECT_GT(std::stoull(m[1].str()), 0u) << "the runtime sent no SIGURG of its own: the test proves nothing\n"
                                           << r.out;
  }
}

}  // namespace
