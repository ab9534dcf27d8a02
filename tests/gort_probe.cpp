// gort_probe: a tiny gort program the suites start as a child process, for
// what can only be observed from outside a process: GOMAXPROCS read from the
// environment at start-up, the exit status of gort::run, misuse before
// gort::run, and fatal errors seen by a parent without GoogleTest around them.
//
//   gort_probe gomaxprocs    prints the GOMAXPROCS the runtime started with
//   gort_probe exit N        main returns N
//   gort_probe void          a void main that prints "hello" (no newline): exit 0
//   gort_probe abandon N     main returns N while other goroutines are parked,
//                            sleeping and runnable (they are abandoned, as in Go)
//   gort_probe resize-exit   main resizes GOMAXPROCS under Mutex traffic, then
//                            restores it and returns 0 at once
//   gort_probe sleepers-exit main waits for 300 short sleepers, returns 0 at once
//   gort_probe deadlock      main waits on a WaitGroup nobody will release
//   gort_probe panic         an exception escapes a goroutine
//   gort_probe go-before-run gort::go before gort::run
//   gort_probe gomaxprocs-before-run
//   gort_probe run-twice     gort::run, then gort::run again on the same thread
//   gort_probe locked-m0 [exit]  a goroutine locks m0 and parks for good (or, with
//                            exit, ends: m0 is then wedged); main returns 7 from
//                            another thread (m0 must wake up and return)
//   gort_probe sigurg-chain [handler|siginfo]
//                            installs a counting SIGURG handler (sa_handler, or
//                            sa_sigaction with SA_SIGINFO) before gort::run, then
//                            sends itself 5 SIGURGs with kill(2), one at a time,
//                            while a spinner goroutine is preempted by the
//                            runtime's own SIGURGs (run it with GOMAXPROCS=1,
//                            GORTDEBUG=timeslice=1ms); prints "handler calls: N",
//                            "preempted by signal: M" and "slice timer requests: K";
//                            exit 1 if a signal was not delivered in time
//   gort_probe sigquit-handler  installs its own SIGQUIT handler before gort::run
//                            (the runtime must keep it), prints "ready", waits
//                            for the handler to run, prints "handler ran": exit 0
//   gort_probe sigquit-ignored  ignores SIGQUIT before gort::run (a shell's background
//                            job); prints "taken over" if the runtime took it anyway,
//                            then ignores it itself, sends itself one and prints
//                            "survived"
//   gort_probe fault KIND    a goroutine (main sleeping) faults: KIND overflow
//                            (recursion without yield points, into the guard
//                            page), nil (reads address 0), wild (writes to an
//                            unmapped high address), divide (integer / 0), or
//                            foreign (a std::thread reads address 0)
//   gort_probe fault-own-handler  installs its own SIGSEGV handler before
//                            gort::run (it prints "mine" and exits 3), then
//                            a goroutine reads address 0
//   gort_probe sigquit-self  main's first statement sends the process SIGQUIT
//                            (the dump's thread may not have run yet), then
//                            sleeps 10 s and returns 1
//   gort_probe sigquit-spin  a call-free spinner goroutine; prints "ready" once it
//                            spins (run with GORTDEBUG=asyncpreemptoff=1: a
//                            SIGQUIT dump cannot stop it and must not wait for it)
#include <gort/gort.h>
#include <gort/debug.h>
#include <signal.h>
#include <unistd.h>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>
#include <thread>

#include "recurse.h"

