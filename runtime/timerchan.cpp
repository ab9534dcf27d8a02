// Timers as channels: gort::after and gort::Ticker. The timer callback runs
// in the scheduler (on an M's g0, or sysmon's M) and must not block, so it
// sends with a non-blocking send, dropping the value when the channel is full
// (a Ticker's slow reader misses ticks, as in Go).
#include <chrono>
#include <new>
#include <string>

#include "chan_impl.h"
#include "gort/ticker.h"

namespace gort::detail {

using namespace gort::rt;

namespace {

// A non-blocking send that also gives up on a closed channel: unlike Go's
// time.After, whose channel is receive-only, a gort::Chan<time_point> can be
// closed by its holder, and the timer must not panic in the scheduler then.
// The time sent is when the heap was checked (a batch of due timers shares
// one clock read, within microseconds of each firing).
void send_now(ChanCore* c, std::int64_t now_ns) {
  time_point now{std::chrono::nanoseconds(now_ns)};
  chan_offer(c, &now);
}

// after(): the timer lives in its channel's allocation (chan_make_extra).
// The channel's references are its handles'; the allocation goes when both
// the handles and the timer are done with it. Once the last handle goes
// nobody can receive what the timer would send, so a timer that has not
// fired yet is taken off its heap then and the channel freed at once (Go
// 1.23 does the same through its GC; Go 1.19 keeps such a timer until it
// fires). A loop that selects on a fresh after(1s) each time it goes round
// keeps one pending timer, not a second's worth of them, and reuses the
// memory of the last one while it is still in the cache.
struct AfterTimer {
  Timer t;
  ChanCore* c;
  std::atomic<bool> one_done{false};  // the timer has fired or the handles are gone: the other one frees
};
static_assert(alignof(AfterTimer) <= alignof(std::max_align_t), "chan_extra aligns for max_align_t");

void after_free(AfterTimer* a) {
  ChanCore* c = a->c;
  a->~AfterTimer();
  chan_free(c);
}

void after_done(AfterTimer* a) {
  if (a->one_done.exchange(true, std::memory_order_acq_rel)) after_free(a);
}

void after_fire(void* arg, std::int64_t, std::int64_t now) {
  auto* a = static_cast<AfterTimer*>(arg);
  send_now(a->c, now);
  after_done(a);
}

// The last handle went (ChanCore::released).
void after_released(ChanCore* c) {
  auto* a = static_cast<AfterTimer*>(chan_extra(c));
  // deltimer is false once the timer is off its heap: it fired, or
  // checktimers is about to call after_fire.
  if (deltimer(&a->t))
    after_free(a);
  else
    after_done(a);
}

}  // namespace

struct TickerState {
  Timer t;
  ChanCore* c;
  bool armed = false;
};

namespace {
void tick_fire(void* arg, std::int64_t, std::int64_t now) { send_now(static_cast<TickerState*>(arg)->c, now); }
}  // namespace

std::int64_t to_ns_positive(std::chrono::nanoseconds d, const char* what) {
  if (d.count() <= 0) gopanic_message((std::string("non-positive interval for ") + what).c_str());
  return d.count();
}

ChanCore* after_ns(std::int64_t when) {
  ChanCore* c = chan_make_extra(&elem_ops<time_point>, 1, sizeof(AfterTimer));
  c->released = after_released;
  auto* a = new (chan_extra(c)) AfterTimer();
  a->c = c;
  a->t.when = when;
  a->t.f = after_fire;
  a->t.arg = a;
  addtimer(&a->t);
  return c;
}

TickerState* ticker_start(std::int64_t period) {
  auto* s = new TickerState();
  s->c = chan_make(&elem_ops<time_point>, 1);
  s->t.f = tick_fire;
  s->t.arg = s;
  ticker_reset(s, period);
  return s;
}

ChanCore* ticker_chan(TickerState* s) { return s->c; }

void ticker_stop(TickerState* s) {
  if (!s->armed) return;
  deltimer_sync(&s->t);
  s->armed = false;
}

void ticker_reset(TickerState* s, std::int64_t period) {
  ticker_stop(s);
  s->t.period = period;
  s->t.when = nanotime() + period;
  addtimer(&s->t);
  s->armed = true;
}

void ticker_free(TickerState* s) {
  ticker_stop(s);
  chan_unref(s->c);
  delete s;
}

}  // namespace gort::detail
