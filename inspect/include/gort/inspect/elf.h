// What an ELF file says about itself: the header `readelf -h` prints, the
// entry point and the symbol at it, the program headers, the notes of a core
// file, and whether the file carries a gort runtime (its debug descriptor,
// see gort/debug_layout.h).
//
// read_elf() reads through elfutils' libelf; it rejects a file it cannot
// vouch for (missing, not ELF, truncated, another machine) with one Error
// line that names the file and the problem, so that every command of the
// CLI reports bad input the same way.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

namespace gort::inspect {

// One program header (GElf_Phdr, widened to 64 bits).
struct Segment {
  std::uint32_t type = 0;   // PT_*
  std::uint32_t flags = 0;  // PF_R | PF_W | PF_X
  std::uint64_t offset = 0, vaddr = 0, paddr = 0, filesz = 0, memsz = 0, align = 0;

  bool contains(std::uint64_t addr) const { return addr >= vaddr && addr - vaddr < memsz; }
  std::string type_name() const;   // as readelf -l: "LOAD", "GNU_EH_FRAME", "LOOS+0x..."
  std::string flags_text() const;  // as readelf -l: "R E", "RW "
};

// What the notes of a core file (ET_CORE) say about the process it was.
struct CoreInfo {
  int pid = 0;              // NT_PRPSINFO pr_pid (0 if absent)
  std::string command;      // NT_PRPSINFO pr_fname: the executable's name, at most 15 chars
  std::string args;         // NT_PRPSINFO pr_psargs: the start of the command line
  std::size_t threads = 0;  // NT_PRSTATUS notes: one per thread
  int signal = 0;           // pr_cursig of the first thread (the signal that killed it; 0 for gcore)
  std::size_t file_mappings = 0;  // entries of NT_FILE (mapped files)
  // From NT_AUXV (0 if absent). AT_ENTRY minus the executable's e_entry is
  // the executable's load bias in the dumped process.
  std::uint64_t at_entry = 0, at_phdr = 0, at_base = 0;
};

// The ELF header, decoded (readelf -h) plus what the rest of the file says.
struct ElfInfo {
  std::string path;
  std::uint64_t file_size = 0;

  // The header fields, as in the file (GElf_Ehdr). e_phnum, e_shnum and
  // e_shstrndx may be escape values (PN_XNUM, 0, SHN_XINDEX) in files with
  // very many segments or sections: the real counts are phnum/shnum/shstrndx.
  std::array<std::uint8_t, 16> e_ident{};
  std::uint16_t e_type = 0, e_machine = 0;
  std::uint32_t e_version = 0;
  std::uint64_t e_entry = 0;  // link-time entry point: a PIE's load bias is auxv AT_ENTRY - e_entry
  std::uint64_t e_phoff = 0, e_shoff = 0;
  std::uint32_t e_flags = 0;
  std::uint16_t e_ehsize = 0, e_phentsize = 0, e_phnum = 0, e_shentsize = 0, e_shnum = 0, e_shstrndx = 0;
  std::size_t phnum = 0, shnum = 0, shstrndx = 0;

  bool is_elf64() const { return e_ident[4] == 2; }       // EI_CLASS == ELFCLASS64
  bool is_little_endian() const { return e_ident[5] == 1; }  // EI_DATA == ELFDATA2LSB
  bool is_core() const { return e_type == 4; }             // ET_CORE
  // x86-64, 64-bit, little endian: what gort and its inspector run on.
  bool is_native() const;

  // ET_DYN with DF_1_PIE in the first DT_FLAGS_1 of its dynamic section:
  // binutils' rule for "DYN (Position-Independent Executable file)" (a
  // shared library with PT_INTERP, like libc.so.6, is not one).
  bool is_pie = false;