namespace {

// sigurg-chain: the program's own SIGURG handler, installed before gort::run.
std::atomic<int> sigurg_calls{0};
void count_sigurg(int) { sigurg_calls.fetch_add(1); }
void count_sigurg_info(int, siginfo_t*, void*) { sigurg_calls.fetch_add(1); }

// sigquit-handler: the program's SIGQUIT handler tells main through a pipe
// (write(2) is async-signal-safe).
int sigquit_pipe[2] = {-1, -1};
void on_sigquit(int) {
  char c = 'q';
  ssize_t rc = write(sigquit_pipe[1], &c, 1);
  (void)rc;
}

long* volatile fault_ptr = nullptr;
volatile int fault_zero = 0;

__attribute__((noinline)) void fault_now(const std::string& kind) {
  if (kind == "overflow") std::printf("%ld\n", probe::recurse(0));
  if (kind == "nil" || kind == "foreign") std::printf("%ld\n", *fault_ptr);
  if (kind == "wild") *reinterpret_cast<volatile long*>(0x7ff0deadbe00L) = 1;
  if (kind == "divide") std::printf("%d\n", 7 / fault_zero);
}

int usage() {
  std::fprintf(stderr, "usage: gort_probe gomaxprocs|exit N|void|abandon N|resize-exit|sleepers-exit|deadlock|panic|go-before-run|"
                       "gomaxprocs-before-run|run-twice|locked-m0|sigurg-chain|exit-statics|fault KIND|fault-own-handler\n");
  return 64;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) return usage();
  std::string cmd = argv[1];
  int n = argc > 2 ? std::atoi(argv[2]) : 0;

