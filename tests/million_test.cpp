// One million concurrently live goroutines (the design's scale target).
//
// What is asserted and why it can fail: 1,000,000 goroutines are started and
// each parks on one shared WaitGroup after signalling its arrival on
// another. While they are all alive, num_goroutine() must count every one of
// them plus main; after the gate opens, every one must run to its end. A
// runtime that cannot allocate that many stacks (memory, or
// vm.max_map_count: 65530 mappings by default, which is why stacks come in
// slabs and guard pages are budgeted) dies with a fatal error, and one that
// loses a parked goroutine never drains the WaitGroup.
//
// The memory per parked goroutine (RSS growth / N, from /proc/self/statm)
// is reported, not asserted beyond a sanity bound: it is a property to
// watch, and it depends on the stack size and page size.
#include <gtest/gtest.h>

#include <gort/gort.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <fstream>
#include <string>

#include "test_util.h"

namespace {

// Sanitizers multiply the cost of each stack; TSan also keeps a "thread"
// per goroutine (fiber) and dies past 8128 of them.
constexpr int kGoroutines = gort_test::kUnderTsan ? 7'000 : gort_test::kUnderAsan ? 100'000 : 1'000'000;

long rss_bytes() {
  std::ifstream statm("/proc/self/statm");
  long size = 0, resident = 0;
  statm >> size >> resident;
  return resident * sysconf(_SC_PAGESIZE);
}

long read_long(const char* path) {
  std::ifstream f(path);
  long v = -1;
  f >> v;
  return v;
}

TEST(Million, OneMillionParkedGoroutines) {
  using Clock = std::chrono::steady_clock;
  const auto t0 = Clock::now();
  const int base = gort_test::settle_goroutines(1);
  const long rss_before = rss_bytes();

  gort::WaitGroup gate, arrived, exited;
  gate.add(1);
  arrived.add(kGoroutines);
  exited.add(kGoroutines);
  for (int i = 0; i < kGoroutines; ++i) {
    gort::go([&] {
      arrived.done();
      gate.wait();
      exited.done();
    });
  }
  arrived.wait();
  const auto t_spawned = Clock::now();
  // Every one has arrived; a few may still be on their way into gate.wait().
  const int live = gort::num_goroutine();
  const long rss_after = rss_bytes();
  EXPECT_GE(live, kGoroutines + base);

  gate.done();
  exited.wait();
  const int after = gort_test::settle_goroutines(base, 10'000'000);
  const auto t_end = Clock::now();
  EXPECT_EQ(after, base) << "goroutines did not exit";

  const double per_g = static_cast<double>(rss_after - rss_before) / kGoroutines;
  const double spawn_s = std::chrono::duration<double>(t_spawned - t0).count();
  const double total_s = std::chrono::duration<double>(t_end - t0).count();
  std::printf("[ million  ] %d goroutines live (num_goroutine=%d); RSS %.1f MiB -> %.1f MiB: %.0f bytes per parked "
              "goroutine; spawn+park %.2f s, total %.2f s; vm.max_map_count=%ld\n",
              kGoroutines, live, rss_before / 1048576.0, rss_after / 1048576.0, per_g, spawn_s, total_s,
              read_long("/proc/sys/vm/max_map_count"));
  RecordProperty("goroutines", kGoroutines);
  RecordProperty("bytes_per_parked_goroutine", std::to_string(static_cast<long>(per_g)));
  RecordProperty("spawn_and_park_seconds", std::to_string(spawn_s));
  RecordProperty("total_seconds", std::to_string(total_s));
  // (TSan's shadow memory costs far more than the goroutines themselves.)
  if (!gort_test::kNoAsyncPreemption) {
    EXPECT_LT(per_g, 64 * 1024) << "more than 64 KiB per parked goroutine";
  }
}

}  // namespace
