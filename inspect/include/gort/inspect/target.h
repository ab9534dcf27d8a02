// What the inspector looks at: one interface, three kinds of target (the
// shape of Delve's proc.Process with its native and core backends).
//
//  - the current process (open_self): plain memory reads; for tests and
//    in-process tools;
//  - a live process (open_process): process_vm_readv, without stopping it,
//    or, with stop=true, every thread seized and interrupted with ptrace
//    for a consistent snapshot and the registers of running threads. A
//    stopped target is always resumed and detached: by the destructor, and
//    by detach_all_on_signal() if the CLI is interrupted;
//  - a core file (open_core) with the executable it came from.
//
// Reads are bounded and validated: a failed read throws Error naming the
// address, never returns garbage silently.
#pragma once

#include <sys/types.h>
#include <sys/user.h>

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

namespace gort::inspect {

struct Mapping {
  std::uint64_t start = 0, end = 0;
  std::uint64_t offset = 0;  // in the file
  std::string perms;          // "r-xp", as /proc/PID/maps says (cores: from the segment flags)
  std::string path;           // empty for anonymous memory
};

struct Thread {
  pid_t tid = 0;
  bool has_regs = false;  // stopped live threads and core files only
  user_regs_struct regs{};
  std::string state;  // /proc/PID/task/TID/stat's state letter and name, e.g. "S (sleeping)"; cores: empty
};

class Target {
 public:
  virtual ~Target() = default;

  // "process 1234", "core file core.1234": for messages.
  virtual std::string describe() const = 0;
  virtual pid_t pid() const = 0;
  // Reads len bytes at addr; throws Error if any of them cannot be read.
  virtual void read(std::uint64_t addr, void* buf, std::size_t len) = 0;
  // Reads as much as it can from addr, up to len; returns the count (0 if none).
  virtual std::size_t read_partial(std::uint64_t addr, void* buf, std::size_t len);
  // Many reads at once (a process answers them in a few system calls):
  // each op's ok says whether all its bytes were read. Never throws for an
  // unreadable op; throws Error only if the target is gone.
  struct ReadOp {
    std::uint64_t addr;
    void* buf;
    std::size_t len;
    bool ok;
  };
  virtual void read_batch(std::vector<ReadOp>& ops) {
    for (ReadOp& op : ops) op.ok = read_partial(op.addr, op.buf, op.len) == op.len;
  }
  virtual std::vector<Mapping> mappings() = 0;
  virtual std::vector<Thread> threads() = 0;
  // The main executable: a path that can be opened (for a live process,
  // /proc/PID/exe, which works even if the file was replaced or deleted).
  virtual std::string exe_path() const = 0;
  // An auxiliary vector entry (AT_ENTRY, AT_PHDR, ...); 0 if absent.
  virtual std::uint64_t auxv(std::uint64_t type) = 0;
  // Whether the target is frozen while we read it (a stopped process, a
  // core file): then the registers of running threads are known.
  virtual bool frozen() const = 0;
  // A running process (stopped or not), which shares our CLOCK_MONOTONIC:
  // its timestamps (waitsince, starttime) can be compared with now. Not a
  // core file, whose clock stopped at a time it does not record.
  virtual bool live() const = 0;

  template <class T>
  T read_value(std::uint64_t addr) {
    T v;
    read(addr, &v, sizeof v);
    return v;
  }
  // A NUL-terminated string of at most max bytes.
  std::string read_string(std::uint64_t addr, std::size_t max = 256);
};

std::unique_ptr<Target> open_self();
// Throws Error: no such process, not permitted (with what to do about
// ptrace_scope), not a process we can read.
std::unique_ptr<Target> open_process(pid_t pid, bool stop);
std::unique_ptr<Target> open_core(const std::string& core_path, const std::string& exe_path);

// For the CLI's SIGINT/SIGTERM handler: resume and detach every thread a
// stopped target holds (async-signal-safe: only ptrace and kill).
void detach_all_on_signal();

}  // namespace gort::inspect
