// Where a G may be stopped by a signal: the program's own code, outside the
// runtime (see signal.cpp for why). The table is built once, before the
// first signal is sent, and only read after that (from signal handlers).
//
// The program's code is the executable segments of the main program
// (dl_iterate_phdr). Code in shared objects (libc, libstdc++, the
// sanitizers) is never a safe point: it may hold a lock, malloc's first of
// all, that the next G on the thread would need.
//
// The runtime is a static library linked into the program, so its code is
// mixed with the program's. Its extent is read from the debug information:
// the address ranges of every compile unit whose source lies under gort's
// runtime/ or preempt/ folders (the folders this file was compiled from),
// plus the assembly, which is bracketed by labels. Inline code from
// gort's headers compiled into the program's own units (Chan<T>, go()) is
// program code; it holds m->locks over anything delicate (newproc_begin/end,
// channel locks), which the handler checks.
//
// Without debug information for the runtime (a stripped program) there is
// no telling its code from the program's: asynchronous preemption is then
// off, and the first time it would have been used gort says so once on
// stderr. Yield points still work.
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>
#include <link.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <string>
#include <vector>

#include "preempt/signal.h"
#include "runtime2.h"
#include "traceback.h"

extern "C" {
// Labels at the ends of the runtime's assembly (switch_x86_64.S,
// asyncpreempt_x86_64.S), which may have no debug information.
extern const char gort_switch_text_begin[], gort_switch_text_end[];
extern const char gort_async_preempt_begin[], gort_async_preempt_end[];
}

namespace gort::rt {

namespace {

struct Range {
  std::uintptr_t lo, hi;
  bool operator<(const Range& o) const { return lo < o.lo; }
};

// Filled once (state 1 → 2), then read-only. Never destroyed: signal
// handlers and sysmon may use them while the process exits and runs static
// destructors.
std::vector<Range>& program_text = *new std::vector<Range>;
std::vector<Range>& runtime_text = *new std::vector<Range>;
std::atomic<int> state{0};  // 0 not built, 1 being built, 2 ready, 3 unavailable

bool in(const std::vector<Range>& v, std::uintptr_t pc) {
  auto it = std::upper_bound(v.begin(), v.end(), Range{pc, 0});
  return it != v.begin() && pc < std::prev(it)->hi;
}

int first_object(dl_phdr_info* info, std::size_t, void*) {
  // The first object dl_iterate_phdr reports is the main program.
  for (int i = 0; i < info->dlpi_phnum; ++i) {
    const ElfW(Phdr)& ph = info->dlpi_phdr[i];
    if (ph.p_type == PT_LOAD && (ph.p_flags & PF_X))
      program_text.push_back({info->dlpi_addr + ph.p_vaddr, info->dlpi_addr + ph.p_vaddr + ph.p_memsz});
  }
  return 1;
}

// "<root>/runtime/" and "<root>/preempt/": this file is <root>/preempt/safepoint.cpp.
bool runtime_source(const std::string& path) {
  static const std::string& root = *new std::string([] {  // never destroyed: see above
    std::string f = __FILE__;
    f.erase(f.rfind('/'));
    f.erase(f.rfind('/') + 1);
    return f;
  }());
  if (path.compare(0, root.size(), root) != 0) return false;
  std::string rest = path.substr(root.size());
  return rest.rfind("runtime/", 0) == 0 || rest.rfind("preempt/", 0) == 0;
}

std::string cu_path(Dwarf_Die* cu) {
  const char* name = dwarf_diename(cu);
  if (name == nullptr) return {};
  if (name[0] == '/') return name;
  Dwarf_Attribute attr;
  const char* dir = dwarf_formstring(dwarf_attr(cu, DW_AT_comp_dir, &attr));
  return dir ? std::string(dir) + "/" + name : std::string(name);
}

// The runtime's compile units in the program's debug information; false if
// there is none.
bool find_runtime_units() {
  char* debuginfo_path = nullptr;
  Dwfl_Callbacks cb = {dwfl_linux_proc_find_elf, dwfl_standard_find_debuginfo, nullptr, &debuginfo_path};
  Dwfl* d = dwfl_begin(&cb);
  if (d == nullptr) return false;
  bool found = false;
  if (dwfl_linux_proc_report(d, getpid()) == 0 && dwfl_report_end(d, nullptr, nullptr) == 0) {
    Dwfl_Module* mod = dwfl_addrmodule(d, reinterpret_cast<Dwarf_Addr>(&find_runtime_units));
    Dwarf_Addr bias = 0;
    Dwarf* dw = mod ? dwfl_module_getdwarf(mod, &bias) : nullptr;
    Dwarf_Off off = 0, next;
    std::size_t hsize;
    while (dw && dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
      Dwarf_Die cu;
      if (dwarf_offdie(dw, off + hsize, &cu) != nullptr && runtime_source(cu_path(&cu))) {
        Dwarf_Addr base, lo, hi;
        for (std::ptrdiff_t o = 0; (o = dwarf_ranges(&cu, o, &base, &lo, &hi)) > 0;) {
          runtime_text.push_back({lo + bias, hi + bias});
          found = true;
        }
      }
      off = next;
    }
  }
  dwfl_end(d);
  return found;
}

void build() {
  dl_iterate_phdr(first_object, nullptr);
  bool ok = find_runtime_units();
  runtime_text.push_back({reinterpret_cast<std::uintptr_t>(gort_switch_text_begin),
                          reinterpret_cast<std::uintptr_t>(gort_switch_text_end)});
  runtime_text.push_back({reinterpret_cast<std::uintptr_t>(gort_async_preempt_begin),
                          reinterpret_cast<std::uintptr_t>(gort_async_preempt_end)});
  std::sort(program_text.begin(), program_text.end());
  std::sort(runtime_text.begin(), runtime_text.end());
  // Merge overlaps, so that the binary search finds the one range holding pc.
  std::vector<Range> merged;
  for (const Range& r : runtime_text) {
    if (!merged.empty() && r.lo <= merged.back().hi) merged.back().hi = std::max(merged.back().hi, r.hi);
    else merged.push_back(r);
  }
  runtime_text.swap(merged);
  if (!ok || program_text.empty()) {
    fdprintf(2,
             "gort: asynchronous preemption is off: no debug information for the gort runtime in this program "
             "(stripped?); goroutines are preempted only at yield points\n");
    state.store(3, std::memory_order_release);
    return;
  }
  state.store(2, std::memory_order_release);
}

}  // namespace

bool safepoints_ready() {
  int s = state.load(std::memory_order_acquire);
  if (s == 0 && state.compare_exchange_strong(s, 1)) {
    build();
    s = state.load(std::memory_order_acquire);
  }
  return s == 2;
}

bool async_safe_pc(std::uintptr_t pc) {
  if (state.load(std::memory_order_acquire) != 2) return false;
  return in(program_text, pc) && !in(runtime_text, pc);
}

}  // namespace gort::rt
