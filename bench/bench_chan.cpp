// bench_chan: the cost of gort's channels and select.
//
//   chan/pingpong        two goroutines bounce a value over two unbuffered
//                        channels (main sends on ping and receives on pong; the
//                        partner receives on ping and sends on pong): every
//                        message parks the receiver and wakes it again
//   chan/locked_pingpong the same between two goroutines locked to their
//                        threads (gort::lock_os_thread): every message is a
//                        switch of threads
//   chan/select_pingpong the same, with every receive a 2-case select (the
//                        data channel and a quit channel that is not ready
//                        until the end)
//   chan/select_after    a select with a fresh gort::after(10ms) case next to a
//                        case that is always ready (a closed channel): the cost
//                        of the timeout idiom when the timeout is not needed
//                        (making the after channel and its timer, the select,
//                        and taking the timer off its heap as the case goes:
//                        nothing can receive from the channel then)
//   chan/buffered        a producer goroutine sends on a channel of capacity 128
//                        and main receives
//   chan/skynet          the skynet benchmark: a 10-ary tree of 1,111,111
//                        goroutines, 1,000,000 leaves, each sending its number
//                        to its parent over an unbuffered channel
//
// Items (items_per_second; 1e9 / items_per_second is what compare.sh prints):
// one one-way message for the ping-pongs (a round trip is two), one select
// for select_after, one value for buffered, one whole run for skynet.
// go/chan_test.go measures Go on the same shapes, bench_peers Boost.Fiber's
// unbuffered_channel ping-pong.
//
// As bench_sched: every benchmark runs inside gort::run's main goroutine, with
// wall-clock time (UseRealTime); GOMAXPROCS comes from the environment.

#include <benchmark/benchmark.h>
#include <gort/gort.h>
#include <gort/thread.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <string>

namespace {

using namespace std::chrono_literals;

// Both ping-pongs; locked: each end locked to its thread.
void pingpong(benchmark::State& state, bool locked) {
  auto ping = gort::make_chan<int>();
  auto pong = gort::make_chan<int>();
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([ping, pong, &wg, locked] {
    if (locked) gort::lock_os_thread();
    for (int v : ping) pong.send(v);
    if (locked) gort::unlock_os_thread();
    wg.done();
  });
  if (locked) gort::lock_os_thread();
  for (auto _ : state) {
    ping.send(1);
    benchmark::DoNotOptimize(pong.recv());
  }
  if (locked) gort::unlock_os_thread();
  ping.close();
  wg.wait();
  state.SetItemsProcessed(2 * state.iterations());
}

void chan_pingpong(benchmark::State& state) { pingpong(state, false); }
void chan_locked_pingpong(benchmark::State& state) { pingpong(state, true); }

void chan_select_pingpong(benchmark::State& state) {
  auto ping = gort::make_chan<int>();
  auto pong = gort::make_chan<int>();
  auto quit = gort::make_chan<int>();
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([ping, pong, quit, &wg] {
    for (bool run = true; run;) {
      gort::select(gort::on_recv(ping, [&](std::optional<int> v) { pong.send(*v); }),
                   gort::on_recv(quit, [&](std::optional<int>) { run = false; }));
    }
    wg.done();
  });
  int got = 0;
  for (auto _ : state) {
    ping.send(1);
    gort::select(gort::on_recv(pong, [&](std::optional<int> v) { got += *v; }),
                 gort::on_recv(quit, [](std::optional<int>) {}));
  }
  benchmark::DoNotOptimize(got);
  quit.close();
  wg.wait();
  state.SetItemsProcessed(2 * state.iterations());
}

void chan_select_after(benchmark::State& state) {
  auto ready = gort::make_chan<int>();
  ready.close();  // always ready for receiving
  std::int64_t n = 0, took_timeout = 0;
  for (auto _ : state) {
    std::size_t i = gort::select(gort::on_recv(ready), gort::on_recv(gort::after(10ms)));
    took_timeout += static_cast<std::int64_t>(i);
    // A loop that never enters the scheduler runs its P's due timers only
    // when its time slice ends (every 10 ms, in Go and in gort: a due timer
    // is work waiting), so in Go 1.19 some tens of thousands of afters pile
    // up between two slice ends (gort takes each off its heap when the
    // case goes). A yield every 1024 selects runs the due ones sooner
    // (gosched returns at once when nothing is due); go/chan_test.go does
    // the same.
    if ((++n & 1023) == 0) gort::gosched();
  }
  if (took_timeout != 0) state.SkipWithError("a select took the timeout");
  state.SetItemsProcessed(state.iterations());
}

void chan_buffered(benchmark::State& state) {
  auto ch = gort::make_chan<int>(128);
  std::atomic<bool> stop{false};
  gort::go([ch, &stop] {
    while (!stop.load(std::memory_order_relaxed)) ch.send(1);
    ch.close();
  });
  long sum = 0;
  for (auto _ : state) sum += *ch.recv();
  stop.store(true, std::memory_order_relaxed);
  for (int v : ch) sum += v;  // until the producer sees stop and closes
  benchmark::DoNotOptimize(sum);
  state.SetItemsProcessed(state.iterations());
}

void skynet(gort::Chan<long> c, long num, long size, long div) {
  if (size == 1) {
    c.send(num);
    return;
  }
  auto rc = gort::make_chan<long>();
  const long child = size / div;
  for (long i = 0; i < div; ++i) gort::go([rc, sub = num + i * child, child, div] { skynet(rc, sub, child, div); });
  long sum = 0;
  for (long i = 0; i < div; ++i) sum += *rc.recv();
  c.send(sum);
}

void chan_skynet(benchmark::State& state) {
  const long n = state.range(0);
  for (auto _ : state) {
    auto c = gort::make_chan<long>();
    gort::go([c, n] { skynet(c, 0, n, 10); });
    long sum = *c.recv();
    if (sum != n * (n - 1) / 2) state.SkipWithError("skynet: wrong sum");
  }
  state.SetItemsProcessed(state.iterations());
}

}  // namespace

int main(int argc, char** argv) {
  return gort::run([&]() -> int {
    benchmark::RegisterBenchmark("chan/pingpong", chan_pingpong)->UseRealTime();
    benchmark::RegisterBenchmark("chan/locked_pingpong", chan_locked_pingpong)->UseRealTime();
    benchmark::RegisterBenchmark("chan/select_pingpong", chan_select_pingpong)->UseRealTime();
    benchmark::RegisterBenchmark("chan/select_after", chan_select_after)->UseRealTime();
    benchmark::RegisterBenchmark("chan/buffered", chan_buffered)->UseRealTime();
    benchmark::RegisterBenchmark("chan/skynet", chan_skynet)
        ->Arg(1'000'000)
        ->UseRealTime()
        ->Unit(benchmark::kMillisecond);

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    benchmark::AddCustomContext("GOMAXPROCS", std::to_string(gort::gomaxprocs(0)));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  });
}
