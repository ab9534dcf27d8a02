// Helpers shared by the channel, select and timer-channel suites.
#pragma once

#include <gort/gort.h>
#include <unistd.h>

#include <atomic>
#include <cstddef>
#include <string>

#include "test_util.h"

namespace gort_test {

// How many goroutines are parked (status 4, Gwaiting) with wait reason
// `reason` ("chan receive", "chan send", "select", ...), read from the
// runtime's own G list (GORTDEBUG=scheddetail's text). A goroutine shows as
// parked only once its status is Gwaiting, which gopark sets after the
// waiter is queued on its channel and before the channel's lock is let go:
// seeing it here means that it is blocked on the channel.
inline int count_parked(const char* reason) {
  const std::string s = gort::debug::schedtrace(true);
  const std::string needle = std::string("status=4(") + reason + ")";
  int n = 0;
  for (std::size_t pos = s.find(needle); pos != std::string::npos; pos = s.find(needle, pos + needle.size())) ++n;
  return n;
}

// Yields until at least n goroutines are parked with `reason`. Not a sleep:
// it waits for a state, however long that takes (a goroutine that never
// blocks makes the test hang, and the watchdog reports it).
inline void wait_parked(const char* reason, int n) {
  while (count_parked(reason) < n) gort::gosched();
}

// GoogleTest forwards no events to listeners in a death-test child, so
// test_util.h's per-test watchdog is not armed there, and a child that hangs
// instead of dying would hang for good. Death-test statements call this
// first: SIGALRM after `seconds` ends the child (test_util.h's handler exits
// with status 3; without it, the signal kills the child), failing the test.
inline void arm_child_watchdog(unsigned seconds = 60) { alarm(seconds); }

// A value type that counts how many of it exist and how many that still
// held a value (not moved from) were destroyed.
struct Tracked {
  static inline std::atomic<long> live{0};
  static inline std::atomic<long> valued_destroyed{0};
  int v = 0;
  bool has = false;

  explicit Tracked(int x) : v(x), has(true) { live.fetch_add(1); }
  Tracked(Tracked&& o) noexcept : v(o.v), has(o.has) {
    o.has = false;
    live.fetch_add(1);
  }
  Tracked(const Tracked&) = delete;
  Tracked& operator=(const Tracked&) = delete;
  ~Tracked() {
    if (has) valued_destroyed.fetch_add(1);
    live.fetch_sub(1);
  }
};

}  // namespace gort_test
