// Run queues: each P's lock-free ring plus runnext, and the global queue.
//
// The ring is single-producer (the P's owner puts at the tail), multi-consumer
// (the owner and thieves take from the head with CAS). A thief copies the Gs
// it wants out of the victim's slots *before* its CAS on runqhead commits the
// theft; if the CAS fails the copies are discarded. This is why slots are read
// with relaxed atomics: a stale read is harmless because it is never used.
// runqtail is stored with release after the slot is written, and thieves load
// it with acquire, so a G is visible before the tail that publishes it.
#include <thread>

#include "runtime2.h"
#include "sanitizer.h"
#include "trace.h"

namespace gort::rt {

namespace {
constexpr std::uint32_t N = kRunqSize;

// PAUSE rounds (of 10) a thief waits before taking a running P's runnext:
// ~24 µs at first (PAUSE is 24 ns on this project's machine), doubling
// while the owner keeps running Gs meanwhile.
constexpr int kStealWaitMin = 100;
constexpr int kStealWaitMax = 1600;
}  // namespace

// Tests only (runq_test): called on every round of that wait, to make the
// owner's moves happen inside it.
void (*runnext_wait_hook)(P* victim) = nullptr;

namespace {

// Grabs a batch of Gs from pp's ring into batch[batch_head..] (a ring of the
// same size). Returns how many. Can be called by any P.
std::uint32_t runqgrab(P* pp, std::atomic<G*>* batch, std::uint32_t batch_head, bool steal_runnext) {
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);  // synchronize with other consumers
    std::uint32_t t = pp->runqtail.load(std::memory_order_acquire);  // synchronize with the producer
    std::uint32_t n = t - h;
    n = n - n / 2;
    if (n == 0) {
      if (steal_runnext) {
        // Try to steal from pp->runnext.
        if (G* next = pp->runnext.load(std::memory_order_relaxed)) {
          M* self = getm();
          if (pp->status.load(std::memory_order_relaxed) == Prunning) {
            // pp is running and its G has just readied next: it is about to
            // block or exit and will run next itself. Give it a moment so
            // that we do not ping-pong the pair between Ps. Go sleeps 3 µs;
            // a sleep here costs ~50 µs of timer slack on Linux, so spin.
            //
            // If pp started a G meanwhile, leave runnext alone: in a
            // ping-pong it alternates between the same two Gs, and the CAS
            // below would take one on an ABA and split the pair. And wait
            // twice as long next time (up to kStealWaitMax): a thief that
            // keeps looking at a busy pair's run queue makes its lines
            // move between CPUs on every message (select ping-pong at
            // GOMAXPROCS=2: 158 -> 136 ns a message with 10x the wait).
            // Work put in pp's ring meanwhile ends the wait: that is
            // stealable now (spawn: a goroutine that makes many). Reading
            // runqtail costs a pair nothing: runnext is all it uses.
            const std::uint32_t runs = pp->runs.load(std::memory_order_relaxed);
            const int wait = self != nullptr && self->stealwait != 0 ? self->stealwait : kStealWaitMin;
            bool ring = false;
            for (int i = 0; i < wait && !ring; ++i) {
              procyield(10);
              if (runnext_wait_hook != nullptr) runnext_wait_hook(pp);
              ring = pp->runqtail.load(std::memory_order_relaxed) != t;
            }
            if (ring) continue;
            if (pp->runs.load(std::memory_order_relaxed) != runs) {
              if (self != nullptr) self->stealwait = std::min(2 * wait, kStealWaitMax);
              return 0;
            }
          }
          if (!pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) continue;
          if (self != nullptr) self->stealwait = kStealWaitMin;
          batch[batch_head % N].store(next, std::memory_order_relaxed);
          return 1;
        }
      }
      return 0;
    }
    if (n > N / 2) continue;  // read inconsistent h and t
    for (std::uint32_t i = 0; i < n; ++i) {
      G* g = pp->runq[(h + i) % N].load(std::memory_order_relaxed);
      batch[(batch_head + i) % N].store(g, std::memory_order_relaxed);
    }
    if (pp->runqhead.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed))
      return n;  // commits the consume
  }
}

