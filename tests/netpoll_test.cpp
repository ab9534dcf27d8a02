// The netpoller's place in the scheduler: goroutines waiting for file
// descriptors park, their P runs others, readiness is noticed even while
// every P is busy, an idle program waiting for I/O costs no CPU, and the
// poll without blocking before an M sleeps opens only while I/O comes soon.
#include <fcntl.h>
#include <gort/gort.h>
#include <gort/net.h>
#include <gtest/gtest.h>
#include <sys/eventfd.h>
#include <sys/resource.h>
#include <unistd.h>

#include <atomic>
#include <string>
#include <thread>

#include "gstatus_util.h"
#include "netpoll.h"
#include "test_util.h"

namespace {

using namespace std::chrono_literals;

// Non-blocking ends, as the netpoller wants them.
struct Pipe : gort_test::Pipe {
  Pipe() : gort_test::Pipe(O_NONBLOCK | O_CLOEXEC) {}
};

// Another goroutine writes a byte to p: wait_readable wakes for it, and
// the byte is there to read.
void wait_for_one_byte(Pipe& p) {
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    EXPECT_EQ(write(p.w, "y", 1), 1);
    wg.done();
  });
  gort::net::wait_readable(p.r);
  char c;
  EXPECT_EQ(read(p.r, &c, 1), 1);
  wg.wait();
}

TEST(NetPoll, WaitReadableOnAPipeLetsTheOnlyPRunOthers) {
  gort_test::ScopedGomaxprocs one(1);
  Pipe p;
  ASSERT_GE(p.r, 0);
  std::atomic<std::int64_t> reader{0};
  std::atomic<bool> got{false};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    reader = gort::goid();
    gort::net::wait_readable(p.r);
    char c;
    EXPECT_EQ(read(p.r, &c, 1), 1);
    got = true;
    wg.done();
  });
  // On the single P, this goroutine runs while the reader waits: its
  // thread is not held.
  int steps = 0;
  while (gort::debug::sched_stats().io_waiters == 0) {
    gort::gosched();
    steps++;
  }
  EXPECT_EQ(gort_test::wait_reason_of(reader), "IO wait");
  for (int i = 0; i < 100; ++i) gort::gosched();
  EXPECT_FALSE(got.load());
  ASSERT_EQ(write(p.w, "x", 1), 1);
  wg.wait();
  EXPECT_TRUE(got.load());
}

TEST(NetPoll, WaitWritableAndDeadline) {
  Pipe p;
  ASSERT_GE(p.r, 0);
  gort::net::wait_writable(p.w);  // an empty pipe: at once
  // Fill it; then a write wait times out, never early.
  std::string chunk(65536, 'f');
  while (write(p.w, chunk.data(), chunk.size()) > 0) {
  }
  auto deadline = gort::clock::now() + 10ms;
  try {
    gort::net::wait_writable(p.w, deadline);
    ADD_FAILURE() << "a full pipe was writable";
  } catch (const std::system_error& e) {
    EXPECT_EQ(e.code(), std::errc::timed_out);
  }
  EXPECT_GE(gort::clock::now(), deadline);
  // Drained by another goroutine: the waiter wakes.
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    char buf[65536];
    while (read(p.r, buf, sizeof buf) > 0) {
    }
    wg.done();
  });
  gort::net::wait_writable(p.w);
  wg.wait();
  // The read end: readable once written, repeatedly (no stale readiness).
  Pipe q;
  for (int i = 0; i < 100; ++i) wait_for_one_byte(q);
}

TEST(NetPoll, RegularFileIsAlwaysReady) {
  char path[] = "/tmp/gort-netpoll-XXXXXX";
  int fd = mkstemp(path);
  ASSERT_GE(fd, 0);
  unlink(path);
  gort::net::wait_readable(fd);
  gort::net::wait_writable(fd);
  close(fd);
  EXPECT_THROW(gort::net::wait_readable(fd), std::system_error);  // closed: EBADF
}

TEST(NetPoll, FdNumberReusedForAnotherFile) {
  // The user closes a registered fd and the number comes back for a new
  // pipe: the new one is registered afresh, and its readiness is seen.
  for (int i = 0; i < 20; ++i) {
    Pipe p;
    wait_for_one_byte(p);
  }
}

