// gort::select: Go's select statement.
//
//   std::size_t i = gort::select(
//       gort::on_recv(jobs, [](std::optional<Job> j) { ... }),   // nullopt: closed
//       gort::on_send(results, r, [] { ... }),
//       gort::on_recv(gort::after(1s), [](auto) { ... }),        // timeout
//       gort::on_default([] { ... }));                           // at most one
//
// Returns the index, in argument order, of the case that ran, after running
// its function. Go's rules: if several cases are ready one is chosen
// uniformly at random; without a default the caller blocks until one is
// ready; nil channels are never ready; select() with no cases blocks forever;
// sending on a closed channel panics.
//
// gort::select(std::span<gort::SelectCase>) is the runtime-sized form (Go's
// reflect.Select): build a vector of cases whose channels are only known at
// run time.
#pragma once

#include <cstddef>
#include <memory>
#include <optional>
#include <span>
#include <tuple>
#include <type_traits>
#include <utility>

#include "gort/chan.h"

namespace gort {

namespace detail {

struct SelCase {
  ChanCore* c;
  void* elem;  // send: the value; receive: storage for it
  bool send;
};
// Go's selectgo: returns the index of the chosen case (into cases) and
// whether a receive got a value, or -1 for the default when !block.
int selectgo(SelCase* cases, int n, bool block, bool* recv_ok);

struct NoOp {
  void operator()() const noexcept {}
};

// How a case holds its channel. A Chan passed as a variable (an lvalue) is
// borrowed: the case refers to the variable, which select reads when it
// runs (as Go's select evaluates its channel expressions then). A copy
// would cost two atomic reference-count updates per case per select, a
// fifth of a select ping-pong. A temporary (on_recv(after(1s))) is moved
// in and owned. The runtime-sized SelectCase always owns (a vector of cases
// may outlive a loop's variables).
template <class T>
struct ChanBorrowed {
  const Chan<T>* p;
  ChanCore* core() const noexcept { return p->core(); }
  Chan<T> owned() const { return *p; }
};
template <class T>
struct ChanOwned {
  Chan<T> ch;
  ChanCore* core() const noexcept { return ch.core(); }
  Chan<T> owned() && { return std::move(ch); }
};

}  // namespace detail

template <class T, class F, class H = detail::ChanOwned<T>>
struct RecvCase {
  H ch;
  F f;
  detail::Slot<T> slot{};
  static constexpr bool is_default = false;
  detail::SelCase sel() { return {ch.core(), slot.get(), false}; }
  void finish(bool ok) {
    if (ok)
      f(slot.take());
    else
      f(std::optional<T>());
  }
  RecvCase<T, F> owned() && { return {{std::move(ch).owned()}, std::move(f)}; }
};

template <class T, class F, class H = detail::ChanOwned<T>>
struct SendCase {
  H ch;
  T value;
  F f;
  static constexpr bool is_default = false;
  detail::SelCase sel() { return {ch.core(), &value, true}; }
  void finish(bool) { f(); }
  SendCase<T, F> owned() && { return {{std::move(ch).owned()}, std::move(value), std::move(f)}; }
};

template <class F>
struct DefaultCase {
  F f;
  static constexpr bool is_default = true;
  void finish(bool) { f(); }
};

// on_recv/on_send with a Chan variable borrow it (the variable must outlive
// the select, as it does when the case is written inside the select call);
// with a temporary they own it.
template <class T, class F>
RecvCase<T, std::decay_t<F>, detail::ChanBorrowed<T>> on_recv(const Chan<T>& ch, F&& f) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>>, "on_recv's function takes std::optional<T>");
  return {{&ch}, std::forward<F>(f)};
}
template <class T, class F>
RecvCase<T, std::decay_t<F>> on_recv(Chan<T>&& ch, F&& f) {
  static_assert(std::is_invocable_v<std::decay_t<F>&, std::optional<T>>, "on_recv's function takes std::optional<T>");
  return {{std::move(ch)}, std::forward<F>(f)};
}
template <class T>
RecvCase<T, void (*)(std::optional<T>), detail::ChanBorrowed<T>> on_recv(const Chan<T>& ch) {
  return {{&ch}, [](std::optional<T>) {}};
}
template <class T>
RecvCase<T, void (*)(std::optional<T>)> on_recv(Chan<T>&& ch) {
  return {{std::move(ch)}, [](std::optional<T>) {}};
}
template <class T, class V, class F>
SendCase<T, std::decay_t<F>, detail::ChanBorrowed<T>> on_send(const Chan<T>& ch, V&& value, F&& f) {
  return {{&ch}, T(std::forward<V>(value)), std::forward<F>(f)};
}
template <class T, class V, class F>
SendCase<T, std::decay_t<F>> on_send(Chan<T>&& ch, V&& value, F&& f) {
  return {{std::move(ch)}, T(std::forward<V>(value)), std::forward<F>(f)};
}
template <class T, class V>
SendCase<T, detail::NoOp, detail::ChanBorrowed<T>> on_send(const Chan<T>& ch, V&& value) {
  return {{&ch}, T(std::forward<V>(value)), {}};
}
template <class T, class V>
SendCase<T, detail::NoOp> on_send(Chan<T>&& ch, V&& value) {
  return {{std::move(ch)}, T(std::forward<V>(value)), {}};
}
template <class F>
DefaultCase<std::decay_t<F>> on_default(F&& f) {
  return {std::forward<F>(f)};
}
inline DefaultCase<detail::NoOp> on_default() { return {{}}; }

