// inspectee: a long-running gort program with goroutines in every state, for
// the `gort` CLI, its tests, the gdb extension, the SIGQUIT dump and the
// benchmarks to look at.
//
//   inspectee [--goroutines N] [--exit-after SEC] [--help]
//
// Every goroutine is started by a plain named function (gort::go(&spinner)),
// so that its frames and its start read "spinner", "chan_receiver", ...:
//
//   spinner          x2      call-free loop, preempted by signal  running|runnable
//   sleeper          x3      gort::sleep_for(1h) in a loop         sleep
//   mutex_waiter     x3      Mutex::lock on a mutex main holds     sync.Mutex.Lock
//   wg_waiter        x2      WaitGroup::wait that never completes  semacquire
//   chan_receiver    x2+N    receive on a channel nobody sends on  chan receive
//   chan_sender      x2      send on an unbuffered channel         chan send
//   selector         x1      select over two silent channels      select
//   blocking_reader  x1      gort::syscall(read) on an empty pipe  syscall
//   plain_reader     x1      plain read(2) on it: sysmon takes     syscall
//                            the P (blocked-M retake)
//   net_reader       x1      gort::net read of a loopback TCP      IO wait
//                            connection whose peer never writes
//   yielder          x4      gort::gosched() in a loop             running|runnable
//   inspectee_main   x1      main (goroutine 1), holds the mutex   sleep
//
// stdout (line-buffered), machine-readable:
//
//   inspectee pid <PID>
//   expect gomaxprocs <n>
//   expect <function> <count> <state>     one per row above; states separated by |
//   expect goroutines <total>             every user goroutine, main included
//   ready
//
// `ready` comes only when every goroutine has reached its state as the
// runtime itself sees it: main stops the world and counts the goroutines by
// status and wait reason (gort::for_each_g), and polls until the counts are
// those expected. The program then runs until it is killed, or until
// --exit-after SEC (from start-up; a fraction is allowed) have passed, when it
// exits with status 0. If the states are not reached within 60 s (or by the
// --exit-after deadline), it says which count is wrong on stderr and exits 1:
// it never hangs without saying why (a watchdog thread covers the case where
// main cannot run at all: no asynchronous preemption for the spinners).
#include <gort/gort.h>
#include <gort/preempt.h>

#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>

// The role functions keep their names in traces and symbol tables: never
// inlined, and (GCC) never cloned into `spinner.constprop.0` or the like.
#if defined(__clang__)
#define ROLE __attribute__((noinline))
#else
#define ROLE __attribute__((noipa))
#endif
// After a role's last call: the call is then not a tail call (a jump), and
// the role's own frame stays on the stack under it.
#define KEEP_FRAME() asm volatile("" ::: "memory")

namespace {

constexpr int kSpinners = 2;
constexpr int kSleepers = 3;
constexpr int kMutexWaiters = 3;
constexpr int kWgWaiters = 2;
constexpr int kChanReceiversBase = 2;
constexpr int kChanSenders = 2;
constexpr int kSelectors = 1;
constexpr int kBlockingReaders = 1;
constexpr int kPlainReaders = 1;
constexpr int kNetReaders = 1;
constexpr int kYielders = 4;

// Shared by the goroutines. Allocated once and never freed: goroutines are
// still parked on these when main returns and the process exits.
struct World {
  gort::Mutex mu;  // held by main forever
  gort::WaitGroup wg;  // add(1), never done
  gort::Chan<int> recv_ch = gort::make_chan<int>();  // nobody sends
  gort::Chan<int> send_ch = gort::make_chan<int>();  // unbuffered, nobody receives
  gort::Chan<int> sel_a = gort::make_chan<int>();
  gort::Chan<int> sel_b = gort::make_chan<int>();
  int pipe_rd = -1;  // nobody writes; the write end stays open (no EOF)
  int pipe_wr = -1;
  gort::net::Conn net_client, net_server;  // a loopback connection; nobody writes
};
World* world;

// Each goroutine counts itself here just before it blocks; main waits for
// these before it asks the runtime (a goroutine that has not even started
// is not worth a stop of the world).
std::atomic<int> arrived{0};

std::atomic<bool> stop{false};  // never set: the loops end only with the process
std::atomic<bool> is_ready{false};

constexpr auto kReadyTimeout = std::chrono::seconds(60);

}  // namespace

