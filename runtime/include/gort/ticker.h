// Timers as channels (Go's time.After and time.Ticker), on the runtime's
// per-P timer heaps: no thread per timer, and an after() nobody receives from
// goes away with its timer.
#pragma once

#include <chrono>
#include <cstdint>

#include "gort/chan.h"
#include "gort/time.h"

namespace gort {

namespace detail {
struct TickerState;
ChanCore* after_ns(std::int64_t when_ns);
TickerState* ticker_start(std::int64_t period_ns);
ChanCore* ticker_chan(TickerState* t);
void ticker_stop(TickerState* t);
void ticker_reset(TickerState* t, std::int64_t period_ns);
void ticker_free(TickerState* t);
std::int64_t to_ns_positive(std::chrono::nanoseconds d, const char* what);
}  // namespace detail

// A channel that receives the time once d has passed. Never early. Once
// every handle of it is gone (the timeout case of a select that another
// case won), nothing can receive from it: its timer is stopped and the
// channel freed then, not when d has passed.
template <class Rep, class Period>
Chan<time_point> after(std::chrono::duration<Rep, Period> d) {
  auto ns = std::chrono::ceil<std::chrono::nanoseconds>(d).count();
  return detail::adopt_chan<time_point>(detail::after_ns(detail::nanotime() + (ns > 0 ? ns : 0)));
}

// Go's time.Ticker: chan() receives the time every period; a slow receiver
// misses ticks rather than queueing them (the channel holds one).
class Ticker {
 public:
  template <class Rep, class Period>
  explicit Ticker(std::chrono::duration<Rep, Period> d)
      : t_(detail::ticker_start(detail::to_ns_positive(d, "gort::Ticker"))) {}
  Ticker(const Ticker&) = delete;
  Ticker& operator=(const Ticker&) = delete;
  ~Ticker() { detail::ticker_free(t_); }

  Chan<time_point> chan() const {
    detail::ChanCore* c = detail::ticker_chan(t_);
    detail::chan_ref(c);
    return detail::adopt_chan<time_point>(c);
  }
  // No more ticks after stop returns (one may already be in the channel).
  void stop() { detail::ticker_stop(t_); }
  template <class Rep, class Period>
  void reset(std::chrono::duration<Rep, Period> d) {
    detail::ticker_reset(t_, detail::to_ns_positive(d, "gort::Ticker::reset"));
  }

 private:
  detail::TickerState* t_;
};

}  // namespace gort
