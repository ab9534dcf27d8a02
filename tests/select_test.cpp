// gort::select: Go's select statement.
//
// What is asserted and why it can fail:
//  - Fairness: with two cases always ready, each is chosen 45-55% of 100,000
//    times. A fixed poll order gives 100/0; a biased shuffle drifts out of
//    the band. (For a fair coin the band is 31 standard deviations wide: a
//    correct select fails it with probability far below 1e-100.)
//  - The default runs only when no case is ready: never with a value
//    buffered, a sender or receiver waiting, or a closed channel (which is
//    ready for receiving).
//  - Send cases hand their value over, to a waiting receiver or a buffer.
//  - A select blocked on several channels (seen parked in "select" first) is
//    woken by a close (the receive case gets nullopt) or by a send on one of
//    them; exactly that case runs, and the select's waiters are gone from
//    the other channels' queues afterwards (checked in the queues, and by
//    using those channels normally: a leftover waiter record lives on the
//    selecting goroutine's stack, which is gone or reused by then, and the
//    next operation on that channel would read it).
//  - Nil channels are never ready.
//  - One channel in two cases, ready or blocking.
//  - The runtime-sized select over std::span<gort::SelectCase>.
//  - select() with no cases blocks forever: a deadlock with
//    "[select (no cases)]" (death test, no threads in its body; skipped
//    under TSan, whose background thread keeps deadlocks from being
//    reported).
//  - A foreign thread can select, blocking on a futex.
#include <gtest/gtest.h>

#include <gort/gort.h>

#include <array>
#include <atomic>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <thread>
#include <vector>

#include "chan_impl.h"
#include "chan_util.h"
#include "test_util.h"

