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
//   gort_probe deadlock      main waits on a WaitGroup nobody will release
//   gort_probe panic         an exception escapes a goroutine
//   gort_probe go-before-run gort::go before gort::run
//   gort_probe gomaxprocs-before-run
//   gort_probe run-twice     gort::run, then gort::run again on the same thread
#include <gort/gort.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <stdexcept>
#include <string>

namespace {

int usage() {
  std::fprintf(stderr, "usage: gort_probe gomaxprocs|exit N|void|abandon N|deadlock|panic|go-before-run|"
                       "gomaxprocs-before-run|run-twice\n");
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
