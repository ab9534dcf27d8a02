// gort::Mutex: Go's sync.Mutex, line for line.
//
// Two modes. Normal: waiters queue FIFO, but a woken waiter competes with
// newly arriving goroutines, which have the advantage of already running on
// a CPU; a waiter that loses is queued at the front. Starvation: a waiter
// that failed to get the lock for more than 1 ms switches the mutex to
// starvation mode, where Unlock hands ownership directly to the waiter at the
// front and new arrivals queue at the tail without spinning. It switches back
// when a waiter finds it is the last one or waited less than 1 ms.
#include "gort/sync.h"

#include <unistd.h>

#include "runtime2.h"
#include "sema.h"

namespace gort {

namespace {
constexpr std::int32_t kMutexLocked = 1;
constexpr std::int32_t kMutexWoken = 2;
constexpr std::int32_t kMutexStarving = 4;
constexpr int kMutexWaiterShift = 3;
constexpr std::int64_t kStarvationThresholdNs = 1000000;

// Spinning makes sense only on a multicore machine with other Ps running
// and nothing else runnable on ours (Go's sync_runtime_canSpin).
bool can_spin(int iter) {
  using namespace rt;
  if (iter >= 4) return false;
  static const long ncpu = sysconf(_SC_NPROCESSORS_ONLN);
  if (ncpu <= 1) return false;
  if (rt::gomaxprocs.load() <= sched.npidle.load() + sched.nmspinning.load() + 1) return false;
  M* mp = getm();
  // One read of p: without m->locks it may be taken meanwhile (a blocked
  // M's retake), and a stale P's queue is still safe to look at.
  P* pp = mp ? static_cast<P*>(mp->p) : nullptr;
  if (pp == nullptr || !runqempty(pp)) return false;
  return true;
}
}  // namespace

bool Mutex::try_lock() noexcept {
  std::int32_t old = state_.load(std::memory_order_relaxed);
  if (old & (kMutexLocked | kMutexStarving)) return false;
  return state_.compare_exchange_strong(old, old | kMutexLocked, std::memory_order_acquire);
}

void Mutex::lock_slow() {
  std::int64_t wait_start = 0;
  bool starving = false;
  bool awoke = false;
  int iter = 0;
  std::int32_t old = state_.load(std::memory_order_relaxed);
  for (;;) {
    // Don't spin in starvation mode: ownership is handed off to waiters,
    // so we won't be able to acquire the mutex anyway.
    if ((old & (kMutexLocked | kMutexStarving)) == kMutexLocked && can_spin(iter)) {
      // Try to set the woken flag to tell unlock not to wake other waiters.
      if (!awoke && (old & kMutexWoken) == 0 && (old >> kMutexWaiterShift) != 0 &&
          state_.compare_exchange_strong(old, old | kMutexWoken)) {
        awoke = true;
      }
      rt::procyield(30);
      iter++;
      old = state_.load(std::memory_order_relaxed);
      continue;
    }
    std::int32_t nw = old;
    // Don't try to acquire a starving mutex: new arrivals must queue.
    if ((old & kMutexStarving) == 0) nw |= kMutexLocked;
    if (old & (kMutexLocked | kMutexStarving)) nw += 1 << kMutexWaiterShift;
    // Switch to starvation mode, but not if the mutex is unlocked now:
    // unlock expects a starving mutex to have waiters.
    if (starving && (old & kMutexLocked)) nw |= kMutexStarving;
    if (awoke) {
      // We were woken from sleep, so reset the flag in either case.
      if ((nw & kMutexWoken) == 0) rt::fatal("sync: inconsistent mutex state");
      nw &= ~kMutexWoken;
    }
    if (state_.compare_exchange_strong(old, nw, std::memory_order_acq_rel)) {
      if ((old & (kMutexLocked | kMutexStarving)) == 0) break;  // locked with the CAS
      // If we were already waiting before, queue at the front.
      bool lifo = wait_start != 0;
      if (wait_start == 0) wait_start = rt::nanotime();
      rt::semacquire(&sema_, lifo, rt::WaitReason::SyncMutexLock);
      starving = starving || rt::nanotime() - wait_start > kStarvationThresholdNs;
      old = state_.load(std::memory_order_relaxed);
      if (old & kMutexStarving) {
        // Ownership was handed to us, but the state still says unlocked and
        // counts us as a waiter. Fix that.
        if ((old & (kMutexLocked | kMutexWoken)) != 0 || (old >> kMutexWaiterShift) == 0)
          rt::fatal("sync: inconsistent mutex state");
        std::int32_t delta = kMutexLocked - (1 << kMutexWaiterShift);
        if (!starving || (old >> kMutexWaiterShift) == 1) {
          // Exit starvation mode. Critical to do it here and consider the
          // wait time: two goroutines could otherwise go lock-step forever.
          delta -= kMutexStarving;
        }
        state_.fetch_add(delta, std::memory_order_acq_rel);
        break;
      }
      awoke = true;
      iter = 0;
    } else {
      old = state_.load(std::memory_order_relaxed);
    }
  }
}

void Mutex::unlock() {
  std::int32_t nw = state_.fetch_sub(kMutexLocked, std::memory_order_release) - kMutexLocked;
  if (nw != 0) unlock_slow(nw);
}

void Mutex::unlock_slow(std::int32_t nw) {
  if (((nw + kMutexLocked) & kMutexLocked) == 0) rt::fatal("sync: unlock of unlocked mutex");
  if ((nw & kMutexStarving) == 0) {
    std::int32_t old = nw;
    for (;;) {
      // Nobody to wake, or someone already woken or got the lock: done.
      if ((old >> kMutexWaiterShift) == 0 || (old & (kMutexLocked | kMutexWoken | kMutexStarving)) != 0) return;
      // Grab the right to wake someone.
      nw = (old - (1 << kMutexWaiterShift)) | kMutexWoken;
      if (state_.compare_exchange_strong(old, nw, std::memory_order_acq_rel)) {
        rt::semrelease(&sema_, false);
        return;
      }
      old = state_.load(std::memory_order_relaxed);
    }
  } else {
    // Starving mode: hand ownership to the next waiter and yield our time
    // slice so that it starts running at once.
    rt::semrelease(&sema_, true);
  }
}

}  // namespace gort
