#include "traceback.h"

#include <cxxabi.h>
#include <elfutils/libdwfl.h>
#include <unistd.h>
#define UNW_LOCAL_ONLY
#include <libunwind.h>

#include <cstdarg>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "gort/inspect/symbolize.h"

extern "C" const char gort_async_preempt_begin[], gort_async_preempt_end[];  // preempt/asyncpreempt_x86_64.S

namespace gort::rt {

void fdwrite(int fd, const char* p, std::size_t len) {
  for (std::size_t off = 0; off < len;) {
    ssize_t w = ::write(fd, p + off, len - off);
    if (w <= 0) return;
    off += static_cast<std::size_t>(w);
  }
}

void fdprintf(int fd, const char* fmt, ...) {
  char buf[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = std::vsnprintf(buf, sizeof buf, fmt, ap);
  va_end(ap);
  if (n < 0) return;
  std::size_t len = static_cast<std::size_t>(n) < sizeof buf ? static_cast<std::size_t>(n) : sizeof buf - 1;
  fdwrite(fd, buf, len);
}

namespace {

// One Dwfl session for the process, made on first use (only on fatal paths
// and dumps; it reads /proc/self/maps and the ELF files).
Dwfl* self_dwfl() {
  static Dwfl* dwfl = [] {
    static char* debuginfo_path = nullptr;
    static const Dwfl_Callbacks callbacks = {
        dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr, &debuginfo_path};
    Dwfl* d = dwfl_begin(&callbacks);
    if (d == nullptr) return d;
    if (dwfl_linux_proc_report(d, getpid()) != 0 || dwfl_report_end(d, nullptr, nullptr) != 0) {
      dwfl_end(d);
      return static_cast<Dwfl*>(nullptr);
    }
    return d;
  }();
  return dwfl;
}

using Frame = inspect::SourceFrame;
using inspect::demangle;

// Memoised: a dump of many goroutines parked in the same few places asks
// for the same addresses again and again, and each libdw lookup costs
// ~10 us (a SIGQUIT dump of 1,000 Gs took 11 s without it). The dying
// thread (serialised by startpanic) and sysmon (blockwarn reports) share
// the cache and the Dwfl session, which is not thread-safe either: a spin
// lock, not a runtime Lock, because the SIGQUIT dumper is not an M. Its
// holder is never frozen (sysmon is not a G) and holds it for one lookup.
// A thread that crashes inside a lookup and dumps finds it held by itself.
std::atomic<pid_t> symlock{0};

std::vector<Frame> symbolize(std::uintptr_t pc, bool exact) {
  // Never freed: sysmon (blockwarn) may still use it while static destructors run at exit.
  static auto& cache = *new std::unordered_map<std::uintptr_t, std::vector<Frame>>;
  static thread_local const pid_t self = static_cast<pid_t>(gettid());
  const bool reentered = symlock.load(std::memory_order_relaxed) == self;
  if (!reentered) {
    for (pid_t free = 0; !symlock.compare_exchange_weak(free, self, std::memory_order_acquire); free = 0) procyield(50);
  }
  std::uintptr_t key = pc << 1 | (exact ? 1 : 0);  // user-space addresses leave the top bit free
  auto it = cache.find(key);
  if (it == cache.end()) it = cache.emplace(key, inspect::symbolize(self_dwfl(), pc, exact)).first;
  std::vector<Frame> frames = it->second;
  if (!reentered) symlock.store(0, std::memory_order_release);
  return frames;
}
bool runtime_frame(const Frame& f) { return inspect::is_runtime_frame(f); }

void print_frame(int fd, const Frame& f) {
  std::string name = f.func;
  if (name.find('(') == std::string::npos) name += "(...)";
  fdprintf(fd, "%s\n", name.c_str());
  if (!f.file.empty())
    fdprintf(fd, "\t%s:%d +0x%lx\n", f.file.c_str(), f.line, static_cast<unsigned long>(f.offset));
  else
    fdprintf(fd, "\t?:0 +0x%lx\n", static_cast<unsigned long>(f.offset));
}

// Walks the stack, then prints it: the frames below the last one whose name
// starts with one of cut (a panic's trace starts at the throw, not in the
// unwinder or the terminate handler), without the runtime's own frames.
void print_frames(int fd, const std::vector<Frame>& frames, std::size_t first);

void walk(int fd, unw_cursor_t* cursor, bool first_exact, bool cut_at_throw) {
  std::vector<Frame> frames;
  bool exact = first_exact;
  for (int i = 0; i < 1000; ++i) {
    unw_word_t pc = 0;
    if (unw_get_reg(cursor, UNW_REG_IP, &pc) < 0 || pc == 0) break;
    for (Frame& f : symbolize(pc, exact)) frames.push_back(std::move(f));
    // The frame below the preemption trampoline was interrupted, not
    // calling: its pc is the instruction to resume, not a return address.
    exact = pc >= reinterpret_cast<std::uintptr_t>(gort_async_preempt_begin) &&
            pc < reinterpret_cast<std::uintptr_t>(gort_async_preempt_end);
    if (unw_step(cursor) <= 0) break;
  }
  std::size_t first = 0;
  if (cut_at_throw) {
    for (std::size_t i = 0; i < frames.size(); ++i) {
      const std::string& fn = frames[i].func;
      if (fn == "__cxa_throw" || fn == "__cxa_rethrow" || fn == "std::terminate()") first = i + 1;
    }
  }
  print_frames(fd, frames, first);
}

void print_frames(int fd, const std::vector<Frame>& frames, std::size_t first) {
  constexpr int kMaxFrames = 100;
  int printed = 0;
  const bool system = gotraceback() >= Traceback::System;
  for (std::size_t i = first; i < frames.size(); ++i) {
    if (!system && runtime_frame(frames[i])) continue;  // GOTRACEBACK=system shows them, as in Go
    if (printed == kMaxFrames) {
      fdprintf(fd, "...additional frames elided...\n");
      return;
    }
    print_frame(fd, frames[i]);
    printed++;
  }
}

}  // namespace

Traceback gotraceback() {
  const char* t = std::getenv("GOTRACEBACK");
  if (t == nullptr) return Traceback::Single;
  if (std::strcmp(t, "all") == 0) return Traceback::All;
  if (std::strcmp(t, "system") == 0) return Traceback::System;
  if (std::strcmp(t, "crash") == 0) return Traceback::Crash;
  return Traceback::Single;
}

void traceback_current(int fd, bool from_throw) {
  unw_context_t ctx;
  unw_cursor_t cursor;
  if (unw_getcontext(&ctx) != 0 || unw_init_local(&cursor, &ctx) != 0) return;
  walk(fd, &cursor, true, from_throw);
}

void traceback_context(int fd, void* unw_context) {
  unw_cursor_t cursor;
  if (unw_init_local(&cursor, static_cast<unw_context_t*>(unw_context)) != 0) return;
  walk(fd, &cursor, true, false);
}

void traceback_pcs(int fd, const std::uintptr_t* pcs, std::size_t n) {
  std::vector<Frame> frames;
  for (std::size_t i = 0; i < n; ++i)
    for (Frame& f : symbolize(pcs[i], i == 0)) frames.push_back(std::move(f));
  print_frames(fd, frames, 0);
}

void traceback_parked(int fd, G* gp) {
  // The registers gort_swapctx saved (switch_x86_64.S): the G resumes by
  // popping them and returning to gobuf.pc with sp just above them.
  const auto* saved = reinterpret_cast<const std::uint64_t*>(gp->sched.sp);
  unw_context_t ctx;
  std::memset(&ctx, 0, sizeof ctx);
  if (unw_getcontext(&ctx) != 0) return;  // fills the parts libunwind needs besides registers
  auto* uc = reinterpret_cast<ucontext_t*>(&ctx);
  uc->uc_mcontext.gregs[REG_R15] = static_cast<greg_t>(saved[1]);
  uc->uc_mcontext.gregs[REG_R14] = static_cast<greg_t>(saved[2]);
  uc->uc_mcontext.gregs[REG_R13] = static_cast<greg_t>(saved[3]);
  uc->uc_mcontext.gregs[REG_R12] = static_cast<greg_t>(saved[4]);
  uc->uc_mcontext.gregs[REG_RBX] = static_cast<greg_t>(saved[5]);
  uc->uc_mcontext.gregs[REG_RBP] = static_cast<greg_t>(saved[6]);
  uc->uc_mcontext.gregs[REG_RIP] = static_cast<greg_t>(saved[7]);
  uc->uc_mcontext.gregs[REG_RSP] = static_cast<greg_t>(gp->sched.sp + 64);
  unw_cursor_t cursor;
  if (unw_init_local(&cursor, &ctx) != 0) return;
  walk(fd, &cursor, false, false);
}

void print_created_by(int fd, G* gp) { print_created_by(fd, gp->goid, gp->gopc, gp->parentgoid); }

void print_created_by(int fd, std::int64_t goid, std::uintptr_t gopc, std::int64_t parentgoid) {
  if (gopc == 0 || goid == 1) return;  // main has no creator, as in Go
  std::vector<Frame> frames = symbolize(gopc, false);
  Frame f = frames.back();  // the function itself if every frame is a wrapper
  for (const Frame& g : frames) {
    if (!runtime_frame(g)) {
      f = g;
      break;
    }
  }
  std::string name = f.func;
  if (name.find('(') == std::string::npos) name += "(...)";
  fdprintf(fd, "created by %s in goroutine %lld\n", name.c_str(), static_cast<long long>(parentgoid));
  if (!f.file.empty())
    fdprintf(fd, "\t%s:%d +0x%lx\n", f.file.c_str(), f.line, static_cast<unsigned long>(f.offset));
}

}  // namespace gort::rt
