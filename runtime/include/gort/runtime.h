// The goroutine API: start the runtime, start goroutines, ask about them.
//
// Threading contract:
//  - gort::run() turns the calling thread into m0 and returns when the main
//    goroutine returns. It may be called once per process.
//  - go() may be called from a goroutine, or from any other thread while the
//    runtime runs (the new G then goes to the global run queue).
//  - gosched(), sleep_for(), Mutex::lock() and WaitGroup::wait() park or yield
//    the calling goroutine: calling them off a goroutine is a fatal error.
#pragma once

#include <cstddef>
#include <cstdint>
#include <exception>
#include <new>
#include <type_traits>
#include <utility>

namespace gort {

namespace detail {

// Where a goroutine's callable lives. Small callables are constructed in the
// G itself (no allocation per goroutine); large ones on the heap.
inline constexpr std::size_t kInlineFnSize = 64;
struct FnSlot {
  alignas(16) unsigned char buf[kInlineFnSize];
  void (*invoke)(void* buf);
  void (*destroy)(void* buf);
};

FnSlot* newproc_begin();                      // a fresh or recycled G, not yet runnable
void newproc_abort(FnSlot* slot) noexcept;    // the callable's constructor threw
void newproc_end(FnSlot* slot);               // make it runnable (runqput with next=true)
FnSlot* run_begin();                          // schedinit + the main G's slot
int run_end(FnSlot* slot);                    // mstart on m0; returns the exit status
void set_exit_status(int status) noexcept;

template <class Fn>
void start(void* p) {
  (*static_cast<Fn*>(p))();
}
template <class Fn>
void start_heap(void* p) {
  (**static_cast<Fn**>(p))();
}

template <class F>
void fill(FnSlot* slot, F&& f) {
  using Fn = std::decay_t<F>;
  try {
    if constexpr (sizeof(Fn) <= kInlineFnSize && alignof(Fn) <= 16) {
      ::new (static_cast<void*>(slot->buf)) Fn(std::forward<F>(f));
      slot->invoke = &start<Fn>;
      slot->destroy = [](void* p) { static_cast<Fn*>(p)->~Fn(); };
    } else {
      Fn* heap = new Fn(std::forward<F>(f));
      ::new (static_cast<void*>(slot->buf)) Fn*(heap);
      slot->invoke = &start_heap<Fn>;
      slot->destroy = [](void* p) { delete *static_cast<Fn**>(p); };
    }
  } catch (...) {
    newproc_abort(slot);
    throw;
  }
}

}  // namespace detail

// Starts a goroutine running f(). f may be any move-constructible callable
// taking no arguments; its result is discarded. Like Go's `go f()`, the new
// goroutine takes the current P's runnext slot and runs soon.
// Always inlined: the return address newproc_end records is then in the
// caller, and "created by" names the function that said go.
template <class F>
[[gnu::always_inline]] inline void go(F&& f) {
  static_assert(std::is_invocable_v<std::decay_t<F>&>, "gort::go needs a callable taking no arguments");
  detail::FnSlot* slot = detail::newproc_begin();
  detail::fill(slot, std::forward<F>(f));
  detail::newproc_end(slot);
}

// Bootstraps the runtime on the calling thread (Go's rt0_go: m0, g0,
// schedinit, the main goroutine, sysmon, mstart) and runs main as goroutine 1.
// Returns main's result (0 for a void main) as soon as main returns; other
// goroutines are abandoned, as in Go.
template <class F>
int run(F&& main) {
  using R = std::invoke_result_t<std::decay_t<F>&>;
  static_assert(std::is_void_v<R> || std::is_convertible_v<R, int>, "gort::run's main returns void or int");
  detail::FnSlot* slot = detail::run_begin();
  detail::fill(slot, [fn = std::forward<F>(main)]() mutable {
    if constexpr (std::is_void_v<R>) {
      fn();
      detail::set_exit_status(0);
    } else {
      detail::set_exit_status(static_cast<int>(fn()));
    }
  });
  return detail::run_end(slot);
}

void gosched();                   // yield the P; the G goes to the global run queue
std::int64_t goid() noexcept;     // the current goroutine's id; 0 off a goroutine
int num_goroutine() noexcept;     // goroutines that exist now (Go's NumGoroutine)
int gomaxprocs(int n);            // set GOMAXPROCS if n >= 1; returns the previous value
bool in_goroutine() noexcept;     // is the calling thread running a goroutine?

}  // namespace gort
