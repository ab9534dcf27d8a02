// bench_preempt: how fast gort preempts call-free loops and stops the world.
// Latency distributions of single events, so a plain program like
// bench_handoff, not Google Benchmark. go/preempt/main.go measures the same
// shapes on Go; compare_preempt.sh runs both and prints the table.
//
//   bench_preempt spin [SWITCHES]         default 300
//   bench_preempt work [RUNS]             default 5
//   bench_preempt stw SPINNERS [SAMPLES]  default 1000
//
// The time slice comes from GORTDEBUG (timeslice=1ms, preemptoff=1), read at
// start-up: one process per setting. Each result is a line for people, then
//   RESULT impl=gort test=T config=C n=N median_ns=.. p99_ns=.. max_ns=..
// for compare_preempt.sh. config is the slice ("10ms", "1ms", "100us") or
// "off" (preemptoff=1); for stw, the number of spinners.
#include <gort/gort.h>
#include <gort/preempt.h>
#include <time.h>
#include <x86intrin.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

namespace {

std::int64_t now_ns() {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return std::int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// The GORTDEBUG setting under test, as the config label, and its slice in ns.
std::string config_label(std::int64_t* slice_ns) {
  const char* env = std::getenv("GORTDEBUG");
  std::string dbg = env ? env : "";
  *slice_ns = 10'000'000;
  if (dbg.find("preemptoff=1") != std::string::npos) return "off";
  auto at = dbg.find("timeslice=");
  if (at == std::string::npos) return "10ms";
  std::string v = dbg.substr(at + 10, dbg.find(',', at) - at - 10);
  char* end = nullptr;
  double n = std::strtod(v.c_str(), &end);
  std::string unit(end);
  *slice_ns = static_cast<std::int64_t>(n * (unit == "ms" ? 1e6 : unit == "us" ? 1e3 : unit == "s" ? 1e9 : 1));
  return v;
}

// Prints a distribution (ns): a line for people in `unit`, and the RESULT line.
void result(const char* label, const char* test, const std::string& config, std::vector<double> ns, const char* unit,
            const std::string& extra = "") {
  if (ns.empty()) {
    std::printf("gort %s: no samples\nRESULT impl=gort test=%s config=%s n=0\n", label, test, config.c_str());
    return;
  }
  std::sort(ns.begin(), ns.end());
  auto pct = [&](double p) { return ns[static_cast<std::size_t>(p * static_cast<double>(ns.size() - 1) + 0.5)]; };
  const double scale = std::strcmp(unit, "ms") == 0 ? 1e6 : std::strcmp(unit, "us") == 0 ? 1e3 : 1;
  std::printf("gort %s: %zu samples: median %.1f %s  p99 %.1f %s  max %.1f %s\n", label, ns.size(), pct(0.5) / scale,
              unit, pct(0.99) / scale, unit, ns.back() / scale, unit);
  std::printf("RESULT impl=gort test=%s config=%s n=%zu median_ns=%.0f p99_ns=%.0f max_ns=%.0f%s\n", test,
              config.c_str(), ns.size(), pct(0.5), pct(0.99), ns.back(), extra.c_str());
  std::fflush(stdout);
}

// xorshift64: work the compiler can neither vectorise nor fold. Always
// inlined: in the spinners it must not be a call.
[[gnu::always_inline]] inline std::uint64_t xorshift(std::uint64_t x, long n) {
  for (long i = 0; i < n; ++i) {
    x ^= x << 13;
    x ^= x >> 7;
    x ^= x << 17;
  }
  return x;
}
std::atomic<std::uint64_t> sink;  // keeps the work

// --- spin ----------------------------------------------------------------------
// At GOMAXPROCS=1 two goroutines spin in call-free loops, so only preemption
// moves the P from one to the other. Each stamps the TSC when it notices it
// got the P (cur is not its id): the time between two stamps is how long one
// call-free loop held the P, the time slice as a goroutine experiences it
// (slice). Each also stores the TSC after every chunk of work; the time from
// the last store of the one preempted to the stamp of the one resumed is the
// cost of one preemption, signal to resumed (switch), to within a chunk
// (about 100 ns). rdtsc is one instruction, not a call: the loop stays
// call-free (Go needs an asm call for it, so it measures the two in separate
// runs; see go/preempt/main.go).
struct Spin {
  std::atomic<int> cur{-1};  // the spinner holding the P; -1 before the first
  std::atomic<std::uint64_t> last[2] = {};  // each spinner's latest TSC
  std::atomic<bool> stop{false};            // also set by the watchdog
  // The spinners never run at once (one P) and the scheduler orders their
  // runs: plain fields do for the rest.
  std::uint64_t since = 0;  // TSC when the holder got the P
  int seen = 0, want = 0;   // switches seen, and wanted after the warm-up
  std::vector<double> slices, gaps;
};
constexpr int kWarmupSwitches = 3;
constexpr int kChunk = 64;  // xorshift steps between checks, as in Go

// Once per switch, off the fast path. It takes its own timestamp: the loop's
// may be from before a preemption.
[[gnu::noinline]] void switched(Spin& s, int me) {
  const std::uint64_t now = __rdtsc();
  const int prev = s.cur.load(std::memory_order_relaxed);
  if (prev >= 0 && !s.stop.load(std::memory_order_relaxed)) {
    if (++s.seen > kWarmupSwitches) {
      s.slices.push_back(static_cast<double>(now - s.since));
      s.gaps.push_back(static_cast<double>(now - s.last[prev].load(std::memory_order_relaxed)));
    }
    if (s.seen >= kWarmupSwitches + s.want) s.stop.store(true, std::memory_order_relaxed);
  }
  s.since = now;
  s.cur.store(me, std::memory_order_relaxed);
}

void spinner(Spin& s, int me) {
  std::uint64_t x = static_cast<std::uint64_t>(me) + 1;
  while (!s.stop.load(std::memory_order_relaxed)) {
    if (s.cur.load(std::memory_order_relaxed) != me) [[unlikely]]
      switched(s, me);
    x = xorshift(x, kChunk);
    s.last[me].store(__rdtsc(), std::memory_order_relaxed);
  }
  sink.fetch_add(x, std::memory_order_relaxed);
}

int spin(int want) {
  gort::gomaxprocs(1);
  std::int64_t slice_ns;
  const std::string cfg = config_label(&slice_ns);
  static Spin s;  // static: the watchdog may outlive this frame
  s.want = want;
  s.slices.reserve(static_cast<std::size_t>(want));
  s.gaps.reserve(static_cast<std::size_t>(want));
  // If preemption does not work the spinners never switch; the watchdog
  // stops them (a thread, not a goroutine: the P is taken).
  const auto limit = std::chrono::nanoseconds(5'000'000'000 + 4 * slice_ns * (want + kWarmupSwitches));
  std::thread([limit] {
    std::this_thread::sleep_for(limit);
    s.stop.store(true);
  }).detach();
  const std::int64_t ns0 = now_ns();
  const std::uint64_t tsc0 = __rdtsc();
  gort::WaitGroup wg;
  wg.add(2);
  for (int me = 0; me < 2; ++me) gort::go([me, &wg] {
      spinner(s, me);
      wg.done();
    });
  wg.wait();
  const double per_ns = static_cast<double>(__rdtsc() - tsc0) / static_cast<double>(now_ns() - ns0);
  for (double& v : s.slices) v /= per_ns;
  for (double& v : s.gaps) v /= per_ns;
  result("spin, GOMAXPROCS=1: P held by a call-free loop", "slice", cfg, s.slices, "ms");
  result("spin, GOMAXPROCS=1: preemption, last iteration to resumed", "switch", cfg, s.gaps, "us");
  if (static_cast<int>(s.slices.size()) < want) {
    std::fprintf(stderr, "bench_preempt: timed out after %zu of %d switches: is preemption on?\n", s.slices.size(),
                 want);
    return 1;
  }
  return 0;
}

// --- work ----------------------------------------------------------------------
// A fixed amount of call-free work, one goroutine per P, timed: what
// preemption costs a CPU-bound program (compare with GORTDEBUG=preemptoff=1).
constexpr long kWorkIters = 50'000'000;

int work(int runs) {
  std::int64_t slice_ns;
  const std::string cfg = config_label(&slice_ns);
  const int procs = gort::gomaxprocs(0);
  std::vector<double> times;
  std::string all;
  for (int r = 0; r <= runs; ++r) {  // run 0 warms up
    gort::WaitGroup wg;
    const std::int64_t t0 = now_ns();
    for (int i = 0; i < procs; ++i) {
      wg.add(1);
      gort::go([i, &wg] {
        sink.fetch_add(xorshift(static_cast<std::uint64_t>(i) + 1, kWorkIters), std::memory_order_relaxed);
        wg.done();
      });
    }
    wg.wait();
    if (r == 0) continue;
    const std::int64_t d = now_ns() - t0;
    times.push_back(static_cast<double>(d));
    all += (all.empty() ? " runs_ns=" : ",") + std::to_string(d);
  }
  char label[128];
  std::snprintf(label, sizeof label, "work, GOMAXPROCS=%d, %ld iterations per goroutine (sink %d): time per run", procs,
                kWorkIters, static_cast<int>(sink.load() & 1));
  result(label, "work", cfg, times, "ms", all);
  return 0;
}

// --- stw -----------------------------------------------------------------------
// At GOMAXPROCS=2, `spinners` goroutines spin in call-free loops while main
// stops the world: how long until stop_the_world returns (stw_stop), how
// long start_the_world takes (stw_start), and both (stw_round).
std::atomic<bool> stw_stop_flag;
std::atomic<long> beat;  // the running spinner's iteration count

// Keeps the P (busy, no sleep) until 100 µs have passed and a spinner has been
// seen running, so that every stop finds a call-free loop to preempt on the
// other P (one at most: main holds the other).
void settle(int spinners) {
  const long b = beat.load(std::memory_order_relaxed);
  const std::int64_t t = now_ns();
  for (;;) {
    const std::int64_t d = now_ns() - t;
    if ((d >= 100'000 && (spinners == 0 || beat.load(std::memory_order_relaxed) != b)) || d >= 50'000'000) return;
  }
}

int stw(int spinners, int samples) {
  gort::gomaxprocs(2);
  gort::WaitGroup wg;
  for (int i = 0; i < spinners; ++i) {
    wg.add(1);
    gort::go([&wg] {
      for (long x = 1; !stw_stop_flag.load(std::memory_order_relaxed); ++x) beat.store(x, std::memory_order_relaxed);
      wg.done();
    });
  }
  constexpr int kWarmup = 20;
  std::vector<double> stops, starts, rounds;
  for (int i = 0; i < kWarmup + samples; ++i) {
    settle(spinners);
    const std::int64_t t0 = now_ns();
    gort::stop_the_world("bench_preempt");
    const std::int64_t t1 = now_ns();
    gort::start_the_world();
    const std::int64_t t2 = now_ns();
    if (i < kWarmup) continue;
    stops.push_back(static_cast<double>(t1 - t0));
    starts.push_back(static_cast<double>(t2 - t1));
    rounds.push_back(static_cast<double>(t2 - t0));
  }
  stw_stop_flag.store(true);
  wg.wait();
  const std::string cfg = std::to_string(spinners);
  const std::string label = "stw, GOMAXPROCS=2, " + cfg + " call-free spinners: ";
  result((label + "stop_the_world returns").c_str(), "stw_stop", cfg, stops, "us");
  result((label + "start_the_world").c_str(), "stw_start", cfg, starts, "us");
  result((label + "stop + start").c_str(), "stw_round", cfg, rounds, "us");
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  const std::string cmd = argc > 1 ? argv[1] : "";
  auto arg = [&](int i, int def) { return argc > i ? std::atoi(argv[i]) : def; };
  if (cmd == "spin" && arg(2, 300) > 0) return gort::run([&] { return spin(arg(2, 300)); });
  if (cmd == "work" && arg(2, 5) > 0) return gort::run([&] { return work(arg(2, 5)); });
  if (cmd == "stw" && argc > 2 && arg(2, 0) >= 0 && arg(3, 1000) > 0)
    return gort::run([&] { return stw(arg(2, 0), arg(3, 1000)); });
  std::fprintf(stderr, "usage: bench_preempt spin [SWITCHES] | work [RUNS] | stw SPINNERS [SAMPLES]\n");
  return 2;
}