  if (cmd == "gomaxprocs") {
    return gort::run([] {
      std::printf("%d\n", gort::gomaxprocs(0));
      return 0;
    });
  }
  if (cmd == "exit") {
    return gort::run([n] { return n; });
  }
  if (cmd == "void") {
    return gort::run([] { std::printf("hello"); });
  }
  if (cmd == "abandon") {
    return gort::run([n] {
      static gort::WaitGroup never;  // outlives main: abandoned goroutines still point at it
      never.add(1);
      for (int i = 0; i < 100; ++i) gort::go([] { never.wait(); });
      for (int i = 0; i < 100; ++i) gort::go([] { gort::sleep_for(std::chrono::hours(1)); });
      for (int i = 0; i < 4; ++i) gort::go([] {
          for (;;) gort::gosched();
        });
      gort::gosched();
      std::printf("main returns %d\n", n);
      return n;
    });
  }
  if (cmd == "exit-statics") {
    // A static whose destructor runs in exit(), after gort::run has
    // returned. It takes 20 ms, long enough for any goroutine still running
    // to see it destroyed: spinners in call-free loops, and goroutines
    // coming back from gort::syscall.
    struct Guard {
      std::atomic<bool> alive{true};
      ~Guard() {
        alive.store(false);
        usleep(20'000);
      }
    };
    static Guard guard;
    return gort::run([] {
      auto check = [] {
        if (!guard.alive.load(std::memory_order_relaxed)) {
          const char msg[] = "a goroutine ran after gort::run returned\n";
          ssize_t rc = write(2, msg, sizeof msg - 1);
          (void)rc;
          _exit(3);
        }
      };
      for (int i = 0; i < 4; ++i) gort::go([check] {
          for (;;) check();
        });
      for (int i = 0; i < 4; ++i) gort::go([check] {
          for (;;) {
            gort::syscall([] { return usleep(500); });
            check();
          }
        });
      gort::sleep_for(std::chrono::milliseconds(5));
      std::printf("main returns\n");
      return 0;
    });
  }
  if (cmd == "resize-exit") {
    return gort::run([] {
      int prev = gort::gomaxprocs(4);
      gort::Mutex mu;
      long counter = 0;
      gort::WaitGroup wg;
      wg.add(64);
      for (int g = 0; g < 64; ++g) {
        gort::go([&, g] {
          for (int i = 0; i < 500; ++i) {
            mu.lock();
            long v = counter;
            if ((i + g) % 7 == 0) gort::gosched();
            counter = v + 1;
            mu.unlock();
            if (i % 3 == 0) gort::gosched();
          }
          wg.done();
        });
      }
      wg.wait();
      gort::gomaxprocs(prev);  // a stop-the-world just before main returns
      return counter == 64 * 500 ? 0 : 1;
    });
  }
  if (cmd == "sleepers-exit") {
    return gort::run([] {
      gort::WaitGroup wg;
      wg.add(300);
      for (int i = 0; i < 300; ++i) {
        gort::go([&wg, i] {
          gort::sleep_for(std::chrono::microseconds((i * 37) % 5000));
          wg.done();
        });
      }
      wg.wait();  // the other Ms are going idle while main returns
      return 0;
    });
  }
  if (cmd == "fault" && argc == 3) {
    std::string kind = argv[2];
    return gort::run([kind] {
      if (kind == "foreign") {
        std::thread([kind] { fault_now(kind); }).join();
      } else {
        gort::go([kind] { fault_now(kind); });
      }
      gort::sleep_for(std::chrono::seconds(10));
      return 1;  // no fault
    });
  }
  if (cmd == "fault-own-handler") {
    signal(SIGSEGV, [](int) {
      static const char msg[] = "mine\n";
      ssize_t rc = write(1, msg, sizeof msg - 1);
      (void)rc;
      _exit(3);
    });
    return gort::run([] {
      gort::go([] { fault_now("nil"); });
      gort::sleep_for(std::chrono::seconds(10));
      return 1;
    });
  }
  if (cmd == "deadlock") {
    return gort::run([] {
      gort::WaitGroup wg;
      wg.add(1);
      wg.wait();
      return 0;
    });
  }
  if (cmd == "panic") {
    return gort::run([] {
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([] { throw std::runtime_error("boom"); });
      wg.wait();  // never released: only the panic ends the program
      return 0;
    });
  }
  if (cmd == "locked-m0") {
    static bool end_locked = argc > 2 && std::string(argv[2]) == "exit";
    return gort::run([] {
      static gort::WaitGroup locked, never;  // outlive main: the locked goroutine is abandoned
      static std::atomic<long> m0_tid{0};
      locked.add(1);
      never.add(1);
      const long main_tid = static_cast<long>(gettid());
      gort::go([] {
        gort::lock_os_thread();
        m0_tid = static_cast<long>(gettid());
        locked.done();
        if (!end_locked) never.wait();
      });
      locked.wait();  // one P: the goroutine ran on main's thread, m0, and locked it
      if (main_tid != static_cast<long>(getpid()) || m0_tid != main_tid) {
        std::printf("setup failed: main_tid=%ld m0_tid=%ld pid=%ld\n", main_tid, m0_tid.load(), static_cast<long>(getpid()));
        return 1;
      }
      if (gettid() == getpid()) {
        std::printf("main still on m0\n");
        return 1;
      }
      std::printf("m0 locked; main on another thread\n");
      return 7;
    });
  }
  if (cmd == "sigurg-chain") {
    struct sigaction sa {};
    if (argc > 2 && std::string(argv[2]) == "siginfo") {
      sa.sa_sigaction = count_sigurg_info;
      sa.sa_flags = SA_SIGINFO | SA_RESTART;
    } else {
      sa.sa_handler = count_sigurg;
      sa.sa_flags = SA_RESTART;
    }
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGURG, &sa, nullptr) != 0) {
      std::perror("sigaction");
      return 1;
    }
    return gort::run([] {
      constexpr int kSignals = 5;
      // Per signal: a cap, so that a lost signal fails instead of hanging.
      // Each yield may give the spinner a whole time slice (1 ms).
      constexpr long kMaxYields = 5'000;
      std::atomic<bool> stop{false};
      gort::WaitGroup wg;
      wg.add(1);
      gort::go([&] {
        // No call, no yield point: only the runtime's SIGURG can stop it.
        while (!stop.load(std::memory_order_relaxed)) {
        }
        wg.done();
      });
      // One P: main runs again only after the spinner was preempted, and
      // the spinner has the P to itself for 20 ms (about 20 time slices).
      gort::sleep_for(std::chrono::milliseconds(20));
      int rc = 0;
      long most_yields = 0;
      for (int i = 1; i <= kSignals && rc == 0; ++i) {
        // One at a time: a second SIGURG sent while the first is still
        // pending would be merged with it.
        kill(getpid(), SIGURG);
        long y = 0;
        while (sigurg_calls.load() < i && y < kMaxYields) {
          gort::gosched();
          ++y;
        }
        if (y > most_yields) most_yields = y;
        if (sigurg_calls.load() < i) {
          std::printf("signal %d was not delivered\n", i);
          rc = 1;
        }
      }
      // More time slices after the last external signal: a runtime SIGURG
      // passed on to the program's handler would show in the count.
      gort::sleep_for(std::chrono::milliseconds(20));
      stop = true;
      wg.wait();
      std::printf("handler calls: %d\n", sigurg_calls.load());
      std::printf("most yields waiting for one: %ld\n", most_yields);
      std::printf("preempted by signal: %llu\n",
                  static_cast<unsigned long long>(gort::debug::sched_stats().preempted_by_signal));
      std::printf("slice timer requests: %llu\n",
                  static_cast<unsigned long long>(gort::debug::sched_stats().slice_timer_requests));
      return rc;
    });
  }
  if (cmd == "sigquit-self") {
    return gort::run([] {
      kill(getpid(), SIGQUIT);
      gort::sleep_for(std::chrono::seconds(10));
      return 1;
    });
  }
  if (cmd == "sigquit-handler") {
    if (pipe(sigquit_pipe) != 0) return 1;
    struct sigaction sa {};
    sa.sa_handler = on_sigquit;
    sa.sa_flags = SA_RESTART;
    sigemptyset(&sa.sa_mask);
    if (sigaction(SIGQUIT, &sa, nullptr) != 0) return 1;
    return gort::run([] {
      std::printf("ready\n");
      std::fflush(stdout);
      char c = 0;
      ssize_t n = gort::syscall([&] { return read(sigquit_pipe[0], &c, 1); });
      if (n != 1) return 1;
      std::printf("handler ran\n");
      return 0;
    });
  }
  if (cmd == "sigquit-ignored") {
    signal(SIGQUIT, SIG_IGN);
    return gort::run([] {
      struct sigaction now {};
      sigaction(SIGQUIT, nullptr, &now);
      if (now.sa_handler != SIG_IGN) std::printf("taken over\n");
      signal(SIGQUIT, SIG_IGN);  // Go's signal.Ignore: the program's word, after start-up
      kill(getpid(), SIGQUIT);   // discarded at once if ignored; else the dump ends us here
      std::printf("survived\n");
      return 0;
    });
  }
  if (cmd == "sigquit-spin") {
    return gort::run([] {
      auto spinning = gort::make_chan<int>(1);
      gort::go([spinning] {
        spinning.send(1);  // buffered: does not block
        // Forever, and the compiler must see that it is: a loop without
        // side effects is one it may assume ends (clang 14 removed one that
        // read a plain flag nothing ever set, and the goroutine returned).
        // An atomic load is a side effect, and no call; under TSan it is
        // instrumented, and TSan runs a signal's handler only there (a
        // process-directed SIGQUIT that lands on this thread would
        // otherwise never be handled).
        static std::atomic<bool> never{false};
        while (!never.load(std::memory_order_relaxed)) asm volatile("");
      });
      spinning.recv();
      // "ready" once main is asleep, not before: a SIGQUIT between the
      // print and the park found main preempted on its way to sleep
      // ([runnable], not [sleep]) on a loaded machine. sleep_for arms its
      // timer only once the goroutine is parked, and it is the program's
      // only timer. (Not stop_the_world and for_each_g: with
      // asyncpreemptoff=1 the spinner never lets the world stop.)
      gort::go([] {
        for (;;) {
          std::size_t timers = 0;
          for (const auto& p : gort::debug::sched_stats().ps) timers += p.timers;
          if (timers > 0) break;
          gort::gosched();
        }
        std::printf("ready\n");
        std::fflush(stdout);
      });
      gort::sleep_for(std::chrono::hours(1));
      return 0;
    });
  }
  if (cmd == "go-before-run") {
    gort::go([] {});
    return 0;
  }
  if (cmd == "gomaxprocs-before-run") {
    gort::gomaxprocs(2);
    return 0;
  }
  if (cmd == "run-twice") {
    gort::run([] {});
    std::printf("first run returned\n");
    std::fflush(stdout);
    gort::run([] {});
    return 0;
  }
  return usage();
}
