// bench_blocking: what sysmon's blocked-M retake costs and how soon it acts
// (runtime/blockretake.cpp). Not Google Benchmark: latency percentiles of
// one event, like bench_handoff.
//
//   bench_blocking read [SAMPLES]   plain read(2) hand-off at GOMAXPROCS=1
//   bench_blocking mutex [RUNS]     the std::mutex scenario at GOMAXPROCS=1
//   bench_blocking cpu [ROUNDS]     CPU-bound throughput, blockretake on vs off
//   bench_blocking bound [SAMPLES]  how long a G runs without a P after its call
//   bench_blocking                  all four
//
// read: as bench_handoff, but the reader calls read(2) on an empty pipe
// without gort::syscall, so gort learns only from sysmon that the thread
// blocks. One sample is the time from just before the reader enters read
// (its timestamp) to main running again.
//
// mutex: goroutine A locks a std::mutex and computes for 30 ms; it is
// preempted while it holds the lock, and B blocks its thread in
// std::mutex::lock on the only P. One sample is the time from A taking the
// lock to B getting it: 30 ms at best, forever without the retake.
//
// bound: the reader's read returns while main holds the only P; the reader
// then spins in a call-free loop, without a P, until the signal (the
// CPU-time timer armed at the retake) stops it and it takes the
// exitsyscall path (blocked_returns goes up). One sample is the time from
// the read's return to that.
//
// cpu: 2 x GOMAXPROCS goroutines (one per CPU by default) that only
// compute, so that work always waits for every P and sysmon watches them
// all. Each round runs the same fixed amount of work twice, in child
// processes with GORTDEBUG=blockretake=0 and with the default, in
// alternating order; it prints the median time of each and the ratio.
#include <gort/gort.h>
#include <spawn.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <vector>

#include "latency.h"

extern char** environ;

namespace {

using bench::now_ns;
using bench::pct;

void print_percentiles(const char* what, std::vector<std::int64_t> v, double unit, const char* unit_name) {
  std::sort(v.begin(), v.end());
  std::printf("%s, %zu samples: median %.1f %s  p90 %.1f %s  p99 %.1f %s  max %.1f %s\n", what, v.size(),
              pct(v, 0.5) / unit, unit_name, pct(v, 0.9) / unit, unit_name, pct(v, 0.99) / unit, unit_name,
              static_cast<double>(v.back()) / unit, unit_name);
}

int bench_read(int samples) {
  gort::gomaxprocs(1);
  int fds[2];
  if (pipe(fds) != 0) return 1;
  constexpr int kWarmup = 20;
  std::vector<std::int64_t> lat;
  for (int i = 0; i < kWarmup + samples; ++i) {
    std::atomic<std::int64_t> t0{0};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      char c;
      t0.store(now_ns(), std::memory_order_release);
      if (read(fds[0], &c, 1) != 1) std::abort();  // plain: gort does not know it blocks
      wg.done();
    });
    do gort::gosched();
    while (t0.load(std::memory_order_acquire) == 0);
    const std::int64_t t1 = now_ns();
    if (i >= kWarmup) lat.push_back(t1 - t0.load(std::memory_order_acquire));
    if (write(fds[1], "x", 1) != 1) return 1;
    wg.wait();
  }
  print_percentiles("plain read(2) hand-off, GOMAXPROCS=1", lat, 1000.0, "us");
  close(fds[0]);
  close(fds[1]);
  return 0;
}

int bench_bound(int samples) {
  gort::gomaxprocs(1);
  int fds[2];
  if (pipe(fds) != 0) return 1;
  std::vector<std::int64_t> lat;
  for (int i = 0; i < samples; ++i) {
    std::atomic<std::int64_t> entered{0}, returned{0};
    std::atomic<bool> stop{false};
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      char c;
      entered = now_ns();
      if (read(fds[0], &c, 1) != 1) std::abort();
      returned.store(now_ns(), std::memory_order_release);
      for (volatile unsigned x = 0; !stop.load(std::memory_order_relaxed);) x = x + 1;  // no call: only the signal stops it
      wg.done();
    });
    do gort::gosched();
    while (entered.load() == 0);
    // Running again: the reader's P was taken while it blocked.
    const std::uint64_t before = gort::debug::sched_stats().blocked_returns;
    if (write(fds[1], "x", 1) != 1) return 1;
    while (returned.load(std::memory_order_acquire) == 0) {
    }
    while (gort::debug::sched_stats().blocked_returns == before) {
    }
    lat.push_back(now_ns() - returned.load());
    stop = true;
    wg.wait();
  }
  print_percentiles("without a P after its call returned (call-free loop, GOMAXPROCS=1)", lat, 1000.0, "us");
  close(fds[0]);
  close(fds[1]);
  return 0;
}

// 30 ms of computing, checking the clock now and then (mostly call-free).
void compute_for(std::int64_t ns) {
  const std::int64_t until = now_ns() + ns;
  for (volatile unsigned x = 0; now_ns() < until;)
    for (int i = 0; i < 100000; ++i) x = x + 1;
}

