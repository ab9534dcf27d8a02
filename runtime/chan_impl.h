// Channel internals shared by chan.cpp and select.cpp (Go's hchan, sudog,
// waitq).
#pragma once

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <cstring>

#include "gort/chan.h"
#include "runtime2.h"

namespace gort::detail {

// One select's shared state: its sudogs race to win it (done 0 → 1) and the
// waker that wins records which one.
struct SelState {
  std::atomic<std::uint32_t> done{0};
  struct Sudog* winner = nullptr;
};

// A waiter on a channel (Go's sudog). It lives on the waiter's stack: a
// parked goroutine's stack never moves in gort, and a blocked thread's frame
// stays put until it is woken. The waker copies what it needs before it
// wakes the waiter, after which the record may be gone.
struct Sudog {
  rt::G* g = nullptr;                         // the waiting goroutine, or
  std::atomic<std::uint32_t>* wake = nullptr;  // the futex word of a waiting thread
  void* elem = nullptr;                        // the value to send, or where to receive
  ChanCore* c = nullptr;
  Sudog* next = nullptr;
  Sudog* prev = nullptr;
  SelState* sel = nullptr;  // non-null for a select's case
  std::uint32_t case_index = 0;
  bool is_send = false;
  bool success = false;  // a value was delivered (false: woken by close)
};

struct WaitQ {
  rt::Racy<Sudog*> first{nullptr};  // read without the lock by the "not ready" fast paths
  Sudog* last = nullptr;

  void enqueue(Sudog* sg) {
    sg->next = nullptr;
    sg->prev = last;
    if (last)
      last->next = sg;
    else
      first = sg;
    last = sg;
  }

  // Takes the first waiter that can still be woken: a select's sudog whose
  // select was already won through another case is dropped on the way.
  Sudog* dequeue() {
    for (;;) {
      Sudog* sg = first;
      if (sg == nullptr) return nullptr;
      first = sg->next;
      if (first)
        first->prev = nullptr;
      else
        last = nullptr;
      sg->next = sg->prev = nullptr;
      if (sg->sel) {
        std::uint32_t zero = 0;
        if (!sg->sel->done.compare_exchange_strong(zero, 1, std::memory_order_acq_rel)) continue;
        sg->sel->winner = sg;
      }
      return sg;
    }
  }

  // Removes sg if it is still queued (a select's losing cases).
  void remove(Sudog* sg) {
    if (sg->prev == nullptr && first != sg) return;  // not queued (already dequeued)
    if (sg->prev)
      sg->prev->next = sg->next;
    else
      first = sg->next;
    if (sg->next)
      sg->next->prev = sg->prev;
    else
      last = sg->prev;
    sg->next = sg->prev = nullptr;
  }
};

// A value's move and destruction. A trivial type's bytes are copied here,
// without a call: two indirect calls (move, destroy) per received value
// were an eighth of a buffered channel operation.
inline void elem_move(const ElemOps* ops, void* dst, void* src) {
  if (!ops->trivial) return ops->move_construct(dst, src);
  switch (ops->size) {
    case 1: std::memcpy(dst, src, 1); return;
    case 2: std::memcpy(dst, src, 2); return;
    case 4: std::memcpy(dst, src, 4); return;
    case 8: std::memcpy(dst, src, 8); return;
    case 16: std::memcpy(dst, src, 16); return;
    default: std::memcpy(dst, src, ops->size);
  }
}
inline void elem_destroy(const ElemOps* ops, void* p) {
  if (!ops->trivial) ops->destroy(p);
}

struct ChanCore {
  std::atomic<long> refs{1};
  const ElemOps* ops;
  std::size_t dataqsiz;                 // buffer capacity
  std::atomic<std::size_t> qcount{0};   // values in the buffer (read without the lock by fast paths)
  unsigned char* buf = nullptr;
  std::size_t sendx = 0, recvx = 0;
  std::atomic<std::uint32_t> closed{0};
  WaitQ recvq, sendq;
  rt::BiasedLock lock;
  // Called instead of chan_free when the last reference goes, for a
  // channel that something else may still use (after(): its timer).
  void (*released)(ChanCore*) = nullptr;

  void* slot(std::size_t i) { return buf + i * ops->size; }
};

// A channel with `extra` bytes of the caller's after its buffer, in the same
// allocation (after(): its timer), aligned for any type; chan_extra finds them.
ChanCore* chan_make_extra(const ElemOps* ops, std::size_t cap, std::size_t extra);
void* chan_extra(ChanCore* c);
// Destroy what is still buffered and free the channel (chan_unref does
// when the last reference goes, unless c->released is set).
void chan_free(ChanCore* c) noexcept;

// The parts of chansend/chanrecv that select shares. All with c->lock held.
void send_direct(ChanCore* c, Sudog* sg, void* ep);   // to a waiting receiver
void recv_direct(ChanCore* c, Sudog* sg, void* ep);   // from a waiting sender
void buf_send(ChanCore* c, void* ep);
void buf_recv(ChanCore* c, void* ep);
void ready(Sudog* sg);  // wake a waiter taken off a queue (without the lock)
// A non-blocking send that returns false (instead of panicking) on a closed
// channel: for senders in the scheduler (timers).
bool chan_offer(ChanCore* c, void* ep);

// Park the current goroutine or thread until ready(sg) or ready on any of
// the select's sudogs; unlock() is called once it is safe to be woken.
void park_waiter(Sudog* sg, void (*unlock)(void*), void* arg, rt::WaitReason reason);
[[noreturn]] void block_forever(rt::WaitReason reason);

}  // namespace gort::detail
