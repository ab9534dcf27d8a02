// A live process as a Target: memory through process_vm_readv, the rest
// from /proc/PID; with stop, every thread seized and interrupted.
//
// Why PTRACE_SEIZE + PTRACE_INTERRUPT and not PTRACE_ATTACH: ATTACH sends
// SIGSTOP, which a program can see (its SIGCHLD-watching parent does, a
// shell reports "Stopped") and which races with the program's own signals;
// SEIZE attaches silently and INTERRUPT stops a thread without a signal.
// Threads are seized one by one, so a thread created meanwhile is found by
// listing /proc/PID/task again until a pass finds no new one.
//
// A stopped target must never be left stopped: the destructor resumes and
// detaches every thread, and the CLI's SIGINT/SIGTERM handler calls
// detach_all_on_signal(), which does the same from the handler with the
// list kept in a static array (no allocation there). If gort itself dies,
// the kernel detaches its tracees and they run on.
#include <dirent.h>
#include <elf.h>
#include <fcntl.h>
#include <sys/ptrace.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cerrno>
#include <cstring>
#include <set>

#include "gort/inspect/error.h"
#include "gort/inspect/target.h"

namespace gort::inspect {

namespace {

// The threads a stopped target holds, for detach_all_on_signal. One target
// is stopped at a time in the CLI.
constexpr int kMaxSeized = 8192;
pid_t seized_tids[kMaxSeized];
int seized_sigs[kMaxSeized];  // a signal that stopped the thread before our interrupt: delivered at detach
std::atomic<int> nseized{0};

std::string read_file(const std::string& path) {
  std::string out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  char buf[65536];
  for (ssize_t n; (n = ::read(fd, buf, sizeof buf)) != 0;) {
    if (n < 0) {
      if (errno == EINTR) continue;
      break;
    }
    out.append(buf, static_cast<std::size_t>(n));
  }
  ::close(fd);
  return out;
}

// /proc/PID/maps by hand: a program with 10,000 goroutines has tens of
// thousands of lines (a stack and its guard page each), and sscanf took
// most of the time of listing them.
//   start-end perms offset dev inode   path
std::vector<Mapping> parse_maps(const std::string& text) {
  std::vector<Mapping> out;
  const char* p = text.data();
  const char* end = p + text.size();
  auto hex = [&](std::uint64_t* v) {
    const char* b = p;
    *v = 0;
    for (; p < end; ++p) {
      char c = *p;
      int d = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
      if (d < 0) break;
      *v = *v << 4 | static_cast<std::uint64_t>(d);
    }
    return p > b;
  };
  // Past the field at p and the spaces after it.
  auto skip_field = [&](const char* eol) {
    while (p < eol && *p != ' ') ++p;
    while (p < eol && *p == ' ') ++p;
  };
  while (p < end) {
    const char* eol = static_cast<const char*>(std::memchr(p, '\n', static_cast<std::size_t>(end - p)));
    if (eol == nullptr) eol = end;
    Mapping m;
    bool ok = hex(&m.start) && p < eol && *p++ == '-' && hex(&m.end) && p < eol && *p++ == ' ';
    if (ok) {
      const char* perms = p;
      while (p < eol && *p != ' ') ++p;
      m.perms.assign(perms, static_cast<std::size_t>(p - perms));
      while (p < eol && *p == ' ') ++p;
      ok = hex(&m.offset);
      while (p < eol && *p == ' ') ++p;
      skip_field(eol);  // dev
      skip_field(eol);  // inode
      if (p < eol) m.path.assign(p, static_cast<std::size_t>(eol - p));
      if (ok) out.push_back(std::move(m));
    }
    p = eol + (eol < end ? 1 : 0);
  }
  return out;
}

std::string errno_text(int e) { return std::strerror(e); }

int ptrace_scope() {
  std::string s = read_file("/proc/sys/kernel/yama/ptrace_scope");
  return s.empty() ? -1 : std::atoi(s.c_str());
}

// What to tell a user who may not read or trace pid.
std::string permission_hint() {
  int scope = ptrace_scope();
  switch (scope) {
    case 1:
      return " (kernel.yama.ptrace_scope is 1: only a parent may trace its children; run gort as root or with "
             "CAP_SYS_PTRACE, or set it to 0 with 'sysctl kernel.yama.ptrace_scope=0')";
    case 2:
      return " (kernel.yama.ptrace_scope is 2: only root (CAP_SYS_PTRACE) may trace; run gort as root)";
    case 3:
      return " (kernel.yama.ptrace_scope is 3: tracing is disabled until reboot)";
    default:
      return " (the process belongs to another user: run gort as that user or as root)";
  }
}

class ProcessTarget final : public Target {
 public:
  ProcessTarget(pid_t pid, bool stop) : pid_(pid), proc_("/proc/" + std::to_string(pid)) {
    struct stat st;
    if (pid <= 0 || ::stat(proc_.c_str(), &st) != 0) throw Error("no such process " + std::to_string(pid));
    // One read proves we may read its memory at all (permissions are
    // checked per call, but the answer does not change).
    int fd = ::open((proc_ + "/auxv").c_str(), O_RDONLY | O_CLOEXEC);
    int e = fd < 0 ? errno : 0;
    if (fd >= 0) {
      char buf[4096];
      ssize_t n;
      while ((n = ::read(fd, buf, sizeof buf)) > 0) auxv_.append(buf, static_cast<std::size_t>(n));
      if (n < 0) e = errno;
      ::close(fd);
    }
    if (auxv_.empty()) {
      if (::stat(proc_.c_str(), &st) != 0) throw Error("no such process " + std::to_string(pid));
      // Readable but empty: a process without memory of its own.
      if (gone()) throw Error("process " + std::to_string(pid) + " has exited (a zombie its parent has not reaped)");
      if (e == 0) throw Error("process " + std::to_string(pid) + " is a kernel thread, not a program");
      throw Error("cannot read process " + std::to_string(pid) + ": " + errno_text(e) + permission_hint());
    }
    if (stop) seize_all();
  }

