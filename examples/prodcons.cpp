// The producer/consumer view of Go's scheduler, made visible.
//
// A producer goroutine creates work: every gort::go() is a G put on the
// producer's P (into runnext; the G it displaces goes to the tail of the
// 256-slot ring; a full ring spills half to the global queue). The Ps are
// the consumers: each M holding a P takes the next G from runnext, its ring,
// the global queue (every 61st tick first), or steals half of another P's
// ring. The demo prints Go's schedtrace lines while it runs and, at the end,
// how the work was spread over Ps and Ms.
//
//   prodcons [items] [burst]      (GOMAXPROCS, GORTDEBUG=schedtrace=... as in Go)
#include <gort/gort.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <set>

namespace {

std::uint64_t work(std::uint64_t x) {
  // A few microseconds of CPU: long enough for queues to build up.
  for (int i = 0; i < 2000; ++i) x = x * 6364136223846793005ull + 1442695040888963407ull;
  return x;
}

}  // namespace

int main(int argc, char** argv) {
  const int items = argc > 1 ? std::atoi(argv[1]) : 20000;
  const int burst = argc > 2 ? std::atoi(argv[2]) : 1000;
  if (items <= 0 || burst <= 0) {
    std::fprintf(stderr, "usage: prodcons [items > 0] [burst > 0]\n");
    return 2;
  }
  return gort::run([&] {
    using clock = std::chrono::steady_clock;
    const int procs = gort::gomaxprocs(0);
    std::printf("gort producer/consumer: GOMAXPROCS=%d, %d items in bursts of %d\n\n", procs, items, burst);

    gort::Mutex mu;
    std::map<int, int> per_p;
    std::set<std::int64_t> ms;
    std::uint64_t checksum = 0;
    gort::WaitGroup wg;
    auto t0 = clock::now();

    // The producer: one goroutine making Gs in bursts, pausing between them
    // so that the trace shows queues filling and draining.
    wg.add(1);
    gort::go([&] {
      for (int made = 0; made < items;) {
        for (int k = 0; k < burst && made < items; ++k, ++made) {
          wg.add(1);
          gort::go([&, made] {
            std::uint64_t r = work(static_cast<std::uint64_t>(made));
            {
              std::lock_guard<gort::Mutex> g(mu);
              per_p[gort::debug::current_p()]++;
              ms.insert(gort::debug::current_m());
              checksum += r;
            }  // unlocked before done(): the waiter may go on and destroy mu
            wg.done();
          });
        }
        std::fputs(gort::debug::schedtrace(false).c_str(), stdout);
        gort::sleep_for(std::chrono::microseconds(500));
      }
      wg.done();
    });
    wg.wait();
    double ms_total = std::chrono::duration<double, std::milli>(clock::now() - t0).count();
    std::fputs(gort::debug::schedtrace(false).c_str(), stdout);

    std::printf("\nconsumed per P (the P that ran each item):\n");
    for (auto [p, n] : per_p) std::printf("  P%d  %6d  %5.1f%%\n", p, n, 100.0 * n / items);
    std::printf("threads (Ms) that ran items: %zu\n", ms.size());
    gort::debug::SchedStats s = gort::debug::sched_stats();
    std::printf("schedticks:");
    for (const auto& p : s.ps) std::printf(" P%d=%u", p.id, p.schedtick);
    std::printf("\n%d items in %.1f ms (checksum %016llx)\n", items, ms_total,
                static_cast<unsigned long long>(checksum));
    return 0;
  });
}