int bench_mutex(int runs) {
  gort::gomaxprocs(1);
  std::vector<std::int64_t> lat;
  for (int r = 0; r < runs; ++r) {
    std::mutex m;
    std::atomic<std::int64_t> locked_at{0}, got_at{0};
    gort::WaitGroup wg;
    wg.add(2);
    gort::go([&] {
      {
        std::lock_guard<std::mutex> g(m);
        locked_at = now_ns();
        compute_for(30'000'000);
      }  // unlocked before done(): m goes with this round
      wg.done();
    });
    while (locked_at.load() == 0) gort::gosched();  // A runs until preempted, holding the lock
    gort::go([&] {
      m.lock();
      got_at = now_ns();
      m.unlock();
      wg.done();
    });
    wg.wait();
    lat.push_back(got_at.load() - locked_at.load());
  }
  print_percentiles("std::mutex: A holds it for 30 ms, B gets it after", lat, 1e6, "ms");
  return 0;
}

// One run of the CPU-bound load: prints its wall time in ns.
int cpu_child() {
  const int procs = gort::gomaxprocs(0);
  const int n = 2 * procs;
  constexpr std::uint64_t kWork = 100'000'000;  // iterations per goroutine (~0.1 s each)
  gort::WaitGroup wg;
  wg.add(n);
  std::int64_t t0 = now_ns();
  for (int g = 0; g < n; ++g) {
    gort::go([&wg] {
      volatile std::uint64_t x = 0;
      for (std::uint64_t i = 0; i < kWork; ++i) x = x + i;
      wg.done();
    });
  }
  wg.wait();
  rusage ru;
  getrusage(RUSAGE_SELF, &ru);
  auto ns = [](const timeval& tv) { return std::int64_t{tv.tv_sec} * 1'000'000'000 + tv.tv_usec * 1000; };
  std::printf("%lld %lld\n", static_cast<long long>(now_ns() - t0), static_cast<long long>(ns(ru.ru_utime) + ns(ru.ru_stime)));
  return 0;
}

struct CpuRun {
  std::int64_t wall = -1, cpu = -1;
};

CpuRun run_cpu_child(const char* self, bool retake) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GORTDEBUG=", 10) != 0) env.emplace_back(*e);
  if (!retake) env.emplace_back("GORTDEBUG=blockretake=0");
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  int out[2];
  if (pipe(out) != 0) return {};
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out[1], 1);
  char* argv[] = {const_cast<char*>(self), const_cast<char*>("cpu-child"), nullptr};
  pid_t pid;
  int rc = posix_spawn(&pid, self, &fa, nullptr, argv, envp.data());
  posix_spawn_file_actions_destroy(&fa);
  close(out[1]);
  if (rc != 0) return {};
  char buf[96] = {};
  ssize_t n = read(out[0], buf, sizeof buf - 1);
  close(out[0]);
  int st;
  waitpid(pid, &st, 0);
  CpuRun r;
  long long wall, cpu;
  if (n > 0 && std::sscanf(buf, "%lld %lld", &wall, &cpu) == 2) r = {wall, cpu};
  return r;
}

// The machine's speed drifts by more than the cost being measured (±10 %
// over seconds on a shared VM), so the two settings run back to back in
// pairs, alternating which goes first, and the figure is the median of the
// pairs' ratios (with its interquartile range).
int bench_cpu(const char* self, int rounds) {
  std::vector<double> wall, cpu;
  for (int r = 0; r < rounds; ++r) {
    bool first = r % 2 == 0;
    CpuRun c[2];  // [0]: blockretake=0, [1]: default
    for (bool retake : {first, !first}) c[retake] = run_cpu_child(self, retake);
    wall.push_back(static_cast<double>(c[1].wall) / static_cast<double>(c[0].wall));
    cpu.push_back(static_cast<double>(c[1].cpu) / static_cast<double>(c[0].cpu));
  }
  std::sort(wall.begin(), wall.end());
  std::sort(cpu.begin(), cpu.end());
  auto q = [](const std::vector<double>& v, double p) { return (v[static_cast<std::size_t>(p * (v.size() - 1) + 0.5)] - 1) * 100; };
  std::printf("CPU-bound, 2 goroutines per P, %d pairs: default vs blockretake=0: wall %+.2f %% (IQR %+.2f..%+.2f), "
              "CPU time %+.2f %% (IQR %+.2f..%+.2f)\n",
              rounds, q(wall, 0.5), q(wall, 0.25), q(wall, 0.75), q(cpu, 0.5), q(cpu, 0.25), q(cpu, 0.75));
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string what = argc > 1 ? argv[1] : "all";
  int n = argc > 2 ? std::atoi(argv[2]) : 0;
  if (what == "cpu-child") return gort::run(cpu_child);
  if (what == "cpu") return bench_cpu(argv[0], n > 0 ? n : 40);
  if (what != "read" && what != "mutex" && what != "bound" && what != "all") {
    std::fprintf(stderr, "usage: bench_blocking [read [SAMPLES] | mutex [RUNS] | cpu [ROUNDS] | bound [SAMPLES]]\n");
    return 2;
  }
  int rc = gort::run([&] {
    if (what == "read") return bench_read(n > 0 ? n : 1000);
    if (what == "mutex") return bench_mutex(n > 0 ? n : 20);
    if (what == "bound") return bench_bound(n > 0 ? n : 200);
    int r = bench_read(1000);
    if (r == 0) r = bench_mutex(20);
    return r != 0 ? r : bench_bound(200);
  });
  if (rc != 0 || what != "all") return rc;
  return bench_cpu(argv[0], 40);
}
