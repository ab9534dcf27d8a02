// gort::Chan<T>: Go's channels.
//
// What is asserted and why it can fail:
//  - Many producers and consumers, unbuffered and buffered: every value sent
//    is received exactly once (a count per value: a lost value shows 0, a
//    duplicated one 2), and the consumers end only once the channel is
//    closed and drained.
//  - One producer and one consumer see FIFO order (a ring buffer indexed
//    wrongly, or a direct hand-off that overtakes buffered values, reorders).
//  - Move-only values (std::unique_ptr) go through without copies, and the
//    pointer received is the one sent.
//  - Values still buffered when the last handle goes are destroyed, once
//    each, at that moment and not before (a type that counts its live
//    instances and the destruction of instances that still held a value);
//    the ring may have wrapped.
//  - Over-aligned values are constructed at aligned addresses in the buffer.
//  - Handle semantics: copies are ==, a default-constructed Chan is nil
//    (false, len 0, cap 0), the bool conversion is explicit.
//  - len/cap follow sends and receives; range-for receives until close.
//  - close wakes every blocked receiver (seen parked in "chan receive" first)
//    with nullopt, goroutines and foreign threads alike.
//  - Misuse panics with Go's messages and exit status 2 (death tests); a
//    sender blocked when the channel is closed panics too; a value whose
//    move constructor throws is a panic, not a channel left locked.
//  - Deadlocks on channels are reported with the goroutine's wait reason,
//    "[chan receive]" and "[chan receive (nil chan)]". Death-test bodies
//    start no std::thread: the runtime does not report a deadlock while
//    threads it did not make exist (for the same reason these tests skip
//    themselves under TSan, which runs a background thread).
//  - A foreign std::thread can be on either end: it blocks on a futex and is
//    woken by goroutines, and wakes them; two threads can talk through a
//    channel that goroutines use at the same time. A goroutine woken by a
//    thread goes to the global run queue; one that is never run (a lost
//    wake-up in the scheduler) makes the test hang, and the watchdog fails
//    it (PingPongWithAThread does that 100,000 times in a row).
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <atomic>
#include <cstdint>
#include <cstdlib>
#include <memory>
#include <numeric>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <type_traits>
#include <vector>

#include "chan_impl.h"
#include "chan_util.h"
#include "test_util.h"

namespace {

using gort_test::count_parked;
using gort_test::ScopedGomaxprocs;
using gort_test::Tracked;
using gort_test::wait_parked;

constexpr const char* kDeadlock = "fatal error: all goroutines are asleep - deadlock!";

// Waiters queued on a channel (receivers or senders), counted under its lock.
// Used for foreign threads, which do not show in the goroutine list.
int queued(const gort::detail::ChanCore* cc, bool receivers) {
  auto* c = const_cast<gort::detail::ChanCore*>(cc);
  c->lock.lock();
  int n = 0;
  for (gort::detail::Sudog* sg = receivers ? c->recvq.first.load() : c->sendq.first.load(); sg; sg = sg->next) ++n;
  c->lock.unlock();
  return n;
}

void wait_queued(const gort::detail::ChanCore* c, bool receivers, int n) {
  while (queued(c, receivers) < n) gort::gosched();
}

// ---- transfer --------------------------------------------------------------

class ChanTransfer : public testing::TestWithParam<std::size_t> {};

TEST_P(ChanTransfer, ManyProducersManyConsumersEveryValueExactlyOnce) {
  constexpr int kProducers = 8, kConsumers = 8, kPerProducer = 5000;
  constexpr int kTotal = kProducers * kPerProducer;
  auto ch = gort::make_chan<int>(GetParam());
  std::vector<std::atomic<int>> seen(kTotal);
  std::atomic<int> received{0};

  gort::WaitGroup producers, consumers;
  producers.add(kProducers);
  for (int p = 0; p < kProducers; ++p) {
    gort::go([&, p] {
      for (int k = 0; k < kPerProducer; ++k) ch.send(p * kPerProducer + k);
      producers.done();
    });
  }
  consumers.add(kConsumers);
  for (int c = 0; c < kConsumers; ++c) {
    gort::go([&] {
      while (std::optional<int> v = ch.recv()) {
        received.fetch_add(1, std::memory_order_relaxed);
        if (*v >= 0 && *v < kTotal)
          seen[static_cast<std::size_t>(*v)].fetch_add(1, std::memory_order_relaxed);
        else
          ADD_FAILURE() << "received a value never sent: " << *v;
      }
      consumers.done();
    });
  }
  producers.wait();
  ch.close();
  consumers.wait();

  EXPECT_EQ(received.load(), kTotal);
  int wrong = 0;
  for (int v = 0; v < kTotal; ++v) {
    if (seen[static_cast<std::size_t>(v)].load() != 1 && ++wrong <= 10)
      ADD_FAILURE() << "value " << v << " received " << seen[static_cast<std::size_t>(v)].load() << " times";
  }
  EXPECT_EQ(wrong, 0);
  EXPECT_EQ(ch.len(), 0u);
}

TEST_P(ChanTransfer, SingleProducerSingleConsumerIsFifo) {
  constexpr int kN = 20000;
  auto ch = gort::make_chan<int>(GetParam());
  gort::go([ch] {
    for (int i = 0; i < kN; ++i) ch.send(i);
    ch.close();
  });
  int expect = 0;
  for (int v : ch) {
    ASSERT_EQ(v, expect) << "out of order";
    ++expect;
  }
  EXPECT_EQ(expect, kN);
}

TEST_P(ChanTransfer, MoveOnlyValues) {
  constexpr int kN = 2000;
  auto ch = gort::make_chan<std::unique_ptr<int>>(GetParam());
  std::vector<int*> sent(kN);
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] {
    for (int i = 0; i < kN; ++i) {
      auto p = std::make_unique<int>(i);
      sent[static_cast<std::size_t>(i)] = p.get();
      ch.send(std::move(p));
    }
    ch.close();
    wg.done();
  });
  int i = 0;
  for (std::unique_ptr<int>& p : ch) {
    ASSERT_NE(p, nullptr);
    EXPECT_EQ(*p, i);
    EXPECT_EQ(p.get(), sent[static_cast<std::size_t>(i)]) << "a different object than the one sent";
    ++i;
  }
  wg.wait();
  EXPECT_EQ(i, kN);
}

