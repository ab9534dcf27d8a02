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

struct Frame {
  std::string func;
  std::string file;
  int line = 0;
  std::uintptr_t offset = 0;  // pc - function start
};

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || d == nullptr) return name;
  std::string s(d);
  std::free(d);
  return s;
}

// pc is a return address (or the exact pc when exact): look up pc-1 so that
// a call at the end of a function is attributed to that function.
Frame symbolize(std::uintptr_t pc, bool exact) {
  Frame f;
  std::uintptr_t lookup = exact ? pc : pc - 1;
  Dwfl* dwfl = self_dwfl();
  Dwfl_Module* mod = dwfl ? dwfl_addrmodule(dwfl, lookup) : nullptr;
  if (mod) {
    GElf_Sym sym;
    GElf_Off off = 0;
    if (const char* name = dwfl_module_addrinfo(mod, lookup, &off, &sym, nullptr, nullptr, nullptr)) {
      f.func = demangle(name);
      f.offset = static_cast<std::uintptr_t>(off) + (exact ? 0 : 1);
    }
    if (Dwfl_Line* line = dwfl_module_getsrc(mod, lookup)) {
      int lineno = 0;
      if (const char* file = dwfl_lineinfo(line, nullptr, &lineno, nullptr, nullptr, nullptr)) {
        f.file = file;
        f.line = lineno;
      }
    }
  }
  if (f.func.empty()) {
    char buf[32];
    std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(pc));
    f.func = buf;
  }
  return f;
}

bool runtime_frame(const std::string& func) {
  return func.rfind("gort::rt::", 0) == 0 || func.rfind("gort::detail::", 0) == 0 ||
         func.rfind("gort_", 0) == 0 || func.rfind("void gort::detail::", 0) == 0 ||
         func.rfind("void gort::rt::", 0) == 0;
}

void print_frame(int fd, const Frame& f) {
  std::string name = f.func;
  if (name.find('(') == std::string::npos) name += "(...)";
  fdprintf(fd, "%s\n", name.c_str());
  if (!f.file.empty())
    fdprintf(fd, "\t%s:%d +0x%lx\n", f.file.c_str(), f.line, static_cast<unsigned long>(f.offset));
  else
    fdprintf(fd, "\t?:0 +0x%lx\n", static_cast<unsigned long>(f.offset));
}

void walk(int fd, unw_cursor_t* cursor, bool first_exact) {
  constexpr int kMaxFrames = 100;
  bool exact = first_exact;
  int printed = 0;
  for (int i = 0; i < 1000; ++i) {
    unw_word_t pc = 0;
    if (unw_get_reg(cursor, UNW_REG_IP, &pc) < 0 || pc == 0) break;
    Frame f = symbolize(pc, exact);
    exact = false;
    if (!runtime_frame(f.func)) {
      if (printed == kMaxFrames) {
        fdprintf(fd, "...additional frames elided...\n");
        break;
      }
      print_frame(fd, f);
      printed++;
    }
    if (unw_step(cursor) <= 0) break;
  }
}

}  // namespace

void traceback_current(int fd) {
  unw_context_t ctx;
  unw_cursor_t cursor;
  if (unw_getcontext(&ctx) != 0 || unw_init_local(&cursor, &ctx) != 0) return;
  walk(fd, &cursor, true);
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
  walk(fd, &cursor, false);
}

void print_created_by(int fd, G* gp) {
  if (gp->gopc == 0) return;
  Frame f = symbolize(gp->gopc, false);
  std::string name = f.func;
  if (name.find('(') == std::string::npos) name += "(...)";
  fdprintf(fd, "created by %s in goroutine %lld\n", name.c_str(), static_cast<long long>(gp->parentgoid));
  if (!f.file.empty())
    fdprintf(fd, "\t%s:%d +0x%lx\n", f.file.c_str(), f.line, static_cast<unsigned long>(f.offset));
}

}  // namespace gort::rt
