// The target's ELF modules: see modules.h.
#include "modules.h"

#include <elf.h>
#include <elfutils/libdwfl.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <map>

#include "gort/inspect/error.h"

namespace gort::inspect {

namespace {

// What we need of one ELF file's program headers.
struct ElfLayout {
  bool ok = false;
  std::uint16_t type = 0;
  std::uint64_t entry = 0;
  std::uint64_t first_load = 0;   // p_vaddr of the first PT_LOAD, page-aligned down
  std::uint64_t phdr_vaddr = 0;   // where the program headers are in memory (link time)
  std::uint64_t eh_frame_hdr = 0;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> text;  // [vaddr, vaddr+memsz) of PF_X segments
};

ElfLayout read_layout(const std::string& path) {
  ElfLayout out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ_MMAP, nullptr);
  GElf_Ehdr eh;
  std::size_t phnum = 0;
  if (elf != nullptr && elf_kind(elf) == ELF_K_ELF && gelf_getehdr(elf, &eh) != nullptr && elf_getphdrnum(elf, &phnum) == 0) {
    out.ok = true;
    out.type = eh.e_type;
    out.entry = eh.e_entry;
    bool have_load = false;
    std::uint64_t phdr_from_load = 0;
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr) continue;
      if (ph.p_type == PT_LOAD) {
        if (!have_load) {
          std::uint64_t align = ph.p_align > 1 ? ph.p_align : 4096;
          out.first_load = ph.p_vaddr & ~(align - 1);
          have_load = true;
        }
        if (eh.e_phoff >= ph.p_offset && eh.e_phoff < ph.p_offset + ph.p_filesz)
          phdr_from_load = ph.p_vaddr + (eh.e_phoff - ph.p_offset);
        if (ph.p_flags & PF_X) out.text.emplace_back(ph.p_vaddr, ph.p_vaddr + ph.p_memsz);
      } else if (ph.p_type == PT_PHDR) {
        out.phdr_vaddr = ph.p_vaddr;
      } else if (ph.p_type == PT_GNU_EH_FRAME) {
        out.eh_frame_hdr = ph.p_vaddr;
      }
    }
    if (out.phdr_vaddr == 0) out.phdr_vaddr = phdr_from_load;
  }
  if (elf) elf_end(elf);
  ::close(fd);
  return out;
}

// libdwfl's find_elf callback: the module's userdata is the Module, whose
// open_path we open (libdwfl closes the fd).
int find_elf(Dwfl_Module* mod, void** userdata, const char* name, Dwarf_Addr, char** file_name, Elf** elfp) {
  (void)mod;
  (void)name;
  const auto* m = static_cast<const Module*>(*userdata);
  *elfp = nullptr;
  int fd = ::open(m->open_path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd >= 0) *file_name = ::strdup(m->open_path.c_str());
  return fd;
}

}  // namespace

Modules::Modules(Target& t) {
  std::vector<Mapping> maps = t.mappings();
  // Group the file-backed mappings by file, in address order.
  std::map<std::string, Module> by_path;
  for (const Mapping& m : maps) {
    if (m.path.empty() || m.path[0] != '/') continue;
    auto [it, fresh] = by_path.try_emplace(m.path);
    Module& mod = it->second;
    if (fresh) {
      mod.path = m.path;
      mod.open_path = m.path;
      mod.low = m.start;
      mod.high = m.end;
    } else {
      mod.low = std::min(mod.low, m.start);
      mod.high = std::max(mod.high, m.end);
    }
  }
  const std::uint64_t at_entry = t.auxv(AT_ENTRY), at_phdr = t.auxv(AT_PHDR);
  for (auto& [path, mod] : by_path) {
    if (at_entry >= mod.low && at_entry < mod.high) {
      mod.is_exe = true;
      mod.open_path = t.exe_path();
    }
    ElfLayout l = read_layout(mod.open_path);
    if (!l.ok) continue;  // not an ELF file (a mapped data file)
    if (mod.is_exe) {
      // The entry point ties the file to the process image: the kernel put
      // e_entry + bias in AT_ENTRY and the program headers at AT_PHDR.
      mod.bias = at_entry - l.entry;
      if (at_phdr != 0 && l.phdr_vaddr != 0 && at_phdr != mod.bias + l.phdr_vaddr) {
        char msg[256];
        std::snprintf(msg, sizeof msg,
                      "%s does not match %s: AT_ENTRY gives load bias 0x%llx but AT_PHDR is 0x%llx, not 0x%llx",
                      mod.open_path.c_str(), t.describe().c_str(), static_cast<unsigned long long>(mod.bias),
                      static_cast<unsigned long long>(at_phdr),
                      static_cast<unsigned long long>(mod.bias + l.phdr_vaddr));
        throw Error(msg);
      }
    } else {
      mod.bias = l.type == ET_EXEC ? 0 : mod.low - l.first_load;
    }
    if (l.eh_frame_hdr) mod.eh_frame_hdr = l.eh_frame_hdr + mod.bias;
    for (auto [lo, hi] : l.text) {
      if (mod.text_lo == 0 || lo + mod.bias < mod.text_lo) mod.text_lo = lo + mod.bias;
      mod.text_hi = std::max(mod.text_hi, hi + mod.bias);
    }
    mods_.push_back(mod);
  }
  if (at_entry != 0 && exe() == nullptr) {
    // A static executable or a core without file mappings for it: describe
    // the executable from the file alone.
    ElfLayout l = read_layout(t.exe_path());
    if (l.ok) {
      Module mod;
      mod.path = mod.open_path = t.exe_path();
      mod.is_exe = true;
      mod.bias = at_entry - l.entry;
      mod.low = l.first_load + mod.bias;
      for (auto [lo, hi] : l.text) {
        if (mod.text_lo == 0 || lo + mod.bias < mod.text_lo) mod.text_lo = lo + mod.bias;
        mod.text_hi = std::max(mod.text_hi, hi + mod.bias);
      }
      mod.high = mod.text_hi;
      if (l.eh_frame_hdr) mod.eh_frame_hdr = l.eh_frame_hdr + mod.bias;
      mods_.push_back(mod);
    }
  }
}

Modules::~Modules() {
  if (dwfl_) dwfl_end(dwfl_);
}

const Module* Modules::exe() const {
  for (const Module& m : mods_)
    if (m.is_exe) return &m;
  return nullptr;
}

const Module* Modules::find(std::uint64_t addr) const {
  for (const Module& m : mods_)
    if (addr >= m.text_lo && addr < m.text_hi) return &m;
  for (const Module& m : mods_)
    if (addr >= m.low && addr < m.high) return &m;
  return nullptr;
}

Dwfl* Modules::dwfl() {
  if (dwfl_) return dwfl_;
  static char* debuginfo_path = nullptr;
  static const Dwfl_Callbacks callbacks = {find_elf, dwfl_standard_find_debuginfo, nullptr, &debuginfo_path};
  dwfl_ = dwfl_begin(&callbacks);
  if (dwfl_ == nullptr) throw Error(std::string("libdwfl: ") + dwfl_errmsg(-1));
  dwfl_report_begin(dwfl_);
  for (Module& m : mods_) {
    Dwfl_Module* dm = dwfl_report_module(dwfl_, m.path.c_str(), m.low, m.high);
    if (dm == nullptr) continue;
    void** ud = nullptr;
    dwfl_module_info(dm, &ud, nullptr, nullptr, nullptr, nullptr, nullptr, nullptr);
    if (ud) *ud = &m;
  }
  dwfl_report_end(dwfl_, nullptr, nullptr);
  return dwfl_;
}

}  // namespace gort::inspect