INSTANTIATE_TEST_SUITE_P(Capacities, ChanTransfer, testing::Values(0u, 1u, 7u, 128u),
                         [](const testing::TestParamInfo<std::size_t>& info) {
                           return info.param == 0 ? std::string("Unbuffered") : "Cap" + std::to_string(info.param);
                         });

// ---- values left in the buffer -------------------------------------------

TEST(Chan, BufferedValuesAreDestroyedWithTheLastHandle) {
  Tracked::live = 0;
  Tracked::valued_destroyed = 0;
  {
    auto ch = gort::make_chan<Tracked>(8);
    for (int i = 0; i < 5; ++i) ch.send(Tracked(i));
    EXPECT_EQ(Tracked::live.load(), 5) << "moved-from temporaries are gone, the buffered values remain";
    EXPECT_EQ(Tracked::valued_destroyed.load(), 0);
    {
      std::optional<Tracked> a = ch.recv();
      ASSERT_TRUE(a.has_value());
      EXPECT_EQ(a->v, 0);
    }
    EXPECT_EQ(Tracked::valued_destroyed.load(), 1);  // the one received, by its receiver
    EXPECT_EQ(Tracked::live.load(), 4);
    auto copy = ch;
    ch = gort::Chan<Tracked>();  // one handle left: nothing destroyed
    EXPECT_EQ(Tracked::live.load(), 4);
    EXPECT_EQ(Tracked::valued_destroyed.load(), 1);
  }
  EXPECT_EQ(Tracked::live.load(), 0) << "buffered values leaked";
  EXPECT_EQ(Tracked::valued_destroyed.load(), 5) << "each buffered value destroyed exactly once";
}

TEST(Chan, BufferedValuesAreDestroyedAfterTheRingWrapped) {
  Tracked::live = 0;
  Tracked::valued_destroyed = 0;
  {
    auto ch = gort::make_chan<Tracked>(4);
    for (int i = 0; i < 4; ++i) ch.send(Tracked(i));
    for (int i = 0; i < 3; ++i) EXPECT_EQ(ch.recv()->v, i);
    for (int i = 4; i < 7; ++i) ch.send(Tracked(i));  // wraps: slots 0..2 reused
    EXPECT_EQ(ch.len(), 4u);
    EXPECT_EQ(ch.recv()->v, 3);  // FIFO across the wrap
    EXPECT_EQ(Tracked::live.load(), 3);
    EXPECT_EQ(Tracked::valued_destroyed.load(), 4);
    ch.close();  // closing does not destroy what is buffered
    EXPECT_EQ(Tracked::live.load(), 3);
  }
  EXPECT_EQ(Tracked::live.load(), 0);
  EXPECT_EQ(Tracked::valued_destroyed.load(), 7);
}

