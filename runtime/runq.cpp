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
#include "trace.h"

namespace gort::rt {

namespace {
constexpr std::uint32_t N = kRunqSize;

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
          if (pp->status.load(std::memory_order_relaxed) == Prunning) {
            // pp is running and its G has just readied next: it is about to
            // block or exit and will run next itself. Give it a moment so
            // that we do not ping-pong the pair between Ps. Go sleeps 3 µs;
            // a sleep here costs ~50 µs of timer slack on Linux, so spin.
            for (int i = 0; i < 100; ++i) procyield(10);
          }
          if (!pp->runnext.compare_exchange_strong(next, nullptr, std::memory_order_acq_rel)) continue;
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
  // Link the Gs together and put them on the global queue in one go.
  for (std::uint32_t i = 0; i < n; ++i) batch[i]->schedlink = batch[i + 1];
  sched.lock.lock();
  globrunqputbatch(batch[0], batch[n], static_cast<std::int32_t>(n + 1));
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

void globrunqput(G* gp) {
  gp->schedlink = nullptr;
  if (sched.runqtail)
    sched.runqtail->schedlink = gp;
  else
    sched.runqhead = gp;
  sched.runqtail = gp;
  sched.runqsize.fetch_add(1, std::memory_order_relaxed);
}

void globrunqputhead(G* gp) {
  gp->schedlink = sched.runqhead;
  sched.runqhead = gp;
  if (!sched.runqtail) sched.runqtail = gp;
  sched.runqsize.fetch_add(1, std::memory_order_relaxed);
}

void globrunqputbatch(G* head, G* tail, std::int32_t n) {
  tail->schedlink = nullptr;
  if (sched.runqtail)
    sched.runqtail->schedlink = head;
  else
    sched.runqhead = head;
  sched.runqtail = tail;
  sched.runqsize.fetch_add(n, std::memory_order_relaxed);
}

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

  auto pop = [] {
    G* g = sched.runqhead;
    sched.runqhead = g->schedlink;
    if (!sched.runqhead) sched.runqtail = nullptr;
    return g;
  };
  G* gp = pop();
  for (n--; n > 0; n--) runqput(pp, pop(), false);
  return gp;
}

}  // namespace gort::rt
