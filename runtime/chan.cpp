// Channels (Go's chan.go). One lock per channel; a ring buffer for buffered
// channels; queues of waiting senders and receivers. A sender that finds a
// waiting receiver hands its value straight to it (and the other way round),
// without touching the buffer. Lock-free checks answer "not ready" for
// non-blocking operations without taking the lock.
#include <algorithm>
#include <cstdlib>
#include <cstring>
#include <new>

#include "chan_impl.h"

namespace gort::detail {

using namespace gort::rt;

namespace {
// The channel and its buffer are one allocation, as Go's hchan and buf: a
// malloc and a free less per channel (after() makes one per call). The
// buffer starts at the first multiple of the element's alignment past the
// ChanCore.
std::size_t block_align(const ElemOps* ops) { return std::max(alignof(ChanCore), ops->align); }
std::size_t buf_offset(const ElemOps* ops) {
  const std::size_t a = std::max<std::size_t>(ops->align, 1);
  return (sizeof(ChanCore) + a - 1) / a * a;
}
// Plain operator new where its alignment does (the aligned one is
// posix_memalign, slower than malloc).
void* block_new(std::size_t bytes, std::size_t align) {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__) return ::operator new(bytes);
  return ::operator new(bytes, std::align_val_t(align));
}
void block_delete(void* p, std::size_t align) {
  if (align <= __STDCPP_DEFAULT_NEW_ALIGNMENT__)
    ::operator delete(p);
  else
    ::operator delete(p, std::align_val_t(align));
}

// Where chan_make_extra's extra bytes start: past the buffer, aligned for
// anything.
std::size_t extra_offset(const ElemOps* ops, std::size_t cap) {
  const std::size_t end = cap > 0 ? buf_offset(ops) + cap * ops->size : sizeof(ChanCore);
  constexpr std::size_t a = alignof(std::max_align_t);
  return (end + a - 1) / a * a;
}
}  // namespace

void* chan_extra(ChanCore* c) { return reinterpret_cast<unsigned char*>(c) + extra_offset(c->ops, c->dataqsiz); }

ChanCore* chan_make(const ElemOps* ops, std::size_t cap) { return chan_make_extra(ops, cap, 0); }

ChanCore* chan_make_extra(const ElemOps* ops, std::size_t cap, std::size_t extra) {
  if (cap > (std::size_t{1} << 40) / (ops->size ? ops->size : 1)) gopanic_message("makechan: size out of range");
  const std::size_t bytes = extra > 0 ? extra_offset(ops, cap) + extra
                            : cap > 0 ? buf_offset(ops) + cap * ops->size
                                      : sizeof(ChanCore);
  // (The block is at least max_align_t-aligned either way: the extra bytes' offset is a multiple of it.)
  void* mem = block_new(bytes, block_align(ops));
  auto* c = new (mem) ChanCore();
  c->ops = ops;
  c->dataqsiz = cap;
  if (cap > 0) c->buf = static_cast<unsigned char*>(mem) + buf_offset(ops);
  return c;
}

void chan_ref(ChanCore* c) noexcept { c->refs.fetch_add(1, std::memory_order_relaxed); }

void chan_unref(ChanCore* c) noexcept {
  if (c->refs.fetch_sub(1, std::memory_order_acq_rel) != 1) return;
  if (c->released != nullptr) return c->released(c);
  chan_free(c);
}

void chan_free(ChanCore* c) noexcept {
  // Nobody can reach the channel any more: destroy what is still buffered.
  std::size_t n = c->qcount.load(std::memory_order_relaxed);
  for (std::size_t i = 0; i < n; ++i) elem_destroy(c->ops, c->slot((c->recvx + i) % c->dataqsiz));
  const std::size_t align = block_align(c->ops);
  c->~ChanCore();
  block_delete(c, align);
}

std::size_t chan_len(const ChanCore* c) noexcept { return c ? c->qcount.load(std::memory_order_relaxed) : 0; }
std::size_t chan_cap(const ChanCore* c) noexcept { return c ? c->dataqsiz : 0; }

void send_direct(ChanCore* c, Sudog* sg, void* ep) {
  elem_move(c->ops, sg->elem, ep);
  sg->success = true;
}