TEST(Chan, ValuesAreDestroyedWhenTheLastHandleIsInAnotherGoroutine) {
  Tracked::live = 0;
  Tracked::valued_destroyed = 0;
  auto ch = gort::make_chan<Tracked>(3);
  ch.send(Tracked(1));
  ch.send(Tracked(2));
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([c = std::move(ch), &wg]() mutable {
    c = gort::Chan<Tracked>();  // the last handle goes here
    wg.done();
  });
  wg.wait();
  EXPECT_EQ(Tracked::live.load(), 0);
  EXPECT_EQ(Tracked::valued_destroyed.load(), 2);
}

// ---- handles ---------------------------------------------------------------

TEST(Chan, HandleSemantics) {
  static_assert(!std::is_convertible_v<gort::Chan<int>, bool>, "the bool conversion must be explicit");
  static_assert(std::is_constructible_v<bool, gort::Chan<int>>);
  gort::Chan<int> nil;
  EXPECT_FALSE(nil);
  EXPECT_TRUE(nil == gort::Chan<int>());
  EXPECT_EQ(nil.len(), 0u);
  EXPECT_EQ(nil.cap(), 0u);

  auto a = gort::make_chan<int>(2);
  auto b = gort::make_chan<int>(2);
  EXPECT_TRUE(a);
  EXPECT_FALSE(a == nil);
  EXPECT_FALSE(a == b) << "two channels are different channels";
  auto a2 = a;
  EXPECT_TRUE(a2 == a) << "a copy names the same channel";
  a2.send(5);  // through the copy...
  EXPECT_EQ(a.len(), 1u);
  EXPECT_EQ(a.recv(), 5);  // ...received from the original
  gort::Chan<int> moved = std::move(a2);
  EXPECT_TRUE(moved == a);
  EXPECT_FALSE(a2);  // NOLINT(bugprone-use-after-move): a moved-from handle is nil
  b = a;
  EXPECT_TRUE(b == a);
}

TEST(Chan, LenAndCap) {
  auto u = gort::make_chan<int>();
  EXPECT_EQ(u.cap(), 0u);
  EXPECT_EQ(u.len(), 0u);
  auto ch = gort::make_chan<int>(3);
  EXPECT_EQ(ch.cap(), 3u);
  for (std::size_t i = 0; i < 3; ++i) {
    EXPECT_EQ(ch.len(), i);
    ch.send(static_cast<int>(i));
  }
  EXPECT_EQ(ch.len(), 3u);
  ch.recv();
  EXPECT_EQ(ch.len(), 2u);
  ch.close();
  EXPECT_EQ(ch.len(), 2u) << "closing keeps what is buffered";
  EXPECT_EQ(ch.cap(), 3u);
  EXPECT_EQ(ch.recv(), 1);
  EXPECT_EQ(ch.recv(), 2);
  EXPECT_EQ(ch.recv(), std::nullopt);
  EXPECT_EQ(ch.len(), 0u);
}

TEST(Chan, RangeForReceivesUntilClose) {
  auto ch = gort::make_chan<int>();
  gort::go([ch] {
    for (int i = 1; i <= 100; ++i) ch.send(i);
    ch.close();
  });
  std::vector<int> got;
  for (int v : ch) got.push_back(v);
  std::vector<int> want(100);
  std::iota(want.begin(), want.end(), 1);
  EXPECT_EQ(got, want);
}

TEST(Chan, RangeForOverAClosedBufferedChannelDrainsIt) {
  auto ch = gort::make_chan<int>(4);
  ch.send(1);
  ch.send(2);
  ch.close();
  std::vector<int> got;
  for (int v : ch) got.push_back(v);
  EXPECT_EQ(got, (std::vector<int>{1, 2}));
  EXPECT_EQ(ch.recv(), std::nullopt) << "a closed, drained channel keeps answering nullopt";
}

// ---- close -----------------------------------------------------------------

