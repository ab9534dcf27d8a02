// The execution trace recorder: the events of runtime/trace.h into the file
// format of gort/trace_format.h (docs/trace.md).
//
// Hot path. Each thread that records (an M, sysmon, a foreign thread that
// readies a goroutine) owns a Slot, found through one initial-exec TLS
// load, and the Slot owns the buffer being filled. An event is a TSC read
// and a few varints appended to that buffer: no lock, no atomic RMW, no
// shared cache line. A full buffer goes to the writer thread's queue under
// a leaf spin lock (once per 64 KiB) and the thread takes an empty one.
//
// Stopping. trace_stop must collect the half-full buffers of every thread,
// and a thread may be in the middle of appending to its own. The two sides
// are a Dekker pair: the recording thread sets slot.busy, then reads `on`;
// the stopper clears `on`, then reads every slot's busy. Either the stopper
// sees busy (and waits for it to drop) or the thread sees `on` false (and
// records nothing). As in locks_inc (blockretake.cpp), the per-event side
// is only a compiler barrier and the stopper runs membarrier(PRIVATE_
// EXPEDITED), a full barrier on every CPU that runs one of our threads;
// without membarrier both sides fence.
//
// Slots are never freed (a thread may exit while a trace runs; its last
// buffer is collected at stop), so a program that makes many short-lived
// foreign threads that ready goroutines keeps one Slot (64 bytes) per thread.
//
// Clock. The TSC when the kernel uses it as its clocksource (then it is
// invariant and synchronized across CPUs), with RDTSCP where the order
// across threads needs it (event_ticks): the time of a GO_START on one CPU
// is after the queue operation that found the G, which came after the
// GO_READY that put it there. The writer records SYNC pairs (ticks, CLOCK_MONOTONIC)
// with every drain, so the reader converts ticks to ns without trusting an
// advertised frequency. Without a usable TSC, ticks are CLOCK_MONOTONIC ns.
#include "trace.h"
#include "traceback.h"

#include <fcntl.h>
#include <link.h>
#include <sched.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <x86intrin.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <mutex>
#include <string_view>
#include <thread>
#include <vector>

#include "lock.h"
#include "runtime2.h"
#include "sanitizer.h"

namespace gort::rt::trace {

std::atomic<bool> on{false};
std::atomic<int> writer_threads{0};

namespace {

constexpr std::size_t kBufBytes = 64 * 1024;
constexpr std::size_t kMaxEventBytes = 1 + 10 * 5;  // type, delta, at most 4 arguments
// Buffers queued for the writer beyond this (64 MiB) are dropped and
// counted in END as lost: a writer that cannot keep up must not eat memory.
constexpr int kMaxQueued = 1024;

struct Buf {
  Buf* next;
  std::uint32_t m, tid;
  std::uint64_t base;  // ticks of the first event
  std::uint64_t last;  // ticks of the last event
  std::uint64_t nevents;
  std::size_t len;
  std::uint8_t data[kBufBytes];
};

struct Slot {
  std::atomic<std::uint32_t> busy{0};
  std::uint32_t m = GORT_TRACE_NO_M, tid = 0;
  Buf* buf = nullptr;
  Slot* next_all = nullptr;
};

// A leaf lock (nothing is called while it is held): the writer's queue,
// the free buffers and the strings to write. Not rt::Lock: that raises
// m->locks, and an event site would then become a place where the M waits
// out a blocked-thread retake (locks_inc).
class SpinLock {
 public:
  void lock() {
    while (f_.test_and_set(std::memory_order_acquire)) procyield(10);
  }
  void unlock() { f_.clear(std::memory_order_release); }

