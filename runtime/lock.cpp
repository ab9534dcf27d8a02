#include "lock.h"

#include <linux/futex.h>
#include <sched.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

#include <cerrno>

#include "biaslock.h"
#include "runtime2.h"

namespace gort::rt {

void futexsleep(std::atomic<std::uint32_t>* addr, std::uint32_t val, std::int64_t ns) {
  timespec ts, *tsp = nullptr;
  if (ns >= 0) {
    ts.tv_sec = ns / 1000000000;
    ts.tv_nsec = ns % 1000000000;
    tsp = &ts;
  }
  // Spurious returns (EINTR, EAGAIN, timeout) are fine: every caller re-checks its condition.
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAIT_PRIVATE, val, tsp, nullptr, 0);
}

void futexwakeup(std::atomic<std::uint32_t>* addr, int cnt) {
  syscall(SYS_futex, reinterpret_cast<std::uint32_t*>(addr), FUTEX_WAKE_PRIVATE, cnt, nullptr, nullptr, 0);
}

void procyield(int cycles) {
  for (int i = 0; i < cycles; ++i) __builtin_ia32_pause();
}

void osyield() { sched_yield(); }

void thread_sleep(std::int64_t ns) {
  std::atomic<std::uint32_t> never{0};
  futexsleep(&never, 0, ns);
}

// Go's lock_futex.go: spin actively a little (the holder is probably running
// on another core and will release soon), then passively (sched_yield), then
// sleep on the futex with key 2 so that unlock knows to wake someone.
void Lock::lock() {
  if (M* mp = getm()) locks_inc(mp);
  std::uint32_t v = 0;
  if (!key_.compare_exchange_strong(v, 1, std::memory_order_acquire)) lock_slow(v);
}

// A key with kBiased is a BiasedLock's that some M holds, or may take at
// any moment, without writing key_: waiting for it to become 0 would wait
// for good. Whoever sees it takes the bias away (BiasedLock::revoke) and
// holds the lock when that succeeds.
void Lock::lock_slow(std::uint32_t seen) {
  std::uint32_t wait = asymmetric_fence ? 1 : seen;
  for (;;) {
    for (int i = 0; i < 5; ++i) {
      for (;;) {
        std::uint32_t v = key_.load(std::memory_order_relaxed);
        if (v & kBiased) {
          if (static_cast<BiasedLock*>(this)->revoke(v)) return;
          continue;
        }
        if (v != 0) break;
        if (key_.compare_exchange_weak(v, wait, std::memory_order_acquire)) return;
      }
      if (i < 4)
        procyield(30);
      else
        osyield();
    }
    if (asymmetric_fence) return sleep_asymmetric();
    std::uint32_t v = key_.exchange(2, std::memory_order_acquire);
    if (v == 0) return;
    wait = 2;
    futexsleep(&key_, 2, -1);
  }
}

// The sleeping half of the asymmetric unlock (lock.h). Counted in
// sleepers_ for the whole episode, so one membarrier covers every later
// unlock: each of those reads sleepers_ after it. It sleeps on the value it
// saw: 1, or kRevoking (a revoker then stores 1 without a wake-up, and its
// unlock, which sees sleepers_, wakes it).
void Lock::sleep_asymmetric() {
  sleepers_.fetch_add(1, std::memory_order_relaxed);
  membarrier_all();
  for (;;) {
    std::uint32_t v = key_.load(std::memory_order_relaxed);
    if (v & kBiased) {
      if (static_cast<BiasedLock*>(this)->revoke(v)) break;
    } else if (v == 0) {
      if (key_.compare_exchange_strong(v, 1, std::memory_order_acquire)) break;
    } else {
      futexsleep(&key_, v, -1);
    }
  }
  sleepers_.fetch_sub(1, std::memory_order_relaxed);
}

bool Lock::try_lock() {
  std::uint32_t v = 0;
  if (!key_.compare_exchange_strong(v, 1, std::memory_order_acquire)) return false;
  if (M* mp = getm()) locks_inc(mp);
  return true;
}

void Lock::unlock() {
  release_key(0);
  if (M* mp = getm()) releasem(mp);
}

void Note::wakeup() {
  if (key_.exchange(1, std::memory_order_release) != 0) return;  // already woken: one-shot
  futexwakeup(&key_, 1);
}

void Note::sleep() {
  while (key_.load(std::memory_order_acquire) == 0) futexsleep(&key_, 0, -1);
}

bool Note::tsleep(std::int64_t ns) {
  if (ns < 0) {
    sleep();
    return true;
  }
  std::int64_t deadline = nanotime() + ns;
  while (key_.load(std::memory_order_acquire) == 0) {
    std::int64_t left = deadline - nanotime();
    if (left <= 0) return false;
    futexsleep(&key_, 0, left);
  }
  return true;
}

}  // namespace gort::rt
