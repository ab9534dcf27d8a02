// BiasedLock's lock and unlock, inline: a buffered channel operation is
// one of each, and the calls were a tenth of it. Included at the end of
// runtime2.h (they need M, getm, locks_inc and releasem); biaslock.h says
// how the lock works and biaslock.cpp has the rest.
#pragma once

namespace gort::rt {

inline std::uint32_t BiasedLock::bias_key(const M* mp) {
  return kBiased | static_cast<std::uint32_t>(mp->id & 0x3fffffff);
}

inline void BiasedLock::lock() {
  M* mp = getm();
  if (mp != nullptr) {
    locks_inc(mp);
    // The owner's entry: publish the hold, then make sure the bias still
    // stands. The compiler keeps the two in order; the CPU may read the key
    // before its store of the slot is visible, and a revoker's membarrier
    // is what makes that safe (biaslock.h). The key the owner reads was
    // stored by its own unlock, after every earlier holder: nothing more to
    // acquire. A thread that does not own the lock does not read the key
    // before its compare-and-swap: the line would come to it shared and
    // then again exclusive, two transfers from the other CPU instead of one.
    const int i = entry(this);
    if (mp->biasowned[i] == this) {
      mp->biasheld[i].store(this, std::memory_order_relaxed);
      std::atomic_signal_fence(std::memory_order_seq_cst);
      if (key_.load(std::memory_order_relaxed) == bias_key(mp)) {
        ++streak_;  // what the bias is worth (revoke)
        return;
      }
      lost_bias(mp, i);
    }
  }
  std::uint32_t v = 0;
  if (!key_.compare_exchange_strong(v, 1, std::memory_order_acquire)) lock_slow(v);
}

// The key tells the two kinds of hold apart: an ordinary holder's is 1
// (2 in Go's protocol), a biased holder's names its M, or is kRevoking when
// someone waits to take the bias away.
inline void BiasedLock::unlock() {
  M* mp = getm();
  if (mp != nullptr && (key_.load(std::memory_order_relaxed) & (kBiased | kRevoking)) != 0) {
    mp->biasheld[entry(this)].store(nullptr, std::memory_order_release);  // a revoker's acquire load sees the critical section
    releasem(mp);
    return;
  }
  unlock_ordinary(mp);
}

}  // namespace gort::rt
