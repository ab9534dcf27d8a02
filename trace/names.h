// Goroutine names for the timeline: "G7 worker", from the start function
// GO_CREATE recorded, named with the ELF files of the MODULE records the
// way the inspector names a goroutine's start (Stacks::start_location).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "reader.h"

typedef struct Dwfl Dwfl;

namespace gort::trace {

// Symbols of the trace's modules, at the addresses they had in the traced
// process. Files that are gone or unreadable are left out silently: their
// goroutines are then named by number only.
class Symbolizer {
 public:
  explicit Symbolizer(const std::vector<Module>& modules);
  ~Symbolizer();
  Symbolizer(const Symbolizer&) = delete;
  Symbolizer& operator=(const Symbolizer&) = delete;

  // The start function of a goroutine, shortened ("worker",
  // "main::{lambda()#1}"), or "" if unknown. startpc is the invoke thunk
  // (gort::detail::start<Fn>), fnword the first word of the callable.
  // The reference lives as long as the Symbolizer.
  const std::string& start_function(std::uint64_t startpc, std::uint64_t fnword);

 private:
  std::string function_at(std::uint64_t pc);  // the machine function's name, "" if none

  // What a thunk says of its goroutines: the name, or that a function
  // pointer's fnword names them (and `name` if fnword names nothing).
  struct Thunk {
    std::string name;
    bool by_fnword = false;
  };
  Dwfl* dwfl_ = nullptr;
  // Symbolizing is slow (DWARF): each pc once. A trace has millions of
  // goroutines but few start functions; fnword varies with the callable's
  // captures, so it is looked up only where it names the function.
  std::unordered_map<std::uint64_t, Thunk> thunks_;             // by startpc
  std::unordered_map<std::uint64_t, std::string> by_fnword_;   // short name, "" if none
};

// A start function's name as a slice shows it: without "(anonymous
// namespace)::" and the parameters of the functions a lambda is in
// ("skynet(...)::{lambda()#1}"), at most 80 characters.
std::string short_goroutine_name(const std::string& name);

// goid -> start function ("" when unknown) for every GO_CREATE of the trace.
std::unordered_map<std::uint64_t, std::string> goroutine_names(const Trace& t);

// The same, with each distinct name held once: what the converters use, as
// a trace can name millions of goroutines with a handful of functions.
struct NameTable {
  std::vector<std::string> functions{""};               // distinct names; [0] is "" (unknown)
  std::unordered_map<std::uint64_t, std::uint32_t> of;  // goid -> index in functions
  // The goroutine's start function, "" if unknown.
  const std::string& function(std::uint64_t goid) const {
    auto it = of.find(goid);
    return functions[it == of.end() ? 0 : it->second];
  }
};
NameTable goroutine_name_table(const Trace& t);

// "G7 worker", or "G7" for a goroutine whose function is unknown (created
// before the trace started, or its module is gone).
std::string goroutine_label(std::uint64_t goid, const std::unordered_map<std::uint64_t, std::string>& names);
std::string goroutine_label(std::uint64_t goid, const NameTable& names);

}  // namespace gort::trace
