// tightloop: can the scheduler take a P back from a goroutine that never
// gives it up?
//
// N spinner goroutines, one per P, loop forever. main then sleeps 1 ms and
// measures how long it takes to run again: its timer is due after 1 ms, but
// no P is free to run it until a spinner is preempted. As in Go, the answer
// depends on what the loop looks like and which preemption is on:
//
//                preemptoff=1   asyncpreemptoff=1   (default)
//   with calls   hangs          one time slice      one time slice
//   call-free    hangs          hangs               one time slice
//
// --loop=calls calls a function every iteration. This file is built with
// gort_enable_yield_points, so every function entry is a yield point (Go's
// prologue check) and a preemption request is seen at the next call.
// --loop=nocalls has no call at all in the loop: only a signal (SIGURG,
// asynchronous preemption, Go 1.14) can stop it.
//
//   tightloop --loop=calls|nocalls [--procs=N] [--timeout=MS]
//   tightloop --table [--procs=N] [--runs=R] [--timeout=MS]
//
// A run prints one line and exits 0, or 3 if main did not run again within
// the timeout (default 2000 ms): a watchdog thread notices, since the
// spinners never stop (4: main returned but the program did not exit).
// --table runs itself as child processes for the six combinations, GORTDEBUG
// set per column, and prints the medians.
#include <gort/gort.h>

#include <fcntl.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <chrono>
#include <csignal>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <thread>
#include <vector>

extern char** environ;

namespace {

using namespace std::chrono_literals;
using Clock = std::chrono::steady_clock;

std::int64_t now_ns() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(Clock::now().time_since_epoch()).count();
}

// ---- the spinners ---------------------------------------------------------

// One counter per spinner, a cache line each, so that spinners on different
// Ps do not slow each other down through false sharing.
struct alignas(64) Slot {
  std::uint64_t n = 0;
};

std::atomic<int> g_started{0};

// The loop body of --loop=calls. noinline: the call, and with it the yield
// point at this function's entry, must stay in the loop.
[[gnu::noinline]] void step(Slot* s) { __atomic_fetch_add(&s->n, 1, __ATOMIC_RELAXED); }

[[gnu::noinline]] void spin_calls(Slot* s) {
  g_started.fetch_add(1);
  for (;;) step(s);
}

// The call-free loop. no_instrument_function keeps the entry hook out of
// this function, and the loop uses the __atomic builtin rather than
// std::atomic's members: GCC's -finstrument-functions also instruments
// functions inlined into an instrumented caller, so an inlined fetch_add
// could put calls back into the loop; a builtin is never a call. The loop
// is one locked add and a jump.
__attribute__((noinline, no_instrument_function)) void spin_nocalls(Slot* s) {
  g_started.fetch_add(1);  // a call before the loop is fine
  for (;;) __atomic_fetch_add(&s->n, 1, __ATOMIC_RELAXED);
}

// ---- the watchdog -----------------------------------------------------------

// main stamps g_yielded_at each time it gives up its P and clears it when it
// runs again, and stamps g_returned_at when it returns: returning from
// gort::run's main must end the program even while spinners run (Go's
// semantics), and a process that outlives its main is a bug, not a hang of
// the kind the table reports. The watchdog is a plain thread, not a
// goroutine: it must run while the spinners hold every P. It polls rather
// than waits on a condition variable so that it holds nothing the process's
// exit could destroy under it.
std::atomic<std::int64_t> g_yielded_at{0};
std::atomic<std::int64_t> g_returned_at{0};
char g_hang_message[160];
char g_exit_message[160];

[[noreturn]] void die(const char* message, int fd, int status) {
  // write(2), not stdio: nothing the program holds can block it.
  ssize_t w = write(fd, message, std::strlen(message));
  (void)w;
  _exit(status);
}