TEST(Chan, CloseWakesEveryBlockedReceiverWithNullopt) {
  constexpr int kReceivers = 20;
  for (std::size_t cap : {0u, 4u}) {
    auto ch = gort::make_chan<int>(cap);
    std::atomic<int> got_nullopt{0}, got_value{0};
    gort::WaitGroup wg;
    const int base = count_parked("chan receive");
    wg.add(kReceivers);
    for (int i = 0; i < kReceivers; ++i) {
      gort::go([&] {
        if (ch.recv().has_value())
          got_value.fetch_add(1);
        else
          got_nullopt.fetch_add(1);
        wg.done();
      });
    }
    wait_parked("chan receive", base + kReceivers);  // all of them blocked before the close
    EXPECT_EQ(got_nullopt.load() + got_value.load(), 0);
    ch.close();
    wg.wait();
    EXPECT_EQ(got_nullopt.load(), kReceivers) << "cap " << cap;
    EXPECT_EQ(got_value.load(), 0) << "cap " << cap;
  }
}

TEST(Chan, CloseWakesBlockedForeignThreads) {
  auto ch = gort::make_chan<int>();
  auto done = gort::make_chan<bool>(2);
  std::vector<std::thread> ts;
  for (int i = 0; i < 2; ++i) ts.emplace_back([ch, done] { done.send(ch.recv().has_value()); });
  wait_queued(ch.core(), /*receivers=*/true, 2);
  ch.close();
  EXPECT_EQ(done.recv(), false);
  EXPECT_EQ(done.recv(), false);
  for (auto& t : ts) t.join();
}

TEST(Chan, ValuesSentBeforeCloseAreStillReceived) {
  auto ch = gort::make_chan<int>(3);
  ch.send(7);
  ch.send(8);
  ch.close();
  EXPECT_EQ(ch.recv(), 7);
  EXPECT_EQ(ch.recv(), 8);
  EXPECT_EQ(ch.recv(), std::nullopt);
}

TEST(Chan, AReceiverParksUntilASenderComes) {
  // One P: the receiver must park (not spin or fail) so that the sender runs.
  ScopedGomaxprocs procs(1);
  auto ch = gort::make_chan<int>();
  std::atomic<int> stage{0};
  gort::go([&] {
    stage = 1;
    ch.send(42);
    stage = 2;
  });
  EXPECT_EQ(ch.recv(), 42);
  EXPECT_GE(stage.load(), 1);
}

// ---- misuse and deadlocks (death tests) ------------------------------------

TEST(ChanDeathTest, SendOnClosedChannelPanics) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        auto ch = gort::make_chan<int>(1);
        ch.close();
        ch.send(1);
      },
      testing::ExitedWithCode(2), "panic: send on closed channel.*goroutine 1 \\[running\\]");
}

TEST(ChanDeathTest, CloseOfClosedChannelPanics) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        auto ch = gort::make_chan<int>();
        ch.close();
        ch.close();
      },
      testing::ExitedWithCode(2), "panic: close of closed channel");
}

TEST(ChanDeathTest, CloseOfNilChannelPanics) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::Chan<int>().close();
      },
      testing::ExitedWithCode(2), "panic: close of nil channel");
}

TEST(ChanDeathTest, ABlockedSenderPanicsWhenTheChannelIsClosed) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        auto ch = gort::make_chan<int>();
        gort::go([ch] { ch.send(1); });
        wait_parked("chan send", 1);
        ch.close();
        // The sender panics; main waits for something that never comes.
        gort::make_chan<int>().recv();
      },
      testing::ExitedWithCode(2), "panic: send on closed channel");
}

TEST(ChanDeathTest, ABlockedSenderOnAFullBufferPanicsWhenTheChannelIsClosed) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        auto ch = gort::make_chan<int>(1);
        ch.send(0);
        gort::go([ch] { ch.send(1); });
        wait_parked("chan send", 1);
        ch.close();
        gort::make_chan<int>().recv();
      },
      testing::ExitedWithCode(2), "panic: send on closed channel");
}

TEST(ChanDeathTest, DeadlockInChannelReceive) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::make_chan<int>().recv();
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[chan receive\\]:");
}

TEST(ChanDeathTest, DeadlockInChannelSend) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::make_chan<int>().send(1);
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[chan send\\]:");
}

TEST(ChanDeathTest, NilChannelReceiveShowsInTheDeadlockDump) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  // Order-insensitive: the dump lists goroutines in the runtime's order.
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::go([] { gort::Chan<int>().recv(); });
        gort::make_chan<int>().recv();
      },
      testing::ExitedWithCode(2),
      std::string(kDeadlock) +
          ".*(goroutine 1 \\[chan receive\\]:.*goroutine [0-9]+ \\[chan receive \\(nil chan\\)\\]:"
          "|goroutine [0-9]+ \\[chan receive \\(nil chan\\)\\]:.*goroutine 1 \\[chan receive\\]:)");
}