// Warms the cache for the Gs the ring will hand out next, in two stages
// (the G must be in the cache before its saved sp can be read without a
// stall): the next G's stack, where the switch pops its registers and its
// code resumes, and the G after it. With many runnable goroutines each G is
// cold when its turn comes (skynet: ~65,000 runnable at once), and the
// current G runs while they load (skynet P=1: 618 -> 485 ms). A G that
// a thief takes in between only makes a prefetch useless: prefetches do
// not fault, and a stale sched.sp only warms the wrong lines. (That read
// races with whoever runs the G meanwhile, ends it and reuses it for a new
// one, which TSan rightly reports; TSan builds go without it.)
void prefetch_next(P* pp, std::uint32_t h, std::uint32_t t) {
  if (!san::kTsan && t - h >= 1) {
    G* gp = pp->runq[h % N].load(std::memory_order_relaxed);
    auto sp = reinterpret_cast<const char*>(__atomic_load_n(&gp->sched.sp, __ATOMIC_RELAXED));
    __builtin_prefetch(sp);
    __builtin_prefetch(sp + 64);
    __builtin_prefetch(sp + 128);
  }
  if (t - h >= 2) {
    G* gp = pp->runq[(h + 1) % N].load(std::memory_order_relaxed);
    __builtin_prefetch(gp);
    __builtin_prefetch(reinterpret_cast<const char*>(gp) + 64);
  }
}

// Put gp and a batch of work from the local ring on the global queue.
// Executed only by the owner P, when its ring is full.
bool runqputslow(P* pp, G* gp, std::uint32_t h, std::uint32_t t) {
  G* batch[N / 2 + 1];
  // First, grab a batch from the local queue.
  std::uint32_t n = t - h;
  n = n / 2;
  if (n != N / 2) fatal("runqputslow: queue is not full");
  for (std::uint32_t i = 0; i < n; ++i) batch[i] = pp->runq[(h + i) % N].load(std::memory_order_relaxed);
  if (!pp->runqhead.compare_exchange_strong(h, h + n, std::memory_order_release, std::memory_order_relaxed))
    return false;
  batch[n] = gp;
  sched.lock.lock();
  globrunqputbatch(batch, static_cast<std::int32_t>(n + 1));
  sched.lock.unlock();
  GORT_TRACE(GORT_TRACE_EV_RUNQ_PUTSLOW, pp->id, n + 1);
  return true;
}
}  // namespace

void runqput(P* pp, G* gp, bool next) {
  if (next) {
    // Kick the old runnext out to the regular run queue.
    G* old = pp->runnext.exchange(gp, std::memory_order_acq_rel);
    if (old == nullptr) return;
    gp = old;
  }
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);  // synchronize with consumers
    std::uint32_t t = pp->runqtail.load(std::memory_order_relaxed);
    if (t - h < N) {
      pp->runq[t % N].store(gp, std::memory_order_relaxed);
      pp->runqtail.store(t + 1, std::memory_order_release);  // makes the item available for consumption
      return;
    }
    if (runqputslow(pp, gp, h, t)) return;
    // the queue is not full, now the put above must succeed
  }
}

G* runqget(P* pp, bool* inherit_time) {
  // If there's a runnext, it's the next G to run: it inherits the time slice.
  G* next = pp->runnext.load(std::memory_order_relaxed);
  // If the CAS fails a thief took it; the ring may still have work.
  if (next && pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) {
    *inherit_time = true;
    return next;
  }
  for (;;) {
    std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
    std::uint32_t t = pp->runqtail.load(std::memory_order_relaxed);
    if (t == h) return nullptr;
    G* gp = pp->runq[h % N].load(std::memory_order_relaxed);
    if (pp->runqhead.compare_exchange_strong(h, h + 1, std::memory_order_release, std::memory_order_relaxed)) {
      *inherit_time = false;
      prefetch_next(pp, h + 1, t);
      return gp;
    }
  }
}

G* runqsteal(P* pp, P* victim, bool steal_runnext) {
  std::uint32_t t = pp->runqtail.load(std::memory_order_relaxed);
  std::uint32_t n = runqgrab(victim, pp->runq, t, steal_runnext);
  if (n == 0) return nullptr;
  GORT_TRACE(GORT_TRACE_EV_STEAL, victim->id, n, pp->id);
  n--;
  G* gp = pp->runq[(t + n) % N].load(std::memory_order_relaxed);
  if (n == 0) return gp;
  std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
  if (t - h + n >= N) fatal("runqsteal: runq overflow");
  pp->runqtail.store(t + n, std::memory_order_release);
  return gp;
}