 private:
  std::atomic_flag f_ = ATOMIC_FLAG_INIT;
};

struct State {
  SpinLock mu;
  Buf* queue_head = nullptr;  // FIFO, for the writer
  Buf* queue_tail = nullptr;
  int queued = 0;
  Buf* free = nullptr;
  std::atomic<Slot*> slots{nullptr};
  std::vector<std::pair<std::uint64_t, std::string>> strings;  // id, text: written by the writer
  std::vector<std::pair<std::uint64_t, std::string>> pending;  // not yet written
  std::uint64_t lost = 0;      // events in dropped buffers
  std::uint64_t recorded = 0;  // events in written buffers
  std::atomic<std::uint32_t> wake{0};  // futex: the writer sleeps on it
  bool stopping = false;
  int fd = -1;
  std::thread writer;
};

// Never destroyed: threads record into it until the process ends.
State& st() {
  static State* s = new State;
  return *s;
}

// The control of trace_start/trace_stop (and of sysmon's service of the
// tool's requests): one at a time.
std::mutex& control() {
  static std::mutex* m = new std::mutex;
  return *m;
}

// The TSC where the scheduler's cputicks() uses it (cputicks.cpp), as of the
// trace's start: a trace started before gort::run keeps nanotime.
bool tsc = false;

inline std::uint64_t ticks() {
  if (tsc) {
    unsigned aux;
    return __rdtscp(&aux);
  }
  return static_cast<std::uint64_t>(nanotime());
}

// RDTSC alone may execute before the instructions ahead of it (it is not
// ordered with loads), so its time may be earlier than the moment the
// thread learned what it records; it cannot be later than a store that
// follows it (stores become visible after RDTSC retires). Events that
// publish something (GO_READY before the G is queued, GO_PARK before it
// can be readied, STW_END before the Ps run) may use it: their time is
// never after the moment another thread acts on them. Events that act on
// something another thread published (GO_START after the queue gave the G,
// PROC_START after the P was handed over, PROC_HANDOFF after the P was seen
// in a system call, STW_BEGIN after the last P stopped, a G back from a
// system call) take RDTSCP, which waits for the
// loads before it: 11 against 23 ns a read on this VM, and most events
// are of the first kind.
inline bool acts_on_published(std::uint8_t type) {
  return type == GORT_TRACE_EV_GO_START || type == GORT_TRACE_EV_PROC_START || type == GORT_TRACE_EV_STW_BEGIN ||
         type == GORT_TRACE_EV_GO_SYSEXIT || type == GORT_TRACE_EV_M_WAKE || type == GORT_TRACE_EV_GO_STATE ||
         type == GORT_TRACE_EV_PROC_HANDOFF;
}

inline std::uint64_t event_ticks(std::uint8_t type) {
  if (tsc && !acts_on_published(type)) return __rdtsc();
  return ticks();
}

thread_local Slot* tls_slot [[gnu::tls_model("initial-exec")]] = nullptr;

Slot* new_slot() {
  Slot* s = new Slot;
  if (M* mp = getm()) s->m = static_cast<std::uint32_t>(mp->id);
  s->tid = static_cast<std::uint32_t>(::syscall(SYS_gettid));
  State& S = st();
  Slot* head = S.slots.load(std::memory_order_relaxed);
  do s->next_all = head;
  while (!S.slots.compare_exchange_weak(head, s, std::memory_order_release, std::memory_order_relaxed));
  return tls_slot = s;
}

Buf* get_buf(Slot* s) {
  State& S = st();
  S.mu.lock();
  Buf* b = S.free;
  if (b) S.free = b->next;
  S.mu.unlock();
  if (!b) b = static_cast<Buf*>(::operator new(sizeof(Buf)));
  b->next = nullptr;
  b->m = s->m;
  b->tid = s->tid;
  b->len = 0;
  b->nevents = 0;
  return b;
}

void wake_writer() {
  State& S = st();
  if (S.wake.exchange(1) == 0) futexwakeup(&S.wake, 1);
}

// Hands b to the writer (or drops it when the writer is far behind).
void queue_buf(Buf* b) {
  State& S = st();
  S.mu.lock();
  if (S.queued >= kMaxQueued) {
    S.lost += b->nevents;
    b->next = S.free;
    S.free = b;
    S.mu.unlock();
    return;
  }
  b->next = nullptr;
  if (S.queue_tail) S.queue_tail->next = b;
  else S.queue_head = b;
  S.queue_tail = b;
  S.queued++;
  S.mu.unlock();
  wake_writer();
}

inline std::uint8_t* put_uvarint(std::uint8_t* p, std::uint64_t v) {
  while (v >= 0x80) {
    *p++ = static_cast<std::uint8_t>(v | 0x80);
    v >>= 7;
  }
  *p++ = static_cast<std::uint8_t>(v);
  return p;
}

// ---- the file ---------------------------------------------------------------

bool write_all(int fd, const void* p, std::size_t n) {
  const char* c = static_cast<const char*>(p);
  while (n > 0) {
    ssize_t w = ::write(fd, c, n);
    if (w < 0 && errno == EINTR) continue;
    if (w <= 0) return false;
    c += w;
    n -= static_cast<std::size_t>(w);
  }
  return true;
}

void put_u32(std::vector<std::uint8_t>& v, std::uint32_t x) {
  for (int i = 0; i < 4; ++i) v.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
}
void put_u64(std::vector<std::uint8_t>& v, std::uint64_t x) {
  for (int i = 0; i < 8; ++i) v.push_back(static_cast<std::uint8_t>(x >> (8 * i)));
}

// A record: kind, u32 length, body.
void record(std::vector<std::uint8_t>& out, std::uint8_t kind, const std::vector<std::uint8_t>& body) {
  out.push_back(kind);
  put_u32(out, static_cast<std::uint32_t>(body.size()));
  out.insert(out.end(), body.begin(), body.end());
}

void sync_record(std::vector<std::uint8_t>& out) {
  std::vector<std::uint8_t> b;
  std::uint64_t t = ticks();
  put_u64(b, t);
  put_u64(b, static_cast<std::uint64_t>(nanotime()));
  record(out, GORT_TRACE_REC_SYNC, b);
}

void string_record(std::vector<std::uint8_t>& out, std::uint64_t id, const std::string& s) {
  std::vector<std::uint8_t> b(10);
  b.resize(static_cast<std::size_t>(put_uvarint(b.data(), id) - b.data()));
  b.insert(b.end(), s.begin(), s.end());
  record(out, GORT_TRACE_REC_STRING, b);
}

int add_module(dl_phdr_info* info, std::size_t, void* arg) {
  auto* out = static_cast<std::vector<std::uint8_t>*>(arg);
  std::string path = info->dlpi_name ? info->dlpi_name : "";
  if (path.empty()) {  // the executable
    char exe[4096];
    ssize_t n = ::readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n <= 0) return 0;
    path.assign(exe, static_cast<std::size_t>(n));
  }
  if (path[0] != '/') return 0;  // the vDSO
  std::vector<std::uint8_t> b;
  put_u64(b, info->dlpi_addr);
  b.insert(b.end(), path.begin(), path.end());
  record(*out, GORT_TRACE_REC_MODULE, b);
  return 0;
}

// What the file starts with: header, a SYNC, the wait reasons, the modules.
std::vector<std::uint8_t> preamble() {
  const std::string_view magic = GORT_TRACE_MAGIC;
  std::vector<std::uint8_t> out(magic.begin(), magic.end());
  put_u32(out, GORT_TRACE_VERSION);
  put_u32(out, tsc ? GORT_TRACE_FLAG_TSC : 0);
  // An estimate of the tick rate over ~200 µs; SYNC records make it exact.
  std::uint64_t t0 = ticks();
  std::int64_t n0 = nanotime(), n1;
  do n1 = nanotime();
  while (n1 - n0 < 200'000);
  std::uint64_t t1 = ticks();
  put_u64(out, static_cast<std::uint64_t>(static_cast<double>(t1 - t0) * 1e9 / static_cast<double>(n1 - n0)));
  put_u64(out, t1);
  put_u64(out, static_cast<std::uint64_t>(n1));
  sync_record(out);
  for (int r = 0; r < static_cast<int>(WaitReason::Count); ++r)
    string_record(out, static_cast<std::uint64_t>(r) + 1, waitreason_strings[r]);
  dl_iterate_phdr(add_module, &out);
  return out;
}

// The writer thread: drains the queue into the file until stopped.
void writer_main() {
  State& S = st();
  bool ok = true;
  std::vector<std::uint8_t> out;
  for (;;) {
    S.mu.lock();
    Buf* list = S.queue_head;
    S.queue_head = S.queue_tail = nullptr;
    S.queued = 0;
    auto strings = std::move(S.pending);
    S.pending.clear();
    const bool stopping = S.stopping;
    S.mu.unlock();
    out.clear();
    for (auto& [id, s] : strings) string_record(out, id, s);
    std::uint64_t n = 0;
    for (Buf* b = list; b; b = b->next) {
      out.push_back(GORT_TRACE_REC_BATCH);
      put_u32(out, static_cast<std::uint32_t>(16 + b->len));
      put_u32(out, b->m);
      put_u32(out, b->tid);
      put_u64(out, b->base);
      out.insert(out.end(), b->data, b->data + b->len);
      n += b->nevents;
    }
    if (list) sync_record(out);
    if (ok && !out.empty()) ok = write_all(S.fd, out.data(), out.size());
    S.mu.lock();
    S.recorded += n;
    while (list) {
      Buf* next = list->next;
      list->next = S.free;
      S.free = list;
      list = next;
    }
    const bool more = S.queue_head != nullptr || !S.pending.empty();
    S.mu.unlock();
    if (stopping && !more) break;
    if (!more) {
      // Sleep until queue_buf or stop: wake is 1 when there is news.
      if (S.wake.exchange(0) == 0) futexsleep(&S.wake, 0, -1);
    }
  }
  out.clear();
  sync_record(out);
  std::vector<std::uint8_t> end;
  put_u64(end, S.lost);
  put_u64(end, S.recorded);
  record(out, GORT_TRACE_REC_END, end);
  if (ok) ok = write_all(S.fd, out.data(), out.size());
  if (!ok) fdprintf(2, "gort: trace: writing the trace failed: %s\n", std::strerror(errno));
  ::close(S.fd);
  S.fd = -1;
}

// The stopper's half of the Dekker pair (see the top of the file), after
// its seq_cst store of `on`: without membarrier, the recording threads'
// side is seq_cst too and the stopper's seq_cst loads of busy complete it.
void fence_all_threads() {
  if (asymmetric_fence) membarrier_all();
}

}  // namespace

namespace {
// The slot is this thread's until busy is 0 again; returns whether the
// trace is on (the recording thread's half of the Dekker pair above). Also
// orders the slot's buffer against a signal handler's emit_from_signal on
// this thread: the handler saw busy 0 and has finished, or it will see 1.
inline bool enter(Slot* s) {
  if (asymmetric_fence) {
    s->busy.store(1, std::memory_order_relaxed);
    std::atomic_signal_fence(std::memory_order_seq_cst);
    return on.load(std::memory_order_relaxed);
  }
  // Both seq_cst (an XCHG and a load on x86): the store cannot pass the load.
  s->busy.store(1, std::memory_order_seq_cst);
  return on.load(std::memory_order_seq_cst);
}

void put_event(Buf* b, std::uint8_t type, const std::uint64_t* args, int n) {
  // (A buffer's first event reads the clock: its previous one may be far back.)
  const bool same_instant = (type & kSameInstant) != 0 && b->nevents != 0;
  type &= static_cast<std::uint8_t>(~kSameInstant);
  const std::uint64_t t = same_instant ? b->last : event_ticks(type);
  std::uint8_t* p = b->data + b->len;
  *p++ = type;
  if (b->nevents == 0) b->base = b->last = t;
  // A TSC read on another CPU after a migration may be a little behind
  // this thread's last one: deltas are unsigned, so clamp.
  p = put_uvarint(p, t > b->last ? t - b->last : 0);
  if (t > b->last) b->last = t;
  for (int i = 0; i < n; ++i) p = put_uvarint(p, args[i]);
  b->len = static_cast<std::size_t>(p - b->data);
  b->nevents++;
}
}  // namespace

void emit_slow(std::uint8_t type, const std::uint64_t* args, int n) noexcept {
  Slot* s = tls_slot;
  if (__builtin_expect(s == nullptr, 0)) s = new_slot();
  if (enter(s)) {
    Buf* b = s->buf;
    if (b == nullptr || b->len + kMaxEventBytes > kBufBytes) {
      if (b) queue_buf(b);
      b = s->buf = get_buf(s);
    }
    put_event(b, type, args, n);
  }
  s->busy.store(0, std::memory_order_release);
}

// Only into the buffer the thread has, if there is room: getting another
// takes a lock the interrupted code may hold. Not into a slot that is busy:
// the handler interrupted this thread's own emit_slow. Such an event is
// lost; the thread's next emit_slow goes on as if it had never been tried.
void emit_from_signal(std::uint8_t type, const std::uint64_t* args, int n) noexcept {
  Slot* s = tls_slot;
  if (s == nullptr || s->busy.load(std::memory_order_relaxed) != 0) return;
  if (enter(s)) {
    Buf* b = s->buf;
    if (b != nullptr && b->len + kMaxEventBytes <= kBufBytes) put_event(b, type, args, n);
  }
  s->busy.store(0, std::memory_order_release);
}

std::uint64_t reason_id(const char* reason) noexcept {
  State& S = st();
  S.mu.lock();
  std::uint64_t id = 0;
  for (auto& [i, s] : S.strings)
    if (s == reason) id = i;
  if (id == 0) {
    id = static_cast<std::uint64_t>(WaitReason::Count) + 1 + S.strings.size();
    S.strings.emplace_back(id, reason);
    S.pending.emplace_back(id, reason);
  }
  S.mu.unlock();
  return id;
}

namespace {
// A trace that starts while goroutines exist (trace_start, gort trace PID)
// begins with what each is doing, so that a goroutine running or blocked
// all along shows from the start and not only from its next event. The
// world keeps running (sysmon serves the tool's request and cannot stop
// it), so a state read here may be stale by the time it is recorded: each
// GO_STATE is timestamped after its G is read, and the reader takes it only
// if no earlier event names that G (trace_format.h).
//
// A G may also end, and its G be reused by newproc, while it is read: the
// fields read are atomics, and a G whose goid changed meanwhile, or that is
// dead by the end, is left out (a seqlock's reader, with goid as the
// sequence; a new goroutine's own GO_CREATE names it).
void record_existing() {
  const std::size_t n = allgs.len.load(std::memory_order_acquire);
  G** gs = allgs.ptr.load(std::memory_order_acquire);
  for (std::size_t i = 0; i < n; ++i) {
    G* gp = gs[i];
    const std::int64_t goid = gp->goid;
    std::uint64_t state, x = GORT_TRACE_NO_P, m = GORT_TRACE_NO_M;
    switch (readgstatus(gp)) {
      case Grunnable:
      case Gpreempted:
        state = GORT_TRACE_GSTATE_RUNNABLE;
        break;
      case Grunning: {
        state = GORT_TRACE_GSTATE_RUNNING;
        M* mp = gp->m;
        P* pp = mp ? static_cast<P*>(mp->p) : nullptr;
        if (mp == nullptr || pp == nullptr) continue;  // between the scheduler's steps: its next event says
        x = static_cast<std::uint64_t>(pp->id);
        m = static_cast<std::uint64_t>(mp->id);
        break;
      }
      case Gsyscall: {
        state = GORT_TRACE_GSTATE_SYSCALL;
        M* mp = gp->m;
        if (mp) m = static_cast<std::uint64_t>(mp->id);
        break;
      }
      case Gwaiting:
        state = GORT_TRACE_GSTATE_WAITING;
        x = static_cast<std::uint64_t>(static_cast<WaitReason>(gp->waitreason)) + 1;  // the preamble's string ids
        break;
      default:  // Gidle, Gdead: not a goroutine now
        continue;
    }
    const std::int64_t parent = gp->parentgoid;
    const std::uintptr_t startpc = gp->startpc;
    const std::uint64_t fnword = gp->fnword;
    // The reads above before the checks below: x86 keeps loads in order,
    // so a compiler barrier does (TSan supports no thread fence).
    std::atomic_signal_fence(std::memory_order_seq_cst);
    if (goid == 0 || gp->goid != goid || readgstatus(gp) == Gdead) continue;
    emit(GORT_TRACE_EV_GO_EXISTING, goid, parent, startpc, fnword);
    emit(GORT_TRACE_EV_GO_STATE, goid, state, x, m);
  }
}
}  // namespace

int start(const char* path, std::string* err) {
  std::lock_guard<std::mutex> g(control());
  State& S = st();
  if (on.load() || S.writer.joinable()) {
    *err = "tracing is already enabled";
    return EBUSY;
  }
  tsc = tsc_ticks;
  int fd = ::open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
  if (fd < 0) {
    int e = errno;
    *err = std::string(path) + ": " + std::strerror(e);
    return e;
  }
  std::vector<std::uint8_t> pre = preamble();
  if (!write_all(fd, pre.data(), pre.size())) {
    int e = errno;
    *err = std::string(path) + ": " + std::strerror(e);
    ::close(fd);
    return e;
  }
  S.mu.lock();
  S.fd = fd;
  S.stopping = false;
  S.lost = S.recorded = 0;
  // Strings registered by an earlier trace go into this file too.
  S.pending = S.strings;
  S.mu.unlock();
  S.wake.store(0);
  writer_threads.store(1);  // before it exists: checkdead must never take it for the program's
  S.writer = std::thread(writer_main);
  on.store(true);
  record_existing();
  return 0;
}

namespace {
bool stop_locked() {
  State& S = st();
  if (!on.exchange(false)) return false;
  fence_all_threads();
  // Every thread now either sees `on` false or is visible as busy: wait
  // for those to finish their event, then take their buffers.
  for (Slot* s = S.slots.load(std::memory_order_acquire); s; s = s->next_all) {
    while (s->busy.load(std::memory_order_seq_cst) != 0) sched_yield();
    if (Buf* b = s->buf) {
      s->buf = nullptr;
      if (b->nevents) queue_buf(b);
    }
  }
  S.mu.lock();
  S.stopping = true;
  S.mu.unlock();
  wake_writer();
  S.writer.join();
  writer_threads.store(0);
  return true;
}
}  // namespace

bool stop() {
  std::lock_guard<std::mutex> g(control());
  return stop_locked();
}

void stop_for_exit() noexcept {
  // The thread that dies may be the one starting or stopping a trace.
  if (!control().try_lock()) return;
  stop_locked();
  control().unlock();
}

}  // namespace gort::rt::trace