TEST(ChanDeathTest, NilChannelSendShowsInTheDeadlockDump) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::Chan<int>().send(1);
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[chan send \\(nil chan\\)\\]:");
}

// A value type whose move constructor throws. The runtime moves values with
// the channel's lock held, after it has committed to the hand-off, so
// chan.h's contract is that such a throw is a panic at the throw (exit 2,
// "panic: <the exception>"). What must never happen is the exception
// escaping with the lock still held, so that the next operation on the
// channel hangs (the child then ends after 10 s with status 3).
struct ThrowsOnMove {
  int v;
  explicit ThrowsOnMove(int x) : v(x) {}
  ThrowsOnMove(ThrowsOnMove&& o) : v(o.v) {
    if (v == 13) throw std::runtime_error("unlucky move");
  }
};

TEST(ChanDeathTest, AThrowingMoveConstructorIsAPanicNotALockedChannel) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog(10);
        auto ch = gort::make_chan<ThrowsOnMove>(4);
        try {
          ch.send(ThrowsOnMove(13));  // constructed in place, moved into the buffer: throws
        } catch (const std::runtime_error&) {
        }
        ch.send(ThrowsOnMove(1));  // hangs if the lock was left held
        std::_Exit(0);
      },
      testing::ExitedWithCode(2), "panic: std::runtime_error: unlucky move");
}

// Over-aligned values are stored aligned in the buffer (the move
// constructor checks where it constructs).
struct alignas(64) Wide {
  static inline std::atomic<int> misaligned{0};
  int v;
  explicit Wide(int x) : v(x) { check(); }
  Wide(Wide&& o) noexcept : v(o.v) { check(); }
  void check() const {
    if (reinterpret_cast<std::uintptr_t>(this) % 64 != 0) misaligned.fetch_add(1);
  }
};

TEST(Chan, OverAlignedValues) {
  Wide::misaligned = 0;
  auto ch = gort::make_chan<Wide>(5);
  for (int round = 0; round < 3; ++round) {
    for (int i = 0; i < 5; ++i) ch.send(Wide(i));
    for (int i = 0; i < 5; ++i) EXPECT_EQ(ch.recv()->v, i);
  }
  EXPECT_EQ(Wide::misaligned.load(), 0);
}

// ---- foreign threads -------------------------------------------------------

TEST(ChanForeign, ThreadSendsGoroutineReceives) {
  constexpr int kN = 20000;
  for (std::size_t cap : {0u, 16u}) {
    auto ch = gort::make_chan<int>(cap);
    std::thread t([ch] {
      for (int i = 0; i < kN; ++i) ch.send(i);
      ch.close();
    });
    int expect = 0;
    for (int v : ch) {
      ASSERT_EQ(v, expect);
      ++expect;
    }
    t.join();
    EXPECT_EQ(expect, kN) << "cap " << cap;
  }
}

TEST(ChanForeign, GoroutineSendsThreadReceives) {
  constexpr int kN = 20000;
  for (std::size_t cap : {0u, 16u}) {
    auto ch = gort::make_chan<int>(cap);
    auto result = gort::make_chan<long>(1);
    gort::go([ch] {
      for (int i = 0; i < kN; ++i) ch.send(i);
      ch.close();
    });
    std::thread t([ch, result] {
      long sum = 0;
      int expect = 0;
      bool ordered = true;
      for (int v : ch) {
        ordered = ordered && v == expect++;
        sum += v;
      }
      result.send(ordered ? sum : -1);
    });
    // Receive (parking this goroutine), then join a thread that has finished.
    EXPECT_EQ(result.recv(), static_cast<long>(kN) * (kN - 1) / 2) << "cap " << cap << " (-1: out of order)";
    t.join();
  }
}

TEST(ChanForeign, ThreadToThread) {
  constexpr int kN = 20000;
  for (std::size_t cap : {0u, 16u}) {
    auto ch = gort::make_chan<int>(cap);
    auto result = gort::make_chan<long>(1);
    std::thread sender([ch] {
      for (int i = 0; i < kN; ++i) ch.send(i);
      ch.close();
    });
    std::thread receiver([ch, result] {
      long sum = 0;
      for (int v : ch) sum += v;
      result.send(sum);
    });
    EXPECT_EQ(result.recv(), static_cast<long>(kN) * (kN - 1) / 2) << "cap " << cap;
    sender.join();
    receiver.join();
  }
}

