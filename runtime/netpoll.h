// The netpoller's interface (Go's netpoll.go, the poll_runtime_* functions
// that internal/poll calls): gort::net (net/) and the scheduler use it.
#pragma once

#include <cstdint>

namespace gort {
class Mutex;
}

namespace gort::rt {

struct G;
struct PollDesc;

// Modes, as Go spells them.
inline constexpr int kModeRead = 'r';
inline constexpr int kModeWrite = 'w';
inline constexpr int kModeReadWrite = 'r' + 'w';

// What poll_reset and poll_wait return (Go's pollNoError...).
enum PollErr : int { kPollNoError = 0, kPollErrClosing = 1, kPollErrTimeout = 2 };

// --- for gort::net ----------------------------------------------------------
// Registers fd (non-blocking) with epoll for its lifetime: edge-triggered,
// read and write. nullptr and errno set on failure.
PollDesc* poll_open(int fd);
// The fd is about to be closed: unregisters it and returns the descriptor to
// the pool. Call after poll_unblock, when nobody waits on it any more.
void poll_close(PollDesc* pd);
// Before an attempt at I/O in mode: forget readiness seen before (the
// attempt itself finds out) and report closing or an expired deadline.
int poll_reset(PollDesc* pd, int mode);
// The attempt said EAGAIN: wait until fd is ready in mode, closing or the
// deadline. A goroutine parks (wait reason "IO wait"); any other thread
// (a foreign thread, a goroutine inside gort::syscall) waits in poll(2).
int poll_wait(PollDesc* pd, int mode);
// Deadline d in nanotime() nanoseconds for mode; 0: none; in the past:
// expires now (a waiter wakes with kPollErrTimeout).
void poll_set_deadline(PollDesc* pd, std::int64_t d, int mode);
// Closing: every waiter wakes with kPollErrClosing, and so does every later
// poll_reset/poll_wait.
void poll_unblock(PollDesc* pd);
// A user's fd (wait_readable/wait_writable): the descriptor registered for
// fd's current open file, registering it now if it is a new one.
PollDesc* poll_user_fd(int fd);
// The lock of a direction: a direction has room for one parked G, so one
// reader and one writer at a time.
gort::Mutex& poll_mutex(PollDesc* pd, int mode);
// The netpoller has seen the peer hang up (or an error) on it: a state a
// read reports only when asked, not data it consumes. Never cleared.
bool poll_hup(PollDesc* pd);
// The caller is a goroutine that may park (poll_wait parks it, and it
// takes poll_mutex); false: a foreign thread, or inside gort::syscall.
bool poll_can_park();

// --- for the scheduler ------------------------------------------------------
void netpollinit();  // once: schedinit, or the first poll_open
// Gs made ready by I/O, as a list through schedlink (nullptr: none).
// delay < 0: block until something is ready or netpoll_break; 0: do not
// block; > 0: at most that many nanoseconds.
struct GList {
  G* head = nullptr;
  G* tail = nullptr;
  std::int32_t n = 0;
  bool empty() const { return head == nullptr; }
  void push(G* gp);
  G* pop();
};
GList netpoll(std::int64_t delay);
void netpoll_break();  // wakes an M blocked in netpoll
// The M about to block in netpoll (find_runnable, with sched.polling):
// how long to poll without blocking first (0: not at all), and then that
// spin itself: it ends when Gs are ready, when netpoll_break was called
// (a timer moved earlier), when the global queue has work, the world
// stops or the program exits, or after ns. netpoll_idle_end then tells it
// how long the M was idle in all (spin and block) and whether I/O ended
// it; the window adapts from that (netpoll.cpp).
std::int64_t netpoll_spin_window();
GList netpoll_spin(std::int64_t ns);
void netpoll_idle_end(std::int64_t idle_ns, bool io);
// The window's rule: the next window after an idle spell of idle_ns
// (spin and block) under window, which I/O ended (io) or not.
inline constexpr std::int64_t kPollSpinStart = 5'000;
inline constexpr std::int64_t kPollSpinMax = 20'000;
std::int64_t netpoll_spin_next(std::int64_t window, std::int64_t idle_ns, bool io);
// Gs parked in poll_wait: while any, the last idle M blocks in netpoll and
// sysmon polls when nobody has.
std::int32_t netpoll_waiters();
// Makes the Gs runnable (Gwaiting → Grunnable) and queues them: on the
// caller's P if it has one (after giving idle Ps their share through the
// global queue), else on the global queue; starts Ms for idle Ps.
void injectglist(GList list);

}  // namespace gort::rt