namespace {

using gort_test::count_parked;
using gort_test::wait_parked;

constexpr const char* kDeadlock = "fatal error: all goroutines are asleep - deadlock!";

// Waiters queued on a channel, counted under its lock.
template <class T>
int queued(const gort::Chan<T>& ch, bool receivers) {
  gort::detail::ChanCore* c = ch.core();
  c->lock.lock();
  int n = 0;
  for (gort::detail::Sudog* sg = receivers ? c->recvq.first.load() : c->sendq.first.load(); sg; sg = sg->next) ++n;
  c->lock.unlock();
  return n;
}

template <class T>
void wait_queued(const gort::Chan<T>& ch, bool receivers, int n) {
  while (queued(ch, receivers) < n) gort::gosched();
}

// ---- choosing among ready cases ---------------------------------------------

TEST(Select, TwoReadyCasesAreChosenFairly) {
  constexpr int kSelects = 100000;
  auto a = gort::make_chan<int>(1);
  auto b = gort::make_chan<int>(1);
  a.send(0);
  b.send(1);
  std::array<int, 2> chosen{0, 0};
  for (int i = 0; i < kSelects; ++i) {
    int got = -1;
    std::size_t idx = gort::select(gort::on_recv(a, [&](std::optional<int> v) { got = *v; }),
                                   gort::on_recv(b, [&](std::optional<int> v) { got = *v; }));
    ASSERT_LT(idx, 2u);
    ASSERT_EQ(got, static_cast<int>(idx)) << "the case that ran is the one returned";
    chosen[idx]++;
    (idx == 0 ? a : b).send(got);  // ready again
  }
  EXPECT_GE(chosen[0], kSelects * 45 / 100);
  EXPECT_LE(chosen[0], kSelects * 55 / 100);
  EXPECT_GE(chosen[1], kSelects * 45 / 100);
  EXPECT_LE(chosen[1], kSelects * 55 / 100);
}

TEST(Select, TwoReadySendCasesAreChosenFairly) {
  constexpr int kSelects = 100000;
  auto a = gort::make_chan<int>(1);
  auto b = gort::make_chan<int>(1);
  std::array<int, 2> chosen{0, 0};
  for (int i = 0; i < kSelects; ++i) {
    std::size_t idx = gort::select(gort::on_send(a, 0), gort::on_send(b, 1));
    ASSERT_LT(idx, 2u);
    chosen[idx]++;
    ASSERT_EQ((idx == 0 ? a : b).recv(), static_cast<int>(idx));  // room again
    ASSERT_EQ(a.len() + b.len(), 0u) << "exactly one case ran";
  }
  EXPECT_GE(chosen[0], kSelects * 45 / 100);
  EXPECT_LE(chosen[0], kSelects * 55 / 100);
}

TEST(Select, ReturnsTheArgumentIndexAndRunsOnlyThatCase) {
  auto a = gort::make_chan<int>(1);
  auto b = gort::make_chan<int>(1);
  auto c = gort::make_chan<int>(1);
  b.send(5);
  int ran = 0;
  std::optional<int> got;
  std::size_t idx = gort::select(gort::on_recv(a, [&](std::optional<int>) { ran |= 1; }),
                                 gort::on_recv(b,
                                               [&](std::optional<int> v) {
                                                 ran |= 2;
                                                 got = v;
                                               }),
                                 gort::on_recv(c, [&](std::optional<int>) { ran |= 4; }));
  EXPECT_EQ(idx, 1u);
  EXPECT_EQ(ran, 2);
  EXPECT_EQ(got, 5);
}

// ---- default -----------------------------------------------------------------

TEST(Select, DefaultOnlyWhenNothingIsReady) {
  auto ch = gort::make_chan<int>(1);
  auto unbuf = gort::make_chan<int>();
  bool ran_default = false;
  // Nothing ready: the default runs.
  EXPECT_EQ(gort::select(gort::on_recv(ch), gort::on_recv(unbuf), gort::on_default([&] { ran_default = true; })), 2u);
  EXPECT_TRUE(ran_default);
  // A full buffer is not ready for sending, an unbuffered channel with no
  // receiver neither.
  ch.send(1);
  EXPECT_EQ(gort::select(gort::on_send(unbuf, 1), gort::on_default()), 1u);
  EXPECT_EQ(gort::select(gort::on_send(ch, 2), gort::on_default()), 1u);
  EXPECT_EQ(ch.len(), 1u);
  // The default can be anywhere in the argument list.
  EXPECT_EQ(gort::select(gort::on_default(), gort::on_send(ch, 2)), 0u);
}

TEST(Select, NeverDefaultWhenSomethingIsReady) {
  auto ch = gort::make_chan<int>(1);
  for (int i = 0; i < 1000; ++i) {
    ch.send(i);
    std::optional<int> got;
    std::size_t idx = gort::select(gort::on_default(), gort::on_recv(ch, [&](std::optional<int> v) { got = v; }));
    ASSERT_EQ(idx, 1u) << "iteration " << i;
    ASSERT_EQ(got, i);
  }
  // Room in the buffer: a send case is ready.
  for (int i = 0; i < 1000; ++i) {
    ASSERT_EQ(gort::select(gort::on_send(ch, i), gort::on_default()), 0u);
    ASSERT_EQ(ch.recv(), i);
  }
}

TEST(Select, AWaitingSenderMakesAReceiveCaseReady) {
  auto ch = gort::make_chan<int>();
  const int base = count_parked("chan send");
  gort::go([ch] { ch.send(9); });
  wait_parked("chan send", base + 1);
  std::optional<int> got;
  EXPECT_EQ(gort::select(gort::on_recv(ch, [&](std::optional<int> v) { got = v; }), gort::on_default()), 0u);
  EXPECT_EQ(got, 9);
}

TEST(Select, AWaitingReceiverMakesASendCaseReady) {
  auto ch = gort::make_chan<int>();
  auto result = gort::make_chan<int>(1);
  const int base = count_parked("chan receive");
  gort::go([ch, result] { result.send(*ch.recv()); });
  wait_parked("chan receive", base + 1);
  EXPECT_EQ(gort::select(gort::on_send(ch, 11), gort::on_default()), 0u);
  EXPECT_EQ(result.recv(), 11);
}

TEST(Select, AClosedChannelIsReadyForReceiving) {
  auto ch = gort::make_chan<int>();
  ch.close();
  bool got_nullopt = false;
  EXPECT_EQ(gort::select(gort::on_default(), gort::on_recv(ch, [&](std::optional<int> v) { got_nullopt = !v; })), 1u);
  EXPECT_TRUE(got_nullopt);
}

// ---- send cases ----------------------------------------------------------------

TEST(Select, SendCasesDeliverTheirValue) {
  auto a = gort::make_chan<int>();
  auto b = gort::make_chan<int>();
  auto got = gort::make_chan<int>(100);
  gort::WaitGroup wg;
  wg.add(2);
  for (auto ch : {a, b}) {
    gort::go([ch, got, &wg] {
      for (int v : ch) got.send(v);
      wg.done();
    });
  }
  long want = 0;
  int sent_a = 0, sent_b = 0;
  for (int i = 0; i < 100; ++i) {
    bool ran = false;
    std::size_t idx = gort::select(gort::on_send(a, i, [&] { ran = true; }), gort::on_send(b, i, [&] { ran = true; }));
    EXPECT_TRUE(ran);
    (idx == 0 ? sent_a : sent_b)++;
    want += i;
  }
  a.close();
  b.close();
  wg.wait();
  got.close();
  long sum = 0;
  int n = 0;
  for (int v : got) {
    sum += v;
    ++n;
  }
  EXPECT_EQ(n, 100);
  EXPECT_EQ(sum, want);
  EXPECT_EQ(sent_a + sent_b, 100);
}

TEST(Select, MoveOnlyValuesInSendAndReceiveCases) {
  auto ch = gort::make_chan<std::unique_ptr<int>>(1);
  auto p = std::make_unique<int>(3);
  int* raw = p.get();
  EXPECT_EQ(gort::select(gort::on_send(ch, std::move(p))), 0u);
  std::unique_ptr<int> out;
  EXPECT_EQ(gort::select(gort::on_recv(ch,
                                       [&](std::optional<std::unique_ptr<int>> v) {
                                         if (v) out = std::move(*v);
                                       })),
            0u);
  EXPECT_EQ(out.get(), raw);
}

// ---- blocking selects ----------------------------------------------------------

TEST(Select, ABlockedSelectIsWokenByClose) {
  auto a = gort::make_chan<int>();
  auto b = gort::make_chan<int>();
  auto result = gort::make_chan<int>(1);
  const int base = count_parked("select");
  gort::go([=] {
    int r = -1;
    std::size_t idx = gort::select(gort::on_recv(a, [&](std::optional<int> v) { r = v ? 100 : 0; }),
                                   gort::on_recv(b, [&](std::optional<int> v) { r = v ? 101 : 1; }));
    result.send(static_cast<int>(idx) * 10 + r);
  });
  wait_parked("select", base + 1);
  b.close();
  EXPECT_EQ(result.recv(), 11) << "case 1, woken with nullopt";
  EXPECT_EQ(queued(a, true), 0) << "the select's waiter was left on the other channel";
}

TEST(Select, ABlockedSelectWokenBySendRunsThatCaseAndLeavesOtherQueuesClean) {
  for (std::size_t cap : {0u, 2u}) {
    auto a = gort::make_chan<int>(cap);
    auto b = gort::make_chan<int>(cap);
    auto c = gort::make_chan<int>(cap);
    auto result = gort::make_chan<int>(1);
    const int base = count_parked("select");
    std::atomic<int> ran{0};
    gort::go([=, &ran] {
      int got = -1;
      std::size_t idx = gort::select(gort::on_recv(a, [&](std::optional<int>) { ran.fetch_or(1); }),
                                     gort::on_recv(b,
                                                   [&](std::optional<int> v) {
                                                     ran.fetch_or(2);
                                                     got = v.value_or(-2);
                                                   }),
                                     gort::on_recv(c, [&](std::optional<int>) { ran.fetch_or(4); }));
      result.send(static_cast<int>(idx) * 1000 + got);
    });
    wait_parked("select", base + 1);
    EXPECT_EQ(queued(a, true), 1);
    EXPECT_EQ(queued(b, true), 1);
    EXPECT_EQ(queued(c, true), 1);
    b.send(77);
    EXPECT_EQ(result.recv(), 1077) << "cap " << cap;
    EXPECT_EQ(ran.load(), 2) << "cap " << cap << ": exactly the woken case ran";
    EXPECT_EQ(queued(a, true), 0) << "cap " << cap;
    EXPECT_EQ(queued(b, true), 0) << "cap " << cap;
    EXPECT_EQ(queued(c, true), 0) << "cap " << cap;
    EXPECT_EQ(b.len(), 0u);

    // The other channels work normally afterwards: a value sent on a or c
    // reaches a receiver that comes later (a leftover waiter would take it).
    for (auto ch : {a, c}) {
      gort::go([ch] { ch.send(5); });
      EXPECT_EQ(ch.recv(), 5) << "cap " << cap;
      auto back = gort::make_chan<int>(1);
      gort::go([ch, back] { back.send(*ch.recv()); });
      ch.send(6);
      EXPECT_EQ(back.recv(), 6) << "cap " << cap;
    }
  }
}

TEST(Select, ABlockedSendCaseIsTakenByAReceiver) {
  auto a = gort::make_chan<int>();
  auto b = gort::make_chan<int>();
  auto result = gort::make_chan<std::size_t>(1);
  const int base = count_parked("select");
  gort::go([=] { result.send(gort::select(gort::on_send(a, 1), gort::on_send(b, 2))); });
  wait_parked("select", base + 1);
  EXPECT_EQ(queued(a, false), 1);
  EXPECT_EQ(queued(b, false), 1);
  EXPECT_EQ(a.recv(), 1);
  EXPECT_EQ(result.recv(), 0u);
  EXPECT_EQ(queued(b, false), 0);
}

TEST(Select, ManySelectsAndSendersRaceWithoutLosingValues) {
  // Selecting receivers on three channels; senders on all three. Every
  // value arrives exactly once.
  constexpr int kPer = 3000, kReceivers = 4;
  std::array<gort::Chan<int>, 3> chs{gort::make_chan<int>(), gort::make_chan<int>(1), gort::make_chan<int>()};
  std::vector<std::atomic<int>> seen(3 * kPer);
  gort::WaitGroup senders, receivers;
  auto quit = gort::make_chan<int>();
  senders.add(3);
  for (int k = 0; k < 3; ++k) {
    gort::go([&, k] {
      for (int i = 0; i < kPer; ++i) chs[static_cast<std::size_t>(k)].send(k * kPer + i);
      senders.done();
    });
  }
  receivers.add(kReceivers);
  for (int r = 0; r < kReceivers; ++r) {
    gort::go([&] {
      for (bool done = false; !done;) {
        auto rec = [&](std::optional<int> v) {
          if (v) seen[static_cast<std::size_t>(*v)].fetch_add(1);
        };
        gort::select(gort::on_recv(chs[0], rec), gort::on_recv(chs[1], rec), gort::on_recv(chs[2], rec),
                     gort::on_recv(quit, [&](std::optional<int>) { done = true; }));
      }
      receivers.done();
    });
  }
  senders.wait();
  // Every unbuffered send has been received; the buffered channel may still
  // hold a value: let the receivers drain it before telling them to quit.
  while (chs[1].len() != 0) gort::gosched();
  quit.close();
  receivers.wait();
  int wrong = 0;
  for (std::size_t v = 0; v < seen.size(); ++v)
    if (seen[v].load() != 1 && ++wrong <= 10) ADD_FAILURE() << "value " << v << " seen " << seen[v].load() << " times";
  EXPECT_EQ(wrong, 0);
}

// ---- nil channels ----------------------------------------------------------------

TEST(Select, NilChannelsAreNeverReady) {
  gort::Chan<int> nil;
  EXPECT_EQ(gort::select(gort::on_recv(nil), gort::on_send(nil, 1), gort::on_default()), 2u);
  auto ch = gort::make_chan<int>(1);
  for (int i = 0; i < 1000; ++i) {
    ch.send(i);
    ASSERT_EQ(gort::select(gort::on_recv(nil), gort::on_send(nil, 1), gort::on_recv(ch)), 2u);
  }
}

// ---- the same channel twice ----------------------------------------------------

TEST(Select, SameChannelInTwoReadyCases) {
  auto ch = gort::make_chan<int>(1);
  std::array<int, 2> chosen{0, 0};
  for (int i = 0; i < 1000; ++i) {
    ch.send(i);
    std::optional<int> got;
    auto f = [&](std::optional<int> v) { got = v; };
    std::size_t idx = gort::select(gort::on_recv(ch, f), gort::on_recv(ch, f));
    ASSERT_LT(idx, 2u);
    ASSERT_EQ(got, i);
    chosen[idx]++;
  }
  EXPECT_GT(chosen[0], 0);
  EXPECT_GT(chosen[1], 0);
  EXPECT_EQ(ch.len(), 0u);
}

TEST(Select, SameChannelInTwoBlockedCases) {
  auto ch = gort::make_chan<int>();
  auto result = gort::make_chan<int>(1);
  const int base = count_parked("select");
  gort::go([=] {
    std::optional<int> got;
    auto f = [&](std::optional<int> v) { got = v; };
    gort::select(gort::on_recv(ch, f), gort::on_recv(ch, f));
    result.send(got.value_or(-1));
  });
  wait_parked("select", base + 1);
  EXPECT_EQ(queued(ch, true), 2);
  ch.send(4);
  EXPECT_EQ(result.recv(), 4);
  EXPECT_EQ(queued(ch, true), 0) << "the second waiter was left behind";
  // And the channel works normally afterwards.
  gort::go([ch] { ch.send(8); });
  EXPECT_EQ(ch.recv(), 8);
}

TEST(Select, SendAndReceiveOnTheSameChannel) {
  // A select that both sends and receives on one unbuffered channel cannot
  // match itself: a partner receiving takes the send case.
  auto ch = gort::make_chan<int>();
  auto result = gort::make_chan<std::size_t>(1);
  const int base = count_parked("select");
  gort::go([=] { result.send(gort::select(gort::on_send(ch, 3), gort::on_recv(ch))); });
  wait_parked("select", base + 1);
  EXPECT_EQ(ch.recv(), 3);
  EXPECT_EQ(result.recv(), 0u);
  EXPECT_EQ(queued(ch, true), 0);
  EXPECT_EQ(queued(ch, false), 0);
}

// ---- runtime-sized select --------------------------------------------------------

TEST(Select, RuntimeSizedSelectChoosesTheReadyChannel) {
  constexpr int kN = 16;
  std::vector<gort::Chan<int>> chs;
  for (int i = 0; i < kN; ++i) chs.push_back(gort::make_chan<int>(1));
  for (int round = 0; round < 3; ++round) {
    for (int k = 0; k < kN; ++k) {
      chs[static_cast<std::size_t>(k)].send(k * 10 + round);
      int got = -1;
      int ran = -1;
      std::vector<gort::SelectCase> cases;
      for (int i = 0; i < kN; ++i) {
        cases.emplace_back(gort::on_recv(chs[static_cast<std::size_t>(i)], [&got, &ran, i](std::optional<int> v) {
          ran = i;
          got = v.value_or(-1);
        }));
      }
      std::size_t idx = gort::select(std::span<gort::SelectCase>(cases));
      ASSERT_EQ(idx, static_cast<std::size_t>(k));
      ASSERT_EQ(ran, k);
      ASSERT_EQ(got, k * 10 + round);
    }
  }
}

TEST(Select, RuntimeSizedSelectChoosesEveryReadyChannel) {
  constexpr int kN = 8;
  std::vector<gort::Chan<int>> chs;
  for (int i = 0; i < kN; ++i) {
    chs.push_back(gort::make_chan<int>(1));
    chs.back().send(i);
  }
  std::vector<int> chosen(kN, 0);
  for (int it = 0; it < 8000; ++it) {
    std::vector<gort::SelectCase> cases;
    for (auto& ch : chs) cases.emplace_back(gort::on_recv(ch));
    std::size_t idx = gort::select(std::span<gort::SelectCase>(cases));
    ASSERT_LT(idx, static_cast<std::size_t>(kN));
    chosen[idx]++;
    chs[idx].send(static_cast<int>(idx));
  }
  // Each is expected 1000 times; below 700 is a biased poll order (~10 sigma).
  for (int i = 0; i < kN; ++i) EXPECT_GT(chosen[static_cast<std::size_t>(i)], 700) << "case " << i;
}

TEST(Select, RuntimeSizedSelectWithSendCasesAndDefault) {
  auto a = gort::make_chan<int>(1);
  auto b = gort::make_chan<int>();
  bool def = false;
  std::vector<gort::SelectCase> cases;
  cases.emplace_back(gort::on_send(b, 1));
  cases.emplace_back(gort::on_default([&] { def = true; }));
  cases.emplace_back(gort::on_send(a, 2));
  EXPECT_EQ(gort::select(std::span<gort::SelectCase>(cases)), 2u);
  EXPECT_FALSE(def);
  EXPECT_EQ(a.recv(), 2);

  std::vector<gort::SelectCase> nothing_ready;
  nothing_ready.emplace_back(gort::on_send(b, 1));
  nothing_ready.emplace_back(gort::on_recv(a));
  nothing_ready.emplace_back(gort::on_default([&] { def = true; }));
  EXPECT_EQ(gort::select(std::span<gort::SelectCase>(nothing_ready)), 2u);
  EXPECT_TRUE(def);
}

TEST(Select, RuntimeSizedSelectBlocksUntilACaseIsReady) {
  constexpr int kN = 10;
  std::vector<gort::Chan<int>> chs;
  for (int i = 0; i < kN; ++i) chs.push_back(gort::make_chan<int>());
  auto result = gort::make_chan<int>(1);
  const int base = count_parked("select");
  gort::go([chs, result] {
    int got = -1;
    std::vector<gort::SelectCase> cases;
    for (auto& ch : chs) cases.emplace_back(gort::on_recv(ch, [&](std::optional<int> v) { got = v.value_or(-1); }));
    std::size_t idx = gort::select(std::span<gort::SelectCase>(cases));
    result.send(static_cast<int>(idx) * 100 + got);
  });
  wait_parked("select", base + 1);
  chs[7].send(42);
  EXPECT_EQ(result.recv(), 742);
  for (int i = 0; i < kN; ++i) EXPECT_EQ(queued(chs[static_cast<std::size_t>(i)], true), 0) << "channel " << i;
}

// A case written with a Chan variable refers to the variable (no copy of
// the handle: no reference-count traffic per select); select reads it when
// it runs, as Go's select evaluates its channel expressions then.
TEST(Select, ACaseOfAVariableReadsTheVariableWhenTheSelectRuns) {
  auto a = gort::make_chan<int>(1);
  auto b = gort::make_chan<int>(1);
  gort::Chan<int> which = a;
  int got = -1;
  auto c = gort::on_recv(which, [&](std::optional<int> v) { got = v.value_or(-1); });
  which = b;  // after the case was made, before the select runs
  b.send(2);
  EXPECT_EQ(gort::select(std::move(c), gort::on_default()), 0u);
  EXPECT_EQ(got, 2);
  EXPECT_EQ(a.len(), 0u);
}

// A runtime-sized case owns its channel: the variable it was made from may
// be gone by the time the select runs.
TEST(Select, RuntimeSizedCasesOutliveTheVariablesTheyWereMadeFrom) {
  std::vector<gort::SelectCase> cases;
  int got = -1;
  for (int i = 0; i < 4; ++i) {
    gort::Chan<int> local = gort::make_chan<int>(1);
    if (i == 2) local.send(20);
    cases.emplace_back(gort::on_recv(local, [&](std::optional<int> v) { got = v.value_or(-1); }));
  }  // every `local` is gone: the cases hold the only handles
  EXPECT_EQ(gort::select(std::span<gort::SelectCase>(cases)), 2u);
  EXPECT_EQ(got, 20);
}

// ---- select in a foreign thread ---------------------------------------------------

TEST(SelectForeign, ThreadSelectIsWokenByAGoroutine) {
  auto a = gort::make_chan<int>();
  auto b = gort::make_chan<int>();
  auto result = gort::make_chan<int>(1);
  std::thread t([=] {
    int got = -1;
    std::size_t idx = gort::select(gort::on_recv(a, [&](std::optional<int> v) { got = v.value_or(-1); }),
                                   gort::on_recv(b, [&](std::optional<int> v) { got = v.value_or(-1); }));
    result.send(static_cast<int>(idx) * 100 + got);
  });
  wait_queued(a, true, 1);
  wait_queued(b, true, 1);
  b.send(9);
  EXPECT_EQ(result.recv(), 109);
  t.join();
  EXPECT_EQ(queued(a, true), 0);
}

TEST(SelectForeign, ThreadSelectWithDefaultAndClose) {
  auto a = gort::make_chan<int>();
  auto result = gort::make_chan<int>(3);
  std::thread t([=] {
    // Nothing ready: default.
    result.send(static_cast<int>(gort::select(gort::on_recv(a), gort::on_default())));
    // Blocks until the close.
    bool closed = false;
    gort::select(gort::on_recv(a, [&](std::optional<int> v) { closed = !v; }));
    result.send(closed ? 1 : 0);
  });
  EXPECT_EQ(result.recv(), 1);
  wait_queued(a, true, 1);
  a.close();
  EXPECT_EQ(result.recv(), 1);
  t.join();
}

TEST(SelectForeign, ThreadsAndGoroutinesSelectOnTheSameChannels) {
  constexpr int kPer = 5000;
  auto a = gort::make_chan<int>();
  auto b = gort::make_chan<int>(4);
  auto done = gort::make_chan<long>(4);
  auto sender = [=](int base) {
    for (int i = 0; i < kPer; ++i) gort::select(gort::on_send(a, base + i), gort::on_send(b, base + i));
    done.send(0);
  };
  auto receiver = [=] {
    long sum = 0;
    int n = 0;
    while (n < kPer) {
      gort::select(gort::on_recv(a, [&](std::optional<int> v) { sum += *v; }),
                   gort::on_recv(b, [&](std::optional<int> v) { sum += *v; }));
      ++n;
    }
    done.send(sum);
  };
  std::thread ts(sender, 0);
  std::thread tr(receiver);
  gort::go([=] { sender(kPer); });
  gort::go(receiver);
  long total = 0;
  for (int i = 0; i < 4; ++i) total += *done.recv();
  ts.join();
  tr.join();
  const long n = 2L * kPer;
  EXPECT_EQ(total, n * (n - 1) / 2);
}

// ---- death tests ------------------------------------------------------------------

TEST(SelectDeathTest, SelectWithNoCasesBlocksForever) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::select();
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[select \\(no cases\\)\\]:");
}

