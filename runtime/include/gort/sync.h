// gort::Mutex and gort::WaitGroup: Go's sync.Mutex and sync.WaitGroup.
// Waiters park their goroutine through the runtime's semaphore table; the
// thread (M) goes on running other goroutines.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort {

// Go's sync.Mutex, starvation mode included: a waiter that has waited more
// than 1 ms switches the mutex to FIFO hand-off until the queue drains.
// Lockable, so std::lock_guard / std::unique_lock / std::scoped_lock work.
// Unlocking an unlocked Mutex is a fatal error, as in Go.
class Mutex {
 public:
  Mutex() = default;
  Mutex(const Mutex&) = delete;
  Mutex& operator=(const Mutex&) = delete;

  void lock() {
    std::int32_t unlocked = 0;
    if (state_.compare_exchange_strong(unlocked, kLocked, std::memory_order_acquire)) return;
    lock_slow();
  }
  bool try_lock() noexcept;
  void unlock();

 private:
  static constexpr std::int32_t kLocked = 1;
  void lock_slow();
  void unlock_slow(std::int32_t state);
  std::atomic<std::int32_t> state_{0};
  std::atomic<std::uint32_t> sema_{0};
};

// Go's sync.WaitGroup: add(n) before starting work, done() when a piece
// finishes, wait() parks until the counter is zero. A negative counter
// panics ("sync: negative WaitGroup counter").
class WaitGroup {
 public:
  WaitGroup() = default;
  WaitGroup(const WaitGroup&) = delete;
  WaitGroup& operator=(const WaitGroup&) = delete;

  void add(int delta);
  void done() { add(-1); }
  void wait();

 private:
  std::atomic<std::uint64_t> state_{0};  // high 32 bits: counter; low 32: waiters
  std::atomic<std::uint32_t> sema_{0};
};

}  // namespace gort
