// A pipeline over channels: generator -> N workers -> collector.
//
//   generator   one goroutine sends the numbers 1..items on `jobs` (buffered),
//               then closes it
//   workers     N goroutines receive from `jobs` until it is closed, work out
//               the Collatz stopping time of each number, and send a Result
//               on `results`; the last worker to finish closes `results`
//   collector   main selects over `results`, a gort::Ticker's channel
//               (progress, every 100 ms) and a gort::after deadline: the whole
//               run is abandoned if it takes longer than the timeout
//
//   pipeline [items] [workers] [timeout_ms]     (GOMAXPROCS as in Go)
//
// Prints what it did (throughput, the longest chain found, what each worker
// did) and exits 0, or 1 if the deadline fired first.
#include <gort/gort.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <vector>

namespace {

using namespace std::chrono_literals;

struct Result {
  long n;
  int steps;
  int worker;
};

int collatz_steps(long n) {
  int steps = 0;
  for (unsigned long x = static_cast<unsigned long>(n); x != 1; ++steps) x = (x % 2 == 0) ? x / 2 : 3 * x + 1;
  return steps;
}

long arg(int argc, char** argv, int i, long dflt) {
  if (argc <= i) return dflt;
  char* end = nullptr;
  long v = std::strtol(argv[i], &end, 10);
  if (end == argv[i] || *end != '\0' || v <= 0) {
    std::fprintf(stderr, "usage: pipeline [items > 0] [workers > 0] [timeout_ms > 0]\n");
    std::exit(2);
  }
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  const long items = arg(argc, argv, 1, 1'000'000);
  const int workers = static_cast<int>(arg(argc, argv, 2, 8));
  const long timeout_ms = arg(argc, argv, 3, 30'000);
  return gort::run([&]() -> int {
    using clock = std::chrono::steady_clock;
    std::printf("pipeline: %ld items, %d workers, GOMAXPROCS=%d, timeout %ld ms\n", items, workers, gort::gomaxprocs(0),
                timeout_ms);
    auto t0 = clock::now();

    auto jobs = gort::make_chan<long>(256);
    auto results = gort::make_chan<Result>(256);

    // Generator.
    gort::go([jobs, items] {
      for (long n = 1; n <= items; ++n) jobs.send(n);
      jobs.close();
    });

    // Workers; the last one out closes results.
    auto remaining = std::make_shared<std::atomic<int>>(workers);
    for (int w = 0; w < workers; ++w) {
      gort::go([jobs, results, remaining, w] {
        for (long n : jobs) results.send(Result{n, collatz_steps(n), w});
        if (remaining->fetch_sub(1) == 1) results.close();
      });
    }

    // Collector.
    gort::Ticker progress(100ms);
    auto deadline = gort::after(std::chrono::milliseconds(timeout_ms));
    long received = 0, sum = 0;
    Result best{0, -1, -1};
    std::vector<long> per_worker(static_cast<std::size_t>(workers), 0);
    int ticks = 0;
    bool open = true, timed_out = false;
    while (open && !timed_out) {
      gort::select(gort::on_recv(results,
                                 [&](std::optional<Result> r) {
                                   if (!r) {
                                     open = false;  // every worker is done
                                     return;
                                   }
                                   ++received;
                                   sum += r->n;
                                   per_worker[static_cast<std::size_t>(r->worker)]++;
                                   if (r->steps > best.steps) best = *r;
                                 }),
                   gort::on_recv(progress.chan(),
                                 [&](std::optional<gort::time_point> t) {
                                   ++ticks;
                                   double at = std::chrono::duration<double, std::milli>(*t - t0).count();
                                   std::printf("  [%6.0f ms] %ld/%ld results (%.0f%%), %d goroutines\n", at, received,
                                               items,
                                               100.0 * static_cast<double>(received) / static_cast<double>(items),
                                               gort::num_goroutine());
                                 }),
                   gort::on_recv(deadline, [&](std::optional<gort::time_point>) { timed_out = true; }));
    }
    progress.stop();
    double ms = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    if (timed_out) {
      std::printf("timed out after %.0f ms with %ld of %ld results\n", ms, received, items);
      return 1;
    }

    std::printf("done: %ld results in %.0f ms (%.0f ns per item through 3 stages), %d progress ticks\n", received, ms,
                ms * 1e6 / static_cast<double>(received), ticks);
    std::printf("longest Collatz chain below %ld: %ld (%d steps), found by worker %d\n", items + 1, best.n, best.steps,
                best.worker);
    std::printf("items per worker:");
    for (long c : per_worker) std::printf(" %ld", c);
    std::printf("\n");
    const long want = items * (items + 1) / 2;
    if (received != items || sum != want) {
      std::fprintf(stderr, "pipeline: lost or duplicated items (got %ld, sum %ld, want sum %ld)\n", received, sum,
                   want);
      return 1;
    }
    return 0;
  });
}
