// Timers (Go 1.14's design): each P keeps a min-heap of its timers. The M
// running a P runs that P's due timers in find_runnable; a spinning M runs
// another P's due timers when it steals; and when no M has anything to do,
// one of them blocks in the netpoller until the earliest timer of all Ps,
// as in Go. Adding a timer earlier than the
// poller's deadline wakes the poller (netpoll_break), or wakes a P (wakep).
//
// sleep_for parks the G and arms its timer from g0, after the G is parked
// (Go's resetForSleep): the timer can then never fire before the G sleeps.
#include <time.h>

#include <algorithm>

#include "gort/time.h"
#include "netpoll.h"
#include "runtime2.h"
#include "trace.h"

namespace gort::rt {

std::int64_t nanotime() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

std::int64_t nanotime_coarse() noexcept {
  timespec ts;
  clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
  return static_cast<std::int64_t>(ts.tv_sec) * 1000000000 + ts.tv_nsec;
}

namespace {

// The heap is 4-ary, as Go's, and each entry carries its timer's `when`
// (as Go's since 1.23): a sift compares entries without touching the
// timers, which are scattered over the heap memory. A program that makes a
// timer per select (after() that nobody stops) keeps tens of thousands of
// them pending; with pointers only, every level of a sift was a cache miss
// per child (select+after: heap_remove was a fifth of the time).
using Heap = std::vector<TimerEntry>;

void place(Heap& h, std::size_t i, TimerEntry e) {
  h[i] = e;
  e.t->index = static_cast<std::int32_t>(i);
}

void siftup(Heap& h, std::size_t i) {
  const TimerEntry e = h[i];
  while (i > 0) {
    std::size_t parent = (i - 1) / 4;
    if (e.when >= h[parent].when) break;
    place(h, i, h[parent]);
    i = parent;
  }
  place(h, i, e);
}

void siftdown(Heap& h, std::size_t i) {
  const std::size_t n = h.size();
  const TimerEntry e = h[i];
  for (;;) {
    std::size_t c = 4 * i + 1;
    if (c >= n) break;
    std::size_t m = c;  // the earliest of up to four children
    const std::size_t end = std::min(c + 4, n);
    for (std::size_t k = c + 1; k < end; ++k)
      if (h[k].when < h[m].when) m = k;
    if (h[m].when >= e.when) break;
    place(h, i, h[m]);
    i = m;
  }
  place(h, i, e);
}

void update_timer0(P* pp) {
  pp->timer0when.store(pp->timers.empty() ? 0 : pp->timers[0].when, std::memory_order_release);
  pp->ntimers = static_cast<std::uint32_t>(pp->timers.size());
}

// Remove the timer at index i. pp->timerslock held.
void heap_remove(P* pp, std::size_t i) {
  auto& h = pp->timers;
  const TimerEntry last = h.back();
  h.pop_back();
  if (i < h.size()) {
    place(h, i, last);
    siftdown(h, i);
    siftup(h, static_cast<std::size_t>(last.t->index));
  }
}

void heap_add(P* pp, Timer* t) {
  t->pp.store(pp, std::memory_order_release);
  pp->timers.push_back(TimerEntry{t->when, t});
  siftup(pp->timers, pp->timers.size() - 1);
}

}  // namespace

void addtimer(Timer* t) {
  M* mp = getm();
  // Off a P (sysmon, a foreign thread, a system call), timers go to P 0,
  // which always exists. Read once and without m->locks: if a blocked-M
  // retake takes our P meanwhile, the timer is on another M's P, which is
  // fine: the heap is guarded by timerslock, not by ownership.
  P* pp = mp ? static_cast<P*>(mp->p) : nullptr;
  if (pp == nullptr) pp = allp[0];
  pp->timerslock.lock();
  heap_add(pp, t);
  update_timer0(pp);
  // Read under the lock: once it is released the timer may fire, and its G
  // run and rearm it for its next sleep (TSan caught the read after).
  const std::int64_t when = t->when;
  pp->timerslock.unlock();
  timers_wake_poller(when);
}

bool deltimer(Timer* t) {
  for (;;) {
    P* pp = t->pp.load(std::memory_order_acquire);
    if (pp == nullptr) return false;
    pp->timerslock.lock();
    if (t->pp.load(std::memory_order_relaxed) != pp) {  // moved or fired meanwhile
      pp->timerslock.unlock();
      continue;
    }
    heap_remove(pp, static_cast<std::size_t>(t->index));
    t->pp.store(nullptr, std::memory_order_release);
    update_timer0(pp);
    pp->timerslock.unlock();
    return true;
  }
}

void deltimer_sync(Timer* t) {
  deltimer(t);
  while (t->running.load(std::memory_order_acquire) != 0) osyield();
}

std::int64_t checktimers(P* pp, std::int64_t now) {
  std::int64_t next = pp->timer0when.load(std::memory_order_acquire);
  if (next == 0) return 0;
  if (now == 0) now = nanotime();  // only read the clock when there are timers: it is the scheduler's hot path
  if (next > now) return next;
  pp->timerslock.lock();
  while (!pp->timers.empty() && pp->timers[0].when <= now) {
    Timer* t = pp->timers[0].t;
    GORT_TRACE(GORT_TRACE_EV_TIMER, now - t->when);
    heap_remove(pp, 0);
    auto f = t->f;
    void* arg = t->arg;
    std::int64_t seq = t->seq;
    bool periodic = t->period > 0;
    if (periodic) {
      // A periodic timer that fell behind fires once and skips to the next
      // period in the future, as Go's tickers drop ticks for slow readers.
      t->when += t->period * (1 + (now - t->when) / t->period);
      heap_add(pp, t);
      t->running.fetch_add(1, std::memory_order_relaxed);  // its owner may stop and free it meanwhile
    } else {
      t->pp.store(nullptr, std::memory_order_release);
    }
    update_timer0(pp);
    pp->timerslock.unlock();
    f(arg, seq, now);  // must not block: typically goready or a non-blocking send
    // A one-shot timer belongs to its callback once it fires (after() frees
    // its own): do not touch it here.
    if (periodic) t->running.fetch_sub(1, std::memory_order_release);
    pp->timerslock.lock();
  }
  update_timer0(pp);
  next = pp->timer0when.load(std::memory_order_relaxed);
  pp->timerslock.unlock();
  return next;
}

std::int64_t earliest_timer() {
  std::int64_t next = 0;
  std::int32_t n = gomaxprocs.load(std::memory_order_relaxed);
  for (std::int32_t i = 0; i < n; ++i) {
    std::int64_t w = allp[i]->timer0when.load(std::memory_order_acquire);
    if (w != 0 && (next == 0 || w < next)) next = w;
  }
  return next;
}

void moveTimers(P* to, P* from) {
  from->timerslock.lock();
  to->timerslock.lock();
  for (const TimerEntry& e : from->timers) heap_add(to, e.t);
  from->timers.clear();
  update_timer0(from);
  update_timer0(to);
  to->timerslock.unlock();
  from->timerslock.unlock();
}

void timers_wake_poller(std::int64_t when) {
  if (sched.polling.load()) {
    std::int64_t pw = sched.pollwhen.load();
    if (pw == 0 || pw > when) netpoll_break();
  } else {
    wakep();
  }
}

namespace {
void ready_sleeper(void* arg, std::int64_t, std::int64_t) { goready(static_cast<G*>(arg)); }
bool reset_for_sleep(G*, void* t) {
  addtimer(static_cast<Timer*>(t));
  return true;
}
}  // namespace

}  // namespace gort::rt

namespace gort::detail {

std::int64_t nanotime() noexcept { return rt::nanotime(); }

void sleep_until_ns(std::int64_t when) {
  using namespace gort::rt;
  M* mp = getm();
  G* gp = mp ? mp->curg : nullptr;
  if (gp == nullptr || getg() != gp) fatal("gort::sleep_for called off a goroutine");
  if (when <= nanotime()) return;
  if (gp->timer == nullptr) gp->timer = new Timer();
  Timer* t = gp->timer;
  t->when = when;
  t->period = 0;
  t->f = ready_sleeper;
  t->arg = gp;
  gopark(reset_for_sleep, t, WaitReason::Sleep);
}

}  // namespace gort::detail
