// preempt_probe: programs whose outcome is a hang or a death, run as child
// processes by the preemption suites. Built with gort_enable_yield_points,
// so every function entry in this file is a yield point.
//
//   preempt_probe spin calls       a goroutine loops calling a function (a yield
//                                  point); main sleeps 1 ms and returns 0
//   preempt_probe spin yieldpoint  the loop has GORT_YIELD_POINT() and no call
//   preempt_probe spin nocalls     the loop has no call and no yield point
//   preempt_probe overflow         unbounded recursion in a goroutine
//   preempt_probe exit-spinning    GOMAXPROCS call-free spinners; main returns 0,
//                                  usually on another thread than m0 (the one
//                                  gort::run was called on), which must still
//                                  come back and return from gort::run
//
// With GOMAXPROCS=1 the spinner holds the only P: main runs again only if
// the spinner is preempted. A spin that is not preempted within 2 seconds
// (200 time slices) ends by SIGALRM: the parent sees that as "hangs".
#include <gort/gort.h>
#include <gort/preempt.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>

#include "recurse.h"

namespace {

std::atomic<long> counter{0};

__attribute__((noinline)) void bump() { counter.fetch_add(1, std::memory_order_relaxed); }

}  // namespace

// extern "C": ctest disassembles it by this name to check it makes no call.
extern "C" __attribute__((no_instrument_function, noinline)) void probe_spin_nocalls() {
  for (;;) counter.fetch_add(1, std::memory_order_relaxed);
}

namespace {

__attribute__((no_instrument_function, noinline)) void spin_yieldpoint() {
  for (;;) {
    counter.fetch_add(1, std::memory_order_relaxed);
    GORT_YIELD_POINT();
  }
}

void spin_calls() {
  for (;;) bump();
}


int usage() {
  std::fprintf(stderr, "usage: preempt_probe spin calls|yieldpoint|nocalls | overflow | exit-spinning\n");
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  if (cmd == "spin" && argc == 3) {
    std::string kind = argv[2];
    void (*fn)() = kind == "calls" ? spin_calls : kind == "yieldpoint" ? spin_yieldpoint : kind == "nocalls" ? probe_spin_nocalls : nullptr;
    if (fn == nullptr) return usage();
    alarm(2);
    return gort::run([fn] {
      gort::go([fn] { fn(); });
      // Let the spinner take the P: main comes back only once it is preempted.
      while (counter.load(std::memory_order_relaxed) == 0) gort::gosched();
      gort::sleep_for(std::chrono::milliseconds(1));
      std::printf("main ran again\n");
      return 0;
    });
  }
  if (cmd == "exit-spinning") {
    alarm(10);
    return gort::run([] {
      for (int i = gort::gomaxprocs(0); i > 0; --i) gort::go([] { probe_spin_nocalls(); });
      while (counter.load(std::memory_order_relaxed) == 0) gort::gosched();
      gort::sleep_for(std::chrono::milliseconds(1));
      return 0;
    });
  }
  if (cmd == "overflow") {
    return gort::run([] {
      gort::go([] { probe::recurse(0); });
      gort::sleep_for(std::chrono::seconds(10));
      return 1;
    });
  }
  return usage();
}
