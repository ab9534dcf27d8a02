// The ELF files mapped into a target (the executable, shared libraries),
// where each is loaded, and a Dwfl session over them for symbols and lines.
// Internal to gort_inspect.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "gort/inspect/target.h"

typedef struct Dwfl Dwfl;

namespace gort::inspect {

struct Module {
  std::string path;       // as the target names it
  std::string open_path;  // what we open (the executable: Target::exe_path())
  std::uint64_t low = 0, high = 0;  // the address range of its mappings
  std::uint64_t bias = 0;           // runtime address - link-time address
  std::uint64_t eh_frame_hdr = 0;   // runtime address of .eh_frame_hdr, 0 if none
  std::uint64_t text_lo = 0, text_hi = 0;  // runtime range of its executable segments
  bool is_exe = false;
};

class Modules {
 public:
  // Reads the target's mappings and the ELF files behind them. The main
  // executable's bias is auxv AT_ENTRY minus the file's e_entry, checked
  // against AT_PHDR (throws Error if they disagree: the file is not what
  // the process runs).
  explicit Modules(Target& t);
  ~Modules();
  Modules(const Modules&) = delete;
  Modules& operator=(const Modules&) = delete;

  const std::vector<Module>& all() const { return mods_; }
  const Module* exe() const;
  const Module* find(std::uint64_t addr) const;  // by text range first, then by whole range
  // Symbols and lines for the target's modules (made on first use).
  Dwfl* dwfl();

 private:
  std::vector<Module> mods_;
  Dwfl* dwfl_ = nullptr;
};

}  // namespace gort::inspect
