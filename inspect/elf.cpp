// Reading an ELF file: see gort/inspect/elf.h. Everything past the first
// bytes goes through libelf; what we check by hand is only what libelf does
// not check for us (that the file is as long as its headers say).
#include "gort/inspect/elf.h"

#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstddef>
#include <cstring>
#include <memory>

#include "gort/debug_layout.h"
#include "gort/inspect/error.h"

namespace gort::inspect {

bool ElfInfo::is_native() const {
  return e_ident[EI_CLASS] == ELFCLASS64 && e_ident[EI_DATA] == ELFDATA2LSB && e_machine == EM_X86_64;
}

bool ElfInfo::gort_descriptor_supported() const {
  return has_gort_runtime && gort_descriptor_magic_ok && gort_descriptor_version == GORT_DEBUG_VERSION;
}

std::vector<Segment> ElfInfo::load_segments() const {
  std::vector<Segment> out;
  for (const Segment& s : segments)
    if (s.type == PT_LOAD) out.push_back(s);
  return out;
}

const Segment* ElfInfo::find_load_segment(std::uint64_t vaddr) const {
  for (const Segment& s : segments)
    if (s.type == PT_LOAD && s.contains(vaddr)) return &s;
  return nullptr;
}

std::optional<std::uint64_t> ElfInfo::vaddr_to_offset(std::uint64_t vaddr) const {
  for (const Segment& s : segments)
    if (s.type == PT_LOAD && vaddr >= s.vaddr && vaddr - s.vaddr < s.filesz) return s.offset + (vaddr - s.vaddr);
  return std::nullopt;
}

const Segment* ElfInfo::find_segment(std::uint32_t type) const {
  for (const Segment& s : segments)
    if (s.type == type) return &s;
  return nullptr;
}

namespace {

// An open file and libelf's handle on it, closed on every path out.
class ElfFile {
 public:
  ElfFile(const ElfFile&) = delete;
  ElfFile& operator=(const ElfFile&) = delete;
  ElfFile() = default;
  ~ElfFile() {
    if (elf_) elf_end(elf_);
    if (fd_ >= 0) ::close(fd_);
  }
  int fd_ = -1;
  Elf* elf_ = nullptr;
};

[[noreturn]] void fail(const std::string& path, const std::string& what) { throw Error(path + " " + what); }

std::string libelf_error() {
  const char* m = elf_errmsg(-1);
  return m ? m : "unknown libelf error";
}

// The name a section header gives itself, or "" (stripped string table).
std::string section_name(Elf* elf, std::size_t shstrndx, const GElf_Shdr& sh) {
  const char* n = elf_strptr(elf, shstrndx, sh.sh_name);
  return n ? n : "";
}

Elf_Scn* find_section(Elf* elf, std::size_t shstrndx, const char* name, GElf_Shdr* out) {
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn)) != nullptr;) {
    if (gelf_getshdr(scn, out) != nullptr && section_name(elf, shstrndx, *out) == name) return scn;
  }
  return nullptr;
}

// The checks that need only the first bytes, before libelf is asked: what
// kind of non-ELF the file is, and whether the ELF header itself is whole.
void check_ident(const std::string& path, int fd, std::uint64_t size) {
  unsigned char id[EI_NIDENT] = {};
  ssize_t n = ::pread(fd, id, sizeof id, 0);
  if (n < 0) fail(path, std::string("cannot be read: ") + std::strerror(errno));
  if (size == 0) fail(path, "is not an ELF file (it is empty)");
  bool magic = n >= SELFMAG && std::memcmp(id, ELFMAG, SELFMAG) == 0;
  if (!magic) {
    if (n >= 7 && std::memcmp(id, "!<arch>", 7) == 0) fail(path, "is not an ELF file (it is an ar archive)");
    if (n >= 2 && id[0] == '#' && id[1] == '!') fail(path, "is not an ELF file (it is a script)");
    fail(path, "is not an ELF file");
  }
  std::uint64_t need = id[EI_CLASS] == ELFCLASS32 ? sizeof(Elf32_Ehdr) : sizeof(Elf64_Ehdr);
  if (size < need)
    fail(path, "is truncated (an ELF header needs " + std::to_string(need) + " bytes, the file has " +
                   std::to_string(size) + ")");
}

