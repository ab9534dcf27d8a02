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
#include <vector>

#include <dwarf.h>
#include <elfutils/libdw.h>

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

struct Frame {
  std::string func;
  std::string decl;  // file the function is declared in, when DWARF says
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

// The name of a subprogram or inlined-subroutine DIE: its linkage name
// (demangled, with parameter types, like a symbol), or else its name
// qualified by the scopes around its declaration (namespaces, classes, the
// function a lambda was written in), the way a demangled name reads.
std::string die_name(Dwarf_Die* die) {
  Dwarf_Attribute attr;
  if (dwarf_attr_integrate(die, DW_AT_linkage_name, &attr) || dwarf_attr_integrate(die, DW_AT_MIPS_linkage_name, &attr)) {
    if (const char* s = dwarf_formstring(&attr)) return demangle(s);
  }
  Dwarf_Die decl = *die, tmp;
  for (int hops = 0; hops < 8; ++hops) {  // abstract origin, then specification
    if (dwarf_attr(&decl, DW_AT_abstract_origin, &attr) && dwarf_formref_die(&attr, &tmp)) decl = tmp;
    else if (dwarf_attr(&decl, DW_AT_specification, &attr) && dwarf_formref_die(&attr, &tmp)) decl = tmp;
    else break;
  }
  const char* name = dwarf_diename(&decl);
  std::string q;
  Dwarf_Die* scopes = nullptr;
  int n = dwarf_getscopes_die(&decl, &scopes);
  for (int i = n - 1; i >= 1; --i) {
    int tag = dwarf_tag(&scopes[i]);
    const char* part = dwarf_diename(&scopes[i]);
    switch (tag) {
      case DW_TAG_namespace: q += part ? part : "(anonymous namespace)"; break;
      case DW_TAG_class_type:
      case DW_TAG_structure_type:
      case DW_TAG_union_type: q += part ? part : "{lambda}"; break;
      case DW_TAG_subprogram: q += part ? part : "?"; break;  // its own scopes are in this chain
      default: continue;
    }
    q += "::";
  }
  std::free(scopes);
  return q + (name ? name : "?");
}

// Where a function is declared: the wrappers of gort/runtime.h (gort::go,
// gort::run) are inlined into user code and are hidden like runtime frames.
std::string decl_file(Dwarf_Die* die) {
  const char* f = dwarf_decl_file(die);
  return f ? f : "";
}

// pc is a return address (or the exact pc when exact): look up pc-1 so that
// a call at the end of a function is attributed to that function. One
// machine frame gives several source frames when calls were inlined into it:
// they come innermost first, each with the line it was at (the innermost's
// from the line table, the outer ones from DW_AT_call_file/line).
std::vector<Frame> symbolize(std::uintptr_t pc, bool exact) {
  std::vector<Frame> out;
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
    Dwarf_Addr bias = 0;
    Dwarf_Die* cu = dwfl_module_addrdie(mod, lookup, &bias);
    Dwarf_Die* scopes = nullptr;
    int n = cu ? dwarf_getscopes(cu, lookup - bias, &scopes) : 0;
    if (n > 0) {
      // dwarf_getscopes follows an inlined function into its abstract
      // definition; the chain of concrete callers comes from the innermost
      // scope's own parents (what eu-addr2line -i does).
      Dwarf_Die innermost = scopes[0];
      std::free(scopes);
      scopes = nullptr;
      n = dwarf_getscopes_die(&innermost, &scopes);
    }
    Dwarf_Files* files = nullptr;
    std::size_t nfiles = 0;
    if (cu) dwarf_getsrcfiles(cu, &files, &nfiles);
    std::string file = f.file;
    int line = f.line;
    for (int i = 0; i < n; ++i) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
      Frame g;
      g.func = tag == DW_TAG_subprogram && !f.func.empty() ? f.func : die_name(&scopes[i]);
      g.decl = decl_file(&scopes[i]);
      g.file = file;
      g.line = line;
      g.offset = f.offset;
      out.push_back(g);
      if (tag == DW_TAG_subprogram) break;
      // The next (outer) frame is at this inlined call's call site.
      Dwarf_Attribute attr;
      Dwarf_Word w = 0;
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_file, &attr), &w) == 0 && files) {
        if (const char* cf = dwarf_filesrc(files, w, nullptr, nullptr)) file = cf;
      }
      if (dwarf_formudata(dwarf_attr(&scopes[i], DW_AT_call_line, &attr), &w) == 0) line = static_cast<int>(w);
    }
    std::free(scopes);
  }
  if (out.empty()) {
    if (f.func.empty()) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "0x%lx", static_cast<unsigned long>(pc));
      f.func = buf;
    }
    out.push_back(f);
  }
  return out;
}

// Frames Go would not show: the runtime's own, and the inlined wrappers
// gort::go / gort::run put around the user's callable.
bool runtime_frame(const Frame& f) {
  static const char* const prefixes[] = {"gort::rt::", "gort::detail::", "gort_", "void gort::detail::",
                                         "void gort::rt::", "void gort::go<", "int gort::run<",
                                         // lambdas inside gort::run / gort::go, named from DWARF scopes
                                         "run<", "go<", "gort::run<", "gort::go<"};
  for (const char* p : prefixes)
    if (f.func.rfind(p, 0) == 0) return true;
  constexpr std::string_view wrappers = "include/gort/runtime.h";
  return f.decl.size() >= wrappers.size() && f.decl.compare(f.decl.size() - wrappers.size(), wrappers.size(), wrappers) == 0;
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

// Walks the stack, then prints it: the frames below the last one whose name
// starts with one of cut (a panic's trace starts at the throw, not in the
// unwinder or the terminate handler), without the runtime's own frames.
void walk(int fd, unw_cursor_t* cursor, bool first_exact, bool cut_at_throw) {
  constexpr int kMaxFrames = 100;
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
  int printed = 0;
  static const bool system = [] {
    const char* t = std::getenv("GOTRACEBACK");
    return t && (std::strcmp(t, "system") == 0 || std::strcmp(t, "crash") == 0);
  }();
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

void print_created_by(int fd, G* gp) {
  if (gp->gopc == 0 || gp->goid == 1) return;  // main has no creator, as in Go
  std::vector<Frame> frames = symbolize(gp->gopc, false);
  Frame f = frames.back();  // the function itself if every frame is a wrapper
  for (const Frame& g : frames) {
    if (!runtime_frame(g)) {
      f = g;
      break;
    }
  }
  std::string name = f.func;
  if (name.find('(') == std::string::npos) name += "(...)";
  fdprintf(fd, "created by %s in goroutine %lld\n", name.c_str(), static_cast<long long>(gp->parentgoid));
  if (!f.file.empty())
    fdprintf(fd, "\t%s:%d +0x%lx\n", f.file.c_str(), f.line, static_cast<unsigned long>(f.offset));
}

}  // namespace gort::rt
