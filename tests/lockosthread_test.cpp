// lock_os_thread / unlock_os_thread: a locked goroutine runs only on its
// thread, and its thread runs nothing else (Go's LockOSThread).
//
// Threads are told apart by gettid(). The suites run the locked goroutine
// through every kind of switch (gosched, sleep_for, WaitGroup and Mutex
// waits, gort::syscall) while other goroutines run, at one and two Ps.
#include <gtest/gtest.h>

#include <gort/gort.h>
#include <sys/stat.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstring>
#include <string>
#include <thread>

#include "child_process.h"
#include "runtime2.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;

pid_t tid() { return static_cast<pid_t>(::gettid()); }

bool thread_exists(pid_t t) {
  struct stat st;
  return ::stat(("/proc/self/task/" + std::to_string(t)).c_str(), &st) == 0;
}

bool locked_now() {
  gort::rt::M* mp = gort::rt::getm();
  return mp->lockedg == mp->curg && mp->curg->lockedm == mp;
}

// Other goroutines that keep switching and record the thread they run on:
// `violations` counts the times one ran on `forbidden` while `active`.
struct Bystanders {
  std::atomic<bool> stop{false};
  std::atomic<pid_t> forbidden{0};
  std::atomic<bool> active{false};
  std::atomic<long> violations{0};
  std::atomic<long> rounds{0};
  gort::WaitGroup wg;

  void start(int n) {
    wg.add(n);
    for (int i = 0; i < n; ++i) {
      gort::go([this, i] {
        for (int k = 0; !stop; ++k) {
          pid_t t = tid();
          if (active && t == forbidden) violations++;
          rounds++;
          if ((k + i) % 8 == 0)
            gort::sleep_for(20us);
          else
            gort::gosched();
        }
        wg.done();
      });
    }
  }
  void finish() {
    stop = true;
    wg.wait();
  }
};

// Runs the locked goroutine through every kind of switch, checking its
// thread after each; returns how many times it found itself elsewhere.
int switch_around(pid_t mine) {
  int moved = 0;
  auto check = [&] {
    if (tid() != mine) moved++;
  };
  for (int i = 0; i < 200; ++i) {
    gort::gosched();
    check();
  }
  for (int i = 0; i < 50; ++i) {
    gort::sleep_for(10us);
    check();
  }
  for (int i = 0; i < 50; ++i) {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      gort::gosched();
      wg.done();
    });
    wg.wait();
    check();
  }
  for (int i = 0; i < 50; ++i) {
    gort::Mutex mu;
    gort::WaitGroup held, done;
    std::atomic<bool> trying{false};
    held.add(1);
    done.add(1);
    gort::go([&] {
      mu.lock();
      held.done();
      while (!trying) gort::gosched();
      for (int k = 0; k < 20; ++k) gort::gosched();  // let the locked G block in lock()
      mu.unlock();
      done.done();
    });
    held.wait();
    check();
    trying = true;
    mu.lock();
    check();
    mu.unlock();
    done.wait();
    check();
  }
  return moved;
}

class LockOSThread : public testing::TestWithParam<int> {};

TEST_P(LockOSThread, StaysOnItsThreadAndItsThreadRunsNothingElse) {
  gort_test::ScopedGomaxprocs procs(GetParam());
  Bystanders others;
  others.start(4);
  std::atomic<int> moved{-1};
  std::atomic<long> rounds_while_locked{0};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    gort::lock_os_thread();
    const pid_t mine = tid();
    others.forbidden = mine;
    others.active = true;
    const long r0 = others.rounds;
    int m = switch_around(mine);
    // The others must get to run while this G is locked, or the checks saw
    // nothing. 300 switches usually suffice; on a loaded machine they may
    // all fall while the others wait for a CPU, so yield (still locked)
    // until one of theirs has gone round: a liveness condition, not a count.
    while (others.rounds == r0) {
      gort::gosched();
      if (tid() != mine) m++;
    }
    moved = m;
    rounds_while_locked = others.rounds - r0;
    others.active = false;  // before unlocking: from here on others may run here
    gort::unlock_os_thread();
    wg.done();
  });
  wg.wait();
  others.finish();
  EXPECT_EQ(moved.load(), 0) << "the locked goroutine ran on another thread";
  EXPECT_EQ(others.violations.load(), 0) << "another goroutine ran on the locked thread";
  EXPECT_GT(rounds_while_locked.load(), 0) << "the others did not run meanwhile";
}

TEST_P(LockOSThread, StaysOnItsThreadAcrossABlockingSyscall) {
  // The syscall's P is handed off while the locked G blocks; when the call
  // returns, main holds the P (one P), so the G goes through exitsyscall's
  // slow path, and must come back on its own thread.
  gort_test::ScopedGomaxprocs procs(GetParam());
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::atomic<bool> entered{false};
  std::atomic<pid_t> before{0}, inside{0}, after{0};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    gort::lock_os_thread();
    before = tid();
    char c;
    gort::syscall([&] {
      inside = tid();
      entered = true;
      return ::read(fds[0], &c, 1);
    });
    after = tid();
    gort::gosched();
    if (tid() != before) after = -1;
    gort::unlock_os_thread();
    wg.done();
  });
  while (!entered) gort::gosched();
  for (int i = 0; i < 10; ++i) gort::gosched();
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  wg.wait();
  ::close(fds[0]);
  ::close(fds[1]);
  EXPECT_EQ(inside.load(), before.load());
  EXPECT_EQ(after.load(), before.load());
}