[[noreturn]] void watchdog(long timeout_ms) {
  for (;;) {
    std::this_thread::sleep_for(5ms);
    const std::int64_t now = now_ns(), limit = timeout_ms * 1'000'000;
    if (std::int64_t y = g_yielded_at.load(); y != 0 && now - y > limit) die(g_hang_message, 1, 3);
    if (std::int64_t r = g_returned_at.load(); r != 0 && now - r > limit) die(g_exit_message, 2, 4);
  }
}

// Gives up the P for d and measures how long main was away.
double away_ms(std::chrono::microseconds d) {
  std::int64_t t0 = now_ns();
  g_yielded_at.store(t0);
  gort::sleep_for(d);
  std::int64_t t1 = now_ns();
  g_yielded_at.store(0);
  return static_cast<double>(t1 - t0) / 1e6;
}

int run_once(bool calls, int procs, long timeout_ms) {
  const char* loop = calls ? "calls" : "nocalls";
  std::snprintf(g_hang_message, sizeof g_hang_message,
                "loop=%s procs=%d: hangs (main did not run again within %ld ms)\n", loop, procs, timeout_ms);
  std::snprintf(g_exit_message, sizeof g_exit_message,
                "tightloop: main returned, but the program did not exit within %ld ms\n", timeout_ms);
  // A run never outlives whoever started it (the table, a shell), even if
  // its own watchdog failed.
  prctl(PR_SET_PDEATHSIG, SIGKILL);
  std::thread(watchdog, timeout_ms).detach();
  return gort::run([&] {
    gort::gomaxprocs(procs);
    Slot* slots = new Slot[procs];  // never freed: the spinners use them until the process exits
    for (int i = 0; i < procs; ++i) {
      Slot* s = &slots[i];
      if (calls) {
        gort::go([s] { spin_calls(s); });
      } else {
        gort::go([s] { spin_nocalls(s); });
      }
    }
    // Wait until every spinner holds a P. With procs=1 main has to give its
    // P away for the spinner to start at all, so this may already be the
    // hang (stamped as well).
    while (g_started.load() < procs) away_ms(100us);
    double ms = away_ms(1ms);
    std::printf("loop=%s procs=%d: main got the CPU back after %.1f ms\n", loop, procs, ms);
    std::fflush(stdout);  // the result stands even if the exit goes wrong
    g_returned_at.store(now_ns());
    return 0;  // ends the program; the spinners are abandoned, as in Go
  });
}

// ---- the table ------------------------------------------------------------

struct Outcome {
  enum Kind { kTime, kHang, kError } kind = kError;
  double ms = 0;
  std::string what;  // kError: how the child failed
};

std::string read_all(int fd) {
  std::string s;
  char buf[4096];
  lseek(fd, 0, SEEK_SET);
  for (ssize_t n; (n = read(fd, buf, sizeof buf)) > 0;) s.append(buf, static_cast<std::size_t>(n));
  return s;
}