// Threads and goroutines on both ends of one channel at once: every value,
// tagged with its sender, arrives exactly once; thread-to-thread,
// thread-to-goroutine, goroutine-to-thread and goroutine-to-goroutine
// hand-offs all happen through the same queues.
TEST(ChanForeign, ThreadsAndGoroutinesShareAChannel) {
  constexpr int kThreadSenders = 2, kGoSenders = 2, kThreadReceivers = 2, kGoReceivers = 2;
  constexpr int kSenders = kThreadSenders + kGoSenders;
  constexpr int kPer = 10000;
  constexpr int kTotal = kSenders * kPer;
  for (std::size_t cap : {0u, 8u}) {
    auto ch = gort::make_chan<int>(cap);
    auto senders_done = gort::make_chan<int>(kSenders);
    auto receivers_done = gort::make_chan<int>(kThreadReceivers + kGoReceivers);
    std::vector<std::atomic<int>> seen(kTotal);
    auto send_all = [&, ch](int s) {
      for (int k = 0; k < kPer; ++k) ch.send(s * kPer + k);
      senders_done.send(s);
    };
    auto receive_all = [&, ch] {
      int n = 0;
      for (int v : ch) {
        if (v >= 0 && v < kTotal) seen[static_cast<std::size_t>(v)].fetch_add(1, std::memory_order_relaxed);
        ++n;
      }
      receivers_done.send(n);
    };
    std::vector<std::thread> threads;
    for (int s = 0; s < kThreadSenders; ++s) threads.emplace_back(send_all, s);
    for (int r = 0; r < kThreadReceivers; ++r) threads.emplace_back(receive_all);
    for (int s = kThreadSenders; s < kSenders; ++s) gort::go([send_all, s] { send_all(s); });
    for (int r = 0; r < kGoReceivers; ++r) gort::go(receive_all);
    for (int s = 0; s < kSenders; ++s) senders_done.recv();
    ch.close();
    int total = 0;
    for (int r = 0; r < kThreadReceivers + kGoReceivers; ++r) total += *receivers_done.recv();
    for (auto& t : threads) t.join();
    EXPECT_EQ(total, kTotal) << "cap " << cap;
    int wrong = 0;
    for (int v = 0; v < kTotal; ++v)
      if (seen[static_cast<std::size_t>(v)].load() != 1 && ++wrong <= 10)
        ADD_FAILURE() << "cap " << cap << ": value " << v << " received " << seen[static_cast<std::size_t>(v)].load()
                      << " times";
    EXPECT_EQ(wrong, 0);
  }
}

// Round trips between a thread and a goroutine: every message wakes the
// other side, so a goroutine is readied from a foreign thread (onto the
// global run queue) 100000 times. A wake-up lost by the scheduler leaves
// the goroutine runnable with every M idle: the test hangs.
TEST(ChanForeign, PingPongWithAThread) {
  constexpr int kRounds = 100000;
  auto ping = gort::make_chan<int>();
  auto pong = gort::make_chan<int>();
  std::thread t([ping, pong] {
    for (int v : ping) pong.send(v + 1);
    pong.close();
  });
  long sum = 0;
  for (int i = 0; i < kRounds; ++i) {
    ping.send(i);
    sum += *pong.recv();
  }
  ping.close();
  EXPECT_EQ(pong.recv(), std::nullopt);
  t.join();
  EXPECT_EQ(sum, static_cast<long>(kRounds) * (kRounds + 1) / 2);
}

TEST(ChanForeign, ABlockedThreadIsWokenByAGoroutine) {
  // The thread is seen queued on the channel before the goroutine sends.
  auto ch = gort::make_chan<int>();
  auto back = gort::make_chan<int>();
  std::thread t([ch, back] { back.send(*ch.recv() + 1); });
  wait_queued(ch.core(), /*receivers=*/true, 1);
  ch.send(41);
  EXPECT_EQ(back.recv(), 42);
  t.join();
}

TEST(ChanForeign, ABlockedGoroutineIsWokenByAThread) {
  auto ch = gort::make_chan<int>();
  const int base = count_parked("chan receive");
  auto result = gort::make_chan<int>(1);
  gort::go([ch, result] { result.send(*ch.recv()); });
  wait_parked("chan receive", base + 1);
  std::thread t([ch] { ch.send(7); });
  EXPECT_EQ(result.recv(), 7);
  t.join();
}

}  // namespace
