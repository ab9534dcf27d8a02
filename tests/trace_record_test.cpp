// The runtime's trace recorder (runtime/trace.cpp) on real workloads: the
// file it writes reads back, the scheduler's invariants hold in it
// (trace/validate.h), and its counts match what the program did and the
// runtime's own counters.
#include <gtest/gtest.h>

#include <gort/debug.h>
#include <gort/gort.h>
#include <gort/preempt.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <map>
#include <set>
#include <stdexcept>
#include <string>
#include <system_error>

#include "child_process.h"
#include "gort/trace_format.h"
#include "test_util.h"
#include "trace_testing.h"
#include "trace/names.h"
#include "trace/reader.h"
#include "trace/timeline.h"
#include "trace/validate.h"

extern "C" struct gort_trace_ctl gort_trace_ctl;  // runtime/trace_control.cpp

namespace {

using namespace std::chrono_literals;
namespace tr = gort::trace;

std::string temp_trace(const char* name) {
  return testing::TempDir() + "gort_trace_record_" + name + "_" + std::to_string(::getpid()) + ".trace";
}

std::uint64_t count(const tr::Trace& t, int type) { return tr::count_events(t)[static_cast<std::size_t>(type)]; }

// PREEMPT_REQ against the runtime's counter of requests, read just before
// trace_start and just after trace_stop. sysmon may ask the test's own
// goroutine to yield between a read and the switch (a goroutine that
// readies another through runnext keeps its time slice, so the main one can
// be due at any moment): each edge may miss at most one request per P
// (sysmon retries a P after 50 µs at the soonest), and the trace never has
// more than the counter.
void expect_preempt_requests(const tr::Trace& t, std::uint64_t before, std::uint64_t after) {
  const std::uint64_t traced = count(t, GORT_TRACE_EV_PREEMPT_REQ);
  EXPECT_LE(traced, after - before);
  EXPECT_GE(traced + 2 * static_cast<std::uint64_t>(gort::gomaxprocs(0)), after - before);
}

TEST(TraceRecord, StartTwiceStopWithoutStartAndBadPathsAreErrors) {
  EXPECT_FALSE(gort::trace_stop());
  EXPECT_THROW(gort::trace_start("/nonexistent-dir/x.trace"), std::system_error);
  const std::string path = temp_trace("twice");
  gort::trace_start(path);
  try {
    gort::trace_start(path);
    ADD_FAILURE() << "a second trace_start did not throw";
  } catch (const std::logic_error& e) {
    EXPECT_STREQ(e.what(), "gort: tracing is already enabled");
  }
  EXPECT_TRUE(gort::trace_stop());
  EXPECT_FALSE(gort::trace_stop());
  tr::Trace t = tr::read_trace(path);
  EXPECT_TRUE(t.complete);
  ::unlink(path.c_str());
}

// Channels, a WaitGroup, sleeps, gosched, gort::syscall and a stop of the
// world: each kind of event, with exact counts where the program decides them.
TEST(TraceRecord, WorkloadReadsBackValidWithExactCounts) {
  constexpr int kWorkers = 50, kPings = 200, kSyscalls = 7;
  const std::string path = temp_trace("workload");
  const std::uint64_t req0 = gort::debug::sched_stats().preempt_requests;
  const int base = gort::num_goroutine();
  gort::trace_start(path);
  {
    gort::WaitGroup wg;
    auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
    wg.add(1);
    gort::go([&] {
      for (int i = 0; i < kPings; ++i) pong.send(*ping.recv() + 1);
      wg.done();
    });
    for (int i = 0; i < kPings; ++i) {
      ping.send(i);
      EXPECT_EQ(*pong.recv(), i + 1);
    }
    for (int i = 0; i < kWorkers; ++i) {
      wg.add(1);
      gort::go([&wg, i] {
        if (i % 5 == 0) gort::sleep_for(1ms);
        if (i % 3 == 0) gort::gosched();
        wg.done();
      });
    }
    for (int i = 0; i < kSyscalls; ++i) gort::syscall([] { return ::getppid(); });
    { gort::WorldStopped stw("trace test"); }
    wg.wait();
    // done() comes before a goroutine's end: wait until each has ended
    // (goexit0 records GO_END before the count drops).
    while (gort::num_goroutine() > base) gort::gosched();
  }
  ASSERT_TRUE(gort::trace_stop());
  const std::uint64_t req1 = gort::debug::sched_stats().preempt_requests;
  tr::Trace t = tr::read_trace(path);
  trace_testing::expect_complete_and_valid(t);
  EXPECT_EQ(count(t, GORT_TRACE_EV_GO_CREATE), 1u + kWorkers);
  // trace_stop waits for the writer inside gort::syscall: one more.
  EXPECT_EQ(count(t, GORT_TRACE_EV_GO_SYSCALL), kSyscalls + 1u);
  EXPECT_EQ(count(t, GORT_TRACE_EV_STW_BEGIN), 1u);
  EXPECT_EQ(count(t, GORT_TRACE_EV_STW_END), 1u);
  expect_preempt_requests(t, req0, req1);
  // Every worker and the ponger ended inside the trace; every one started.
  EXPECT_EQ(count(t, GORT_TRACE_EV_GO_END), 1u + kWorkers);
  EXPECT_GE(count(t, GORT_TRACE_EV_GO_START), 1u + kWorkers);
  // The ping-pong parks one side per message at least (unbuffered).
  EXPECT_GE(count(t, GORT_TRACE_EV_GO_PARK), static_cast<std::uint64_t>(kPings));
  EXPECT_GE(count(t, GORT_TRACE_EV_GO_READY), static_cast<std::uint64_t>(kPings));
  EXPECT_GE(count(t, GORT_TRACE_EV_GO_SCHED), 1u);
  EXPECT_GE(count(t, GORT_TRACE_EV_TIMER), 1u);
  // The stop of the world's reason is in the file.
  bool reason = false;
  for (const tr::Event& e : t.events)
    if (e.type == GORT_TRACE_EV_STW_BEGIN) reason = t.str(e.arg(0)) == "trace test";
  EXPECT_TRUE(reason);
  ::unlink(path.c_str());
}

// A switch from a G that parks straight to the G its P runs next records
// the GO_START at the GO_PARK's time, without reading the clock again
// (trace::kSameInstant): in a ping-pong on one P nearly every switch is
// one. Read the clock for it and the two are tens of ns apart.
TEST(TraceRecord, ADirectSwitchStartsAtTheParksTime) {
  constexpr int kPings = 1000;
  gort_test::ScopedGomaxprocs procs(1);
  const std::string path = temp_trace("direct");
  gort::trace_start(path);
  {
    auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      for (int i = 0; i < kPings; ++i) pong.send(*ping.recv());
      wg.done();
    });
    for (int i = 0; i < kPings; ++i) {
      ping.send(i);
      pong.recv();
    }
    wg.wait();
  }
  ASSERT_TRUE(gort::trace_stop());
  tr::Trace t = tr::read_trace(path);
  trace_testing::expect_complete_and_valid(t);
  std::map<std::uint32_t, const tr::Event*> last;  // per thread
  int after_park = 0, same_time = 0;
  for (const tr::Event& e : t.events) {
    const tr::Event* prev = last[e.tid];
    if (e.type == GORT_TRACE_EV_GO_START && prev != nullptr && prev->type == GORT_TRACE_EV_GO_PARK) {
      after_park++;
      if (e.ts == prev->ts) same_time++;
    }
    last[e.tid] = &e;
  }
  EXPECT_GE(after_park, 2 * kPings - 10);
  EXPECT_GE(same_time, kPings) << "of " << after_park << " starts right after a park";
  ::unlink(path.c_str());
}