void check_machine(const ElfInfo& e) {
  if (e.is_native()) return;
  std::uint8_t cls = e.e_ident[EI_CLASS];
  if (cls != ELFCLASS32 && cls != ELFCLASS64)
    fail(e.path, "is an ELF file of unknown class " + std::to_string(cls) + ", not x86-64");
  if (e.e_machine == EM_X86_64 && cls == ELFCLASS32)
    fail(e.path, "is a 32-bit ELF file for x86-64 (the x32 ABI), not x86-64");
  if (e.e_machine == EM_X86_64) fail(e.path, "is a big-endian ELF file, not little-endian x86-64");
  fail(e.path, "is an ELF file for " + elf_machine_name(e.e_machine) + ", not x86-64");
}

void read_header(ElfInfo& e, Elf* elf) {
  GElf_Ehdr eh;
  if (gelf_getehdr(elf, &eh) == nullptr) fail(e.path, "has an unreadable ELF header: " + libelf_error());
  std::copy(std::begin(eh.e_ident), std::end(eh.e_ident), e.e_ident.begin());
  e.e_type = eh.e_type;
  e.e_machine = eh.e_machine;
  e.e_version = eh.e_version;
  e.e_entry = eh.e_entry;
  e.e_phoff = eh.e_phoff;
  e.e_shoff = eh.e_shoff;
  e.e_flags = eh.e_flags;
  e.e_ehsize = eh.e_ehsize;
  e.e_phentsize = eh.e_phentsize;
  e.e_phnum = eh.e_phnum;
  e.e_shentsize = eh.e_shentsize;
  e.e_shnum = eh.e_shnum;
  e.e_shstrndx = eh.e_shstrndx;
}

std::string truncated(const ElfInfo& e, std::uint64_t need, const char* what) {
  return "is truncated (its " + std::string(what) + " end at byte " + std::to_string(need) + ", the file has " +
         std::to_string(e.file_size) + " bytes)";
}

// The section and program header tables, then everything they place in the
// file, must lie inside it. libelf would notice some of this, later and with
// a vaguer message; a core cut short by a full disk is the usual culprit.
void read_tables(ElfInfo& e, Elf* elf) {
  // The section header table first: with extended numbering the real
  // program header count lives in section header 0.
  if (e.e_shoff != 0) {
    std::uint64_t end = e.e_shoff + std::uint64_t{e.e_shentsize} * std::max<std::uint64_t>(e.e_shnum, 1);
    if (end > e.file_size) fail(e.path, truncated(e, end, "section headers"));
  }
  if (elf_getshdrnum(elf, &e.shnum) != 0) fail(e.path, "has unreadable section headers: " + libelf_error());
  if (e.e_shoff != 0 && e.e_shnum == 0) {
    std::uint64_t end = e.e_shoff + std::uint64_t{e.e_shentsize} * e.shnum;
    if (end > e.file_size) fail(e.path, truncated(e, end, "section headers"));
  }
  if (e.shnum > 0 && elf_getshdrstrndx(elf, &e.shstrndx) != 0) e.shstrndx = 0;
  if (elf_getphdrnum(elf, &e.phnum) != 0) fail(e.path, "has unreadable program headers: " + libelf_error());
  if (e.phnum > 0) {
    std::uint64_t end = e.e_phoff + std::uint64_t{e.e_phentsize} * e.phnum;
    if (end > e.file_size) fail(e.path, truncated(e, end, "program headers"));
  }

  for (std::size_t i = 0; i < e.phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr)
      fail(e.path, "has an unreadable program header " + std::to_string(i) + ": " + libelf_error());
    Segment s;
    s.type = ph.p_type;
    s.flags = ph.p_flags;
    s.offset = ph.p_offset;
    s.vaddr = ph.p_vaddr;
    s.paddr = ph.p_paddr;
    s.filesz = ph.p_filesz;
    s.memsz = ph.p_memsz;
    s.align = ph.p_align;
    if (s.filesz > 0 && (s.offset > e.file_size || s.filesz > e.file_size - s.offset))
      fail(e.path, truncated(e, s.offset + s.filesz, ("segments (" + s.type_name() + ")").c_str()));
    e.segments.push_back(s);
  }
  for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn)) != nullptr;) {
    GElf_Shdr sh;
    if (gelf_getshdr(scn, &sh) == nullptr) continue;
    if (sh.sh_type == SHT_NOBITS || sh.sh_size == 0) continue;
    if (sh.sh_offset > e.file_size || sh.sh_size > e.file_size - sh.sh_offset)
      fail(e.path, truncated(e, sh.sh_offset + sh.sh_size,
                             ("sections (" + section_name(elf, e.shstrndx, sh) + ")").c_str()));
  }
}

