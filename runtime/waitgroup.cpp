// gort::WaitGroup: Go's sync.WaitGroup. The counter and the number of
// waiters share one 64-bit word so that "counter reached zero, wake the
// waiters" is decided by one atomic operation.
#include "gort/sync.h"

#include "runtime2.h"
#include "sema.h"

namespace gort {

void WaitGroup::add(int delta) {
  std::uint64_t state = state_.fetch_add(static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32) +
                        (static_cast<std::uint64_t>(static_cast<std::int64_t>(delta)) << 32);
  auto v = static_cast<std::int32_t>(state >> 32);
  auto w = static_cast<std::uint32_t>(state);
  if (v < 0) rt::gopanic_message("sync: negative WaitGroup counter");
  if (w != 0 && delta > 0 && v == delta) rt::gopanic_message("sync: WaitGroup misuse: Add called concurrently with Wait");
  if (v > 0 || w == 0) return;
  // The counter is 0 and there are waiters: nobody may change the state now
  // (Add with a positive delta must happen before Wait), so reset the
  // waiter count and wake them all.
  if (state_.load() != state) rt::gopanic_message("sync: WaitGroup misuse: Add called concurrently with Wait");
  state_.store(0);
  for (; w != 0; w--) rt::semrelease(&sema_, false);
}

void WaitGroup::wait() {
  for (;;) {
    std::uint64_t state = state_.load();
    if ((state >> 32) == 0) return;
    // Increment the waiter count.
    if (state_.compare_exchange_weak(state, state + 1)) {
      rt::semacquire(&sema_, false, rt::WaitReason::Semacquire);
      if (state_.load() != 0) rt::gopanic_message("sync: WaitGroup is reused before previous Wait has returned");
      return;
    }
  }
}

}  // namespace gort
