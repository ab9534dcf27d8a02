// The execution trace recorder (runtime/trace.cpp): the event sites' side.
//
// Every site is `GORT_TRACE(GORT_TRACE_EV_..., args...)`. With tracing off
// that is one relaxed load of `trace::on` and a branch laid out as not
// taken; a macro, so that the arguments (nanotime() in some) are evaluated
// only on the taken side.
#pragma once

#include <atomic>
#include <cstdint>
#include <string>

#include "gort/trace_format.h"

namespace gort::rt {
struct G;
}

namespace gort::rt::trace {

extern std::atomic<bool> on;
// The recorder's writer thread while one exists (1 or 0): a runtime thread,
// not one of the program's that might wake a goroutine (checkdead).
extern std::atomic<int> writer_threads;

// Appends one event to the calling thread's buffer. Never from a signal
// handler: the handler could interrupt this thread's own emit_slow.
void emit_slow(std::uint8_t type, const std::uint64_t* args, int n) noexcept;
// The same from a signal handler: async-signal-safe, and the event is
// dropped when it cannot be (the handler interrupted an emit, or the
// thread's buffer is full).
void emit_from_signal(std::uint8_t type, const std::uint64_t* args, int n) noexcept;

// Or'ed into the type of an event recorded right after this thread's
// previous one, in the same runtime operation, with no user code between:
// it takes that event's time instead of reading the clock. The direct
// switch's GO_START (after the GO_PARK or GO_END of the G switched from):
// its G came from this P's own run queue, so it acts on nothing another
// thread published since this thread took the P, and the time a few
// instructions earlier orders it as well as a fresh one would. A clock
// read is 9 ns here (RDTSC; 17 with RDTSCP's wait for earlier loads), a
// ping-pong message 40. Event types stay below 0x80.
inline constexpr std::uint8_t kSameInstant = 0x80;

template <class... A>
inline void emit(std::uint8_t type, A... a) noexcept {
  const std::uint64_t args[sizeof...(A) + 1] = {static_cast<std::uint64_t>(a)...};
  emit_slow(type, args, static_cast<int>(sizeof...(A)));
}

#define GORT_TRACE(...)                                                                  \
  do {                                                                                   \
    if (__builtin_expect(::gort::rt::trace::on.load(std::memory_order_relaxed), 0)) \
      ::gort::rt::trace::emit(__VA_ARGS__);                                               \
  } while (0)

// The string id of a stop-the-world reason (registered on first use).
std::uint64_t reason_id(const char* reason) noexcept;

// Starts recording into path (the runtime's own file). 0, or an errno
// with *err set: EBUSY if a trace is already being recorded, or why the
// file cannot be written.
int start(const char* path, std::string* err);
// Stops recording and completes the file (END record); waits for the writer
// thread. False if no trace was being recorded.
bool stop();

// The program dies (fatal error, panic): complete the file, so that the
// trace shows what led there. Skipped if this thread is inside start/stop.
void stop_for_exit() noexcept;

// GORTDEBUG=trace=FILE (trace_control.cpp): schedinit starts it, and
// main's return stops it.
void start_from_env();
// The tool's request through the debug descriptor (gort trace PID): sysmon
// serves it each round; the SIGURG handler wakes sysmon when one is there.
void serve_requests() noexcept;
bool request_pending() noexcept;

}  // namespace gort::rt::trace