// A loop without a single call: only a signal can take its P back. Under
// ThreadSanitizer the runtime sends no preemption signals (TSan delivers
// them late, in its own context), so there the loop has a yield point:
// without one the spinners would keep both Ps and main would never run.
#if defined(__SANITIZE_THREAD__)
#define SPIN_YIELD_POINT() GORT_YIELD_POINT()
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)  // clang's spelling
#define SPIN_YIELD_POINT() GORT_YIELD_POINT()
#endif
#endif
#ifndef SPIN_YIELD_POINT
#define SPIN_YIELD_POINT() (void)0
#endif
ROLE void spinner() {
  arrived.fetch_add(1);
  std::uint64_t counter = 0;
  while (!stop.load(std::memory_order_relaxed)) {
    counter++;
    SPIN_YIELD_POINT();
  }
  std::printf("%llu\n", static_cast<unsigned long long>(counter));  // not reached; keeps the loop
}

ROLE void sleeper() {
  arrived.fetch_add(1);
  for (;;) gort::sleep_for(std::chrono::hours(1));
}

ROLE void mutex_waiter() {
  arrived.fetch_add(1);
  world->mu.lock();  // main holds it forever
  world->mu.unlock();
  KEEP_FRAME();
}

ROLE void wg_waiter() {
  arrived.fetch_add(1);
  world->wg.wait();
  KEEP_FRAME();
}

ROLE void chan_receiver() {
  arrived.fetch_add(1);
  world->recv_ch.recv();
  KEEP_FRAME();
}

ROLE void chan_sender() {
  arrived.fetch_add(1);
  world->send_ch.send(1);
  KEEP_FRAME();
}

ROLE void selector() {
  arrived.fetch_add(1);
  gort::select(gort::on_recv(world->sel_a), gort::on_recv(world->sel_b));
  KEEP_FRAME();
}

ROLE void blocking_reader() {
  arrived.fetch_add(1);
  char buf[64];
  for (;;) {
    ssize_t n = gort::syscall([&] { return ::read(world->pipe_rd, buf, sizeof buf); });
    if (n == 0) break;  // cannot happen: we hold the write end
  }
}

// Blocks its thread without telling gort: sysmon sees the thread stand
// still while the yielders wait, and takes its P (runtime/blockretake.cpp).
ROLE void plain_reader() {
  arrived.fetch_add(1);
  char buf[64];
  for (;;) {
    ssize_t n = ::read(world->pipe_rd, buf, sizeof buf);
    if (n == 0) break;  // cannot happen: we hold the write end
  }
  KEEP_FRAME();
}

// Parks in the netpoller: the thread is free, the goroutine waits "IO wait".
ROLE void net_reader() {
  arrived.fetch_add(1);
  char buf[64];
  while (world->net_client.read(buf, sizeof buf) != 0) {
  }
  KEEP_FRAME();
}

ROLE void yielder() {
  arrived.fetch_add(1);
  for (;;) gort::gosched();
}

namespace {

struct Options {
  int goroutines = 0;
  double exit_after = -1;  // seconds; < 0: run until killed
};

void usage(std::FILE* f) {
  std::fprintf(f,
               "usage: inspectee [--goroutines N] [--exit-after SEC]\n"
               "  --goroutines N    N more goroutines parked in a channel receive (default 0)\n"
               "  --exit-after SEC  exit with status 0 SEC seconds after start-up (default: run until killed)\n"
               "GOMAXPROCS from the environment. Prints its pid, what to expect, and `ready`.\n");
}

// --name VALUE or --name=VALUE.
bool option_value(int argc, char** argv, int* i, const char* name, const char** value) {
  std::size_t len = std::strlen(name);
  const char* a = argv[*i];
  if (std::strncmp(a, name, len) != 0) return false;
  if (a[len] == '=') {
    *value = a + len + 1;
    return true;
  }
  if (a[len] != '\0') return false;
  if (*i + 1 >= argc) {
    std::fprintf(stderr, "inspectee: %s needs a value\n", name);
    std::exit(2);
  }
  *value = argv[++*i];
  return true;
}

Options options;

Options parse(int argc, char** argv) {
  Options o;
  for (int i = 1; i < argc; ++i) {
    const char* v = nullptr;
    char* end = nullptr;
    if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
      usage(stdout);
      std::exit(0);
    } else if (option_value(argc, argv, &i, "--goroutines", &v)) {
      long n = std::strtol(v, &end, 10);
      if (end == v || *end != '\0' || n < 0 || n > 10'000'000) {
        std::fprintf(stderr, "inspectee: --goroutines: not a count: %s\n", v);
        std::exit(2);
      }
      o.goroutines = static_cast<int>(n);
    } else if (option_value(argc, argv, &i, "--exit-after", &v)) {
      double s = std::strtod(v, &end);
      if (end == v || *end != '\0' || !(s >= 0) || !std::isfinite(s)) {
        std::fprintf(stderr, "inspectee: --exit-after: not a number of seconds: %s\n", v);
        std::exit(2);
      }
      o.exit_after = s;
    } else {
      std::fprintf(stderr, "inspectee: unknown argument: %s\n", argv[i]);
      usage(stderr);
      std::exit(2);
    }
  }
  return o;
}