// Runs this program once as a child with GORTDEBUG = base + mode. Output
// goes to memfds, not pipes, so a chatty child (a fatal error's goroutine
// dump) never blocks on a full pipe while we wait for it.
Outcome run_child(const char* loop, const std::string& gortdebug, int procs, long timeout_ms) {
  std::vector<std::string> args = {"tightloop", std::string("--loop=") + loop, "--procs=" + std::to_string(procs),
                                   "--timeout=" + std::to_string(timeout_ms)};
  std::vector<std::string> envs;
  for (char** e = environ; *e; ++e)
    if (std::strncmp(*e, "GORTDEBUG=", 10) != 0) envs.push_back(*e);
  if (!gortdebug.empty()) envs.push_back("GORTDEBUG=" + gortdebug);
  std::vector<char*> argv, envp;
  for (auto& a : args) argv.push_back(a.data());
  argv.push_back(nullptr);
  for (auto& e : envs) envp.push_back(e.data());
  envp.push_back(nullptr);

  int out = memfd_create("tightloop-out", MFD_CLOEXEC);
  int err = memfd_create("tightloop-err", MFD_CLOEXEC);
  if (out < 0 || err < 0) {
    std::perror("tightloop: memfd_create");
    std::exit(1);
  }
  posix_spawn_file_actions_t fa;
  posix_spawn_file_actions_init(&fa);
  posix_spawn_file_actions_adddup2(&fa, out, 1);
  posix_spawn_file_actions_adddup2(&fa, err, 2);
  pid_t pid;
  int rc = posix_spawn(&pid, "/proc/self/exe", &fa, nullptr, argv.data(), envp.data());
  posix_spawn_file_actions_destroy(&fa);
  if (rc != 0) {
    std::fprintf(stderr, "tightloop: posix_spawn: %s\n", std::strerror(rc));
    std::exit(1);
  }
  // The child's own watchdog should end it within the timeout; this is the
  // backstop in case it does not (a child that is not making progress at
  // all, or a runtime that blocks signals and threads alike).
  Outcome o;
  const auto deadline = Clock::now() + std::chrono::milliseconds(2 * timeout_ms + 1000);
  int status = 0;
  bool killed = false;
  for (;;) {
    pid_t w = waitpid(pid, &status, WNOHANG);
    if (w == pid) break;
    if (w < 0 && errno != EINTR) {
      std::perror("tightloop: waitpid");
      std::exit(1);
    }
    if (!killed && Clock::now() > deadline) {
      kill(pid, SIGKILL);
      killed = true;
    }
    std::this_thread::sleep_for(1ms);
  }
  std::string text = read_all(out), etext = read_all(err);
  close(out);
  close(err);
  const char* got = std::strstr(text.c_str(), " after ");
  if (killed && got) {
    o.what = "main returned, but the program did not exit; killed";
  } else if (killed) {
    o.kind = Outcome::kHang;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 3) {
    o.kind = Outcome::kHang;
  } else if (WIFEXITED(status) && WEXITSTATUS(status) == 0 && got) {
    o.kind = Outcome::kTime;
    o.ms = std::strtod(got + 7, nullptr);
  } else {
    o.what = WIFSIGNALED(status) ? "killed by signal " + std::to_string(WTERMSIG(status))
                                 : "exit status " + std::to_string(WEXITSTATUS(status));
    std::string first = etext.substr(0, etext.find('\n'));
    if (!first.empty()) o.what += ": " + first;
  }
  return o;
}

// The parent's GORTDEBUG without the preemption keys, which the columns set.
std::string base_gortdebug() {
  const char* v = std::getenv("GORTDEBUG");
  std::string in = v ? v : "", out;
  for (std::size_t i = 0; i <= in.size();) {
    std::size_t j = std::min(in.find(',', i), in.size());
    std::string kv = in.substr(i, j - i);
    std::string key = kv.substr(0, kv.find('='));
    if (!kv.empty() && key != "preemptoff" && key != "asyncpreemptoff") out += (out.empty() ? "" : ",") + kv;
    i = j + 1;
  }
  return out;
}

