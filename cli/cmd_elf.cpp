// gort elf FILE: the readelf -h view of a file, plus what an inspector of
// gort programs wants next to it: the symbol at the entry point, the program
// headers that place the image in memory, and the runtime's descriptor.
#include <elf.h>

#include <cctype>
#include <cinttypes>
#include <cstdio>
#include <string>
#include <vector>

#include "commands.h"
#include "gort/debug_layout.h"
#include "gort/inspect/elf.h"
#include "gort/inspect/error.h"
#include "json.h"

namespace gort::cli {

using namespace gort::inspect;

const char kElfHelp[] =
    "Usage: gort elf [--json] [--any-machine] FILE\n"
    "\n"
    "Prints FILE's ELF header exactly as 'readelf -h' does, then the symbol at the\n"
    "entry point, the program headers that place the program in memory (LOAD,\n"
    "INTERP, DYNAMIC, NOTE, TLS, GNU_EH_FRAME), what a core file's notes say of its\n"
    "process, and whether FILE carries a gort runtime: its debug descriptor, found\n"
    "by the section " GORT_DEBUG_SECTION " (which strip keeps) or the symbol\n"
    GORT_DEBUG_SYMBOL ", and the descriptor's version.\n"
    "\n"
    "  --json         one JSON object instead: the header fields, every program header,\n"
    "                 the core notes, the descriptor (addresses as \"0x...\" strings)\n"
    "  --any-machine  also read ELF files for other machines, classes and byte orders\n"
    "                 (by default anything but x86-64 ELF64 is an error, as for every\n"
    "                 other gort command: no such file can be a gort program gort reads)\n"
    "\n"
    "Exit status: 0 ok; 1 FILE is missing, not ELF, truncated or for another machine\n"
    "(one line on stderr says which); 2 bad usage.\n";

namespace {

std::string hex(std::uint64_t v) {
  char buf[24];
  std::snprintf(buf, sizeof buf, "0x%" PRIx64, v);
  return buf;
}

// The segments a reader of a process image cares about; the others (PHDR,
// GNU_STACK, GNU_RELRO, GNU_PROPERTY) are readelf -l's business.
bool matters(const Segment& s) {
  switch (s.type) {
    case PT_LOAD: case PT_INTERP: case PT_DYNAMIC: case PT_NOTE: case PT_TLS: case PT_GNU_EH_FRAME: return true;
    default: return false;
  }
}

std::string entry_symbol_text(const ElfInfo& e) {
  if (e.entry_symbol.empty()) return "(none)";
  std::string s = e.entry_symbol;
  if (e.entry_symbol_offset != 0) s += "+" + hex(e.entry_symbol_offset);
  return s + " (" + e.entry_symbol_table + ")";
}

std::string gort_text(const ElfInfo& e) {
  if (e.is_core()) return "not recorded in a core file (use 'gort goroutines --core CORE --exe BIN')";
  if (!e.has_gort_runtime) return "no";
  std::string where = e.gort_descriptor_source + " at " + hex(e.gort_descriptor_vaddr);
  if (e.gort_descriptor_offset == 0) return "yes, but the descriptor is not in this file (" + where + ")";
  if (!e.gort_descriptor_magic_ok) return "yes, but the descriptor has a bad magic number (" + where + ")";
  std::string v = "descriptor version " + std::to_string(e.gort_descriptor_version);
  if (!e.gort_descriptor_supported())
    return "yes (" + v + ", which this gort cannot read: it reads version " +
           std::to_string(GORT_DEBUG_VERSION) + "; " + where + ")";
  return "yes (" + v + ", " + where + ")";
}

void print_text(const ElfInfo& e) {
  // The header block is byte for byte readelf's, trailing blank included,
  // so that it diffs clean against `readelf -h`.
  std::printf("ELF Header:\n");
  for (const HeaderField& f : header_fields(e)) {
    if (f.label == "Magic") std::printf("  Magic:   %s \n", f.value.c_str());
    else std::printf("  %-35s%s\n", (f.label + ":").c_str(), f.value.c_str());
  }
  if (!e.is_core()) {
    std::printf("\n  %-35s%s\n", "Entry point symbol:", entry_symbol_text(e).c_str());
    if (!e.interpreter.empty()) std::printf("  %-35s%s\n", "Program interpreter:", e.interpreter.c_str());
    if (!e.build_id.empty()) std::printf("  %-35s%s\n", "Build ID:", e.build_id.c_str());
  }

  std::size_t others = 0;
  bool any = false;
  for (const Segment& s : e.segments) {
    if (!matters(s)) {
      ++others;
      continue;
    }
    if (!any) {
      std::printf("\nProgram headers:\n");
      std::printf("  Type           Offset   VirtAddr           FileSiz  MemSiz   Flg Align\n");
      any = true;
    }
    std::printf("  %-14s 0x%6.6" PRIx64 " 0x%16.16" PRIx64 " 0x%6.6" PRIx64 " 0x%6.6" PRIx64 " %s %#" PRIx64 "\n",
                s.type_name().c_str(), s.offset, s.vaddr, s.filesz, s.memsz, s.flags_text().c_str(), s.align);
    if (s.type == PT_INTERP && !e.interpreter.empty())
      std::printf("      [Requesting program interpreter: %s]\n", e.interpreter.c_str());
  }
  if (others > 0) std::printf("  (%zu more: see 'readelf -l')\n", others);

  if (e.core) {
    const CoreInfo& c = *e.core;
    std::printf("\nCore file:\n");
    std::printf("  %-35s%d\n", "Process ID:", c.pid);
    std::printf("  %-35s%s\n", "Command:", c.args.empty() ? c.command.c_str() : c.args.c_str());
    std::printf("  %-35s%zu (NT_PRSTATUS notes)\n", "Threads:", c.threads);
    std::printf("  %-35s%d\n", "Signal:", c.signal);
    std::printf("  %-35s%zu (NT_FILE)\n", "Mapped files:", c.file_mappings);
    if (c.at_entry != 0) std::printf("  %-35s%s\n", "AT_ENTRY:", hex(c.at_entry).c_str());
  }
  std::printf("\ngort runtime: %s\n", gort_text(e).c_str());
}

void print_json(const ElfInfo& e) {
  Json j(stdout);
  j.begin_object();
  j.field("file", e.path);
  // The header, with readelf's spelling of each value, then the raw numbers.
  for (const HeaderField& f : header_fields(e)) {
    // Keys from readelf's labels: "Entry point address" -> "entry_point_address".
    std::string key;
    for (char c : f.label) key += (c == ' ' || c == '/') ? '_' : static_cast<char>(std::tolower(c));
    if (key == "version" && f.value.find("0x") == 0) key = "e_version";
    j.field(key.c_str(), f.value);
  }
  j.field("e_type", static_cast<int>(e.e_type));
  j.field("e_machine", static_cast<int>(e.e_machine));
  j.hex("entry", e.e_entry);
  j.field("pie", e.is_pie);
  j.field("native", e.is_native());
  j.field("entry_symbol", e.entry_symbol);
  j.hex("entry_symbol_offset", e.entry_symbol_offset);
  j.field("entry_symbol_table", e.entry_symbol_table);
  j.field("interpreter", e.interpreter);
  j.field("build_id", e.build_id);
  j.begin_array("program_headers");
  for (const Segment& s : e.segments) {
    j.begin_object();
    j.field("type", s.type_name());
    j.hex("offset", s.offset);
    j.hex("vaddr", s.vaddr);
    j.hex("paddr", s.paddr);
    j.hex("filesz", s.filesz);
    j.hex("memsz", s.memsz);
    std::string flags = s.flags_text();
    flags.erase(flags.find_last_not_of(' ') + 1);  // "R  " -> "R"
    j.field("flags", flags);
    j.hex("align", s.align);
    j.end_object();
  }
  j.end_array();
  if (e.core) {
    const CoreInfo& c = *e.core;
    j.begin_object("core");
    j.field("pid", c.pid);
    j.field("command", c.command);
    j.field("args", c.args);
    j.field("threads", static_cast<std::uint64_t>(c.threads));
    j.field("signal", c.signal);
    j.field("file_mappings", static_cast<std::uint64_t>(c.file_mappings));
    j.hex("at_entry", c.at_entry);
    j.hex("at_phdr", c.at_phdr);
    j.hex("at_base", c.at_base);
    j.end_object();
  }
  j.begin_object("gort");
  j.field("runtime", e.has_gort_runtime);
  if (e.has_gort_runtime) {
    j.field("source", e.gort_descriptor_source);
    j.hex("vaddr", e.gort_descriptor_vaddr);
    j.hex("offset", e.gort_descriptor_offset);
    j.field("size", e.gort_descriptor_size);
    j.field("magic_ok", e.gort_descriptor_magic_ok);
    j.field("version", e.gort_descriptor_version);
    j.field("supported", e.gort_descriptor_supported());
  }
  j.end_object();
  j.end_object();
}

}  // namespace

int cmd_elf(int argc, char** argv) {
  bool json = false;
  ReadElfOptions opts;
  std::vector<std::string> files;
  bool options_done = false;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (!options_done && a == "--") {
      options_done = true;
    } else if (!options_done && a == "--json") {
      json = true;
    } else if (!options_done && a == "--any-machine") {
      opts.any_machine = true;
    } else if (!options_done && a.size() > 1 && a[0] == '-') {
      throw UsageError("unknown option '" + a + "'");
    } else {
      files.push_back(a);
    }
  }
  if (files.empty()) throw UsageError("no FILE given");
  if (files.size() > 1) throw UsageError("one FILE at a time (got " + std::to_string(files.size()) + ")");

  ElfInfo e = read_elf(files[0], opts);
  if (json) print_json(e);
  else print_text(e);
  return std::fflush(stdout) == 0 ? 0 : 1;
}

}  // namespace gort::cli
