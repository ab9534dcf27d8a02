// Skynet: the classic goroutine benchmark (github.com/atemerev/skynet).
//
// A tree of goroutines, 10 children per node, 1,000,000 leaves (1,111,111
// goroutines in all). Each leaf sends its number on its parent's channel;
// each parent sums its children's numbers, received from one unbuffered
// channel, and sends the sum up. The root's sum is 0 + 1 + ... + (N-1)
// (499999500000 for N = 1,000,000).
//
//   skynet [N]      N: leaves, a power of 10 (default 1000000); GOMAXPROCS as in Go
#include <gort/gort.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>

namespace {

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

}  // namespace

int main(int argc, char** argv) {
  long n = 1'000'000;
  if (argc > 1) {
    char* end = nullptr;
    n = std::strtol(argv[1], &end, 10);
    long p = 1;
    while (p < n) p *= 10;
    if (end == argv[1] || *end != '\0' || n < 1 || p != n) {
      std::fprintf(stderr, "usage: skynet [N]   (N: the number of leaves, a power of 10)\n");
      return 2;
    }
  }
  return gort::run([n] {
    const long want = n * (n - 1) / 2;
    auto t0 = std::chrono::steady_clock::now();
    auto c = gort::make_chan<long>();
    gort::go([c, n] { skynet(c, 0, n, 10); });
    long result = *c.recv();
    double ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - t0).count();
    std::printf("Result: %ld in %.0f ms (%ld leaves, %ld goroutines, GOMAXPROCS=%d)\n", result, ms, n, n + (n - 1) / 9,
                gort::gomaxprocs(0));
    if (result != want) {
      std::fprintf(stderr, "skynet: wrong result, want %ld\n", want);
      return 1;
    }
    return 0;
  });
}