// The ring's indices wrap by comparison, not `%`: a 64-bit division is tens
// of cycles, a fifth of a buffered operation. qcount is written only under
// the lock, so a load and a store do (it is atomic for the lock-free
// readers: full, empty, len); a fetch_add would be one more locked
// instruction per value.
inline std::size_t ring_next(const ChanCore* c, std::size_t i) { return i + 1 == c->dataqsiz ? 0 : i + 1; }

void recv_direct(ChanCore* c, Sudog* sg, void* ep) {
  if (c->dataqsiz == 0) {
    elem_move(c->ops, ep, sg->elem);
  } else {
    // The buffer is full (a sender waits): take the value at the head, and
    // put the sender's value in the slot just freed, which is the tail.
    void* s = c->slot(c->recvx);
    elem_move(c->ops, ep, s);
    elem_destroy(c->ops, s);
    elem_move(c->ops, s, sg->elem);
    c->recvx = ring_next(c, c->recvx);
    c->sendx = c->recvx;
  }
  sg->success = true;
}

void buf_send(ChanCore* c, void* ep) {
  elem_move(c->ops, c->slot(c->sendx), ep);
  c->sendx = ring_next(c, c->sendx);
  c->qcount.store(c->qcount.load(std::memory_order_relaxed) + 1, std::memory_order_release);
}

void buf_recv(ChanCore* c, void* ep) {
  void* s = c->slot(c->recvx);
  elem_move(c->ops, ep, s);
  elem_destroy(c->ops, s);
  c->recvx = ring_next(c, c->recvx);
  c->qcount.store(c->qcount.load(std::memory_order_relaxed) - 1, std::memory_order_release);
}

void ready(Sudog* sg) {
  if (sg->g) {
    goready(sg->g);
    return;
  }
  // A thread that is not a goroutine: its futex word. After the store the
  // thread may return and its stack be reused; a wake-up of a reused address
  // is at worst spurious for whoever waits there, which futex users tolerate.
  std::atomic<std::uint32_t>* w = sg->wake;
  w->store(1, std::memory_order_release);
  futexwakeup(w, 1);
}

namespace {
struct UnlockArg {
  void (*unlock)(void*);
  void* arg;
};
}  // namespace

void park_waiter(Sudog* sg, void (*unlock)(void*), void* arg, WaitReason reason) {
  if (sg->g) {
    UnlockArg ua{unlock, arg};
    gopark(
        [](G*, void* p) {
          auto* u = static_cast<UnlockArg*>(p);
          u->unlock(u->arg);
          return true;
        },
        &ua, reason);
    return;
  }
  // The caller set sg->wake (the same word for every sudog of a select).
  std::atomic<std::uint32_t>* w = sg->wake;
  unlock(arg);
  while (w->load(std::memory_order_acquire) == 0) futexsleep(w, 0, -1);
}

void block_forever(WaitReason reason) {
  M* mp = getm();
  if (mp && mp->curg && getg() == mp->curg) {
    gopark(nullptr, nullptr, reason);
    fatal("a goroutine blocked forever was woken");
  }
  park_forever();
}

namespace {
G* current_g() {
  M* mp = getm();
  G* gp = mp ? static_cast<G*>(mp->curg) : nullptr;
  return (gp && getg() == gp) ? gp : nullptr;  // nullptr: a thread that is not running a goroutine
}

void unlock_chan(void* c) { static_cast<ChanCore*>(c)->lock.unlock(); }

// Go's full(): a send would block. Read without the lock: the answer may be
// stale by the time it is used, which is fine for a non-blocking send that
// could have run a moment earlier.
bool full(ChanCore* c) {
  if (c->dataqsiz == 0) return c->recvq.first == nullptr;
  return c->qcount.load(std::memory_order_relaxed) == c->dataqsiz;
}
bool empty(ChanCore* c) {
  if (c->dataqsiz == 0) return c->sendq.first == nullptr;
  return c->qcount.load(std::memory_order_acquire) == 0;
}
}  // namespace