bool runqempty(P* pp) {
  // Defend against a race where 1) pp has G1 in runnext but runqhead ==
  // runqtail, 2) runqput on pp kicks G1 to the ring, 3) runqget on pp empties
  // runnext. Simply observing runqhead == runqtail and then runnext == nil
  // does not mean the queue is empty.
  for (;;) {
    std::uint32_t head = pp->runqhead.load(std::memory_order_acquire);
    std::uint32_t tail = pp->runqtail.load(std::memory_order_acquire);
    G* next = pp->runnext.load(std::memory_order_acquire);
    if (tail == pp->runqtail.load(std::memory_order_acquire)) return head == tail && next == nullptr;
  }
}

std::uint32_t runqsize(P* pp) {
  std::uint32_t t = pp->runqtail.load(std::memory_order_acquire);
  std::uint32_t h = pp->runqhead.load(std::memory_order_acquire);
  std::uint32_t n = t - h;
  return n > N ? 0 : n;  // a racy read can see head past tail
}

namespace {
// Makes room for n more Gs in the global queue: doubles the ring, unrolling
// it so that the head is at slot 0.
void globrunqreserve(std::uint32_t n) {
  std::uint32_t size = static_cast<std::uint32_t>(sched.runqsize.load(std::memory_order_relaxed));
  if (size + n <= sched.runqcap) return;
  std::uint32_t cap = sched.runqcap ? sched.runqcap : 256;
  while (cap < size + n) cap *= 2;
  G** buf = new G*[cap];
  for (std::uint32_t i = 0; i < size; ++i) buf[i] = sched.runqbuf[(sched.runqhead + i) & (sched.runqcap - 1)];
  delete[] sched.runqbuf;
  sched.runqbuf = buf;
  sched.runqcap = cap;
  sched.runqhead = 0;
}

G*& globrunqslot(std::uint32_t i) { return sched.runqbuf[(sched.runqhead + i) & (sched.runqcap - 1)]; }
}  // namespace

void globrunqput(G* gp) { globrunqputbatch(&gp, 1); }

void globrunqputhead(G* gp) {
  globrunqreserve(1);
  sched.runqhead--;
  globrunqslot(0) = gp;
  sched.runqsize.fetch_add(1, std::memory_order_relaxed);
}

void globrunqputbatch(G* const* gs, std::int32_t n) {
  globrunqreserve(static_cast<std::uint32_t>(n));
  std::uint32_t size = static_cast<std::uint32_t>(sched.runqsize.load(std::memory_order_relaxed));
  for (std::int32_t i = 0; i < n; ++i) globrunqslot(size + static_cast<std::uint32_t>(i)) = gs[i];
  sched.runqsize.fetch_add(n, std::memory_order_relaxed);
}

G* globrunqpeek() { return sched.runqsize.load(std::memory_order_relaxed) != 0 ? globrunqslot(0) : nullptr; }

// Takes a batch from the global queue: one to return, the rest into pp's
// ring. The batch is a fair share (size/gomaxprocs + 1), at most half a ring
// and at most max if max > 0.
G* globrunqget(P* pp, std::int32_t max) {
  std::int32_t size = sched.runqsize.load(std::memory_order_relaxed);
  if (size == 0) return nullptr;
  std::int32_t n = size / gomaxprocs.load(std::memory_order_relaxed) + 1;
  if (n > size) n = size;
  if (max > 0 && n > max) n = max;
  if (n > static_cast<std::int32_t>(N / 2)) n = N / 2;
  sched.runqsize.fetch_sub(n, std::memory_order_relaxed);

  G* gp = globrunqslot(0);
  for (std::int32_t i = 1; i < n; ++i) runqput(pp, globrunqslot(static_cast<std::uint32_t>(i)), false);
  sched.runqhead += static_cast<std::uint32_t>(n);
  return gp;
}

}  // namespace gort::rt
