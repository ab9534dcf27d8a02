// gort::syscall: a goroutine blocked in the kernel keeps its thread but not
// its P (Go's entersyscall/exitsyscall and sysmon's retake).
//
// The central property is a liveness one: with one P, a goroutine blocked in
// read(2) on an empty pipe must not stop the others. The tests that check it
// make the pipe's writer a goroutine that can only run if the P was handed
// off, so a runtime that keeps the P blocked hangs them (the watchdog
// reports it) instead of letting them pass.
#include <gtest/gtest.h>

#include <gort/gort.h>
#include <unistd.h>

#include <atomic>
#include <cerrno>
#include <cstring>
#include <memory>
#include <regex>
#include <stdexcept>
#include <string>
#include <thread>

#include "test_util.h"

namespace {

using namespace std::chrono_literals;

using gort_test::Pipe;  // blocking ends

TEST(Syscall, ABlockedCallHandsItsPToTheOtherGoroutines) {
  gort_test::ScopedGomaxprocs one(1);
  Pipe p;
  std::atomic<bool> entered{false}, stop{false};
  std::atomic<ssize_t> n{-1};
  std::atomic<long> ticks{0};
  char buf[8] = {};
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    n = gort::syscall([&] {
      entered = true;
      return ::read(p.r, buf, 5);  // blocks: nothing is written until main has run again
    });
    wg.done();
  });
  gort::go([&] {
    while (!stop) {
      ticks++;
      gort::gosched();
    }
    wg.done();
  });
  // One P: main and the ticker run while the reader is blocked only if the
  // reader's P was handed to another thread.
  while (!entered) gort::gosched();
  const long t0 = ticks;
  while (ticks < t0 + 100) gort::gosched();
  EXPECT_EQ(n.load(), -1) << "read returned before anything was written";
  p.put("hello");
  stop = true;
  wg.wait();
  EXPECT_EQ(n.load(), 5);
  EXPECT_EQ(std::string(buf, 5), "hello");
}

TEST(Syscall, ManyBlockedCallsAtOnce) {
  // More readers blocked at once than Ps: each holds a thread, none holds a P.
  for (int procs : {1, 2}) {
    gort_test::ScopedGomaxprocs g(procs);
    constexpr int kReaders = 8;
    Pipe pipes[kReaders];
    std::atomic<int> entered{0}, got{0};
    gort::WaitGroup wg;
    wg.add(kReaders);
    for (int i = 0; i < kReaders; ++i) {
      gort::go([&, i] {
        char c = 0;
        ssize_t r = gort::syscall([&] {
          entered++;
          return ::read(pipes[i].r, &c, 1);
        });
        if (r == 1 && c == 'a' + i) got++;
        wg.done();
      });
    }
    while (entered < kReaders) gort::gosched();
    for (int i = 0; i < kReaders; ++i) {
      const char s[2] = {static_cast<char>('a' + i), 0};
      pipes[i].put(s);
    }
    wg.wait();
    EXPECT_EQ(got.load(), kReaders) << "GOMAXPROCS=" << procs;
  }
}

TEST(Syscall, ResizingWhileAGoroutineIsBlockedInACall) {
  // Stop the world takes the P of a goroutine in a system call (Psyscall →
  // Pgcstop), and the resize may give that P to someone else or destroy it:
  // the call must still come back through exitsyscall and find a P.
  gort_test::ScopedGomaxprocs two(2);
  Pipe p;
  std::atomic<bool> entered{false};
  std::atomic<ssize_t> n{-1};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    char c;
    n = gort::syscall([&] {
      entered = true;
      return ::read(p.r, &c, 1);
    });
    gort::gosched();  // it runs normally afterwards
    wg.done();
  });
  while (!entered) gort::gosched();
  for (int procs : {3, 1, 2, 1, 4, 2}) gort::gomaxprocs(procs);
  p.put("r");
  wg.wait();
  EXPECT_EQ(n.load(), 1);
}

TEST(Syscall, ABlockedGoroutineShowsAsSyscallInSchedtrace) {
  Pipe p;
  std::atomic<bool> entered{false};
  std::atomic<std::int64_t> id{0};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    id = gort::goid();
    char c;
    gort::syscall([&] {
      entered = true;
      return ::read(p.r, &c, 1);
    });
    wg.done();
  });
  while (!entered) gort::gosched();
  // Go's scheddetail line for the G: status=3 is _Gsyscall, no wait reason.
  const std::regex in_syscall("\n  G" + std::to_string(id) + ": status=3\\(\\) m=[0-9]+ ");
  const std::string during = gort::debug::schedtrace(true);
  EXPECT_TRUE(std::regex_search(during, in_syscall)) << during;
  p.put("x");
  wg.wait();
  const std::string after = gort::debug::schedtrace(true);
  EXPECT_FALSE(std::regex_search(after, in_syscall)) << after;
}

TEST(SyscallDeathTest, TheGoroutineDumpShowsSyscall) {
  // A fatal error prints every goroutine in Go's format; one blocked in a
  // system call is "[syscall]".
  EXPECT_EXIT(
      {
        static Pipe p;  // never closed: the child dies with the reader blocked
        static std::atomic<bool> entered{false};
        gort::go([] {
          char c;
          gort::syscall([&] {
            entered = true;
            return ::read(p.r, &c, 1);
          });
        });
        while (!entered) gort::gosched();
        std::terminate();
      },
      testing::ExitedWithCode(2), "fatal error: std::terminate called.*\ngoroutine [0-9]+ \\[syscall\\]:");
}

