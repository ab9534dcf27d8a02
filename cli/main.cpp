// gort: look inside gort programs: ELF files, live processes, core files and
// execution traces.
// Exit status: 0 ok, 1 the target could not be read, 2 bad usage.
#include <cstdio>
#include <cstring>
#include <exception>
#include <string>

#include "commands.h"
#include "gort/inspect/error.h"

namespace gort::cli {

bool wants_help(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "-h") == 0 || std::strcmp(argv[i], "--help") == 0) return true;
  }
  return false;
}

namespace {

const Command kCommands[] = {
    {"elf", "the ELF header, entry point and program headers of a file", kElfHelp, cmd_elf},
    {"goroutines", "every goroutine of a live process or core file, one line each (dlv's view)", kGoroutinesHelp,
     cmd_goroutines},
    {"goroutine", "one goroutine in full: status, gobuf, stack, M and P, backtrace", kGoroutineHelp, cmd_goroutine},
    {"threads", "every M: thread, P, current goroutine, spinning, locks, signal state", kThreadsHelp, cmd_threads},
    {"procs", "every P: status, ticks, run queue, runnext, timers", kProcsHelp, cmd_procs},
    {"sched", "the schedtrace/scheddetail view of a live process", kSchedHelp, cmd_sched},
    {"top", "a live view of a running process: goroutines by state, preemptions, rates per P", kTopHelp, cmd_top},
    {"trace", "an execution trace as a timeline (Perfetto JSON, HTML), a summary or a check", kTraceHelp, cmd_trace},
};

void usage(std::FILE* out) {
  std::fprintf(out, "Usage: gort COMMAND [ARGS]\n\nCommands:\n");
  for (const Command& c : kCommands) std::fprintf(out, "  %-11s %s\n", c.name, c.summary);
  std::fprintf(out, "\nRun 'gort COMMAND --help' for a command's options.\n");
}

}  // namespace
}  // namespace gort::cli

int main(int argc, char** argv) {
  using namespace gort::cli;
  if (argc < 2) {
    usage(stderr);
    return 2;
  }
  std::string name = argv[1];
  if (name == "-h" || name == "--help" || name == "help") {
    usage(stdout);
    return 0;
  }
  for (const Command& c : kCommands) {
    if (name != c.name) continue;
    if (wants_help(argc - 1, argv + 1)) {
      std::fputs(c.help, stdout);
      return 0;
    }
    try {
      return c.run(argc - 1, argv + 1);
    } catch (const gort::inspect::UsageError& e) {
      std::fprintf(stderr, "gort %s: %s (see 'gort %s --help')\n", c.name, e.what(), c.name);
      return 2;
    } catch (const gort::inspect::Error& e) {
      std::fprintf(stderr, "gort: %s\n", e.what());
      return 1;
    } catch (const std::exception& e) {
      std::fprintf(stderr, "gort: %s\n", e.what());
      return 1;
    }
  }
  std::fprintf(stderr, "gort: unknown command '%s' (see 'gort --help')\n", name.c_str());
  return 2;
}