TEST(NetPoll, ReadinessNoticedWhileEveryPSpins) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  gort_test::ScopedGomaxprocs two(2);
  int efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
  ASSERT_GE(efd, 0);
  std::atomic<bool> stop{false};
  std::atomic<int> spinning{0};
  gort::WaitGroup wg;
  // Every P runs a call-free loop (after this goroutine parks below).
  for (int i = 0; i < 2; ++i) {
    wg.add(1);
    gort::go([&] {
      spinning++;
      while (!stop.load(std::memory_order_relaxed)) {
      }
      wg.done();
    });
  }
  std::atomic<bool> woke{false};
  wg.add(1);
  gort::go([&] {
    gort::net::wait_readable(efd);
    woke = true;
    stop = true;  // only the woken reader ends the spinners
    wg.done();
  });
  while (gort::debug::sched_stats().io_waiters == 0 || spinning.load() < 2) gort::gosched();
  // Made ready from outside the runtime while both Ps spin: nobody polls
  // but sysmon, which must find it and queue the reader.
  std::thread t([&] {
    std::uint64_t one = 1;
    EXPECT_EQ(write(efd, &one, sizeof one), 8);
  });
  t.join();
  wg.wait();
  EXPECT_TRUE(woke.load());
  close(efd);
}

// Before blocking in epoll_wait, the last idle M polls without blocking
// for a while (netpoll_spin) when I/O has lately come soon after the Ms
// went idle: the window opens and doubles while short idle spells end in
// I/O, holds while the spin finds it, and closes after long spells, so an
// idle server does not spin. The rule itself, without the clock.
TEST(NetPoll, SpinBeforeBlockingAdaptsToHowSoonIoComes) {
  using gort::rt::kPollSpinMax;
  using gort::rt::kPollSpinStart;
  using gort::rt::netpoll_spin_next;
  std::int64_t w = netpoll_spin_next(0, 3'000, true);
  EXPECT_EQ(w, kPollSpinStart);
  w = netpoll_spin_next(w, w + 1'000, true);
  EXPECT_EQ(w, 2 * kPollSpinStart);
  for (int i = 0; i < 10; ++i) w = netpoll_spin_next(w, kPollSpinMax, true);
  EXPECT_EQ(w, kPollSpinMax);
  EXPECT_EQ(netpoll_spin_next(kPollSpinMax, 2'000, true), kPollSpinMax) << "the spin found the I/O: keep it";
  EXPECT_EQ(netpoll_spin_next(0, 3'000, false), 0) << "a timer or a wake-up ended a short spell: no evidence";
  int halvings = 0;
  for (w = kPollSpinMax; w > 0; ++halvings) w = netpoll_spin_next(w, 1'000'000, true);
  EXPECT_LE(halvings, 3) << "long spells close the window in a few";
}

TEST(NetPoll, TimersStillWakeAnIdleProgram) {
  // The idle M waits for the earliest timer in epoll_pwait2: a sleep ends,
  // never early, while another goroutine waits for I/O forever.
  Pipe p;
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    try {
      gort::net::wait_readable(p.r, gort::clock::now() + 1h);
    } catch (const std::system_error&) {
    }
    wg.done();
  });
  for (std::chrono::microseconds d : {1000us, 300us, 5000us}) {
    auto until = gort::clock::now() + d;
    gort::sleep_until(until);
    EXPECT_GE(gort::clock::now(), until);
  }
  ASSERT_EQ(write(p.w, "e", 1), 1);  // lets it go
  wg.wait();
}

TEST(NetPoll, IdleListenerCostsNoCpu) {
  // A server waiting in accept, nothing else to do: the idle M blocks in
  // epoll_wait and sysmon sleeps. Under 10 ms of CPU per second.
  gort::net::Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([ln, &wg]() mutable {
    try {
      ln.accept();
    } catch (const std::system_error&) {
    }
    wg.done();
  });
  gort::sleep_for(100ms);  // let the start-up settle (not synchronisation: the measurement window starts after)
  rusage before{}, after{};
  getrusage(RUSAGE_SELF, &before);
  auto t0 = std::chrono::steady_clock::now();
  gort::sleep_for(1s);
  auto wall = std::chrono::steady_clock::now() - t0;
  getrusage(RUSAGE_SELF, &after);
  auto us = [](const rusage& r) {
    return (r.ru_utime.tv_sec + r.ru_stime.tv_sec) * 1'000'000L + r.ru_utime.tv_usec + r.ru_stime.tv_usec;
  };
  double cpu_ms = (us(after) - us(before)) / 1000.0;
  double wall_s = std::chrono::duration<double>(wall).count();
  EXPECT_LT(cpu_ms / wall_s, 10.0) << cpu_ms << " ms of CPU in " << wall_s << " s";
  ln.close();
  wg.wait();
}

}  // namespace
