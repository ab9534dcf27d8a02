// stw: how long does it take to stop the world, and does it stop?
//
// N spinner goroutines run loops without a single call, so no yield point
// will ever stop them: stop_the_world has to preempt them by signal (Go's
// GC has the same problem, and the same answer since Go 1.14). main then
// stops and restarts the world R times. While the world is stopped it checks
// what a GC-style pass relies on:
//   - for_each_g shows no goroutine running but the caller;
//   - the spinners' counters do not move (read twice, some time apart).
// It prints the distribution of stop latencies (how long stop_the_world
// took to return) and exits 0, or 1 at the first failed check.
//
//   stw [--spinners=N] [--rounds=R] [--gap=US] [--timeout=MS]
//
// N defaults to GOMAXPROCS, so every P has a spinner to take back. Between
// rounds main keeps its P for --gap µs (default 100) so that the restarted
// spinners are running again when the next stop comes. A stop that has not
// returned after --timeout ms (default 5000; GORTDEBUG=asyncpreemptoff=1
// does that), or a program still alive that long after main returned, is
// reported by a watchdog thread, exit status 3.
#include <gort/gort.h>
#include <gort/preempt.h>

#include <unistd.h>

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

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

constexpr std::uint32_t kGrunning = 2;  // Go's _Grunning
constexpr std::uint32_t kGscan = 0x1000;

struct alignas(64) Slot {  // one cache line per spinner: no false sharing
  std::uint64_t n = 0;
};

std::atomic<int> g_started{0};

// No call in the loop, and a builtin rather than std::atomic's inline
// members, so that even an instrumented build keeps it call-free.
__attribute__((noinline, no_instrument_function)) void spin(Slot* s) {
  g_started.fetch_add(1);
  for (;;) __atomic_fetch_add(&s->n, 1, __ATOMIC_RELAXED);
}

// main stamps g_waiting_since before something that may never happen (a
// stop, the spinners starting, the exit after main returns) and clears it
// after. The watchdog is a plain thread: it must run while the spinners hold
// every P.
std::atomic<std::int64_t> g_waiting_since{0};
std::atomic<const char*> g_waiting_for{""};
std::atomic<const char*> g_hint{""};

constexpr const char* kNeedsSignals =
    "\n(call-free spinners can only be stopped by signals: is GORTDEBUG=asyncpreemptoff=1 or preemptoff=1 set?)";

[[noreturn]] void watchdog(long timeout_ms) {
  for (;;) {
    std::this_thread::sleep_for(5ms);
    std::int64_t t = g_waiting_since.load();
    if (t != 0 && now_ns() - t > timeout_ms * 1'000'000) {
      std::fprintf(stderr, "stw: still waiting for %s after %ld ms%s\n", g_waiting_for.load(), timeout_ms,
                   g_hint.load());
      _exit(3);
    }
  }
}

void waiting(const char* what, const char* hint = "") {
  g_waiting_for.store(what);
  g_hint.store(hint);
  g_waiting_since.store(now_ns());
}
void done_waiting() { g_waiting_since.store(0); }

// Burns time without giving up the P: sleeping would hand it to a spinner,
// and main would wait a whole time slice to get it back.
void busy_wait(std::chrono::nanoseconds d) {
  for (auto end = Clock::now() + d; Clock::now() < end;) {
  }
}

[[noreturn]] void usage() {
  std::fprintf(stderr, "usage: stw [--spinners=N] [--rounds=R] [--gap=US] [--timeout=MS]\n");
  std::exit(2);
}

long number(const char* arg, std::size_t prefix, bool zero_ok) {
  char* end = nullptr;
  long v = std::strtol(arg + prefix, &end, 10);
  if (end == arg + prefix || *end != '\0' || v < (zero_ok ? 0 : 1)) usage();
  return v;
}

double percentile(const std::vector<double>& sorted, double q) {  // nearest rank
  std::size_t i = static_cast<std::size_t>(q * static_cast<double>(sorted.size()) + 0.999999);
  return sorted[std::clamp<std::size_t>(i, 1, sorted.size()) - 1];
}

}  // namespace