void read_interpreter(ElfInfo& e, Elf* elf) {
  const Segment* s = e.find_segment(PT_INTERP);
  if (s == nullptr || s->filesz == 0) return;
  Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<int64_t>(s->offset), s->filesz, ELF_T_BYTE);
  if (d == nullptr || d->d_buf == nullptr) return;
  const char* p = static_cast<const char*>(d->d_buf);
  e.interpreter.assign(p, strnlen(p, d->d_size));
}

// binutils' is_pie(): the dynamic section is PT_DYNAMIC's bytes, or the
// .dynamic section's when there are section headers (none if that is NOBITS,
// as in a separate debug file); the file is a PIE if its first DT_FLAGS_1
// has DF_1_PIE. PT_INTERP does not enter into it: libc.so.6 has one.
void read_pie(ElfInfo& e, Elf* elf) {
  if (e.e_type != ET_DYN) return;
  const Segment* dyn = e.find_segment(PT_DYNAMIC);
  if (dyn == nullptr) return;
  std::uint64_t off = dyn->offset, size = dyn->filesz;
  GElf_Shdr sh;
  if (e.shnum > 0 && find_section(elf, e.shstrndx, ".dynamic", &sh) != nullptr) {
    if (sh.sh_size == 0 || sh.sh_type == SHT_NOBITS) return;
    off = sh.sh_offset;
    size = sh.sh_size;
  }
  if (size == 0 || off > e.file_size || size > e.file_size - off) return;
  Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<int64_t>(off), size, ELF_T_DYN);
  if (d == nullptr) return;
  std::size_t n = size / gelf_fsize(elf, ELF_T_DYN, 1, EV_CURRENT);
  for (std::size_t i = 0; i < n; ++i) {
    GElf_Dyn dy;
    if (gelf_getdyn(d, static_cast<int>(i), &dy) == nullptr || dy.d_tag == DT_NULL) break;
    if (dy.d_tag == DT_FLAGS_1) {
      e.is_pie = (dy.d_un.d_val & DF_1_PIE) != 0;
      break;
    }
  }
}

// Calls fn(sym, name, table) for each defined, named symbol of .symtab,
// then of .dynsym, until fn returns false.
template <class Fn>
void for_each_symbol(Elf* elf, Fn fn) {
  for (std::uint32_t want : {SHT_SYMTAB, SHT_DYNSYM}) {
    for (Elf_Scn* scn = nullptr; (scn = elf_nextscn(elf, scn)) != nullptr;) {
      GElf_Shdr sh;
      if (gelf_getshdr(scn, &sh) == nullptr || sh.sh_type != want || sh.sh_entsize == 0) continue;
      Elf_Data* d = elf_getdata(scn, nullptr);
      if (d == nullptr) continue;
      std::size_t n = sh.sh_size / sh.sh_entsize;
      for (std::size_t i = 1; i < n; ++i) {
        GElf_Sym sym;
        if (gelf_getsym(d, static_cast<int>(i), &sym) == nullptr) break;
        if (sym.st_shndx == SHN_UNDEF) continue;
        const char* name = elf_strptr(elf, sh.sh_link, sym.st_name);
        if (name == nullptr || *name == '\0') continue;
        if (!fn(sym, name, want == SHT_SYMTAB ? ".symtab" : ".dynsym")) return;
      }
    }
  }
}