// A trace started while goroutines run and wait begins with each of them
// (GO_EXISTING, GO_STATE): a call-free loop on another P is a run slice
// from the trace's start, not from its next event; a parked one is there
// with its wait reason although it does nothing until the end.
TEST(TraceRecord, GoroutinesAliveAtTheStartAreInTheTrace) {
  const int procs = gort::gomaxprocs(0);
  if (procs < 2) gort::gomaxprocs(2);
  const std::string path = temp_trace("existing");
  std::atomic<bool> stop{false}, spinning{false};
  std::atomic<std::int64_t> spinner{0}, waiter{0};
  auto ch = gort::make_chan<int>();
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    spinner = gort::goid();
    spinning = true;
    while (!stop.load(std::memory_order_relaxed)) {
    }
    wg.done();
  });
  gort::go([&] {
    waiter = gort::goid();
    ch.recv();
    wg.done();
  });
  auto parked = [&] {
    return waiter != 0 && gort::debug::schedtrace(true).find("G" + std::to_string(waiter) + ": status=4(chan receive)") !=
                              std::string::npos;
  };
  // Main waits parked, not with gosched: a yield through the global queue
  // would be work waiting for the spinner's P, and sysmon would preempt the
  // spinner (it must be running when the trace starts).
  while (!spinning || !parked()) gort::sleep_for(100us);
  gort::trace_start(path);
  for (int i = 0; i < 10; ++i) gort::gosched();
  stop = true;
  ch.send(1);
  wg.wait();
  ASSERT_TRUE(gort::trace_stop());
  if (procs < 2) gort::gomaxprocs(procs);

  tr::Trace t = tr::read_trace(path);
  trace_testing::expect_complete_and_valid(t);
  std::map<std::uint64_t, tr::Event> state;  // goid -> its GO_STATE
  std::set<std::uint64_t> existing;
  for (const tr::Event& e : t.events) {
    if (e.type == GORT_TRACE_EV_GO_EXISTING) existing.insert(e.arg(0));
    if (e.type == GORT_TRACE_EV_GO_STATE) state.emplace(e.arg(0), e);
  }
  const auto sp = static_cast<std::uint64_t>(spinner.load()), wt = static_cast<std::uint64_t>(waiter.load());
  ASSERT_TRUE(existing.count(sp) && state.count(sp));
  ASSERT_TRUE(existing.count(wt) && state.count(wt));
  EXPECT_EQ(state[sp].arg(1), static_cast<std::uint64_t>(GORT_TRACE_GSTATE_RUNNING));
  EXPECT_EQ(state[wt].arg(1), static_cast<std::uint64_t>(GORT_TRACE_GSTATE_WAITING));
  EXPECT_EQ(t.str(state[wt].arg(2)), "chan receive");
  // trace_start runs inside gort::syscall.
  const auto self = static_cast<std::uint64_t>(gort::goid());
  ASSERT_TRUE(state.count(self));
  EXPECT_EQ(state[self].arg(1), static_cast<std::uint64_t>(GORT_TRACE_GSTATE_SYSCALL));
  // The spinner's first slice starts at its GO_STATE, on the P it had, and
  // ends when it returns (nothing waited for its P: no preemption).
  const tr::Timeline tl = tr::build_timeline(t);
  const tr::Slice* first = nullptr;
  for (const tr::Slice& s : tl.slices)
    if (s.goid == sp && (first == nullptr || s.start < first->start)) first = &s;
  ASSERT_NE(first, nullptr);
  EXPECT_EQ(first->start, state[sp].ts);
  EXPECT_EQ(first->p, state[sp].arg(2));
  EXPECT_EQ(first->thread, tr::thread_key(static_cast<std::uint32_t>(state[sp].arg(3)), 0));
  // Both count as the trace's goroutines, and both have names.
  const tr::NameTable names = tr::goroutine_name_table(t);
  EXPECT_NE(names.function(sp), "");
  EXPECT_NE(names.function(wt), "");
  ::unlink(path.c_str());
}

