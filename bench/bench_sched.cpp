// bench_sched: the cost of gort's scheduler on its basic shapes.
//
//   gort/yield      one goroutine calling gort::gosched() in a loop with
//                   nothing else runnable: gosched's fast path, which returns
//                   without switching (Go's Gosched would put the G on the
//                   global run queue and take it straight back)
//   gort/yield2     two goroutines both calling gort::gosched() in a loop, so
//                   that each call switches to the other: a real switch per
//                   call at GOMAXPROCS=1 (with more Ps the two may settle on
//                   different Ps, each with nothing else runnable)
//   gort/spawn/N    the main goroutine starts N do-nothing goroutines (each
//                   calls WaitGroup::done) and waits for them all
//
// Every benchmark reports items_per_second, where an item is one gosched call
// (for yield2, one call of the main goroutine's measured loop: the partner's
// calls are not counted) or one goroutine spawned and finished;
// 1e9 / items_per_second is the ns per item that compare.sh prints (for spawn,
// ns per goroutine, the final wait included). Go's runtime and the C++ peers are measured on the same shapes by
// go/sched_test.go and bench_peers.
//
// GOMAXPROCS comes from the environment, read by gort::run as Go reads it;
// compare.sh runs this binary once per value.
//
// All benchmarks use wall-clock time (UseRealTime): at GOMAXPROCS > 1 the main
// goroutine may resume on another M after any yield, and Google Benchmark's
// CPU time is that of one thread (CLOCK_THREAD_CPUTIME_ID), which would then
// mean nothing; spawned goroutines also run on other threads.

#include <benchmark/benchmark.h>
#include <gort/gort.h>

#include <atomic>
#include <string>

namespace {

// The batch size for the spawn shape; the same N as bench_peers and the Go
// benchmarks, so per-item costs include the same share of the final wait.
constexpr int kSpawnBatch = 1000;

void gort_yield(benchmark::State& state) {
  for (auto _ : state) gort::gosched();
  state.SetItemsProcessed(state.iterations());
}

// The main goroutine yields in the measured loop; a partner goroutine yields
// until told to stop. Only the main goroutine's calls are counted.
void gort_yield2(benchmark::State& state) {
  std::atomic<bool> stop{false};
  gort::WaitGroup wg;
  wg.add(1);
  gort::go([&stop, &wg] {
    while (!stop.load(std::memory_order_relaxed)) gort::gosched();
    wg.done();
  });
  for (auto _ : state) gort::gosched();
  stop.store(true, std::memory_order_relaxed);
  wg.wait();
  state.SetItemsProcessed(state.iterations());
}

void gort_spawn(benchmark::State& state) {
  const auto n = static_cast<int>(state.range(0));
  gort::WaitGroup wg;
  for (auto _ : state) {
    wg.add(n);
    for (int i = 0; i < n; ++i) gort::go([&wg] { wg.done(); });
    wg.wait();
  }
  state.SetItemsProcessed(state.iterations() * state.range(0));
}

}  // namespace

// gort::run may be called once per process, so Google Benchmark's main is
// replaced by one that runs every benchmark inside the main goroutine: gosched
// and WaitGroup::wait must be called from a goroutine.
int main(int argc, char** argv) {
  return gort::run([&]() -> int {
    benchmark::RegisterBenchmark("gort/yield", gort_yield)->UseRealTime();
    benchmark::RegisterBenchmark("gort/yield2", gort_yield2)->UseRealTime();
    benchmark::RegisterBenchmark("gort/spawn", gort_spawn)->Arg(kSpawnBatch)->UseRealTime();

    benchmark::Initialize(&argc, argv);
    if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
    // gomaxprocs(0) only reads the value, as Go's runtime.GOMAXPROCS(0).
    benchmark::AddCustomContext("GOMAXPROCS", std::to_string(gort::gomaxprocs(0)));
    benchmark::RunSpecifiedBenchmarks();
    benchmark::Shutdown();
    return 0;
  });
}
