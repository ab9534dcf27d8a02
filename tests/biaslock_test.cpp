// BiasedLock (runtime/biaslock.h), a channel's lock: after a streak of
// ordinary holds by one M it is biased to that M, which then takes it with
// a plain store and a load; any other thread takes the bias away (revokes)
// before it holds the lock. The suites check that the bias is given and
// taken away (by another M and by a thread gort did not make), that locks
// held in turn on one M are each biased, that mutual exclusion holds while
// the bias moves between two Ms thousands of times, and that locks sharing
// an M's bias entry can be held together.
//
// Without membarrier (and under TSan, which cannot see it) no lock is ever
// biased: the suites that need a bias skip there.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <atomic>
#include <thread>
#include <vector>

#include "biaslock.h"
#include "runtime2.h"

namespace {

using gort::rt::BiasedLock;

std::int64_t my_m() { return gort::rt::getm()->id; }

// n ordinary holds in a row by the calling M's goroutine.
void hold(BiasedLock& lock, int n) {
  for (int i = 0; i < n; ++i) {
    lock.lock();
    lock.unlock();
  }
}

// BiasedLocks 16 bytes apart: an M picks a lock's bias entry by its
// address / 16, so kBiasSlots of them in a row use every entry once.
struct alignas(16) Spaced {
  BiasedLock l;
};
static_assert(sizeof(Spaced) == 16);

// Forget the streaks an earlier test left on this M (a lock of this test
// may sit where one of that test's was).
void reset_streaks() {
  Spaced others[gort::rt::kBiasSlots];
  for (auto& o : others) hold(o.l, 1);
}

#define SKIP_WITHOUT_BIAS() \
  if (!gort::rt::asymmetric_fence) GTEST_SKIP() << "no membarrier here (or TSan): no lock is ever biased"

TEST(BiasedLock, AStreakBiasesItAndAnotherMTakesItBack) {
  SKIP_WITHOUT_BIAS();
  BiasedLock lock;
  lock.set_streak_needed(16);
  std::int64_t m1 = -1, m2 = -1, during_biased_hold = -2, during_revoker_hold = -2, after_streak = -2;
  auto go2 = gort::make_chan<int>();
  auto done2 = gort::make_chan<int>();
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    gort::lock_os_thread();  // (both goroutines are locked at once: two Ms)
    m1 = my_m();
    reset_streaks();
    hold(lock, 15);
    after_streak = lock.biased_to();  // one short: not yet
    hold(lock, 1);
    lock.lock();
    during_biased_hold = lock.biased_to();
    lock.unlock();
    go2.send(1);
    done2.recv();
    gort::unlock_os_thread();
    wg.done();
  });
  gort::go([&] {
    gort::lock_os_thread();
    go2.recv();
    m2 = my_m();
    lock.lock();
    during_revoker_hold = lock.biased_to();
    lock.unlock();
    done2.send(1);
    gort::unlock_os_thread();
    wg.done();
  });
  wg.wait();
  ASSERT_NE(m1, m2);
  EXPECT_EQ(after_streak, -1);
  EXPECT_EQ(during_biased_hold, m1);
  EXPECT_EQ(during_revoker_hold, -1);
  EXPECT_EQ(lock.biased_to(), -1);
  EXPECT_EQ(lock.streak_needed(), 32u) << "a bias that saved little doubles the next streak";
}

// A select's goroutine and the one it talks to take several channel locks
// in turn on one M (ping, quit, pong, quit, ...): the M counts a streak per
// bias entry, so each lock's streak goes on while the others are held in
// between, and each is biased to the M.
TEST(BiasedLock, LocksHeldInTurnOnOneMAreEachBiased) {
  SKIP_WITHOUT_BIAS();
  Spaced locks[2];  // two bias entries
  std::int64_t owner = -1, biased[2] = {-2, -2};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    gort::lock_os_thread();
    owner = my_m();
    reset_streaks();
    for (auto& s : locks) s.l.set_streak_needed(16);
    for (int i = 0; i < 16; ++i) {
      locks[0].l.lock();
      locks[1].l.lock();
      locks[1].l.unlock();
      locks[0].l.unlock();
      hold(locks[1].l, 1);
    }
    for (int k = 0; k < 2; ++k) biased[k] = locks[k].l.biased_to();
    gort::unlock_os_thread();
    wg.done();
  });
  wg.wait();
  EXPECT_EQ(biased[0], owner);
  EXPECT_EQ(biased[1], owner);
}

