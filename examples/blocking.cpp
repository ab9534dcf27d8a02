// blocking: goroutines that block their thread in code gort never sees.
//
// C++ goroutines call std::mutex::lock and plain read(2). Their thread
// blocks in the kernel while it holds a P, and with Go's rules alone the
// goroutines queued on that P wait for as long as the call does. At
// GOMAXPROCS=1 (both scenarios here) that is forever:
//
//   mutex  A locks a std::mutex and computes; it is preempted while it
//          holds the lock, and keeps it for 30 ms after B has come to
//          lock it. B runs on the only P and blocks in
//          std::mutex::lock: A, queued behind B's blocked thread, can never
//          run to unlock.
//   read   a server goroutine answers requests it reads with plain read(2);
//          the client that writes them (main) is queued on the same P. The
//          first read that finds the pipe empty blocks the only P for good.
//
// gort's sysmon sees a thread that does not run while work waits for its P,
// and takes the P (GORTDEBUG=blockretake, on by default): both finish.
// GORTDEBUG=blockretake=0 turns that off, and this program's watchdog
// reports the hang. GORTDEBUG=blockwarn=1 prints where goroutines block
// their threads, once per call site.
//
//   blocking                  runs each scenario three ways (children)
//   blocking mutex|read [MS]  one scenario, in this process (mutex: A holds
//                             the lock for MS ms, default 30)
//
// A scenario prints one line and exits 0, or 3 if it has not finished
// after 2 s (the watchdog, a thread of its own).
#include <gort/gort.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using Clock = std::chrono::steady_clock;
using namespace std::chrono_literals;

double ms_since(Clock::time_point t) { return std::chrono::duration<double, std::milli>(Clock::now() - t).count(); }

// The watchdog is a thread gort did not make: it runs whatever the
// scheduler does.
void watchdog(const char* what) {
  std::thread([what] {
    std::this_thread::sleep_for(2s);
    const char* gd = std::getenv("GORTDEBUG");
    std::fprintf(stderr, "watchdog: %s has not finished after 2 s: the program hangs%s\n", what,
                 gd && std::strstr(gd, "blockretake=0") ? " (blockretake=0: the only P sits on a blocked thread)" : "");
    std::_Exit(3);
  }).detach();
}

int mutex_scenario(int hold_ms) {
  std::mutex m;
  std::atomic<bool> held{false}, b_locking{false};
  gort::WaitGroup wg;
  wg.add(2);
  gort::go([&] {
    std::unique_lock<std::mutex> g(m);
    held = true;
    // Work, most of it call-free: it holds the P until sysmon preempts it
    // (a 10 ms time slice), and the lock throughout. It goes on until B
    // has come to lock (B runs only once A is preempted: on a loaded
    // machine the first 30 ms may pass before that), then 30 ms more.
    auto spin_until = [](auto done) {
      for (volatile unsigned x = 0; !done();)
        for (int i = 0; i < 100000; ++i) x = x + 1;
    };
    spin_until([&] { return b_locking.load(); });
    auto until = Clock::now() + std::chrono::milliseconds(hold_ms);
    spin_until([&] { return Clock::now() >= until; });
    g.unlock();  // before done(): main then destroys m
    wg.done();
  });
  while (!held) gort::gosched();  // A runs, takes the lock, and is preempted while it holds it
  double waited = 0;
  gort::go([&] {
    auto t0 = Clock::now();
    b_locking = true;
    m.lock();  // blocks this thread: A holds the lock
    waited = ms_since(t0);
    m.unlock();
    wg.done();
  });
  wg.wait();
  std::printf("mutex: B got the std::mutex after %.1f ms (A held it for %d ms more)\n", waited, hold_ms);
  return 0;
}

int read_scenario(int gap_ms) {
  int fds[2];
  if (pipe(fds) != 0) return 1;
  auto replies = gort::make_chan<int>();
  // By value: the server may still run on its thread while main returns.
  gort::go([replies, fd = fds[0]] {
    int req;
    while (::read(fd, &req, sizeof req) == sizeof req) replies.send(2 * req);  // plain read(2)
    replies.close();
  });
  constexpr int kRequests = 50;
  auto t0 = Clock::now();
  long sum = 0;
  for (int i = 1; i <= kRequests; ++i) {
    if (::write(fds[1], &i, sizeof i) != sizeof i) return 1;
    sum += *replies.recv();
    gort::sleep_for(std::chrono::milliseconds(gap_ms));  // requests arrive now and then: the server blocks in read between them
  }
  ::close(fds[1]);
  std::printf("read: %d requests answered (sum %ld) in %.0f ms\n", kRequests, sum, ms_since(t0));
  return 0;
}

int run_child(const char* self, const char* scenario, const char* gortdebug) {
  std::vector<std::string> env;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GORTDEBUG=", 10) != 0 && std::strncmp(*e, "GOMAXPROCS=", 11) != 0) env.emplace_back(*e);
  env.push_back("GOMAXPROCS=1");
  if (gortdebug) env.push_back(std::string("GORTDEBUG=") + gortdebug);
  std::vector<char*> envp;
  for (auto& s : env) envp.push_back(s.data());
  envp.push_back(nullptr);
  char* argv[] = {const_cast<char*>(self), const_cast<char*>(scenario), nullptr};
  pid_t pid;
  if (posix_spawn(&pid, self, nullptr, nullptr, argv, envp.data()) != 0) return -1;
  int st = 0;
  while (waitpid(pid, &st, 0) < 0) {
  }
  return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}

int demo(const char* self) {
  for (const char* scenario : {"mutex", "read"}) {
    for (const char* gd : {"blockretake=0", static_cast<const char*>(nullptr), "blockwarn=1"}) {
      std::printf("\n$ GOMAXPROCS=1%s%s blocking %s\n", gd ? " GORTDEBUG=" : "", gd ? gd : "", scenario);
      std::fflush(stdout);
      int rc = run_child(self, scenario, gd);
      std::printf("(exit status %d)\n", rc);
    }
  }
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return demo(argv[0]);
  std::string what = argv[1];
  // mutex: how long A holds the lock once B waits; read: the gap between
  // requests, which the server spends blocked in read(2).
  const int ms = argc > 2 ? std::atoi(argv[2]) : what == "mutex" ? 30 : 2;
  if ((what != "mutex" && what != "read") || ms < 1 || ms > 1000) {
    std::fprintf(stderr, "usage: blocking [mutex [HOLD_MS (1-1000)] | read [GAP_MS (1-1000)]]\n");
    return 2;
  }
  watchdog(argv[1]);
  return gort::run([&] {
    gort::gomaxprocs(1);
    return what == "mutex" ? mutex_scenario(ms) : read_scenario(ms);
  });
}