// The symbol at e_entry: an exact match anywhere beats a symbol that merely
// contains it; .symtab (complete) is searched before .dynsym (exports only),
// and a global beats a local or weak one at the same address.
void read_entry_symbol(ElfInfo& e, Elf* elf) {
  if (e.e_entry == 0 || e.is_core()) return;
  struct Best {
    std::string name, table;
    std::uint64_t value = 0;
    int rank = -1;
  } best;
  for_each_symbol(elf, [&](const GElf_Sym& sym, const char* name, const char* table) {
    int type = GELF_ST_TYPE(sym.st_info);
    if (type != STT_FUNC && type != STT_NOTYPE && type != STT_GNU_IFUNC) return true;
    bool exact = sym.st_value == e.e_entry;
    if (!exact && !(e.e_entry > sym.st_value && e.e_entry - sym.st_value < sym.st_size)) return true;
    bool symtab = std::strcmp(table, ".symtab") == 0;
    int rank = (exact ? 4 : 0) + (symtab ? 2 : 0) + (GELF_ST_BIND(sym.st_info) == STB_GLOBAL ? 1 : 0);
    if (rank > best.rank) best = {name, table, sym.st_value, rank};
    return true;
  });
  if (best.rank < 0) return;
  e.entry_symbol = best.name;
  e.entry_symbol_table = best.table;
  e.entry_symbol_offset = e.e_entry - best.value;
}

// The descriptor's leading fields, from the file's bytes at offset.
void read_descriptor_header(ElfInfo& e, Elf* elf) {
  constexpr std::size_t kHead = offsetof(gort_debug_descriptor, size);  // magic + version
  if (e.gort_descriptor_offset == 0 || e.gort_descriptor_offset > e.file_size ||
      e.file_size - e.gort_descriptor_offset < kHead)
    return;
  Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<int64_t>(e.gort_descriptor_offset), kHead, ELF_T_BYTE);
  if (d == nullptr || d->d_size < kHead) return;
  // The descriptor is written by an x86-64 runtime: little-endian, as we are.
  std::uint64_t magic = 0;
  std::uint32_t version = 0;
  std::memcpy(&magic, static_cast<const char*>(d->d_buf) + offsetof(gort_debug_descriptor, magic), sizeof magic);
  std::memcpy(&version, static_cast<const char*>(d->d_buf) + offsetof(gort_debug_descriptor, version),
              sizeof version);
  e.gort_descriptor_magic_ok = magic == GORT_DEBUG_MAGIC;
  e.gort_descriptor_version = version;
}

void read_gort_descriptor(ElfInfo& e, Elf* elf) {
  if (e.is_core()) return;  // a core's descriptor is in memory: find it through the executable
  GElf_Shdr sh;
  if (e.shnum > 0 && find_section(elf, e.shstrndx, GORT_DEBUG_SECTION, &sh) != nullptr) {
    e.has_gort_runtime = true;
    e.gort_descriptor_source = "section " GORT_DEBUG_SECTION;
    e.gort_descriptor_vaddr = sh.sh_addr;
    e.gort_descriptor_offset = sh.sh_type == SHT_NOBITS ? 0 : sh.sh_offset;
    e.gort_descriptor_size = sh.sh_size;
    read_descriptor_header(e, elf);
    return;
  }
  // No such section (a linker script folded it into another): the symbol.
  for_each_symbol(elf, [&](const GElf_Sym& sym, const char* name, const char*) {
    if (std::strcmp(name, GORT_DEBUG_SYMBOL) != 0) return true;
    e.has_gort_runtime = true;
    e.gort_descriptor_source = "symbol " GORT_DEBUG_SYMBOL;
    e.gort_descriptor_vaddr = sym.st_value;
    e.gort_descriptor_offset = e.vaddr_to_offset(sym.st_value).value_or(0);
    e.gort_descriptor_size = sym.st_size;
    read_descriptor_header(e, elf);
    return false;
  });
}

std::string note_name(const Elf_Data* d, const GElf_Nhdr& nh, std::size_t name_off) {
  if (nh.n_namesz == 0) return "";
  const char* p = static_cast<const char*>(d->d_buf) + name_off;
  return std::string(p, strnlen(p, nh.n_namesz));
}

