// Goroutine names from the trace's modules: see names.h.
#include "names.h"

#include <elfutils/libdwfl.h>
#include <sys/stat.h>

#include <string_view>

#include "gort/inspect/symbolize.h"

namespace gort::trace {

namespace {

// A callable's type can be long (std::_Bind<...>): a slice's name must fit
// in a few hundred pixels.
constexpr std::size_t kMaxName = 80;

}  // namespace

// A slice's name is read at a glance: "(anonymous namespace)::" goes, and
// so do the parameters of the functions a lambda is in
// ("skynet(gort::Chan<long>, long)::{lambda()#1}" -> "skynet(...)::{lambda()#1}").
// Long names are clipped.
std::string short_goroutine_name(const std::string& name) {
  std::string s;
  constexpr std::string_view anon = "(anonymous namespace)::";
  for (std::size_t i = 0; i < name.size();) {
    if (name.compare(i, anon.size(), anon) == 0) {
      i += anon.size();
      continue;
    }
    if (name[i] == '(') {
      // The matching ')': an enclosing function's parameters if "::" follows.
      std::size_t j = i;
      for (int depth = 0; j < name.size(); ++j) {
        if (name[j] == '(') depth++;
        else if (name[j] == ')' && --depth == 0) break;
      }
      if (j < name.size() && j > i + 1 && name.compare(j + 1, 2, "::") == 0) {
        s += "(...)";
        i = j + 1;
        continue;
      }
    }
    s += name[i++];
  }
  if (s.size() > kMaxName) s = s.substr(0, kMaxName - 3) + "...";
  return s;
}

Symbolizer::Symbolizer(const std::vector<Module>& modules) {
  if (modules.empty()) return;
  static char* debuginfo_path = nullptr;
  static const Dwfl_Callbacks callbacks = {dwfl_build_id_find_elf, dwfl_standard_find_debuginfo,
                                           dwfl_offline_section_address, &debuginfo_path};
  dwfl_ = dwfl_begin(&callbacks);
  if (dwfl_ == nullptr) return;
  dwfl_report_begin(dwfl_);
  for (const Module& m : modules) {
    // Only regular files: a path that became a FIFO or a device must not
    // block or stream (the trace is untrusted input).
    struct stat st {};
    if (m.path.empty() || m.path[0] != '/' || ::stat(m.path.c_str(), &st) != 0 || !S_ISREG(st.st_mode)) continue;
    // The bias is where the process had it: base = bias, not adding p_vaddr.
    dwfl_report_elf(dwfl_, m.path.c_str(), m.path.c_str(), -1, m.bias, false);
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
}

Symbolizer::~Symbolizer() {
  if (dwfl_) dwfl_end(dwfl_);
}

std::string Symbolizer::function_at(std::uint64_t pc) {
  if (dwfl_ == nullptr || pc == 0 || dwfl_addrmodule(dwfl_, pc) == nullptr) return "";
  // The outermost source frame is the machine function (the thunk), not
  // what is inlined at its first instruction.
  std::vector<inspect::SourceFrame> frames = inspect::symbolize(dwfl_, pc, true);
  const std::string& f = frames.back().func;
  return f.rfind("0x", 0) == 0 ? "" : f;
}

// As Stacks::start_location: "void gort::detail::start<Fn>(void*)" calls
// the goroutine's callable, so Fn names it; a function pointer's Fn is only
// its type ("void (*)(int)"), and fnword is the function itself.
const std::string& Symbolizer::start_function(std::uint64_t startpc, std::uint64_t fnword) {
  static const std::string none;
  if (dwfl_ == nullptr) return none;
  auto th = thunks_.find(startpc);
  if (th == thunks_.end()) {
    std::string thunk = function_at(startpc), name;
    bool by_fnword = false;
    for (std::string_view prefix : {"gort::detail::start<", "gort::detail::start_heap<"}) {
      std::size_t b = thunk.find(prefix), e = thunk.rfind(">(");
      if (b == std::string::npos || e == std::string::npos || e < b + prefix.size()) continue;
      name = thunk.substr(b + prefix.size(), e - b - prefix.size());
      by_fnword = name.find("(*)(") != std::string::npos;
      break;
    }
    if (name.empty() && !thunk.empty()) name = inspect::short_func(thunk);  // not a thunk: what it is
    th = thunks_.emplace(startpc, Thunk{short_goroutine_name(name), by_fnword}).first;
  }
  if (!th->second.by_fnword || fnword == 0) return th->second.name;
  auto fn = by_fnword_.find(fnword);
  if (fn == by_fnword_.end()) {
    std::string f = function_at(fnword);
    fn = by_fnword_.emplace(fnword, f.empty() ? "" : short_goroutine_name(inspect::short_func(f))).first;
  }
  return fn->second.empty() ? th->second.name : fn->second;
}

std::unordered_map<std::uint64_t, std::string> goroutine_names(const Trace& t) {
  const NameTable table = goroutine_name_table(t);
  std::unordered_map<std::uint64_t, std::string> names;
  names.reserve(table.of.size());
  for (auto [goid, i] : table.of) names.emplace(goid, table.functions[i]);
  return names;
}

NameTable goroutine_name_table(const Trace& t) {
  NameTable table;
  Symbolizer sym(t.modules);
  std::unordered_map<std::string, std::uint32_t> index{{"", 0}};
  for (const Event& e : t.events) {
    if ((e.type != GORT_TRACE_EV_GO_CREATE && e.type != GORT_TRACE_EV_GO_EXISTING) || e.arg(0) == 0) continue;
    auto [it, fresh] = table.of.try_emplace(e.arg(0), 0);
    if (!fresh) continue;  // the first GO_CREATE (or GO_EXISTING) of a goid names it
    const std::string& name = sym.start_function(e.arg(2), e.arg(3));
    auto [ni, added] = index.try_emplace(name, static_cast<std::uint32_t>(table.functions.size()));
    if (added) table.functions.push_back(name);
    it->second = ni->second;
  }
  return table;
}

std::string goroutine_label(std::uint64_t goid, const std::unordered_map<std::uint64_t, std::string>& names) {
  std::string s = "G" + std::to_string(goid);
  if (auto it = names.find(goid); it != names.end() && !it->second.empty()) s += " " + it->second;
  return s;
}

std::string goroutine_label(std::uint64_t goid, const NameTable& names) {
  std::string s = "G" + std::to_string(goid);
  if (const std::string& f = names.function(goid); !f.empty()) s += " " + f;
  return s;
}

}  // namespace gort::trace
