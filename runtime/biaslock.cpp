// BiasedLock: biaslock.h says why and how.
#include "biaslock.h"

#include <algorithm>

#include "runtime2.h"

namespace gort::rt {

namespace {

// The M a biased key names (Ms stay on allm for good; ids are small).
M* m_of(std::uint32_t key) {
  const std::int64_t id = key & 0x3fffffff;
  for (M* mp = allm.load(std::memory_order_acquire); mp != nullptr; mp = mp->alllink)
    if (mp->id == id) return mp;
  fatal("a biased lock names no M");
}

}  // namespace

// The owner found its bias revoked (or being revoked: the revoker waits
// for the slot to clear).
void BiasedLock::lost_bias(M* mp, int i) {
  mp->biasheld[i].store(nullptr, std::memory_order_release);
  mp->biasowned[i] = nullptr;
}

// One more ordinary hold by mp: true when its streak asks for a bias. The
// streak is the M's own, not the lock's: counting on the lock wrote its
// line on every hold and cost 4 ns a value when two CPUs shared a buffered
// channel (GOMAXPROCS=2). So another thread's holds in between do not
// break it; a bias given too soon is revoked, and the streak it then takes
// doubles. The M counts one streak per bias entry (the holds in a row of
// the lock it last held there), so that locks taken in turn each get
// theirs: a select ping-pong takes ping, quit, pong, quit, ... on one M,
// and with one streak for all of them none was ever biased (per entry:
// select ping-pong 77 -> 64-71 ns a message at GOMAXPROCS=1, 78-93 -> 65
// at 2).
bool BiasedLock::count_streak(M* mp) const {
  const int i = entry(this);
  if (mp->biasrunlock[i] != this) {
    mp->biasrunlock[i] = this;
    mp->biasrun[i] = 0;
  }
  return ++mp->biasrun[i] >= streak_needed_;
}

// An ordinary hold's unlock (out of line: the biased one is the inline
// fast path). It may bias the lock to the M.
void BiasedLock::unlock_ordinary(M* mp) {
  if (mp == nullptr) return release_key(0);
  std::uint32_t next = 0;
  // (sleepers_ is a hint: a sleeper that comes later revokes like anyone.)
  if (count_streak(mp) && asymmetric_fence && sleepers_.load(std::memory_order_relaxed) == 0) {
    // The entry is free, or is this lock's, or is another lock's that is
    // not held now (its key may still name mp: mp takes it back by revoking
    // its own bias, in Lock::lock_slow). Not one that is held.
    const int i = entry(this);
    if (mp->biasowned[i] == this || mp->biasheld[i].load(std::memory_order_relaxed) == nullptr) {
      mp->biasowned[i] = this;
      mp->biasrun[i] = 0;
      streak_ = 0;
      next = bias_key(mp);
    }
  }
  release_key(next);
  releasem(mp);
}

// Called by whoever finds the key biased (Lock::lock_slow); true when the
// caller now holds the lock as an ordinary one.
bool BiasedLock::revoke(std::uint32_t seen) {
  M* mp = getm();
  if (mp != nullptr && seen == bias_key(mp)) return key_.compare_exchange_strong(seen, 1, std::memory_order_acquire);
  if (!key_.compare_exchange_strong(seen, kRevoking, std::memory_order_acquire)) return false;
  M* owner = m_of(seen);
  // Every thread of the process now runs a full barrier (or is not running,
  // which is one): an owner that got past its check of the key published
  // its slot before it, and one that had not will find kRevoking.
  membarrier_all();
  for (int spins = 0; owner->biasheld[entry(this)].load(std::memory_order_acquire) == this; ++spins) {
    if (spins < 100)
      procyield(10);
    else
      osyield();  // the owner's thread may be off its CPU in the middle of its hold
  }
  // A bias that saved more than a revocation costs may come back as soon as
  // it first did; one that did not waits twice as long.
  streak_needed_ = streak_ >= kBiasPaid ? kBiasStreak : std::min(streak_needed_ * 2, kBiasStreakMax);
  streak_ = 0;
  key_.store(1, std::memory_order_relaxed);  // kRevoking was already "held" to everyone else
  return true;
}

std::int64_t BiasedLock::biased_to() const {
  const std::uint32_t v = key_.load(std::memory_order_relaxed);
  return (v & kBiased) != 0 ? m_of(v)->id : -1;
}

}  // namespace gort::rt