// Walks every PT_NOTE segment: the GNU build ID of executables and
// libraries, and for cores what the kernel or gdb recorded of the process.
void read_notes(ElfInfo& e, Elf* elf) {
  if (e.is_core()) e.core.emplace();
  bool first_thread = true;
  for (const Segment& s : e.segments) {
    if (s.type != PT_NOTE || s.filesz == 0) continue;
    Elf_Data* d = elf_getdata_rawchunk(elf, static_cast<int64_t>(s.offset), s.filesz,
                                       s.align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
    if (d == nullptr) continue;
    GElf_Nhdr nh;
    std::size_t name_off = 0, desc_off = 0;
    for (std::size_t off = 0; off < d->d_size;) {
      std::size_t next = gelf_getnote(d, off, &nh, &name_off, &desc_off);
      if (next == 0) break;
      off = next;
      std::string owner = note_name(d, nh, name_off);
      const auto* desc = static_cast<const unsigned char*>(d->d_buf) + desc_off;
      if (owner == "GNU" && nh.n_type == NT_GNU_BUILD_ID && e.build_id.empty()) {
        static const char kHex[] = "0123456789abcdef";
        for (std::size_t i = 0; i < nh.n_descsz; ++i) {
          e.build_id += kHex[desc[i] >> 4];
          e.build_id += kHex[desc[i] & 15];
        }
      }
      if (!e.core || owner != "CORE" || !e.is_native()) continue;
      // The layouts below are x86-64 Linux's (sys/procfs.h, elf.h).
      CoreInfo& c = *e.core;
      if (nh.n_type == NT_PRSTATUS) {
        ++c.threads;
        if (first_thread && nh.n_descsz >= sizeof(elf_prstatus)) {
          elf_prstatus st;
          std::memcpy(&st, desc, sizeof st);
          c.signal = st.pr_cursig;
          if (c.pid == 0) c.pid = st.pr_pid;
          first_thread = false;
        }
      } else if (nh.n_type == NT_PRPSINFO && nh.n_descsz >= sizeof(elf_prpsinfo)) {
        elf_prpsinfo ps;
        std::memcpy(&ps, desc, sizeof ps);
        c.pid = ps.pr_pid;
        c.command.assign(ps.pr_fname, strnlen(ps.pr_fname, sizeof ps.pr_fname));
        c.args.assign(ps.pr_psargs, strnlen(ps.pr_psargs, sizeof ps.pr_psargs));
        while (!c.args.empty() && c.args.back() == ' ') c.args.pop_back();
      } else if (nh.n_type == NT_FILE && nh.n_descsz >= 2 * sizeof(std::uint64_t)) {
        // long count; long page_size; {start, end, file_ofs}[count]; names
        std::uint64_t count = 0;
        std::memcpy(&count, desc, sizeof count);
        if (count <= (nh.n_descsz - 16) / 24) c.file_mappings = count;
      } else if (nh.n_type == NT_AUXV) {
        for (std::size_t i = 0; i + sizeof(Elf64_auxv_t) <= nh.n_descsz; i += sizeof(Elf64_auxv_t)) {
          Elf64_auxv_t av;
          std::memcpy(&av, desc + i, sizeof av);
          if (av.a_type == AT_NULL) break;
          if (av.a_type == AT_ENTRY) c.at_entry = av.a_un.a_val;
          if (av.a_type == AT_PHDR) c.at_phdr = av.a_un.a_val;
          if (av.a_type == AT_BASE) c.at_base = av.a_un.a_val;
        }
      }
    }
  }
}

}  // namespace

ElfInfo read_elf(const std::string& path, const ReadElfOptions& options) {
  ElfInfo e;
  e.path = path;
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) throw Error(path + ": " + std::strerror(errno));
  if (S_ISDIR(st.st_mode)) fail(path, "is a directory");
  if (!S_ISREG(st.st_mode)) fail(path, "is not a regular file");
  ElfFile f;
  f.fd_ = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (f.fd_ < 0) throw Error(path + ": " + std::strerror(errno));
  if (::fstat(f.fd_, &st) != 0) throw Error(path + ": " + std::strerror(errno));
  e.file_size = static_cast<std::uint64_t>(st.st_size);
  check_ident(path, f.fd_, e.file_size);

  if (elf_version(EV_CURRENT) == EV_NONE) throw Error("libelf is too old: " + libelf_error());
  // READ, not READ_MMAP: a file truncated while we read it must not SIGBUS us.
  f.elf_ = elf_begin(f.fd_, ELF_C_READ, nullptr);
  if (f.elf_ == nullptr) fail(path, "cannot be read as ELF: " + libelf_error());
  if (elf_kind(f.elf_) != ELF_K_ELF) fail(path, "is not an ELF file");
  read_header(e, f.elf_);
  if (!options.any_machine) check_machine(e);
  read_tables(e, f.elf_);
  read_interpreter(e, f.elf_);
  read_pie(e, f.elf_);
  read_entry_symbol(e, f.elf_);
  read_gort_descriptor(e, f.elf_);
  read_notes(e, f.elf_);
  return e;
}

}  // namespace gort::inspect