  // The symbol at e_entry, from .symtab, else .dynsym; empty if none (stripped,
  // or e_entry is 0). entry_symbol_offset is e_entry - its value when only a
  // symbol containing e_entry was found.
  std::string entry_symbol;
  std::uint64_t entry_symbol_offset = 0;
  std::string entry_symbol_table;  // ".symtab" or ".dynsym"

  std::vector<Segment> segments;  // every program header, in file order
  std::string interpreter;        // PT_INTERP's path, empty if none
  std::string build_id;           // NT_GNU_BUILD_ID in hex, empty if none

  // PT_LOAD segments, in file order (for address -> file mapping and load biases).
  std::vector<Segment> load_segments() const;
  // The PT_LOAD segment whose memory image contains vaddr, or nullptr.
  const Segment* find_load_segment(std::uint64_t vaddr) const;
  // The file offset holding vaddr, if a PT_LOAD segment has it in the file
  // (not in its zero-filled .bss part).
  std::optional<std::uint64_t> vaddr_to_offset(std::uint64_t vaddr) const;
  // The first program header of a type (PT_GNU_EH_FRAME, PT_DYNAMIC, ...), or nullptr.
  const Segment* find_segment(std::uint32_t type) const;

  // Core files only.
  std::optional<CoreInfo> core;

  // The gort runtime's debug descriptor: found through the section
  // GORT_DEBUG_SECTION (kept by strip), else through the symbol
  // GORT_DEBUG_SYMBOL. Its vaddr is link-time: add the load bias to find it
  // in a process or core. magic/version are read from the file (the same as
  // in the process; the addresses inside need relocating, see debug_layout.h).
  bool has_gort_runtime = false;
  std::string gort_descriptor_source;      // "section .gort_debug" or "symbol gort_debug_descriptor"
  std::uint64_t gort_descriptor_vaddr = 0;
  std::uint64_t gort_descriptor_offset = 0;  // in the file; 0 if not in the file (NOBITS)
  std::uint64_t gort_descriptor_size = 0;    // of the section or symbol
  bool gort_descriptor_magic_ok = false;     // magic == GORT_DEBUG_MAGIC
  std::uint32_t gort_descriptor_version = 0;
  // True if this inspector can decode the descriptor: magic ok and version
  // GORT_DEBUG_VERSION.
  bool gort_descriptor_supported() const;
};

struct ReadElfOptions {
  // Accept ELF files for any machine, class and byte order (`gort elf
  // --any-machine`). By default anything but x86-64 ELF64 little-endian is an
  // Error, since nothing else can be a gort program this inspector reads.
  bool any_machine = false;
};

// Reads path. Throws Error, one line naming the file, if it is missing, a
// directory, not a regular file, unreadable, not ELF, truncated (shorter than
// its headers say), or (unless any_machine) for another machine.
ElfInfo read_elf(const std::string& path, const ReadElfOptions& options = {});

// ---- Spelling, exactly as binutils' readelf 2.40 spells it ----

// One line of `readelf -h`: "  <label>:<padding><value>".
struct HeaderField {
  std::string label;  // "Class", "Entry point address", ...
  std::string value;  // "ELF64", "0x1060", "64 (bytes into file)", ...
};
// The lines of `readelf -h` after "ELF Header:", in its order, starting
// with "Magic". e_flags are printed in hex without readelf's per-machine
// decoding (which x86-64 does not have).
std::vector<HeaderField> header_fields(const ElfInfo& info);

std::string elf_class_name(std::uint8_t ei_class);  // "ELF64"
std::string elf_data_name(std::uint8_t ei_data);    // "2's complement, little endian"
std::string elf_osabi_name(std::uint8_t ei_osabi);  // "UNIX - System V"
std::string elf_type_name(std::uint16_t e_type, bool is_pie);  // "DYN (Position-Independent Executable file)"
std::string elf_machine_name(std::uint16_t e_machine);        // "Advanced Micro Devices X86-64", "AArch64"
std::string segment_type_name(std::uint32_t p_type);          // "LOAD"

}  // namespace gort::inspect