// Traces started and stopped again and again while goroutines come and go
// (dead Gs reused, so the walk over allgs meets Gs being made and ending)
// and two ping-pong: every one is complete and valid, its goroutines alive
// at the start included.
TEST(TraceRecord, StartedAgainAndAgainWhileGoroutinesComeAndGo) {
  constexpr int kTraces = 20;
  std::atomic<bool> stop{false};
  gort::WaitGroup wg;
  auto ping = gort::make_chan<int>(), pong = gort::make_chan<int>();
  wg.add(3);
  gort::go([&] {
    while (!stop.load(std::memory_order_relaxed)) {
      gort::WaitGroup inner;
      for (int i = 0; i < 8; ++i) {
        inner.add(1);
        gort::go([&inner] { inner.done(); });
      }
      inner.wait();
    }
    wg.done();
  });
  gort::go([&] {
    for (int i = 0; !stop.load(std::memory_order_relaxed); ++i) {
      ping.send(i);
      pong.recv();
    }
    ping.close();
    wg.done();
  });
  gort::go([&] {
    for (int v : ping) pong.send(v);
    wg.done();
  });
  const std::string path = temp_trace("again");
  for (int i = 0; i < kTraces; ++i) {
    gort::trace_start(path);
    for (int k = 0; k < 20; ++k) gort::gosched();
    ASSERT_TRUE(gort::trace_stop());
    tr::Trace t = tr::read_trace(path);
    trace_testing::expect_complete_and_valid(t);
    EXPECT_GE(count(t, GORT_TRACE_EV_GO_STATE), 3u) << "trace " << i;  // main and the ping-pong pair at least
    if (HasFailure()) break;
  }
  stop = true;
  wg.wait();
  if (HasFailure())
    std::fprintf(stderr, "the failing trace is kept: %s\n", path.c_str());  // (what found the GO_SYSCALL order bug)
  else
    ::unlink(path.c_str());
}