TEST(Syscall, ReturnsWhatTheCallReturns) {
  EXPECT_EQ(gort::syscall([] { return 42; }), 42);
  int x = 0;
  int& r = gort::syscall([&]() -> int& { return x; });
  EXPECT_EQ(&r, &x);
  auto up = gort::syscall([] { return std::make_unique<int>(7); });
  ASSERT_NE(up, nullptr);
  EXPECT_EQ(*up, 7);
  bool ran = false;
  gort::syscall([&] { ran = true; });
  EXPECT_TRUE(ran);
  // The goroutine is back to normal: it may yield and park.
  gort::gosched();
  gort::sleep_for(1us);
}

TEST(Syscall, NestedCallsRunDirectly) {
  int inner_calls = 0;
  int v = gort::syscall([&] {
    return gort::syscall([&] {
             inner_calls++;
             return 7;
           }) +
           1;
  });
  EXPECT_EQ(v, 8);
  EXPECT_EQ(inner_calls, 1);
  gort::gosched();  // the outer exitsyscall restored the G: it runs normally
}

TEST(Syscall, OffAGoroutineItJustCallsFn) {
  int v = 0;
  std::thread t([&] { v = gort::syscall([] { return 5; }); });
  t.join();
  EXPECT_EQ(v, 5);
}

TEST(Syscall, ExceptionsPropagate) {
  EXPECT_THROW(gort::syscall([]() -> int { throw std::runtime_error("from the call"); }), std::runtime_error);
  try {
    gort::syscall([] { throw 17; });
    FAIL() << "no exception";
  } catch (int v) {
    EXPECT_EQ(v, 17);
  }
  // The goroutine has its P back: it may yield and park.
  gort::gosched();
  gort::sleep_for(1us);
  EXPECT_EQ(gort::syscall([] { return 3; }), 3);
}

TEST(Syscall, AnExceptionAfterAHandOffPropagatesThroughTheSlowPath) {
  // The P is taken while the reader is blocked; main holds it when the read
  // returns, so the throw unwinds through exitsyscall's slow path (the G
  // queues itself and may resume on another thread).
  gort_test::ScopedGomaxprocs one(1);
  Pipe p;
  std::atomic<bool> entered{false}, caught{false}, ran_after{false};
  std::string what;
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    try {
      gort::syscall([&] {
        entered = true;
        char c;
        if (::read(p.r, &c, 1) == 1) throw std::runtime_error(std::string("read ") + c);
        return 0;
      });
    } catch (const std::runtime_error& e) {
      what = e.what();
      caught = true;
    }
    gort::gosched();
    ran_after = true;
    wg.done();
  });
  while (!entered) gort::gosched();
  p.put("z");
  wg.wait();
  EXPECT_TRUE(caught);
  EXPECT_EQ(what, "read z");
  EXPECT_TRUE(ran_after);
}

// errno is read and written in functions the compiler cannot merge with the
// caller's, so that each access computes the current thread's errno anew.
[[gnu::noinline]] void set_errno(int v) { errno = v; }
[[gnu::noinline]] int get_errno() { return errno; }

TEST(Syscall, ErrnoSurvivesTheSlowPath) {
  gort_test::ScopedGomaxprocs one(1);
  Pipe p;
  std::atomic<bool> entered{false};
  std::atomic<int> seen{0};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    gort::syscall([&] {
      entered = true;
      char c;
      (void)::read(p.r, &c, 1);
      set_errno(EILSEQ);  // what the call leaves behind
    });
    seen = get_errno();
    wg.done();
  });
  while (!entered) gort::gosched();
  p.put("e");
  wg.wait();
  EXPECT_EQ(seen.load(), EILSEQ);
}

TEST(Syscall, GoroutinesStartedAndWokenInsideACall) {
  // fn has no P: a goroutine it starts and one it wakes go to the global run
  // queue, and both run.
  gort::WaitGroup wake, waiter_done, child_done;
  wake.add(1);
  waiter_done.add(1);
  child_done.add(1);
  gort::go([&] {
    wake.wait();
    waiter_done.done();
  });
  gort::gosched();
  gort::syscall([&] {
    wake.done();
    gort::go([&] { child_done.done(); });
  });
  waiter_done.wait();
  child_done.wait();
}

TEST(SyscallDeathTest, ParkingInsideACallIsFatal) {
  EXPECT_EXIT(gort::syscall([] { gort::sleep_for(1ms); }), testing::ExitedWithCode(2),
              "fatal error: gopark called inside gort::syscall");
  EXPECT_EXIT(gort::syscall([] { gort::gosched(); }), testing::ExitedWithCode(2),
              "fatal error: gort::gosched called inside gort::syscall");
}

TEST(SyscallDeathTest, AGoroutineInALongCallIsNotADeadlock) {
  // Every other goroutine is parked and every P idle while one sleeps in
  // the kernel: not a deadlock, because the call will return and wake main.
  // The child exits 0 only if the wait completes.
  for (int procs : {1, 2}) {
    EXPECT_EXIT(
        {
          gort::gomaxprocs(procs);
          gort::WaitGroup wg;
          wg.add(1);
          gort::go([&] {
            gort::syscall([] { ::usleep(50'000); });
            wg.done();
          });
          wg.wait();
          std::fflush(stdout);
          std::_Exit(0);
        },
        testing::ExitedWithCode(0), "")
        << "GOMAXPROCS=" << procs;
  }
}

TEST(SyscallDeathTest, ADeadlockAfterACallIsStillReported) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  // The call's M and P are accounted for again once it returns.
  EXPECT_EXIT(
      {
        gort::gomaxprocs(1);
        gort::WaitGroup never;
        gort::WaitGroup done;
        never.add(1);
        done.add(1);
        gort::go([&] {
          gort::syscall([] { ::usleep(20'000); });
          never.wait();
          done.done();
        });
        done.wait();
      },
      testing::ExitedWithCode(2), "fatal error: all goroutines are asleep - deadlock!");
}

}  // namespace
