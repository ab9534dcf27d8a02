// A channel's lock: a Lock that one thread can hold over and over without
// a locked instruction (biased locking, as in the JVMs of the 2000s).
//
// Why: a buffered channel operation is a lock and an unlock, and with two
// goroutines on one P (GOMAXPROCS=1, or a producer and consumer that share
// an M for a while) every operation comes from the same thread. The
// compare-and-swap that takes a Lock costs ~6 ns on this project's machine
// (it waits for the store buffer to drain), three fifths of such a send or
// receive. Go pays it too; gort's channels pay it only while threads share.
//
// How: once one M has taken the lock kBiasStreak times in a row (counted
// on the M: count_streak), its unlock stores kBiased|m->id into the key
// instead of 0: the lock now belongs to that M, which notes it in its
// biasowned entry for the lock (one of kBiasSlots, picked by a hash of the
// address). The M enters by publishing the lock's address in the matching
// biasheld slot and reading the key again (a plain store and a load: no
// locked instruction); it leaves by clearing the slot.
//
// Any other thread that wants the lock takes the bias away (revoke): it
// compare-and-swaps the key to kRevoking (so the owner's next entry sees
// it is no longer biased), runs membarrier (which puts a full barrier into
// every running thread of the process), and waits until the owner's slot
// no longer names the lock. The pair is an asymmetric Dekker, the same as
// Lock::unlock's: the owner's store of the slot and its reading of the key
// are kept in order by the revoker's membarrier, so either the owner sees
// kRevoking and backs off, or the revoker sees the slot and waits. The
// revoker then holds the lock as an ordinary one (key 1). A revocation
// doubles the streak that biases the lock again, unless the bias was worth
// it (kBiasPaid biased entries), so a lock passed between threads settles
// as an ordinary lock after a few membarriers (a few µs each here) and
// pays only a compare and the M's streak count for the bookkeeping.
//
// Rules this depends on: a runtime lock is released on the M that took it
// (unlock functions run on the same M, on g0 or on the G switched to); the
// owner's biased hold raises m->locks like any other, so the M is not
// preempted inside it; Ms are never freed (allm keeps them), so a revoker
// may read the slots of an M that has exited. Threads gort did not make
// (no M) take the lock only as an ordinary one, revoking first. Without
// membarrier (old kernels, TSan) no lock is ever biased.
#pragma once

#include <cstdint>

#include "lock.h"

namespace gort::rt {

struct M;

inline constexpr int kBiasSlots = 4;  // locks biased to one M at a time (a hash of the address picks the entry)

class BiasedLock : public Lock {
 public:
  void lock();    // inline: biaslock_inline.h
  void unlock();  // inline: biaslock_inline.h
  bool try_lock() = delete;  // (nothing needs one)

  // For tests: the id of the M the lock is biased to (-1: none), and the
  // streak that biases it next (it doubles with each revocation).
  std::int64_t biased_to() const;
  std::uint32_t streak_needed() const { return streak_needed_; }
  void set_streak_needed(std::uint32_t n) { streak_needed_ = n; }

 private:
  friend class Lock;  // lock_slow calls revoke when it sees kBiased
  static constexpr std::uint32_t kBiasStreak = 64;
  static constexpr std::uint32_t kBiasStreakMax = 1u << 30;
  // Biased entries that pay for a revocation: a membarrier costs a few µs
  // here, a locked instruction saved ~6 ns.
  static constexpr std::uint32_t kBiasPaid = 4096;
  static int entry(const void* lock) { return (reinterpret_cast<std::uintptr_t>(lock) >> 4) & (kBiasSlots - 1); }
  static std::uint32_t bias_key(const M* mp);
  void lost_bias(M* mp, int i);
  bool count_streak(M* mp) const;
  void unlock_ordinary(M* mp);
  bool revoke(std::uint32_t seen);
  // Written while biased by the owner, and by a revoker.
  std::uint32_t streak_ = 0;  // the owner's biased entries: what the bias saved (revoke)
  std::uint32_t streak_needed_ = kBiasStreak;  // ordinary holds in a row by one M that bias the lock to it
};

}  // namespace gort::rt