int main(int argc, char** argv) {
  long spinners = 0, rounds = 1000, gap_us = 100, timeout_ms = 5000;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strncmp(a, "--spinners=", 11) == 0) {
      spinners = std::min(number(a, 11, false), 4096L);
    } else if (std::strncmp(a, "--rounds=", 9) == 0) {
      rounds = std::min(number(a, 9, false), 10'000'000L);
    } else if (std::strncmp(a, "--gap=", 6) == 0) {
      gap_us = number(a, 6, true);
    } else if (std::strncmp(a, "--timeout=", 10) == 0) {
      timeout_ms = number(a, 10, false);
    } else {
      usage();
    }
  }
  std::thread(watchdog, timeout_ms).detach();
  return gort::run([&]() -> int {
    const int n = spinners > 0 ? static_cast<int>(spinners) : gort::gomaxprocs(0);
    std::printf("stw: %d call-free spinner%s, GOMAXPROCS=%d, %ld rounds, %ld µs apart\n", n, n == 1 ? "" : "s",
                gort::gomaxprocs(0), rounds, gap_us);
    std::fflush(stdout);  // before anything that may hang
    Slot* slots = new Slot[n];  // never freed: the spinners use them until the process exits
    for (int i = 0; i < n; ++i) gort::go([s = &slots[i]] { spin(s); });
    waiting("the spinners to start", kNeedsSignals);
    while (g_started.load() < n) gort::sleep_for(100us);
    done_waiting();

    std::vector<double> lat_us;
    lat_us.reserve(static_cast<std::size_t>(rounds));
    std::vector<std::uint64_t> before(static_cast<std::size_t>(n));
    std::string failure;
    for (long r = 0; r < rounds && failure.empty(); ++r) {
      waiting("stop_the_world to return", kNeedsSignals);
      // main itself is preemptible up to the call: a stop that starts just
      // as its own time slice ends also counts the slice it then waits for
      // (the rare max of ~10 ms with GOMAXPROCS=1).
      std::int64_t t0 = now_ns();
      gort::stop_the_world("stw demo");
      std::int64_t t1 = now_ns();
      done_waiting();
      lat_us.push_back(static_cast<double>(t1 - t0) / 1e3);

      // Nothing below may block on another goroutine: they are all stopped.
      int selves = 0, total = 0;
      std::int64_t running_id = 0;
      std::uint32_t running_status = 0;
      gort::for_each_g([&](const gort::GInfo& g) {
        ++total;
        if (g.self) {
          ++selves;
        } else if ((g.status & ~kGscan) == kGrunning && running_id == 0) {
          running_id = g.id;
          running_status = g.status;
        }
      });
      for (int i = 0; i < n; ++i) before[static_cast<std::size_t>(i)] = __atomic_load_n(&slots[i].n, __ATOMIC_RELAXED);
      busy_wait(20us);  // a spinner that still runs makes millions of increments meanwhile
      int moved = -1;
      for (int i = 0; i < n && moved < 0; ++i)
        if (__atomic_load_n(&slots[i].n, __ATOMIC_RELAXED) != before[static_cast<std::size_t>(i)]) moved = i;
      gort::start_the_world();

      char buf[256];
      if (running_id != 0) {
        std::snprintf(buf, sizeof buf, "goroutine %lld has status %u (running) while the world is stopped",
                      static_cast<long long>(running_id), running_status);
      } else if (selves != 1) {
        std::snprintf(buf, sizeof buf, "for_each_g reported %d goroutines as the caller (want 1)", selves);
      } else if (total < n + 1) {
        std::snprintf(buf, sizeof buf, "for_each_g saw %d goroutines, fewer than the %d spinners and main", total,
                      n + 1);
      } else if (moved >= 0) {
        std::snprintf(buf, sizeof buf, "spinner %d's counter moved while the world was stopped", moved);
      } else {
        buf[0] = '\0';
      }
      if (buf[0]) failure = "round " + std::to_string(r + 1) + ": " + buf;
      busy_wait(std::chrono::microseconds(gap_us));
    }
    if (!failure.empty()) {
      std::printf("stw: FAILED: %s\n", failure.c_str());
      std::fflush(stdout);
      waiting("the program to exit after main returned");
      return 1;
    }

    std::sort(lat_us.begin(), lat_us.end());
    std::printf("stop_the_world latency (µs): min %.1f  median %.1f  p90 %.1f  p99 %.1f  max %.1f  (count %zu)\n",
                lat_us.front(), percentile(lat_us, 0.5), percentile(lat_us, 0.9), percentile(lat_us, 0.99),
                lat_us.back(), lat_us.size());
    std::printf("checks passed: only the caller was running while the world was stopped, and no spinner moved\n");
    std::fflush(stdout);
    // Returning ends the program, spinners and all, as in Go; one that
    // outlives its main is a bug the watchdog reports.
    waiting("the program to exit after main returned");
    return 0;
  });
}
