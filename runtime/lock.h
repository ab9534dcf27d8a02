// Runtime-internal locks and one-shot notifications (Go's lock_futex.go).
//
// Lock is for short critical sections in the scheduler (sched.lock, a P's
// timers, the semaphore table). It spins briefly, then sleeps on a futex.
// Holding one raises m->locks, which the preemption code reads: a G is never
// preempted while its M holds a runtime lock.
//
// Unlike Go's, unlock is no locked instruction where the kernel offers
// membarrier(PRIVATE_EXPEDITED) (asymmetric_fence): a locked instruction
// costs ~5 ns here, and a buffered channel operation is a lock and an
// unlock. unlock stores 0 and then reads `sleepers`; a thread about to
// sleep on the futex counts itself in `sleepers` and then runs membarrier,
// which puts a full barrier into every thread of the process: either the
// unlocker's read sees the count, or the sleeper's next look at the key sees
// the unlock. The rare side (a sleep, after spinning) pays a system call.
//
// A channel's lock is a BiasedLock (biaslock.h), which one thread can take
// without any locked instruction; its key values share this class's slow
// path.
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
// The calling thread sleeps for ns (< 0: for good): a futex wait on a word
// nobody wakes. Returns early on a signal, as any timed sleep may.
void thread_sleep(std::int64_t ns);

class Lock {
 public:
  void lock();
  void unlock();
  bool try_lock();

 protected:
  // key_ values besides 0, 1 and 2 (only a BiasedLock's: biaslock.h).
  static constexpr std::uint32_t kBiased = 0x80000000u;    // | an M's id: that M takes it without a locked instruction
  static constexpr std::uint32_t kRevoking = 0x40000000u;  // held by a thread taking a bias away
  void lock_slow(std::uint32_t seen);  // the fast compare-and-swap saw `seen`
  inline void release_key(std::uint32_t next);  // unlock's store (or exchange) of `next`, and the wake-up
  void sleep_asymmetric();
  // 0 unlocked, 1 locked, 2 locked with sleepers (without asymmetric_fence).
  std::atomic<std::uint32_t> key_{0};
  std::atomic<std::uint32_t> sleepers_{0};  // threads asleep (or about to) on key_, with asymmetric_fence
};

extern bool asymmetric_fence;  // membarrier(PRIVATE_EXPEDITED) is registered (blockretake.cpp)

inline void Lock::release_key(std::uint32_t next) {
  if (asymmetric_fence) {
    key_.store(next, std::memory_order_release);
    // Only the compiler is kept from reading first; the CPU may still (a
    // store waits in its store buffer), and the sleeper's membarrier is
    // what makes that safe (see above).
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (sleepers_.load(std::memory_order_relaxed) != 0) futexwakeup(&key_, 1);
  } else if (key_.exchange(next, std::memory_order_release) == 2) {
    futexwakeup(&key_, 1);
  }
}

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