INSTANTIATE_TEST_SUITE_P(Gomaxprocs, LockOSThread, testing::Values(1, 2),
                         [](const testing::TestParamInfo<int>& info) { return "P" + std::to_string(info.param); });

TEST(LockOSThreadNesting, UnlockedOnlyAfterAsManyUnlocksAsLocks) {
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    EXPECT_FALSE(locked_now());
    gort::lock_os_thread();
    gort::lock_os_thread();
    EXPECT_TRUE(locked_now());
    gort::unlock_os_thread();
    EXPECT_TRUE(locked_now()) << "one unlock of two locks unlocked the goroutine";
    const pid_t mine = tid();
    for (int i = 0; i < 100; ++i) {
      gort::sleep_for(1us);
      EXPECT_EQ(tid(), mine);
    }
    gort::unlock_os_thread();
    EXPECT_FALSE(locked_now());
    gort::unlock_os_thread();  // more unlocks than locks: nothing happens
    EXPECT_FALSE(locked_now());
    gort::lock_os_thread();
    EXPECT_TRUE(locked_now()) << "an extra unlock made the count negative";
    gort::unlock_os_thread();
    EXPECT_FALSE(locked_now());
    wg.done();
  });
  wg.wait();
}

TEST(LockOSThreadNesting, OffAGoroutineBothDoNothing) {
  std::thread t([] {
    gort::lock_os_thread();
    gort::unlock_os_thread();
    gort::unlock_os_thread();
  });
  t.join();
}

TEST(LockOSThreadExit, ALockedGoroutineThatEndsTakesItsThreadWithIt) {
  using namespace gort::rt;
  // m0 (the thread that called gort::run) cannot end; like Go, the runtime
  // parks it for good instead. So that the test watches a thread that can
  // end, a goroutine that finds itself locked to m0 stays there (a "sitter")
  // until the end of the test, and another one is tried: it cannot land on
  // m0, which runs only its sitter.
  struct Try {
    std::atomic<pid_t> t{0};
    std::atomic<M*> m{nullptr};
    gort::WaitGroup started, ended;
  };
  Try tries[2];
  gort::WaitGroup release_sitter;
  release_sitter.add(1);
  bool sitter = false;
  std::int32_t freed_before = 0;
  {
    sched.lock.lock();
    freed_before = sched.nmfreed;
    sched.lock.unlock();
  }
  Try* subject = nullptr;
  for (Try& tr : tries) {
    tr.started.add(1);
    tr.ended.add(1);
    gort::go([&tr, &release_sitter] {
      gort::lock_os_thread();
      tr.t = tid();
      tr.m = getm();
      const bool on_m0 = tr.t == ::getpid();
      tr.started.done();
      if (on_m0) {
        release_sitter.wait();
        gort::unlock_os_thread();  // ends normally: m0 goes back to work
      }
      tr.ended.done();
      // Ends here, still locked unless it was the sitter.
    });
    tr.started.wait();
    if (tr.t != ::getpid()) {
      subject = &tr;
      break;
    }
    sitter = true;
  }
  ASSERT_NE(subject, nullptr) << "two goroutines in a row were locked to m0";
  subject->ended.wait();
  const pid_t gone = subject->t;
  // Wait (without assuming how long it takes) for the thread to end.
  while (thread_exists(gone)) gort::sleep_for(100us);
  EXPECT_FALSE(thread_exists(gone));
  M* lm = subject->m;
  ASSERT_NE(lm, nullptr);
  while (!lm->exited) gort::sleep_for(100us);  // marked by mstart as the thread returns
  sched.lock.lock();
  std::int32_t freed_after = sched.nmfreed;
  sched.lock.unlock();
  EXPECT_GT(freed_after, freed_before);
  release_sitter.done();
  if (sitter) tries[0].ended.wait();
  // The runtime goes on with fewer threads: new goroutines still run.
  gort::WaitGroup wg;
  wg.add(10);
  for (int i = 0; i < 10; ++i) gort::go([&] { wg.done(); });
  wg.wait();
}

constexpr const char* kDeadlock = "fatal error: all goroutines are asleep - deadlock!";

TEST(LockOSThreadDeathTest, ALockedGoroutineWaitingForNothingIsADeadlock) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  // The locked M sleeps in stoplockedm: counted in sched.nmidlelocked, not as
  // running, or checkdead could never report this.
  EXPECT_EXIT(
      {
        gort::lock_os_thread();
        gort::WaitGroup wg;
        wg.add(1);
        wg.wait();
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[semacquire, locked to thread\\]:");
}

TEST(LockOSThreadProbe, MainReturnsWhileM0SleepsAsALockedThread) {
  // gort_probe locked-m0: a goroutine locks m0 and parks for good, main
  // (moved to another thread) returns 7. gort::run must still return on m0,
  // which is asleep waiting for its locked goroutine.
  auto r = gort_test::run_child({GORT_PROBE, "locked-m0"}, {{"GOMAXPROCS", "1"}});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "m0 locked; main on another thread\n");
}

TEST(LockOSThreadProbe, ALockedGoroutineEndingOnM0WedgesItUntilMainReturns) {
  // The same, but the goroutine locked to m0 ends: m0 cannot end with it
  // (gort::run returns on it), so it parks and runs nothing until main
  // returns, and then gort::run returns 7.
  auto r = gort_test::run_child({GORT_PROBE, "locked-m0", "exit"}, {{"GOMAXPROCS", "1"}});
  EXPECT_EQ(r.exit_code, 7) << r.err;
  EXPECT_EQ(r.out, "m0 locked; main on another thread\n");
}

}  // namespace