  ~ProcessTarget() override {
    if (stopped_) detach_all_on_signal();
  }

  std::string describe() const override { return "process " + std::to_string(pid_); }
  pid_t pid() const override { return pid_; }
  bool frozen() const override { return stopped_; }
  bool live() const override { return true; }
  std::string exe_path() const override { return proc_ + "/exe"; }

  void read(std::uint64_t addr, void* buf, std::size_t len) override {
    if (len == 0) return;
    std::size_t got = read_partial(addr, buf, len);
    if (got != len) {
      if (gone()) throw Error("process " + std::to_string(pid_) + " exited while being read");
      char msg[160];
      std::snprintf(msg, sizeof msg, "cannot read %zu bytes at 0x%llx in process %d", len,
                    static_cast<unsigned long long>(addr), pid_);
      throw Error(msg);
    }
  }

  std::size_t read_partial(std::uint64_t addr, void* buf, std::size_t len) override {
    // process_vm_readv stops at the first unreadable page of the remote
    // range and returns the count read so far: a partial read is not an error.
    std::size_t done = 0;
    while (done < len) {
      iovec local{static_cast<char*>(buf) + done, len - done};
      iovec remote{reinterpret_cast<void*>(addr + done), len - done};
      ssize_t n = ::process_vm_readv(pid_, &local, 1, &remote, 1, 0);
      if (n < 0) {
        if (errno == EPERM)
          throw Error("cannot read process " + std::to_string(pid_) + ": " + errno_text(EPERM) + permission_hint());
        if (errno == ESRCH) throw Error("process " + std::to_string(pid_) + " exited while being read");
        break;
      }
      if (n == 0) break;
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  // process_vm_readv takes up to IOV_MAX remote pieces per call and stops
  // at the first one it cannot read: the rest of that batch is retried.
  void read_batch(std::vector<ReadOp>& ops) override {
    constexpr std::size_t kIovMax = 1024;
    std::vector<iovec> local, remote;
    for (std::size_t i = 0; i < ops.size();) {
      std::size_t n = std::min(kIovMax, ops.size() - i);
      local.clear();
      remote.clear();
      for (std::size_t k = 0; k < n; ++k) {
        local.push_back({ops[i + k].buf, ops[i + k].len});
        remote.push_back({reinterpret_cast<void*>(ops[i + k].addr), ops[i + k].len});
      }
      ssize_t got = ::process_vm_readv(pid_, local.data(), n, remote.data(), n, 0);
      if (got < 0 && errno == ESRCH) throw Error("process " + std::to_string(pid_) + " exited while being read");
      std::size_t done = got < 0 ? 0 : static_cast<std::size_t>(got);
      std::size_t k = 0;
      for (; k < n && done >= ops[i + k].len; ++k) {
        ops[i + k].ok = true;
        done -= ops[i + k].len;
      }
      if (k == n) {
        i += n;
        continue;
      }
      // ops[i + k] failed (or was cut short): on its own, then on with the rest.
      ops[i + k].ok = read_partial(ops[i + k].addr, ops[i + k].buf, ops[i + k].len) == ops[i + k].len;
      i += k + 1;
    }
  }

  std::vector<Mapping> mappings() override {
    std::vector<Mapping> out = parse_maps(read_file(proc_ + "/maps"));
    if (out.empty() && gone()) throw Error("process " + std::to_string(pid_) + " exited while being read");
    return out;
  }

  std::vector<Thread> threads() override {
    std::vector<Thread> out;
    for (pid_t tid : list_tasks()) {
      Thread t;
      t.tid = tid;
      t.state = task_state(tid);
      if (stopped_ && seized_.count(tid) && ::ptrace(PTRACE_GETREGS, tid, nullptr, &t.regs) == 0) t.has_regs = true;
      out.push_back(std::move(t));
    }
    return out;
  }

  std::uint64_t auxv(std::uint64_t type) override {
    for (std::size_t off = 0; off + sizeof(Elf64_auxv_t) <= auxv_.size(); off += sizeof(Elf64_auxv_t)) {
      Elf64_auxv_t a;
      std::memcpy(&a, auxv_.data() + off, sizeof a);
      if (a.a_type == AT_NULL) break;
      if (a.a_type == type) return a.a_un.a_val;
    }
    return 0;
  }

 private:
  bool gone() const {
    struct stat st;
    if (::stat(proc_.c_str(), &st) != 0) return true;
    // A zombie has no memory to read.
    std::string s = read_file(proc_ + "/stat");
    std::size_t rp = s.rfind(')');
    return rp != std::string::npos && rp + 2 < s.size() && (s[rp + 2] == 'Z' || s[rp + 2] == 'X');
  }

  std::vector<pid_t> list_tasks() const {
    std::vector<pid_t> out;
    DIR* d = ::opendir((proc_ + "/task").c_str());
    if (d == nullptr) throw Error("process " + std::to_string(pid_) + " exited while being read");
    while (dirent* e = ::readdir(d)) {
      if (e->d_name[0] < '0' || e->d_name[0] > '9') continue;
      out.push_back(static_cast<pid_t>(std::atoi(e->d_name)));
    }
    ::closedir(d);
    std::sort(out.begin(), out.end());
    return out;
  }

  std::string task_state(pid_t tid) const {
    std::string s = read_file(proc_ + "/task/" + std::to_string(tid) + "/status");
    std::size_t p = s.find("State:");
    if (p == std::string::npos) return "";
    p += 6;
    while (p < s.size() && (s[p] == ' ' || s[p] == '\t')) ++p;
    std::size_t e = s.find('\n', p);
    return s.substr(p, e == std::string::npos ? std::string::npos : e - p);
  }

  void seize_all() {
    stopped_ = true;  // from the first seize on, the destructor must detach
    for (bool found_new = true; found_new;) {
      found_new = false;
      for (pid_t tid : list_tasks()) {
        if (seized_.count(tid)) continue;
        found_new = true;
        seized_.insert(tid);
        if (::ptrace(PTRACE_SEIZE, tid, nullptr, nullptr) != 0) {
          int e = errno;
          if (e == ESRCH) continue;  // the thread ended meanwhile
          if (e == EPERM)
            throw Error("cannot stop process " + std::to_string(pid_) + ": " + errno_text(e) + permission_hint());
          throw Error("cannot stop thread " + std::to_string(tid) + " of process " + std::to_string(pid_) + ": " +
                      errno_text(e));
        }
        int slot = nseized.load();
        if (slot >= kMaxSeized) throw Error("process " + std::to_string(pid_) + " has too many threads to stop");
        seized_tids[slot] = tid;
        seized_sigs[slot] = 0;
        nseized.store(slot + 1);
        if (::ptrace(PTRACE_INTERRUPT, tid, nullptr, nullptr) != 0) continue;
        int status = 0;
        if (::waitpid(tid, &status, __WALL) != tid) continue;
        if (WIFEXITED(status) || WIFSIGNALED(status)) {
          seized_tids[slot] = 0;  // gone: nothing to detach
          continue;
        }
        // A signal that arrived between the seize and the interrupt stops
        // the thread in signal-delivery-stop instead; it is delivered when
        // we detach, as if we had never been there.
        if (WIFSTOPPED(status) && (status >> 16) != PTRACE_EVENT_STOP) seized_sigs[slot] = WSTOPSIG(status);
      }
    }
  }

  pid_t pid_;
  std::string proc_;
  std::string auxv_;
  bool stopped_ = false;
  std::set<pid_t> seized_;
};

}  // namespace

void detach_all_on_signal() {
  int n = nseized.exchange(0);
  for (int i = 0; i < n; ++i) {
    if (seized_tids[i] != 0) ::ptrace(PTRACE_DETACH, seized_tids[i], nullptr, reinterpret_cast<void*>(static_cast<long>(seized_sigs[i])));
  }
}

std::unique_ptr<Target> open_process(pid_t pid, bool stop) { return std::make_unique<ProcessTarget>(pid, stop); }

std::unique_ptr<Target> open_self() { return std::make_unique<ProcessTarget>(::getpid(), false); }

}  // namespace gort::inspect