// Call-free loops that outlast their time slice: their threads' slice
// timers ask (PREEMPT_REQ; sysmon does where a timer did not), they are
// preempted by signal (GO_PREEMPT, async), and each preemption
// ends the slice it interrupted (validate).
TEST(TraceRecord, AsyncPreemptionsOfCallFreeLoops) {
  GORT_SKIP_WITHOUT_ASYNC_PREEMPTION();
  const std::string path = temp_trace("preempt");
  const int n = gort::gomaxprocs(0) + 1;  // one more than there are Ps: somebody waits
  const std::uint64_t req0 = gort::debug::sched_stats().preempt_requests;
  const std::uint64_t timer0 = gort::debug::sched_stats().slice_timer_requests;
  gort::trace_start(path);
  {
    gort::WaitGroup wg;
    // All spin (call-free inner loops) until two signal preemptions have
    // happened, and none leaves before: one more spinner than Ps keeps one
    // waiting, so that sysmon preempts (it leaves a G alone that nothing
    // waits for).
    const std::uint64_t until = gort::debug::sched_stats().preempted_by_signal + 2;
    for (int i = 0; i < n; ++i) {
      wg.add(1);
      gort::go([&] {
        for (volatile std::uint64_t x = 0; gort::debug::sched_stats().preempted_by_signal < until;)
          for (int k = 0; k < 1'000'000; ++k) x = x + 1;
        wg.done();
      });
    }
    wg.wait();
  }
  ASSERT_TRUE(gort::trace_stop());
  const std::uint64_t req1 = gort::debug::sched_stats().preempt_requests;
  const std::uint64_t timer1 = gort::debug::sched_stats().slice_timer_requests;
  tr::Trace t = tr::read_trace(path);
  trace_testing::expect_complete_and_valid(t);
  std::uint64_t async = 0, by_timer = 0;
  for (const tr::Event& e : t.events) {
    if (e.type == GORT_TRACE_EV_GO_PREEMPT && e.arg(1) == GORT_TRACE_PREEMPT_ASYNC) async++;
    if (e.type == GORT_TRACE_EV_PREEMPT_REQ && e.arg(2) == GORT_TRACE_PREEMPT_TIMER) by_timer++;
  }
  EXPECT_GE(async, 1u);
  expect_preempt_requests(t, req0, req1);
  // The slice timer's requests are recorded from its signal handler (and
  // dropped only if it interrupted an event of the thread's own).
  EXPECT_LE(by_timer, timer1 - timer0);
  if (timer1 > timer0) {
    EXPECT_GE(by_timer, 1u);
  }
  ::unlink(path.c_str());
}