// What the runtime must show before `ready`: goroutines by status or wait
// reason (main, the caller, is running while it counts, and not counted).
struct Census {
  int sleep = 0, mutex = 0, semacquire = 0, chan_receive = 0, chan_send = 0, select = 0, syscall = 0, io_wait = 0;
  int total = 0;
  bool operator==(const Census&) const = default;
};

Census take_census() {
  Census c;
  gort::WorldStopped stopped("inspectee census");
  gort::for_each_g([&](const gort::GInfo& g) {
    c.total++;
    if (g.self) return;
    std::string r = g.wait_reason;
    if (g.status == 3) c.syscall++;
    else if (r == "sleep") c.sleep++;
    else if (r == "sync.Mutex.Lock") c.mutex++;
    else if (r == "semacquire") c.semacquire++;
    else if (r == "chan receive") c.chan_receive++;
    else if (r == "chan send") c.chan_send++;
    else if (r == "select") c.select++;
    else if (r == "IO wait") c.io_wait++;
  });
  return c;
}

void print_census(const char* what, const Census& c) {
  std::fprintf(stderr,
               "inspectee: %s: sleep=%d sync.Mutex.Lock=%d semacquire=%d chan receive=%d chan send=%d select=%d "
               "syscall=%d IO wait=%d goroutines=%d\n",
               what, c.sleep, c.mutex, c.semacquire, c.chan_receive, c.chan_send, c.select, c.syscall, c.io_wait, c.total);
}

}  // namespace

