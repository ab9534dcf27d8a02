// Preemption: yield points, and stopping the world.
//
// A goroutine that runs too long (the time slice, 10 ms by default:
// GORTDEBUG=timeslice=1ms) is preempted the way Go does it:
//   - cooperatively, at its next yield point: GORT_YIELD_POINT() where you
//     write it, and every function entry of a target built with
//     gort_enable_yield_points(target) (CMake);
//   - asynchronously, anywhere in the program's own code: sysmon sends the
//     goroutine's thread SIGURG, and the handler makes it call into the
//     scheduler from the instruction it was at. A loop without a single call
//     is preempted too.
// GORTDEBUG=asyncpreemptoff=1 turns the signals off; preemptoff=1 turns
// preemption off altogether.
//
// A preempted goroutine (either way) resumes on the thread it was preempted
// on: the compiler may hold the address of a thread_local (errno's too) in a
// register across any instruction, and a preemption is not a point where the
// program could expect to change threads. A goroutine that blocks or calls
// gort::gosched may resume on any thread, as before.
//
// Threading contract: GORT_YIELD_POINT may be used on any thread; off a
// goroutine it never yields. stop_the_world, start_the_world and for_each_g
// must be called from a goroutine.
#pragma once

#include <cstdint>
#include <type_traits>
#include <utility>

namespace gort {
namespace detail {
// Where the calling thread's current goroutine keeps its stack guard: a
// pointer to its stackguard0, or to a word holding 0 off a goroutine. A
// yield point is one load through it and one compare with the stack pointer.
extern "C" void gort_morestack() noexcept;

// The check, in asm so that the compiler can neither hoist the TLS load out
// of a loop (the goroutine may be on another thread by the next iteration)
// nor drop it. initial-exec TLS: two loads and a compare.
[[gnu::always_inline]] inline bool yield_check() noexcept {
  std::uintptr_t guard;
  asm volatile(
      "movq gort_tls_stackguard@gottpoff(%%rip), %0\n\t"
      "movq %%fs:(%0), %0\n\t"
      "movq (%0), %0"
      : "=r"(guard));
  std::uintptr_t sp;
  asm volatile("movq %%rsp, %0" : "=r"(sp));
  return sp < guard;
}
}  // namespace detail
}  // namespace gort

// A preemption point: yields if the scheduler asked the goroutine to (its
// time slice is over, or the world is stopping), and dies with
// "fatal error: stack overflow" if the goroutine is about to run off its stack.
#define GORT_YIELD_POINT()                                                \
  do {                                                                    \
    if (__builtin_expect(::gort::detail::yield_check(), 0)) ::gort::detail::gort_morestack(); \
  } while (0)

namespace gort {

// Stops every goroutine but the caller, as Go's garbage collector does: each
// running one is preempted (at a yield point or by signal), idle Ps and Ps
// in system calls are taken. Returns when the world is stopped. Goroutines
// inside gort::syscall keep running their call (they hold no P); they stop
// when it returns. The caller keeps its thread and must not block on other
// goroutines until start_the_world.
void stop_the_world(const char* reason);
void start_the_world();

// RAII: the world is stopped for the guard's lifetime.
class WorldStopped {
 public:
  explicit WorldStopped(const char* reason = "gort::WorldStopped") { stop_the_world(reason); }
  ~WorldStopped() { start_the_world(); }
  WorldStopped(const WorldStopped&) = delete;
  WorldStopped& operator=(const WorldStopped&) = delete;
};

// One goroutine as for_each_g sees it.
struct GInfo {
  std::int64_t id;
  std::uint32_t status;     // Go's numbering: 1 runnable, 2 running, 3 syscall, 4 waiting, 9 preempted
  const char* status_name;  // "runnable", "running", "syscall", "waiting", ...
  const char* wait_reason;  // Go's wait reason ("chan receive", "sleep", ...), "" if none
  std::uintptr_t stack_lo;  // the stack: [stack_lo, stack_hi)
  std::uintptr_t stack_hi;
  // Saved registers: where the goroutine will resume. For the caller
  // (status running) sp is its current stack pointer. Everything the
  // goroutine holds is on [sp, stack_hi): a goroutine stopped by a signal
  // has all its registers saved there too.
  std::uintptr_t sp;
  std::uintptr_t pc;
  std::uintptr_t bp;
  bool async_preempted;  // stopped by a signal, not at a call
  bool self;             // the calling goroutine
};

namespace detail {
void for_each_g(void (*fn)(void* ctx, const GInfo& g), void* ctx);
}

// Calls fn(const GInfo&) for every live goroutine (dead ones are skipped).
// The world must be stopped (stop_the_world), so that the states hold still.
template <class F>
void for_each_g(F&& fn) {
  detail::for_each_g([](void* ctx, const GInfo& g) { (*static_cast<std::remove_reference_t<F>*>(ctx))(g); },
                     const_cast<void*>(static_cast<const void*>(&fn)));
}

}  // namespace gort