// The request a tool (gort trace PID) makes: fields in gort_trace_ctl and a
// SIGURG that is not the runtime's own (kill, not tgkill from the runtime).
TEST(TraceRecord, ToolRequestThroughTheControlRecord) {
  const std::string path = temp_trace("tool");
  volatile struct gort_trace_ctl& c = gort_trace_ctl;
  auto request = [&](std::uint32_t what) {
    c.request = what;
    const std::uint32_t seq = c.seq + 1;
    __atomic_store_n(&c.seq, seq, __ATOMIC_RELEASE);  // after the other fields, as a tool writes them
    ASSERT_EQ(::kill(::getpid(), SIGURG), 0);
    // sysmon serves it within a round of waking; a hang is the failure.
    while (__atomic_load_n(&c.done_seq, __ATOMIC_ACQUIRE) != seq) gort::sleep_for(1ms);
  };
  for (std::size_t i = 0; i <= path.size(); ++i) c.path[i] = i < path.size() ? path[i] : 0;
  c.stop_after_ns = 0;
  request(GORT_TRACE_CTL_START);
  EXPECT_EQ(c.result, 0) << const_cast<const char*>(c.error);
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&] { wg.done(); });
  wg.wait();
  request(GORT_TRACE_CTL_STOP);
  EXPECT_EQ(c.result, 0);
  EXPECT_FALSE(gort::trace_stop());  // the tool's request stopped it
  tr::Trace t = tr::read_trace(path);
  trace_testing::expect_complete_and_valid(t);
  EXPECT_EQ(count(t, GORT_TRACE_EV_GO_CREATE), 1u);
  // A request that fails says why.
  const std::string bad = "/nonexistent-dir/x.trace";
  for (std::size_t i = 0; i <= bad.size(); ++i) c.path[i] = i < bad.size() ? bad[i] : 0;
  request(GORT_TRACE_CTL_START);
  EXPECT_EQ(c.result, ENOENT);
  EXPECT_NE(std::string(const_cast<const char*>(c.error)).find("No such file or directory"), std::string::npos);
  ::unlink(path.c_str());
}

// A program that dies (here: every goroutine asleep) still completes its
// trace, which shows how it got there: main parked for good.
TEST(TraceRecord, FatalErrorCompletesTheTrace) {
  GORT_SKIP_DEADLOCK_TEST_UNDER_TSAN();
  const std::string path = temp_trace("deadlock");
  gort_test::ChildResult r = gort_test::run_child({GORT_PROBE, "deadlock"}, {{"GORTDEBUG", "trace=" + path}});
  EXPECT_EQ(r.exit_code, 2) << r.err;
  EXPECT_NE(r.err.find("fatal error: all goroutines are asleep - deadlock!"), std::string::npos) << r.err;
  tr::Trace t = tr::read_trace(path);
  trace_testing::expect_complete_and_valid(t);
  const tr::Event* last_park = nullptr;
  for (const tr::Event& e : t.events)
    if (e.type == GORT_TRACE_EV_GO_PARK && e.arg(0) == 1) last_park = &e;
  ASSERT_NE(last_park, nullptr);
  EXPECT_EQ(t.str(last_park->arg(1)), "semacquire");
  ::unlink(path.c_str());
}

}  // namespace