// Goroutine 1: starts the others, holds the mutex, waits until they are all
// where they should be, says `ready`, and sleeps.
ROLE int inspectee_main() {
  const Options& o = options;
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  const bool bounded = o.exit_after >= 0;
  const auto exit_at = started + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.exit_after));
  const auto give_up = bounded ? std::min(exit_at, started + kReadyTimeout) : started + kReadyTimeout;

  const int receivers = kChanReceiversBase + o.goroutines;
  const int total = kSpinners + kSleepers + kMutexWaiters + kWgWaiters + receivers + kChanSenders + kSelectors +
                    kBlockingReaders + kPlainReaders + kNetReaders + kYielders + 1;

  std::printf("inspectee pid %d\n", static_cast<int>(getpid()));
  std::printf("expect gomaxprocs %d\n", gort::gomaxprocs(0));
  std::printf("expect spinner %d running|runnable\n", kSpinners);
  std::printf("expect sleeper %d sleep\n", kSleepers);
  std::printf("expect mutex_waiter %d sync.Mutex.Lock\n", kMutexWaiters);
  std::printf("expect wg_waiter %d semacquire\n", kWgWaiters);
  std::printf("expect chan_receiver %d chan receive\n", receivers);
  std::printf("expect chan_sender %d chan send\n", kChanSenders);
  std::printf("expect selector %d select\n", kSelectors);
  std::printf("expect blocking_reader %d syscall\n", kBlockingReaders);
  std::printf("expect plain_reader %d syscall\n", kPlainReaders);
  std::printf("expect net_reader %d IO wait\n", kNetReaders);
  std::printf("expect yielder %d running|runnable\n", kYielders);
  std::printf("expect inspectee_main 1 sleep\n");
  std::printf("expect goroutines %d\n", total);

  world = new World;
  int fds[2];
  if (pipe(fds) != 0) {
    std::perror("inspectee: pipe");
    return 1;
  }
  world->pipe_rd = fds[0];
  world->pipe_wr = fds[1];
  world->mu.lock();
  world->wg.add(1);
  {
    gort::net::Listener ln = gort::net::listen("tcp", "127.0.0.1:0");
    world->net_client = gort::net::dial("tcp", ln.addr());
    world->net_server = ln.accept();
    ln.close();
  }

  for (int i = 0; i < kSleepers; ++i) gort::go(&sleeper);
  for (int i = 0; i < kMutexWaiters; ++i) gort::go(&mutex_waiter);
  for (int i = 0; i < kWgWaiters; ++i) gort::go(&wg_waiter);
  for (int i = 0; i < receivers; ++i) gort::go(&chan_receiver);
  for (int i = 0; i < kChanSenders; ++i) gort::go(&chan_sender);
  for (int i = 0; i < kSelectors; ++i) gort::go(&selector);
  for (int i = 0; i < kBlockingReaders; ++i) gort::go(&blocking_reader);
  for (int i = 0; i < kPlainReaders; ++i) gort::go(&plain_reader);
  for (int i = 0; i < kNetReaders; ++i) gort::go(&net_reader);
  for (int i = 0; i < kYielders; ++i) gort::go(&yielder);
  for (int i = 0; i < kSpinners; ++i) gort::go(&spinner);

  const Census want{.sleep = kSleepers,
                    .mutex = kMutexWaiters,
                    .semacquire = kWgWaiters,
                    .chan_receive = receivers,
                    .chan_send = kChanSenders,
                    .select = kSelectors,
                    .syscall = kBlockingReaders + kPlainReaders,
                    .io_wait = kNetReaders,
                    .total = total};
  // First every goroutine has started and is about to block, then the
  // runtime agrees that each has blocked where it should.
  while (arrived.load() < total - 1) {
    if (clock::now() > give_up) {
      std::fprintf(stderr, "inspectee: not ready: %d of %d goroutines started\n", arrived.load(), total - 1);
      return 1;
    }
    gort::sleep_for(std::chrono::milliseconds(1));
  }
  for (;;) {
    Census c = take_census();
    if (c == want) break;
    if (clock::now() > give_up) {
      print_census("not ready, have", c);
      print_census("want", want);
      return 1;
    }
    gort::sleep_for(std::chrono::milliseconds(1));
  }
  std::printf("ready\n");
  is_ready.store(true);

  if (bounded) {
    gort::sleep_until(exit_at);
    return 0;
  }
  for (;;) gort::sleep_for(std::chrono::hours(1));
}

namespace {

// The spinners need asynchronous preemption: without it (GORTDEBUG=
// asyncpreemptoff=1; a TSan build has a yield point instead) they keep every P at GOMAXPROCS <= 2 and
// main never runs again, not even to give up. This thread, outside the
// runtime, ends the process then: not ready in time, or --exit-after passed
// (plus a grace for main to end it properly).
void watchdog(Options o) {
  using clock = std::chrono::steady_clock;
  const auto started = clock::now();
  const auto exit_at = started + std::chrono::duration_cast<clock::duration>(std::chrono::duration<double>(o.exit_after)) +
                       std::chrono::seconds(1);
  for (;;) {
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
    auto now = clock::now();
    if (!is_ready.load() && now > started + kReadyTimeout + std::chrono::seconds(1)) {
      std::fprintf(stderr, "inspectee: not ready after %lld s: main does not run (is asynchronous preemption off?)\n",
                   static_cast<long long>(std::chrono::duration_cast<std::chrono::seconds>(kReadyTimeout).count()));
      _exit(1);
    }
    if (o.exit_after >= 0 && now > exit_at) {
      std::fprintf(stderr, "inspectee: main did not end the program at --exit-after; exiting from the watchdog\n");
      std::fflush(stdout);
      _exit(is_ready.load() ? 0 : 1);
    }
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::setvbuf(stdout, nullptr, _IOLBF, 0);  // a reader waits for each line, `ready` above all
  options = parse(argc, argv);
  std::thread(watchdog, options).detach();
  int rc = gort::run(inspectee_main);
  // Goroutines are still parked on world's objects, and spinners still run:
  // leave without static destructors, as a Go program's exit does.
  std::fflush(stdout);
  std::fflush(stderr);
  _exit(rc);
}