bool chan_send(ChanCore* c, void* ep, bool block) {
  if (c == nullptr) {
    if (!block) return false;
    block_forever(WaitReason::ChanSendNilChan);
  }
  // Fast path: a non-blocking send on an open channel that is not ready.
  // closed is read after full(): a channel that is closed and then becomes
  // "not full" is still reported closed below, under the lock.
  if (!block && c->closed.load(std::memory_order_relaxed) == 0 && full(c)) return false;

  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed) != 0) {
    c->lock.unlock();
    gopanic_message("send on closed channel");
  }
  if (Sudog* sg = c->recvq.dequeue()) {
    send_direct(c, sg, ep);
    c->lock.unlock();
    ready(sg);
    return true;
  }
  if (c->qcount.load(std::memory_order_relaxed) < c->dataqsiz) {
    buf_send(c, ep);
    c->lock.unlock();
    return true;
  }
  if (!block) {
    c->lock.unlock();
    return false;
  }
  Sudog mysg;
  std::atomic<std::uint32_t> word{0};
  mysg.g = current_g();
  mysg.wake = &word;
  mysg.elem = ep;
  mysg.c = c;
  mysg.is_send = true;
  c->sendq.enqueue(&mysg);
  park_waiter(&mysg, unlock_chan, c, WaitReason::ChanSend);
  if (!mysg.success) gopanic_message("send on closed channel");  // closed while we waited
  return true;
}

bool chan_offer(ChanCore* c, void* ep) {
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed) != 0) {
    c->lock.unlock();
    return false;
  }
  if (Sudog* sg = c->recvq.dequeue()) {
    send_direct(c, sg, ep);
    c->lock.unlock();
    ready(sg);
    return true;
  }
  bool room = c->qcount.load(std::memory_order_relaxed) < c->dataqsiz;
  if (room) buf_send(c, ep);
  c->lock.unlock();
  return room;
}

std::pair<bool, bool> chan_recv(ChanCore* c, void* ep, bool block) {
  if (c == nullptr) {
    if (!block) return {false, false};
    block_forever(WaitReason::ChanReceiveNilChan);
  }
  // Fast path: a non-blocking receive that is not ready. The order matters
  // (Go's chanrecv): observe empty, then closed; if closed, re-check empty,
  // since a value may have arrived between the two loads.
  if (!block && empty(c)) {
    if (c->closed.load(std::memory_order_acquire) == 0) return {false, false};
    if (empty(c)) return {true, false};
  }
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed) != 0 && c->qcount.load(std::memory_order_relaxed) == 0) {
    c->lock.unlock();
    return {true, false};
  }
  if (Sudog* sg = c->sendq.dequeue()) {
    recv_direct(c, sg, ep);
    c->lock.unlock();
    ready(sg);
    return {true, true};
  }
  if (c->qcount.load(std::memory_order_relaxed) > 0) {
    buf_recv(c, ep);
    c->lock.unlock();
    return {true, true};
  }
  if (!block) {
    c->lock.unlock();
    return {false, false};
  }
  Sudog mysg;
  std::atomic<std::uint32_t> word{0};
  mysg.g = current_g();
  mysg.wake = &word;
  mysg.elem = ep;
  mysg.c = c;
  c->recvq.enqueue(&mysg);
  park_waiter(&mysg, unlock_chan, c, WaitReason::ChanReceive);
  return {true, mysg.success};
}

void chan_close(ChanCore* c) {
  if (c == nullptr) gopanic_message("close of nil channel");
  c->lock.lock();
  if (c->closed.load(std::memory_order_relaxed) != 0) {
    c->lock.unlock();
    gopanic_message("close of closed channel");
  }
  c->closed.store(1, std::memory_order_release);
  // Take every waiter off the queues under the lock, wake them after it.
  // Receivers get nothing (success = false); senders will panic.
  Sudog* list = nullptr;
  for (WaitQ* q : {&c->recvq, &c->sendq}) {
    while (Sudog* sg = q->dequeue()) {
      sg->success = false;
      sg->next = list;
      list = sg;
    }
  }
  c->lock.unlock();
  while (list) {
    Sudog* sg = list;
    list = sg->next;  // read before ready: sg may be gone after it
    ready(sg);
  }
}

}  // namespace gort::detail