template <class... Cases>
std::size_t select(Cases&&... cases) {
  constexpr std::size_t n = sizeof...(Cases);
  constexpr std::size_t ndefault = (std::size_t{std::decay_t<Cases>::is_default} + ... + 0);
  static_assert(ndefault <= 1, "a select has at most one default case");
  constexpr std::size_t nch = n - ndefault;
  if constexpr (n == 0) {
    detail::selectgo(nullptr, 0, true, nullptr);  // blocks forever
    return 0;
  } else {
    auto refs = std::forward_as_tuple(cases...);
    // The channel cases, and for each its argument index.
    detail::SelCase sc[nch ? nch : 1];
    std::size_t argi[nch ? nch : 1];
    std::size_t default_index = n;
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      std::size_t k = 0;
      (
          [&] {
            auto& c = std::get<I>(refs);
            if constexpr (std::decay_t<decltype(c)>::is_default) {
              default_index = I;
            } else {
              sc[k] = c.sel();
              argi[k] = I;
              ++k;
            }
          }(),
          ...);
    }(std::make_index_sequence<n>{});
    bool ok = false;
    int chosen = detail::selectgo(sc, static_cast<int>(nch), ndefault == 0, &ok);
    std::size_t which = chosen < 0 ? default_index : argi[chosen];
    [&]<std::size_t... I>(std::index_sequence<I...>) {
      ((I == which ? (std::get<I>(refs).finish(ok), 0) : 0), ...);
    }(std::make_index_sequence<n>{});
    return which;
  }
}

// A case of any kind, for the runtime-sized select.
class SelectCase {
 public:
  template <class Case, class = std::enable_if_t<!std::is_same_v<std::decay_t<Case>, SelectCase>>>
  SelectCase(Case&& c) {
    if constexpr (std::decay_t<Case>::is_default) {
      impl_ = std::make_unique<Impl<std::decay_t<Case>>>(std::decay_t<Case>(std::forward<Case>(c)));
    } else {
      // Always owning: the vector of cases may outlive the variables.
      auto o = std::decay_t<Case>(std::forward<Case>(c)).owned();
      impl_ = std::make_unique<Impl<decltype(o)>>(std::move(o));
    }
  }
  bool is_default() const { return impl_->is_default(); }
  detail::SelCase sel() { return impl_->sel(); }
  void finish(bool ok) { impl_->finish(ok); }

 private:
  struct Base {
    virtual ~Base() = default;
    virtual bool is_default() const = 0;
    virtual detail::SelCase sel() = 0;
    virtual void finish(bool ok) = 0;
  };
  template <class Case>
  struct Impl final : Base {
    Case c;
    explicit Impl(Case&& x) : c(std::move(x)) {}
    bool is_default() const override { return Case::is_default; }
    detail::SelCase sel() override {
      if constexpr (Case::is_default)
        return {};
      else
        return c.sel();
    }
    void finish(bool ok) override { c.finish(ok); }
  };
  std::unique_ptr<Base> impl_;
};

// Runs one of cases (Go's reflect.Select); returns its index.
std::size_t select(std::span<SelectCase> cases);

}  // namespace gort