TEST(SelectDeathTest, RuntimeSizedSelectWithNoCasesBlocksForever) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::select(std::span<gort::SelectCase>());
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[select \\(no cases\\)\\]:");
}

TEST(SelectDeathTest, SelectOnlyOnNilChannelsBlocksForever) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        gort::select(gort::on_recv(gort::Chan<int>()));
      },
      testing::ExitedWithCode(2), std::string(kDeadlock) + ".*goroutine 1 \\[select\\]:");
}

TEST(SelectDeathTest, SendCaseOnAClosedChannelPanics) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        auto ch = gort::make_chan<int>(1);
        ch.close();
        gort::select(gort::on_send(ch, 1), gort::on_default());
      },
      testing::ExitedWithCode(2), "panic: send on closed channel");
}

TEST(SelectDeathTest, BlockedSendCasePanicsWhenTheChannelIsClosed) {
  EXPECT_EXIT(
      {
        gort_test::arm_child_watchdog();
        auto ch = gort::make_chan<int>();
        auto other = gort::make_chan<int>();
        gort::go([=] { gort::select(gort::on_send(ch, 1), gort::on_recv(other)); });
        wait_parked("select", 1);
        ch.close();
        gort::make_chan<int>().recv();
      },
      testing::ExitedWithCode(2), "panic: send on closed channel");
}

}  // namespace
