// Blocking calls inside goroutines: gort::syscall (Go's entersyscall /
// exitsyscall).
//
// A goroutine that blocks its thread in the kernel (read(2) on a pipe, a
// blocking library call, a long computation in code that has no yield
// points) would also block its P, and with it every goroutine queued there.
// Wrapped in gort::syscall, the call gives its P up while it runs:
//
//   ssize_t n = gort::syscall([&] { return ::read(fd, buf, len); });
//
// The goroutine keeps its thread (M) and its status becomes `syscall`; the P
// stays attached to it, marked as in a system call. If the call returns
// quickly, the goroutine takes its P straight back (a few atomic operations,
// no thread switch). If it lasts longer than about 20 µs and the P has other
// work, sysmon hands the P to another thread, which runs the other
// goroutines meanwhile. When the call returns, the goroutine takes its old P
// back if it is still free, or any idle P, or else it queues itself on the
// global run queue and its thread goes idle (Go's exitsyscall0).
//
// Threading contract:
//  - fn runs on the calling goroutine's stack and thread, and its result (or
//    its exception) is passed through. An exception leaves gort::syscall
//    only after the goroutine has a P again.
//  - The goroutine may resume on another thread after gort::syscall returns
//    (the slow path above). errno is carried over, but a compiler may keep
//    the address of the old thread's errno across the call: read errno
//    inside fn when it matters (return it with the result).
//  - fn has no P: it must not park or yield. gosched, sleep_for, a contended
//    Mutex::lock, WaitGroup::wait and blocking channel operations inside fn
//    are fatal errors. It may start goroutines (gort::go) and wake them
//    (Mutex::unlock, WaitGroup::done): they go to the global run queue.
//  - Called off a goroutine (a thread gort did not make, or runtime code),
//    and nested inside another gort::syscall, fn simply runs.
#pragma once

namespace gort {

namespace detail {
// true: the calling goroutine is now in a system call and must call
// exitsyscall when fn ends; false: run fn as it is (see above).
bool entersyscall() noexcept;
void exitsyscall() noexcept;

// Calls exitsyscall when fn returns or throws.
struct ExitSyscallGuard {
  ExitSyscallGuard() = default;
  ExitSyscallGuard(const ExitSyscallGuard&) = delete;
  ExitSyscallGuard& operator=(const ExitSyscallGuard&) = delete;
  ~ExitSyscallGuard() { exitsyscall(); }
};
}  // namespace detail

// Runs fn() as a blocking system call of the calling goroutine (see above)
// and returns what it returns.
template <class F>
auto syscall(F&& fn) -> decltype(fn()) {
  if (!detail::entersyscall()) return fn();
  detail::ExitSyscallGuard exit;
  return fn();
}

}  // namespace gort
