// Addresses to source frames with libdwfl; see gort/inspect/symbolize.h.
#include "gort/inspect/symbolize.h"

#include <cxxabi.h>
#include <dwarf.h>
#include <elfutils/libdw.h>
#include <elfutils/libdwfl.h>

#include <cstdio>
#include <cstdlib>
#include <string_view>

namespace gort::inspect {

namespace {

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
// The compilation unit that has addr (a module address), by walking every
// CU: libdw looks only in .debug_aranges when a file has one, and clang
// writes no entries there for C++ (only the assembler's CUs are in it), so
// libdw's own lookup misses every clang-compiled function.
bool find_cu(Dwfl_Module* mod, Dwarf_Addr addr, Dwarf_Die* out, Dwarf_Addr* bias) {
  Dwarf* dw = dwfl_module_getdwarf(mod, bias);
  if (dw == nullptr) return false;
  Dwarf_Off off = 0, next = 0;
  std::size_t hsize = 0;
  while (dwarf_nextcu(dw, off, &next, &hsize, nullptr, nullptr, nullptr) == 0) {
    if (dwarf_offdie(dw, off + hsize, out) != nullptr && dwarf_haspc(out, addr - *bias) == 1) return true;
    off = next;
  }
  return false;
}

// The innermost function, inlined call or block that has pc, below parent.
// dwarf_getscopes does this, but it skips every DIE without an address
// range, namespaces and classes included: GCC puts a function's
// definition at the top of its CU (pointing at the declaration inside the
// namespace), clang nests it in its namespaces, and there libdw finds
// nothing. So this walk goes into those without asking for a range.
bool innermost_scope(Dwarf_Die* parent, Dwarf_Addr pc, Dwarf_Die* out, int depth = 0) {
  Dwarf_Die child;
  if (depth > 64 || dwarf_child(parent, &child) != 0) return false;
  do {
    switch (dwarf_tag(&child)) {
      case DW_TAG_namespace:
      case DW_TAG_class_type:
      case DW_TAG_structure_type:
      case DW_TAG_union_type:
        if (innermost_scope(&child, pc, out, depth + 1)) return true;
        break;
      case DW_TAG_subprogram:
      case DW_TAG_inlined_subroutine:
      case DW_TAG_lexical_block:
        if (dwarf_haspc(&child, pc) == 1) {
          *out = child;
          innermost_scope(&child, pc, out, depth + 1);  // a deeper one, if any
          return true;
        }
        break;
      default:
        break;
    }
  } while (dwarf_siblingof(&child, &child) == 0);
  return false;
}

std::string decl_file(Dwarf_Die* die) {
  const char* f = dwarf_decl_file(die);
  return f ? f : "";
}

}  // namespace

std::string demangle(const char* name) {
  int status = 0;
  char* d = abi::__cxa_demangle(name, nullptr, nullptr, &status);
  if (status != 0 || d == nullptr) return name;
  std::string s(d);
  std::free(d);
  return s;
}

// pc is a return address (or the exact pc when exact): look up pc-1 so that
// a call at the end of a function is attributed to that function. One
// machine frame gives several source frames when calls were inlined into it:
// they come innermost first, each with the line it was at (the innermost's
// from the line table, the outer ones from DW_AT_call_file/line).
std::vector<SourceFrame> symbolize(Dwfl* dwfl, std::uintptr_t pc, bool exact) {
  std::vector<SourceFrame> out;
  SourceFrame f;
  std::uintptr_t lookup = exact ? pc : pc - 1;
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
    // An assembler CU's .debug_aranges entry may cover clang-compiled
    // code too: libdw then answers with the wrong CU (and its line table).
    if (cu != nullptr && dwarf_haspc(cu, lookup - bias) != 1) cu = nullptr;
    Dwarf_Die found;
    if (cu == nullptr && find_cu(mod, lookup, &found, &bias)) {
      cu = &found;
      f.file.clear();
      f.line = 0;
      if (Dwarf_Line* line = dwarf_getsrc_die(cu, lookup - bias)) {
        int lineno = 0;
        if (const char* file = dwarf_linesrc(line, nullptr, nullptr)) {
          dwarf_lineno(line, &lineno);
          f.file = file;
          f.line = lineno;
        }
      }
    }
    Dwarf_Die* scopes = nullptr;
    int n = cu ? dwarf_getscopes(cu, lookup - bias, &scopes) : 0;
    Dwarf_Die innermost;
    bool have = false;
    if (n > 0) {
      innermost = scopes[0];
      have = true;
    } else if (cu != nullptr) {
      have = innermost_scope(cu, lookup - bias, &innermost);  // clang's nesting (above)
    }
    std::free(scopes);
    scopes = nullptr;
    n = 0;
    // dwarf_getscopes follows an inlined function into its abstract
    // definition; the chain of concrete callers comes from the innermost
    // scope's own parents (what eu-addr2line -i does).
    if (have) n = dwarf_getscopes_die(&innermost, &scopes);
    Dwarf_Files* files = nullptr;
    std::size_t nfiles = 0;
    if (cu) dwarf_getsrcfiles(cu, &files, &nfiles);
    std::string file = f.file;
    int line = f.line;
    for (int i = 0; i < n; ++i) {
      int tag = dwarf_tag(&scopes[i]);
      if (tag != DW_TAG_inlined_subroutine && tag != DW_TAG_subprogram) continue;
      SourceFrame g;
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

std::string short_func(const std::string& func) {
  // Drop a trailing " const" and the parameter list that matches the last ')'.
  std::string f = func;
  // GCC's specialised copies: "parked(gort::Chan<int>) [clone .isra.0]".
  for (std::size_t c; (c = f.rfind(" [clone ")) != std::string::npos && f.back() == ']';) f.resize(c);
  if (f.size() > 6 && f.compare(f.size() - 6, 6, " const") == 0) f.resize(f.size() - 6);
  if (f.empty() || f.back() != ')') return f;
  // A lambda's DWARF name ends in "operator()" without a parameter list.
  if (f.size() >= 10 && f.compare(f.size() - 10, 10, "operator()") == 0) return f;
  int depth = 0;
  for (std::size_t i = f.size(); i-- > 0;) {
    if (f[i] == ')') depth++;
    else if (f[i] == '(' && --depth == 0) return i > 0 ? f.substr(0, i) : f;
  }
  return f;
}

// Frames Go would not show: the runtime's own, and the inlined wrappers
// gort::go / gort::run put around the user's callable.
bool is_runtime_frame(const SourceFrame& f) {
  static const char* const prefixes[] = {"gort::rt::", "gort::detail::", "void gort::detail::",
                                         "void gort::rt::", "void gort::go<", "int gort::run<",
                                         // lambdas inside gort::run / gort::go, named from DWARF scopes
                                         "run<", "go<", "gort::run<", "gort::go<",
                                         // the runtime's extern "C" code (assembly, entry points); not
                                         // every "gort_": a user's gort_helper() is the user's
                                         "gort_gostart", "gort_goroutine_main", "gort_swapctx",
                                         "gort_systemstack_switch", "gort_async_preempt", "gort_morestack"};
  for (const char* p : prefixes)
    if (f.func.rfind(p, 0) == 0) return true;
  constexpr std::string_view wrappers = "include/gort/runtime.h";
  return f.decl.size() >= wrappers.size() && f.decl.compare(f.decl.size() - wrappers.size(), wrappers.size(), wrappers) == 0;
}

bool is_gort_frame(const SourceFrame& f) {
  if (is_runtime_frame(f)) return true;
  // The function's qualified name: the last word outside any brackets
  // before the parameter list. A template function's name starts with its
  // return type, which may name gort's types or have brackets of its own:
  // "unsigned long gort::select<...>(...)", "decltype ({parm#1}())
  // gort::syscall<...>(...)", "gort::Chan<int> make_jobs()" (the user's).
  std::string_view name = f.func;
  std::size_t word = 0, fn = std::string_view::npos;
  int depth = 0;
  for (std::size_t i = 0; i < name.size(); ++i) {
    char c = name[i];
    if (c == '(' || c == '<' || c == '[' || c == '{') {
      if (depth == 0 && c == '(') fn = word;  // the last top-level '(' opens the parameters
      ++depth;
    } else if ((c == ')' || c == '>' || c == ']' || c == '}') && depth > 0) {
      --depth;
    } else if (c == ' ' && depth == 0) {
      word = i + 1;
    }
  }
  if (fn == std::string_view::npos) fn = word;
  return name.compare(fn, 6, "gort::") == 0;
}

}  // namespace gort::inspect