TEST(BiasedLock, AThreadGortDidNotMakeTakesItBack) {
  SKIP_WITHOUT_BIAS();
  BiasedLock lock;
  lock.set_streak_needed(4);
  std::int64_t owner = -1;
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    gort::lock_os_thread();
    owner = my_m();
    hold(lock, 4);
    gort::unlock_os_thread();
    wg.done();
  });
  wg.wait();
  ASSERT_EQ(lock.biased_to(), owner);
  std::int64_t during = -2;
  std::thread([&] {
    lock.lock();
    during = lock.biased_to();
    lock.unlock();
  }).join();
  EXPECT_EQ(during, -1);
  EXPECT_EQ(lock.biased_to(), -1);
}

// Two goroutines on two Ms (GOMAXPROCS=2) take the lock in turns and at
// once; each hold sets the streak back to 4, so each M biases the lock to
// itself every fourth ordinary hold and the other takes it back. A plain
// counter and an "inside" flag check the exclusion.
TEST(BiasedLock, ExcludesWhileTheBiasMovesBetweenTwoMs) {
  SKIP_WITHOUT_BIAS();
  const int old = gort::gomaxprocs(2);
  BiasedLock lock;
  long counter = 0;  // only under the lock
  bool inside = false;
  std::atomic<int> violations{0};
  constexpr int kIters = 20000;
  long biased_holds[2] = {0, 0};
  std::int64_t ms[2] = {-1, -1};
  gort::WaitGroup started, wg;
  started.add(2);
  wg.add(2);
  for (int k = 0; k < 2; ++k)
    gort::go([&, k] {
      gort::lock_os_thread();
      ms[k] = my_m();
      started.done();
      started.wait();  // both locked at once: two Ms
      for (int i = 0; i < kIters; ++i) {
        lock.lock();
        if (inside) violations.fetch_add(1, std::memory_order_relaxed);
        inside = true;
        if (lock.biased_to() == ms[k]) ++biased_holds[k];
        lock.set_streak_needed(4);
        ++counter;
        inside = false;
        lock.unlock();
      }
      gort::unlock_os_thread();
      wg.done();
    });
  wg.wait();
  gort::gomaxprocs(old);
  ASSERT_NE(ms[0], ms[1]);
  EXPECT_EQ(counter, 2L * kIters);
  EXPECT_EQ(violations.load(), 0);
  // Both Ms held it by their bias: the bias moved, so it was revoked.
  EXPECT_GT(biased_holds[0], 0);
  EXPECT_GT(biased_holds[1], 0);
}

// A select holds one lock per channel at once, and an M has four bias
// entries (picked by a hash of the address): eight locks biased in turn to
// one M share them. Holding all eight at once, many times, while another M
// takes each of them now and then, must neither deadlock nor let two
// threads in.
TEST(BiasedLock, LocksSharingBiasEntriesAreHeldTogether) {
  SKIP_WITHOUT_BIAS();
  const int old = gort::gomaxprocs(2);
  std::vector<BiasedLock> locks(8);
  long counters[8] = {};
  std::atomic<bool> stop{false};
  gort::WaitGroup started, wg;
  started.add(2);
  wg.add(2);
  gort::go([&] {
    gort::lock_os_thread();
    started.done();
    started.wait();
    for (int round = 0; round < 2000; ++round) {
      for (auto& l : locks) {
        l.lock();
        l.set_streak_needed(2);
        l.unlock();
      }
      for (auto& l : locks) l.lock();
      for (auto& c : counters) ++c;
      for (auto it = locks.rbegin(); it != locks.rend(); ++it) it->unlock();
    }
    stop.store(true);
    gort::unlock_os_thread();
    wg.done();
  });
  long other = 0;
  gort::go([&] {
    gort::lock_os_thread();
    started.done();
    started.wait();
    for (int i = 0; !stop.load(); ++i) {
      locks[i % 8].lock();
      ++counters[i % 8];
      ++other;
      locks[i % 8].unlock();
    }
    gort::unlock_os_thread();
    wg.done();
  });
  wg.wait();
  gort::gomaxprocs(old);
  long sum = 0;
  for (long c : counters) sum += c;
  EXPECT_EQ(sum, 8L * 2000 + other);
}

}  // namespace
