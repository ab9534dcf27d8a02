// The gort side of inspect_compare.sh: N goroutines parked in a channel
// receive and a sleeping main, nothing else, the same program as
// go/inspect/main.go, so that `gort goroutines` and `dlv goroutines` list
// the same thing from equally idle processes. (examples/inspectee spins two
// goroutines on purpose; on a 2-CPU machine they would take the CPU the
// inspector needs.)
//
//   bench_inspect_parked [-n 10000]
//
// stdout: `inspect pid <PID>`, `expect goroutines <N+1>`, then `ready` once
// the runtime itself sees every one of the N parked in its receive. It runs
// until it is killed.
#include <gort/gort.h>
#include <gort/preempt.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>

namespace {

int n = 10000;

// Its own function, so that the User location names it.
[[gnu::noinline]] void parked(gort::Chan<int> ch) { ch.recv(); }

int parked_count() {
  int count = 0;
  gort::WorldStopped stopped("bench_inspect_parked");
  gort::for_each_g([&](const gort::GInfo& g) {
    if (!g.self && std::strcmp(g.wait_reason, "chan receive") == 0) count++;
  });
  return count;
}

int inspect_main() {
  std::printf("inspect pid %d\nexpect goroutines %d\n", static_cast<int>(getpid()), n + 1);
  std::fflush(stdout);
  auto ch = gort::make_chan<int>();  // nobody sends or closes: they stay parked
  for (int i = 0; i < n; ++i) gort::go([ch] { parked(ch); });
  auto start = std::chrono::steady_clock::now();
  while (parked_count() != n) {
    if (std::chrono::steady_clock::now() - start > std::chrono::minutes(1)) {
      std::fprintf(stderr, "bench_inspect_parked: not ready after a minute: %d of %d parked\n", parked_count(), n);
      return 1;
    }
    gort::sleep_for(std::chrono::milliseconds(10));
  }
  std::printf("ready\n");
  std::fflush(stdout);
  for (;;) gort::sleep_for(std::chrono::hours(1));  // a pending timer: never a deadlock
}

}  // namespace

int main(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
      n = std::atoi(argv[++i]);
    } else {
      std::fprintf(stderr, "usage: bench_inspect_parked [-n N]\n");
      return 2;
    }
  }
  if (n < 1) {
    std::fprintf(stderr, "bench_inspect_parked: -n must be at least 1\n");
    return 2;
  }
  return gort::run(inspect_main);
}