int table(int procs, int runs, long timeout_ms) {
  struct Column {
    const char* name;
    const char* key;  // added to GORTDEBUG
  };
  const Column cols[] = {{"preemptoff", "preemptoff=1"}, {"cooperative", "asyncpreemptoff=1"}, {"async", ""}};
  const struct {
    const char* name;
    const char* loop;
  } rows[] = {{"with calls", "calls"}, {"call-free", "nocalls"}};
  const std::string base = base_gortdebug();

  std::printf("tightloop: %d spinning goroutine%s hold%s every P; main sleeps 1 ms. When does it run again?\n", procs,
              procs == 1 ? "" : "s", procs == 1 ? "s" : "");
  std::printf("GOMAXPROCS=%d, median of %d run%s, GORTDEBUG=%s\n\n", procs, runs, runs == 1 ? "" : "s",
              base.empty() ? "(none)" : base.c_str());
  // Column widths as in the README's table; a long cell still gets a space.
  auto cell_out = [](const std::string& text, int width) { std::printf("%-*s ", width - 1, text.c_str()); };
  cell_out("loop", 13);
  cell_out(cols[0].name, 13);
  cell_out(cols[1].name, 14);
  std::printf("%s\n", cols[2].name);
  std::vector<std::string> errors;
  for (const auto& row : rows) {
    cell_out(row.name, 13);
    std::fflush(stdout);
    for (const auto& col : cols) {
      std::string gd = base;
      if (*col.key) gd += (gd.empty() ? "" : ",") + std::string(col.key);
      std::vector<double> ms;
      std::string cell;
      // A hang costs a full timeout, and one is enough to know: the cell
      // says so and the table moves on.
      for (int r = 0; r < runs && cell.empty(); ++r) {
        Outcome o = run_child(row.loop, gd, procs, timeout_ms);
        if (o.kind == Outcome::kTime) {
          ms.push_back(o.ms);
        } else if (o.kind == Outcome::kHang) {
          cell = ms.empty() ? "hangs" : "hangs (run " + std::to_string(r + 1) + ")";
        } else {
          cell = "error*";
          errors.push_back(std::string(row.name) + ", " + col.name + ": " + o.what);
        }
      }
      if (cell.empty()) {
        std::sort(ms.begin(), ms.end());
        std::size_t n = ms.size();
        double median = n % 2 ? ms[n / 2] : (ms[n / 2 - 1] + ms[n / 2]) / 2;
        char buf[32];
        std::snprintf(buf, sizeof buf, "%.1f ms", median);
        cell = buf;
      }
      if (&col == &cols[2]) {
        std::printf("%s\n", cell.c_str());
      } else {
        cell_out(cell, &col == &cols[0] ? 13 : 14);
      }
      std::fflush(stdout);
    }
  }
  std::printf("\npreemptoff   GORTDEBUG=preemptoff=1: no preemption at all\n"
              "cooperative  GORTDEBUG=asyncpreemptoff=1: yield points only (every function entry)\n"
              "async        the default: yield points, and SIGURG for loops without calls\n"
              "hangs        main did not run again within %ld ms: the spinners never gave up their Ps\n",
              timeout_ms);
  for (const auto& e : errors) std::printf("* %s\n", e.c_str());
  return errors.empty() ? 0 : 1;
}

[[noreturn]] void usage() {
  std::fprintf(stderr,
               "usage: tightloop --loop=calls|nocalls [--procs=N] [--timeout=MS]\n"
               "       tightloop --table [--procs=N] [--runs=R] [--timeout=MS]\n");
  std::exit(2);
}

// "--name=123" -> 123 (> 0); usage() on anything else.
long number(const char* arg, const char* name) {
  std::size_t n = std::strlen(name);
  char* end = nullptr;
  long v = std::strtol(arg + n, &end, 10);
  if (end == arg + n || *end != '\0' || v <= 0) usage();
  return v;
}

}  // namespace

int main(int argc, char** argv) {
  bool table_mode = false;
  const char* loop = nullptr;
  int procs = 1, runs = 5;
  long timeout_ms = 2000;
  for (int i = 1; i < argc; ++i) {
    const char* a = argv[i];
    if (std::strcmp(a, "--table") == 0) {
      table_mode = true;
    } else if (std::strncmp(a, "--loop=", 7) == 0) {
      loop = a + 7;
    } else if (std::strncmp(a, "--procs=", 8) == 0) {
      procs = static_cast<int>(std::min(number(a, "--procs="), 1024L));
    } else if (std::strncmp(a, "--runs=", 7) == 0) {
      runs = static_cast<int>(std::min(number(a, "--runs="), 1000L));
    } else if (std::strncmp(a, "--timeout=", 10) == 0) {
      timeout_ms = number(a, "--timeout=");
    } else {
      usage();
    }
  }
  if (table_mode) {
    if (loop) usage();
    return table(procs, runs, timeout_ms);
  }
  if (!loop || (std::strcmp(loop, "calls") != 0 && std::strcmp(loop, "nocalls") != 0)) usage();
  return run_once(std::strcmp(loop, "calls") == 0, procs, timeout_ms);
}
