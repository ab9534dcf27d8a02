// Runtime-internal locks and one-shot notifications (Go's lock_futex.go).
//
// Lock is for short critical sections in the scheduler (sched.lock, a P's
// timers, the semaphore table). It spins briefly, then sleeps on a futex.
// Holding one raises m->locks, which the preemption code reads: a G is never
// preempted while its M holds a runtime lock.
//
// Note is a one-shot event: notesleep blocks the thread until notewakeup.
// An M parks on its Note in stopm; stop_the_world waits on one.
#pragma once

#include <atomic>
#include <cstdint>

namespace gort::rt {

void futexsleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns);  // ns < 0: forever
void futexwakeup(std::atomic<std::uint32_t>* addr, int cnt);
void procyield(int cycles);  // PAUSE a few times: being nice to the other hyperthread while spinning
void osyield();

class Lock {
 public:
  void lock();
  void unlock();
  bool try_lock();

 private:
  // 0 unlocked, 1 locked, 2 locked with sleepers.
  std::atomic<std::uint32_t> key_{0};
};

class Note {
 public:
  void clear() { key_.store(0, std::memory_order_relaxed); }
  void wakeup();
  void sleep();                        // until wakeup
  bool tsleep(std::int64_t ns);        // until wakeup or ns passed; true if woken
  bool is_set() const { return key_.load(std::memory_order_acquire) != 0; }

 private:
  std::atomic<std::uint32_t> key_{0};
};

}  // namespace gort::rt
