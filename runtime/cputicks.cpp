// cputicks: the clock of time slices (runtime2.h says why it is not
// nanotime()). RDTSC where the kernel's clock source is the TSC, else
// nanotime(); the rate that turns ticks into nanoseconds is measured at
// start-up over 100 µs and refined by sysmon from the first (TSC, nanotime)
// pair, so its error shrinks with the time the program has run.
#include <fcntl.h>
#include <unistd.h>

#include <cstring>

#include "runtime2.h"

namespace gort::rt {

bool tsc_ticks = false;
std::atomic<std::uint64_t> tick_ns_q32{std::uint64_t{1} << 32};
std::atomic<std::int64_t> half_slice_ticks{0};

std::int64_t ns_to_ticks(std::int64_t ns) noexcept {
  const std::uint64_t q = tick_ns_q32.load(std::memory_order_relaxed);
  return static_cast<std::int64_t>((static_cast<__int128>(ns) << 32) / static_cast<__int128>(q));
}

namespace {
// The first (TSC, nanotime) pair: every later rate is measured from it, so
// the error of one reading (tens of ns) shrinks with the time run.
std::int64_t calib_tsc0, calib_ns0, calib_last;

// The kernel chose the TSC as its clock source only if it is invariant and
// the same on every CPU; then so can we.
bool tsc_clocksource() {
  int fd = ::open("/sys/devices/system/clocksource/clocksource0/current_clocksource", O_RDONLY | O_CLOEXEC);
  if (fd < 0) return false;
  char buf[32] = {};
  ssize_t n = ::read(fd, buf, sizeof buf - 1);
  ::close(fd);
  return n >= 3 && std::strncmp(buf, "tsc", 3) == 0 && (buf[3] == '\n' || buf[3] == 0);
}

// A TSC reading and the nanotime() between two of them, the tightest of
// up to 32 tries: the pair's error is half the gap between the two TSC
// reads, ~100 ticks normally, microseconds when the thread was interrupted
// in between or clock_gettime is slow (TSan intercepts it).
void tick_pair(std::int64_t* tsc, std::int64_t* ns) {
  std::int64_t best = -1;
  for (int i = 0; i < 32; ++i) {
    const auto a = static_cast<std::int64_t>(__builtin_ia32_rdtsc());
    const std::int64_t n = nanotime();
    const auto b = static_cast<std::int64_t>(__builtin_ia32_rdtsc());
    if (best < 0 || b - a < best) {
      best = b - a;
      *tsc = a + (b - a) / 2;
      *ns = n;
    }
    if (best < 500) return;
  }
}

// ns per tick in 32.32 fixed point, from ticks > 0 and ns > 0.
std::uint64_t rate_q32(std::int64_t ticks, std::int64_t ns) {
  return static_cast<std::uint64_t>((static_cast<unsigned __int128>(ns) << 32) / static_cast<std::uint64_t>(ticks));
}

void set_rate(std::uint64_t q) {
  tick_ns_q32.store(q, std::memory_order_relaxed);
  half_slice_ticks.store(ns_to_ticks(debug.timeslice_ns / 2), std::memory_order_relaxed);
}
}  // namespace

void cputicks_init() {
  half_slice_ticks.store(debug.timeslice_ns / 2, std::memory_order_relaxed);  // ticks are ns until the TSC is set up
  if (!tsc_clocksource()) return;
  tick_pair(&calib_tsc0, &calib_ns0);
  // A first rate over 100 µs (to within ~0.1% when the pairs are tight:
  // slices of a few ms err by µs); sysmon's rounds make it exact within
  // milliseconds.
  std::int64_t t, n;
  do tick_pair(&t, &n);
  while (n - calib_ns0 < 100'000);
  if (t <= calib_tsc0) return;
  // 100 MHz to 20 GHz, or the TSC is not what the kernel said it is.
  const std::uint64_t q = rate_q32(t - calib_tsc0, n - calib_ns0);
  if (q < (std::uint64_t{1} << 32) / 20 || q > (std::uint64_t{10} << 32)) return;
  set_rate(q);
  calib_last = n;
  tsc_ticks = true;
}

void cputicks_calibrate(std::int64_t now) {
  if (!tsc_ticks || now - calib_last < 1'000'000) return;
  std::int64_t t, n;
  tick_pair(&t, &n);
  if (t > calib_tsc0 && n > calib_ns0) set_rate(rate_q32(t - calib_tsc0, n - calib_ns0));
  calib_last = n;
}

}  // namespace gort::rt
