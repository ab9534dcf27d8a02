// The gort CLI's commands. Each takes the arguments after its name and
// returns the exit status: 0 ok, 1 target error, 2 usage. They throw
// inspect::Error / inspect::UsageError for main to print as one line.
#pragma once

namespace gort::cli {

struct Command {
  const char* name;
  const char* summary;  // one line, for `gort --help`
  const char* help;     // `gort NAME --help`
  int (*run)(int argc, char** argv);  // argv[0] is the command's name
};

// True if argv has -h or --help (each command then prints its help).
bool wants_help(int argc, char** argv);

int cmd_elf(int argc, char** argv);
int cmd_goroutines(int argc, char** argv);
int cmd_goroutine(int argc, char** argv);
int cmd_threads(int argc, char** argv);
int cmd_procs(int argc, char** argv);
int cmd_sched(int argc, char** argv);
int cmd_top(int argc, char** argv);
int cmd_trace(int argc, char** argv);
extern const char kElfHelp[], kGoroutinesHelp[], kGoroutineHelp[], kThreadsHelp[], kProcsHelp[], kSchedHelp[],
    kTopHelp[], kTraceHelp[];

}  // namespace gort::cli
