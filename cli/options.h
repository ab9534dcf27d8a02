// The options the commands that look at a gort program share: the target
// (PID, or --core CORE --exe BIN) and --stop, --json, -t [DEPTH], --group.
#pragma once

#include <sys/types.h>

#include <cstdint>
#include <cstdio>
#include <memory>
#include <string>
#include <vector>

#include "gort/inspect/stack.h"
#include "gort/inspect/target.h"

namespace gort::cli {

struct Options {
  pid_t pid = 0;
  std::string core, exe;
  bool stop = false;
  bool json = false;
  bool group = false;
  int depth = 0;          // -t: frames per goroutine (0: no stacks)
  double interval = 1.0;  // top
  int iterations = 0;     // top: 0 = until q
  std::vector<std::string> positional;  // after the target
};

// Which options a command accepts (others are usage errors).
enum OptionSet : unsigned {
  kOptStop = 1, kOptJson = 2, kOptStacks = 4, kOptGroup = 8, kOptTop = 16,
};

// Parses argv (argv[0] is the command). Throws inspect::UsageError.
Options parse_options(int argc, char** argv, unsigned accepted, int npositional);

// Opens the target the options name. Installs SIGINT/SIGTERM/SIGHUP
// handlers that resume and detach a stopped process before the CLI dies.
std::unique_ptr<inspect::Target> open_target(const Options& o);

// Where a command writes. With --stop the output is made in memory while
// the target is stopped and written only once release() has resumed it: a
// slow reader of our stdout (a pager, a terminal far away) must not keep
// the target stopped. Otherwise it is stdout itself. Output not released
// (an error midway) is dropped: the error line is all the user sees.
class Output {
 public:
  explicit Output(bool buffered);
  ~Output();
  Output(const Output&) = delete;
  Output& operator=(const Output&) = delete;
  std::FILE* file() const { return f_; }
  // Resumes and detaches the target (closing it), then writes the output.
  void release(std::unique_ptr<inspect::Target>& target);

 private:
  std::FILE* f_ = stdout;
  char* buf_ = nullptr;
  std::size_t len_ = 0;
};

// Function names as dlv shows them: "worker(int)" -> "worker".
using inspect::short_func;
// A source path relative to the current directory when it is under it.
std::string short_path(const std::string& path);
// "file:line" of a frame, or "?:0".
std::string where(const inspect::SourceFrame& f);

// The usage line the commands that take a target share.
#define GORT_TARGET_USAGE "PID | --core CORE --exe BIN"

}  // namespace gort::cli
