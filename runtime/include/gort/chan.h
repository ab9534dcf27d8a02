// gort::Chan<T>: Go's channels, for goroutines and for every other thread.
//
//   auto jobs = gort::make_chan<Job>(64);   // buffered; make_chan<T>() is unbuffered
//   jobs.send(job);                          // blocks while full (unbuffered: until received)
//   std::optional<Job> j = jobs.recv();      // nullopt once closed and drained
//   for (Job j : jobs) ...                   // receive until closed
//   jobs.close();
//
// A Chan is a handle with Go's reference semantics: copies name the same
// channel, == compares identity, a default-constructed Chan is the nil
// channel (send and receive block forever). Values still buffered when the
// last handle goes away are destroyed.
//
// Threading contract: any thread may use a channel. A goroutine that blocks
// parks (its M runs other goroutines); a thread that is not a goroutine
// blocks on a futex and wakes the goroutines on the other side as usual.
// Misuse panics as in Go: "send on closed channel", "close of closed
// channel", "close of nil channel".
#pragma once

#include <cstddef>
#include <cstdint>
#include <iterator>
#include <new>
#include <optional>
#include <type_traits>
#include <utility>

namespace gort {

namespace detail {

// How the runtime moves and destroys a T it only knows by address.
struct ElemOps {
  std::size_t size;
  std::size_t align;
  void (*move_construct)(void* dst, void* src);
  void (*destroy)(void* p);
  bool trivial;  // trivially copyable and destructible: the runtime copies the bytes and calls neither
};

// The runtime moves values while it holds the channel's lock and has already
// committed to the hand-off, so a move must not fail: these are noexcept, and
// a move constructor that throws ends the program as a panic at the throw
// (std::terminate → "panic: ..." with its stack), as Go's copies cannot fail.
template <class T>
inline constexpr ElemOps elem_ops = {
    sizeof(T), alignof(T), [](void* d, void* s) noexcept { ::new (d) T(std::move(*static_cast<T*>(s))); },
    [](void* p) noexcept { static_cast<T*>(p)->~T(); },
    std::is_trivially_copyable_v<T> && std::is_trivially_destructible_v<T>};

struct ChanCore;  // Go's hchan: runtime/chan.cpp
ChanCore* chan_make(const ElemOps* ops, std::size_t cap);
void chan_ref(ChanCore* c) noexcept;
void chan_unref(ChanCore* c) noexcept;
// send: the receiver move-constructs its value from *elem.
bool chan_send(ChanCore* c, void* elem, bool block);
// recv: on success a T is constructed in dst (raw storage); returns
// {selected, received}: {true, false} means closed and drained.
std::pair<bool, bool> chan_recv(ChanCore* c, void* dst, bool block);
void chan_close(ChanCore* c);
std::size_t chan_len(const ChanCore* c) noexcept;
std::size_t chan_cap(const ChanCore* c) noexcept;

// Raw storage for one T, for receiving into.
template <class T>
struct Slot {
  alignas(T) unsigned char bytes[sizeof(T)];
  void* get() { return bytes; }
  std::optional<T> take() {
    T* p = std::launder(reinterpret_cast<T*>(bytes));
    std::optional<T> v(std::move(*p));
    p->~T();
    return v;
  }
};

}  // namespace detail

template <class T>
class Chan;
namespace detail {
template <class T>
Chan<T> adopt_chan(ChanCore* c);
}

template <class T>
class Chan {
  static_assert(std::is_move_constructible_v<T>, "a channel's element type must be move-constructible");

 public:
  using value_type = T;

  Chan() noexcept = default;  // the nil channel
  Chan(const Chan& o) noexcept : c_(o.c_) {
    if (c_) detail::chan_ref(c_);
  }
  Chan(Chan&& o) noexcept : c_(std::exchange(o.c_, nullptr)) {}
  Chan& operator=(Chan o) noexcept {
    std::swap(c_, o.c_);
    return *this;
  }
  ~Chan() {
    if (c_) detail::chan_unref(c_);
  }

  // Blocks until a receiver takes v (unbuffered) or there is room in the buffer.
  void send(T v) const { detail::chan_send(c_, &v, true); }
  // Blocks until a value arrives; nullopt once the channel is closed and drained.
  std::optional<T> recv() const {
    detail::Slot<T> slot;
    if (!detail::chan_recv(c_, slot.get(), true).second) return std::nullopt;
    return slot.take();
  }
  void close() const { detail::chan_close(c_); }
  std::size_t len() const noexcept { return detail::chan_len(c_); }
  std::size_t cap() const noexcept { return detail::chan_cap(c_); }

  explicit operator bool() const noexcept { return c_ != nullptr; }
  friend bool operator==(const Chan& a, const Chan& b) noexcept { return a.c_ == b.c_; }

  // for (T v : ch): receive until closed.
  class iterator {
   public:
    using iterator_category = std::input_iterator_tag;
    using value_type = T;
    using difference_type = std::ptrdiff_t;
    using pointer = T*;
    using reference = T&;
    iterator() = default;
    explicit iterator(const Chan* ch) : ch_(ch), cur_(ch->recv()) {}
    T& operator*() { return *cur_; }
    T* operator->() { return &*cur_; }
    iterator& operator++() {
      cur_ = ch_->recv();
      return *this;
    }
    void operator++(int) { ++*this; }
    friend bool operator==(const iterator& a, const iterator& b) { return a.cur_.has_value() == b.cur_.has_value(); }

   private:
    const Chan* ch_ = nullptr;
    std::optional<T> cur_;
  };
  iterator begin() const { return iterator(this); }
  iterator end() const { return iterator(); }

  detail::ChanCore* core() const noexcept { return c_; }

 private:
  template <class U>
  friend Chan<U> make_chan(std::size_t);
  template <class U>
  friend Chan<U> detail::adopt_chan(detail::ChanCore*);
  explicit Chan(detail::ChanCore* c) noexcept : c_(c) {}
  detail::ChanCore* c_ = nullptr;
};

template <class T>
Chan<T> make_chan(std::size_t cap = 0) {
  return Chan<T>(detail::chan_make(&detail::elem_ops<T>, cap));
}

namespace detail {
// Wraps a channel the runtime made (holding one reference) in a handle.
template <class T>
Chan<T> adopt_chan(ChanCore* c) {
  return Chan<T>(c);
}
}  // namespace detail

}  // namespace gort
