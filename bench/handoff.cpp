// bench_handoff: how soon a P stuck in a system call goes back to work.
//
// At GOMAXPROCS=1 a reader goroutine blocks in read(2) on an empty pipe,
// inside gort::syscall, while the main goroutine is runnable. main can run
// again only once sysmon has handed the reader's P to another thread. One
// sample is the time from just before the reader enters read(2) (a
// timestamp taken inside the call's fn) to main running again (a timestamp
// taken by main as soon as it resumes). go/handoff/main.go measures the same
// on Go (syscall.Read on a blocking pipe).
//
//   bench_handoff [SAMPLES]       default 1000, after 50 warm-up rounds
//
// Prints the median, p90, p99 and max in µs, and, for scale, what an empty
// gort::syscall costs when nothing is handed off.
#include <gort/gort.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#include "latency.h"

namespace {

using bench::now_ns;
double pct(const std::vector<std::int64_t>& sorted, double p) { return bench::pct(sorted, p) / 1000.0; }  // in µs

}  // namespace

int main(int argc, char** argv) {
  const int samples = argc > 1 ? std::atoi(argv[1]) : 1000;
  if (samples < 1) {
    std::fprintf(stderr, "usage: bench_handoff [SAMPLES]\n");
    return 2;
  }
  return gort::run([samples] {
    gort::gomaxprocs(1);
    int fds[2];
    if (pipe(fds) != 0) {
      std::perror("pipe");
      return 1;
    }
    constexpr int kWarmup = 50;
    std::vector<std::int64_t> lat;
    lat.reserve(static_cast<std::size_t>(samples));
    for (int i = 0; i < kWarmup + samples; ++i) {
      std::atomic<std::int64_t> t0{0};
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&] {
        char c;
        gort::syscall([&] {
          t0.store(now_ns(), std::memory_order_release);
          return read(fds[0], &c, 1);
        });
        wg.done();
      });
      // The reader is in runnext: gosched lets it run; with one P, main
      // comes back only after the hand-off. (Every 61st schedtick the
      // scheduler takes main from the global queue first: go round again.)
      do gort::gosched();
      while (t0.load(std::memory_order_acquire) == 0);
      const std::int64_t t1 = now_ns();
      if (i >= kWarmup) lat.push_back(t1 - t0.load(std::memory_order_acquire));
      if (write(fds[1], "x", 1) != 1) {
        std::perror("write");
        return 1;
      }
      wg.wait();
    }
    std::sort(lat.begin(), lat.end());
    std::printf("gort syscall hand-off, GOMAXPROCS=1, %d samples: median %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n",
                samples, pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99), static_cast<double>(lat.back()) / 1000.0);

    // An empty call: entersyscall + exitsyscall's fast path.
    constexpr int kCalls = 2'000'000;
    std::int64_t s = now_ns();
    int sink = 0;
    for (int i = 0; i < kCalls; ++i) sink += gort::syscall([i] { return i & 1; });
    double per_call = static_cast<double>(now_ns() - s) / kCalls;
    std::printf("gort::syscall with an empty fn (no hand-off): %.1f ns per call%s\n", per_call, sink < 0 ? " " : "");
    close(fds[0]);
    close(fds[1]);
    return 0;
  });
}
