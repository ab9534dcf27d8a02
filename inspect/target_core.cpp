// A core file as a Target (gcore's or the kernel's), with the executable it
// came from.
//
// What a Linux x86-64 core holds: PT_LOAD segments with the bytes of the
// process's memory, and PT_NOTE notes: NT_PRSTATUS per thread (its
// registers), NT_PRPSINFO (the process), NT_AUXV (the auxiliary vector) and
// NT_FILE (every file-backed mapping: address range, page offset, path).
// Neither gcore nor the kernel (default coredump_filter) dumps file-backed
// memory that was never written: the text and read-only data of the
// executable and its libraries, which an unwinder needs (.eh_frame_hdr,
// .eh_frame, code), are absent, or present as segments with p_filesz 0. So
// a read is served from the core where the core has the bytes and from the
// mapped file otherwise (NT_FILE says which file and at which offset);
// those bytes were never written, so the file on disk still has them. The
// executable is opened from the path the user gave, not the recorded one:
// the core may come from another machine or the binary may have moved.
//
// Speed: an unwinder reads many small pieces. The core and the files are
// mmapped once and a read is a binary search over sorted ranges and a
// memcpy. libelf only parses the headers and notes at open.
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <libelf.h>
#include <sys/mman.h>
#include <sys/procfs.h>
#include <sys/stat.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <limits>
#include <unordered_map>

#include "gort/inspect/error.h"
#include "gort/inspect/target.h"

namespace gort::inspect {

namespace {

// NT_PRSTATUS's register block is the kernel's view of user_regs_struct.
static_assert(sizeof(elf_gregset_t) == sizeof(user_regs_struct), "elf_gregset_t is not user_regs_struct");

std::string hex(std::uint64_t v) {
  char b[24];
  std::snprintf(b, sizeof b, "0x%llx", static_cast<unsigned long long>(v));
  return b;
}

std::string elf_type_name(unsigned type) {
  switch (type) {
    case ET_NONE: return "NONE";
    case ET_REL: return "REL";
    case ET_EXEC: return "EXEC";
    case ET_DYN: return "DYN";
    case ET_CORE: return "CORE";
    default: return std::to_string(type);
  }
}

std::string perms_of(std::uint32_t flags) {
  std::string p = "---p";
  if (flags & PF_R) p[0] = 'r';
  if (flags & PF_W) p[1] = 'w';
  if (flags & PF_X) p[2] = 'x';
  return p;
}

// The kernel writes "/path (deleted)" for a file removed after it was mapped.
std::string strip_deleted(const std::string& path) {
  static const std::string kDeleted = " (deleted)";
  if (path.size() > kDeleted.size() && path.compare(path.size() - kDeleted.size(), kDeleted.size(), kDeleted) == 0)
    return path.substr(0, path.size() - kDeleted.size());
  return path;
}

std::string basename_of(const std::string& path) {
  std::size_t slash = path.rfind('/');
  return slash == std::string::npos ? path : path.substr(slash + 1);
}

// A whole file mapped read-only. Reads from it are memcpy's; the kernel
// pages in only what is touched, so a multi-gigabyte core costs nothing
// until read.
class MappedFile {
 public:
  // nullptr and *err set if the file cannot be opened or mapped. Only
  // regular files: a mapped device or FIFO recorded in NT_FILE must not be
  // opened (that could block, or have side effects).
  static std::unique_ptr<MappedFile> open(const std::string& path, std::string* err) {
    int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) {
      *err = std::strerror(errno);
      return nullptr;
    }
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      *err = std::strerror(errno);
      ::close(fd);
      return nullptr;
    }
    if (!S_ISREG(st.st_mode)) {
      *err = "not a regular file";
      ::close(fd);
      return nullptr;
    }
    auto f = std::unique_ptr<MappedFile>(new MappedFile);
    f->size_ = static_cast<std::size_t>(st.st_size);
    if (f->size_ > 0) {
      void* p = ::mmap(nullptr, f->size_, PROT_READ, MAP_PRIVATE, fd, 0);
      if (p == MAP_FAILED) {
        *err = std::string("mmap: ") + std::strerror(errno);
        ::close(fd);
        return nullptr;
      }
      f->data_ = static_cast<const unsigned char*>(p);
    }
    ::close(fd);  // the mapping keeps the file
    return f;
  }

  ~MappedFile() {
    if (data_ != nullptr) ::munmap(const_cast<unsigned char*>(data_), size_);
  }
  MappedFile(const MappedFile&) = delete;
  MappedFile& operator=(const MappedFile&) = delete;

  const unsigned char* data() const { return data_; }
  std::size_t size() const { return size_; }

 private:
  MappedFile() = default;
  const unsigned char* data_ = nullptr;
  std::size_t size_ = 0;
};

// libelf over an open fd, released on every path (the constructor throws).
class ElfHandle {
 public:
  explicit ElfHandle(int fd) : fd_(fd) {
    elf_version(EV_CURRENT);
    // ELF_C_READ: libelf reads the headers and the chunks we ask for with
    // pread, rather than loading or mapping the whole (possibly huge) file.
    elf_ = elf_begin(fd, ELF_C_READ, nullptr);
  }
  ~ElfHandle() {
    if (elf_ != nullptr) elf_end(elf_);
    if (fd_ >= 0) ::close(fd_);
  }
  ElfHandle(const ElfHandle&) = delete;
  ElfHandle& operator=(const ElfHandle&) = delete;
  Elf* get() const { return elf_; }

 private:
  int fd_;
  Elf* elf_ = nullptr;
};

// One note of a PT_NOTE segment.
struct Note {
  std::string name;
  std::uint32_t type;
  const unsigned char* desc;
  std::size_t descsz;
};

// Calls fn(note, offset of its desc in the segment) for every note of the
// PT_NOTE segment ph. False if the segment cannot be read.
template <class Fn>
bool for_each_note(Elf* elf, const GElf_Phdr& ph, Fn fn) {
  if (ph.p_filesz == 0) return true;
  Elf_Data* data = elf_getdata_rawchunk(elf, static_cast<int64_t>(ph.p_offset), ph.p_filesz,
                                        ph.p_align == 8 ? ELF_T_NHDR8 : ELF_T_NHDR);
  if (data == nullptr) return false;
  std::size_t off = 0;
  GElf_Nhdr nh;
  std::size_t name_off = 0, desc_off = 0;
  while (off < data->d_size) {
    std::size_t next = gelf_getnote(data, off, &nh, &name_off, &desc_off);
    if (next == 0) break;
    const auto* base = static_cast<const unsigned char*>(data->d_buf);
    std::string name;
    if (nh.n_namesz > 0) {
      const char* n = reinterpret_cast<const char*>(base + name_off);
      name.assign(n, strnlen(n, nh.n_namesz));
    }
    fn(Note{name, nh.n_type, base + desc_off, nh.n_descsz}, desc_off);
    off = next;
  }
  return true;
}

// What we need of the executable's ELF headers.
struct ExeInfo {
  unsigned type = 0;
  std::uint64_t entry = 0;
  std::uint64_t phdr_vaddr = 0;  // where the program headers are in memory (link time); 0: unknown
  std::vector<unsigned char> build_id;
  std::uint64_t build_id_vaddr = 0;  // of the build ID's bytes (link time)
  struct Load {
    std::uint64_t vaddr, filesz, offset;
  };
  std::vector<Load> loads;  // PT_LOAD with file bytes
};

ExeInfo read_exe(const std::string& path) {
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) throw Error("cannot open executable " + path + ": " + std::strerror(errno));
  struct stat st;
  if (::fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
    ::close(fd);
    throw Error(path + " is not an executable (not a regular file)");
  }
  ElfHandle h(fd);
  Elf* elf = h.get();
  GElf_Ehdr eh;
  if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) throw Error(path + " is not an executable (not an ELF file)");
  if (gelf_getclass(elf) != ELFCLASS64 || gelf_getehdr(elf, &eh) == nullptr)
    throw Error(path + " is not an x86-64 executable (not a 64-bit ELF file)");
  if (eh.e_machine != EM_X86_64)
    throw Error(path + " is not an x86-64 executable (ELF machine " + std::to_string(eh.e_machine) + ")");
  if (eh.e_type != ET_EXEC && eh.e_type != ET_DYN)
    throw Error(path + " is not an executable (ELF type " + elf_type_name(eh.e_type) + ")");
  ExeInfo out;
  out.type = eh.e_type;
  out.entry = eh.e_entry;
  std::size_t phnum = 0;
  if (elf_getphdrnum(elf, &phnum) != 0) throw Error(path + " has unreadable program headers: " + elf_errmsg(-1));
  std::uint64_t phdr_from_load = 0;
  for (std::size_t i = 0; i < phnum; ++i) {
    GElf_Phdr ph;
    if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr) continue;
    if (ph.p_type == PT_PHDR) {
      out.phdr_vaddr = ph.p_vaddr;
    } else if (ph.p_type == PT_LOAD) {
      if (ph.p_filesz > 0) out.loads.push_back({ph.p_vaddr, ph.p_filesz, ph.p_offset});
      if (phdr_from_load == 0 && eh.e_phoff >= ph.p_offset && eh.e_phoff < ph.p_offset + ph.p_filesz)
        phdr_from_load = ph.p_vaddr + (eh.e_phoff - ph.p_offset);
    } else if (ph.p_type == PT_NOTE && out.build_id.empty()) {
      for_each_note(elf, ph, [&](const Note& n, std::size_t desc_off) {
        if (n.type == NT_GNU_BUILD_ID && n.name == "GNU" && out.build_id.empty()) {
          out.build_id.assign(n.desc, n.desc + n.descsz);
          out.build_id_vaddr = ph.p_vaddr + desc_off;
        }
      });
    }
  }
  if (out.phdr_vaddr == 0) out.phdr_vaddr = phdr_from_load;
  return out;
}

// The p_flags of the PT_LOAD of an ELF image that maps file offset `offset`
// (the perms of a mapping the core has no segment for); 0 if none.
std::uint32_t load_flags_at(const MappedFile& f, std::uint64_t offset) {
  Elf64_Ehdr eh;
  if (f.size() < sizeof eh) return 0;
  std::memcpy(&eh, f.data(), sizeof eh);
  if (std::memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0 || eh.e_ident[EI_CLASS] != ELFCLASS64 ||
      eh.e_phentsize != sizeof(Elf64_Phdr))
    return 0;
  for (unsigned i = 0; i < eh.e_phnum; ++i) {
    std::uint64_t at = eh.e_phoff + std::uint64_t{i} * sizeof(Elf64_Phdr);
    if (at + sizeof(Elf64_Phdr) > f.size()) break;
    Elf64_Phdr ph;
    std::memcpy(&ph, f.data() + at, sizeof ph);
    if (ph.p_type != PT_LOAD) continue;
    // The loader maps from the page that holds p_offset.
    std::uint64_t lo = ph.p_offset & ~std::uint64_t{4095};
    if (offset >= lo && offset < ph.p_offset + ph.p_filesz) return ph.p_flags;
  }
  return 0;
}

class CoreTarget final : public Target {
 public:
  CoreTarget(const std::string& core_path, const std::string& exe_path) : path_(core_path), exe_(exe_path) {
    open_core_file();
    ExeInfo exe = read_exe(exe_);
    find_exe_mappings();
    check_exe(exe);
    add_exe_mappings(exe);
  }

  std::string describe() const override { return "core file " + path_; }
  pid_t pid() const override { return pid_; }
  bool frozen() const override { return true; }
  bool live() const override { return false; }
  std::string exe_path() const override { return exe_; }

  void read(std::uint64_t addr, void* buf, std::size_t len) override {
    std::size_t got = read_partial(addr, buf, len);
    if (got == len) return;
    char msg[128];
    std::snprintf(msg, sizeof msg, "cannot read %zu bytes at 0x%llx in core file ", len,
                  static_cast<unsigned long long>(addr));
    throw Error(msg + path_ + why_unreadable(addr + got));
  }

  std::size_t read_partial(std::uint64_t addr, void* buf, std::size_t len) override {
    auto* out = static_cast<unsigned char*>(buf);
    std::size_t done = 0;
    while (done < len) {
      const std::uint64_t a = addr + done;
      if (a < addr) break;  // wrapped past the top of the address space
      const std::size_t want = len - done;
      // The core's own bytes first: they are the process's memory.
      auto it = std::upper_bound(data_.begin(), data_.end(), a,
                                 [](std::uint64_t v, const Segment& s) { return v < s.vaddr; });
      const std::uint64_t next_data = it == data_.end() ? std::numeric_limits<std::uint64_t>::max() : it->vaddr;
      if (it != data_.begin()) {
        const Segment& s = *std::prev(it);
        if (a - s.vaddr < s.filesz) {
          std::size_t n = static_cast<std::size_t>(std::min<std::uint64_t>(want, s.filesz - (a - s.vaddr)));
          std::memcpy(out + done, core_->data() + s.offset + (a - s.vaddr), n);
          done += n;
          continue;
        }
      }
      // Not in the core: the file mapped there, up to where the core
      // resumes.
      FileMapping* fm = file_mapping_at(a);
      if (fm == nullptr) break;
      const MappedFile* f = file_of(*fm);
      if (f == nullptr) break;
      const std::uint64_t foff = fm->offset + (a - fm->start);
      if (foff >= f->size()) break;  // past the end of the file: SIGBUS in the process too
      std::uint64_t n = std::min<std::uint64_t>(want, fm->end - a);
      n = std::min<std::uint64_t>(n, next_data - a);
      n = std::min<std::uint64_t>(n, f->size() - foff);
      std::memcpy(out + done, f->data() + foff, static_cast<std::size_t>(n));
      done += static_cast<std::size_t>(n);
    }
    return done;
  }

  std::vector<Mapping> mappings() override {
    if (!mappings_.empty()) return mappings_;
    std::vector<Mapping> out;
    for (FileMapping& fm : files_) {
      Mapping m;
      m.start = fm.start;
      m.end = fm.end;
      m.offset = fm.offset;
      m.path = fm.path;
      // The segment the core has for this mapping knows its protection.
      // gcore leaves out unwritten file-backed mappings entirely: then the
      // file's own program headers say how the loader mapped that offset.
      if (const Segment* s = segment_at(fm.start)) {
        m.perms = perms_of(s->flags);
      } else if (const MappedFile* f = file_of(fm); f != nullptr && load_flags_at(*f, fm.offset) != 0) {
        m.perms = perms_of(load_flags_at(*f, fm.offset));
      } else {
        m.perms = "r--p";
      }
      out.push_back(std::move(m));
    }
    // Segments (or the parts of them) that no file backs: heap, stacks,
    // anonymous mmaps, the vdso.
    for (const Segment& s : segs_) {
      std::uint64_t cur = s.vaddr, end = s.vaddr + s.memsz;
      for (const FileMapping& fm : files_) {
        if (fm.end <= cur || fm.start >= end) continue;
        if (fm.start > cur) out.push_back(Mapping{cur, fm.start, 0, perms_of(s.flags), ""});
        cur = std::max(cur, fm.end);
        if (cur >= end) break;
      }
      if (cur < end) out.push_back(Mapping{cur, end, 0, perms_of(s.flags), ""});
    }
    std::sort(out.begin(), out.end(), [](const Mapping& a, const Mapping& b) { return a.start < b.start; });
    mappings_ = out;
    return out;
  }

  std::vector<Thread> threads() override { return threads_; }

  std::uint64_t auxv(std::uint64_t type) override {
    for (const auto& [t, v] : auxv_)
      if (t == type) return v;
    return 0;
  }

 private:
  struct Segment {
    std::uint64_t vaddr, memsz, filesz, offset;
    std::uint32_t flags;
  };
  struct FileMapping {
    std::uint64_t start, end, offset;  // offset in bytes
    std::string path;
    bool is_exe = false;
    bool opened = false;  // file/error below are known
    const MappedFile* file = nullptr;
    std::string error;
  };

  [[noreturn]] void fail(const std::string& what) const { throw Error(path_ + " " + what); }

  // Checks the core's headers and reads its notes.
  void open_core_file() {
    std::string err;
    struct stat st;
    if (::stat(path_.c_str(), &st) != 0) throw Error("cannot open core file " + path_ + ": " + std::strerror(errno));
    if (!S_ISREG(st.st_mode)) fail("is not a core file (not a regular file)");
    core_ = MappedFile::open(path_, &err);
    if (core_ == nullptr) throw Error("cannot open core file " + path_ + ": " + err);
    if (core_->size() < SELFMAG || std::memcmp(core_->data(), ELFMAG, SELFMAG) != 0)
      fail("is not a core file (not an ELF file)");
    if (core_->size() < sizeof(Elf64_Ehdr))
      fail("is truncated (" + std::to_string(core_->size()) + " bytes: no complete ELF header)");

    int fd = ::open(path_.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) throw Error("cannot open core file " + path_ + ": " + std::strerror(errno));
    ElfHandle h(fd);
    Elf* elf = h.get();
    if (elf == nullptr || elf_kind(elf) != ELF_K_ELF) fail("is not a core file (not an ELF file)");
    GElf_Ehdr eh;
    if (gelf_getehdr(elf, &eh) == nullptr) fail("is truncated (" + std::to_string(core_->size()) + " bytes: no ELF header)");
    if (eh.e_type != ET_CORE) fail("is not a core file (ELF type " + elf_type_name(eh.e_type) + ")");
    if (gelf_getclass(elf) != ELFCLASS64) fail("is not an x86-64 core file (not ELFCLASS64)");
    if (eh.e_machine != EM_X86_64) fail("is not an x86-64 core file (ELF machine " + std::to_string(eh.e_machine) + ")");

    std::size_t phnum = 0;
    if (elf_getphdrnum(elf, &phnum) != 0) fail(std::string("has unreadable program headers: ") + elf_errmsg(-1));
    // libelf reports no program headers at all if their table is cut off.
    const std::size_t declared = eh.e_phnum == PN_XNUM ? phnum : eh.e_phnum;
    if (eh.e_phoff > core_->size() || (core_->size() - eh.e_phoff) / sizeof(Elf64_Phdr) < declared)
      fail("is truncated (" + std::to_string(core_->size()) + " bytes: program headers cut off)");
    if (phnum == 0) fail("is not a core file (no program headers)");
    std::vector<GElf_Phdr> notes;
    std::uint64_t need = 0;
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr)
        fail("is truncated (" + std::to_string(core_->size()) + " bytes: program headers cut off)");
      if (ph.p_type != PT_LOAD && ph.p_type != PT_NOTE) continue;
      if (ph.p_offset + ph.p_filesz < ph.p_offset) fail("has a corrupt program header (segment size overflows)");
      need = std::max<std::uint64_t>(need, ph.p_offset + ph.p_filesz);
      if (ph.p_type == PT_NOTE) {
        notes.push_back(ph);
      } else if (ph.p_memsz > 0) {
        segs_.push_back(Segment{ph.p_vaddr, ph.p_memsz, std::min(ph.p_filesz, ph.p_memsz), ph.p_offset, ph.p_flags});
      }
    }
    // A core cut short (disk full, RLIMIT_CORE, an interrupted copy) would
    // give short reads everywhere: say so once, here.
    if (need > core_->size())
      fail("is truncated (" + std::to_string(core_->size()) + " bytes; its segments need " + std::to_string(need) + ")");
    if (notes.empty()) fail("has no notes (no PT_NOTE segment): not a Linux core file");

    std::sort(segs_.begin(), segs_.end(), [](const Segment& a, const Segment& b) { return a.vaddr < b.vaddr; });
    for (const Segment& s : segs_)
      if (s.filesz > 0) data_.push_back(s);

    pid_t prstatus_pid = 0, prpsinfo_pid = 0;
    for (const GElf_Phdr& ph : notes) {
      bool ok = for_each_note(elf, ph, [&](const Note& n, std::size_t) {
        if (n.name != "CORE") return;
        switch (n.type) {
          case NT_PRSTATUS: {
            if (n.descsz < sizeof(elf_prstatus)) return;
            elf_prstatus st;
            std::memcpy(&st, n.desc, sizeof st);
            Thread t;
            t.tid = st.pr_pid;
            t.has_regs = true;
            std::memcpy(&t.regs, &st.pr_reg, sizeof t.regs);
            threads_.push_back(t);
            if (prstatus_pid == 0) prstatus_pid = st.pr_pid;
            break;
          }
          case NT_PRPSINFO: {
            if (n.descsz < sizeof(elf_prpsinfo)) return;
            elf_prpsinfo ps;
            std::memcpy(&ps, n.desc, sizeof ps);
            prpsinfo_pid = ps.pr_pid;
            break;
          }
          case NT_AUXV:
            for (std::size_t off = 0; off + sizeof(Elf64_auxv_t) <= n.descsz; off += sizeof(Elf64_auxv_t)) {
              Elf64_auxv_t a;
              std::memcpy(&a, n.desc + off, sizeof a);
              if (a.a_type == AT_NULL) break;
              auxv_.emplace_back(a.a_type, a.a_un.a_val);
            }
            break;
          case NT_FILE:
            parse_nt_file(n.desc, n.descsz);
            break;
          default:
            break;
        }
      });
      if (!ok) fail(std::string("has unreadable notes: ") + elf_errmsg(-1));
    }
    // NT_PRSTATUS's pr_pid is a thread id (the first note is the thread
    // that crashed, not necessarily the main one); NT_PRPSINFO's is the
    // process's.
    pid_ = prpsinfo_pid != 0 ? prpsinfo_pid : prstatus_pid;
    std::sort(files_.begin(), files_.end(), [](const FileMapping& a, const FileMapping& b) { return a.start < b.start; });
  }

  // NT_FILE: count, page size, count x {start, end, page offset}, then
  // count NUL-terminated paths.
  void parse_nt_file(const unsigned char* d, std::size_t size) {
    auto word = [&](std::size_t i) {
      std::uint64_t v;
      std::memcpy(&v, d + i * 8, 8);
      return v;
    };
    if (size < 16) return;
    const std::uint64_t count = word(0), page = word(1);
    if (count > (size - 16) / 24) fail("has a corrupt NT_FILE note");
    const char* names = reinterpret_cast<const char*>(d + 16 + count * 24);
    const char* end = reinterpret_cast<const char*>(d + size);
    for (std::uint64_t i = 0; i < count; ++i) {
      FileMapping fm;
      fm.start = word(2 + i * 3);
      fm.end = word(3 + i * 3);
      fm.offset = word(4 + i * 3) * page;
      std::size_t len = strnlen(names, static_cast<std::size_t>(end - names));
      if (names + len >= end) fail("has a corrupt NT_FILE note");
      fm.path.assign(names, len);
      names += len + 1;
      if (fm.end > fm.start) files_.push_back(std::move(fm));
    }
  }

  // The executable's mappings are those of the file that holds the entry
  // point; without an auxiliary vector, those named like the executable.
  void find_exe_mappings() {
    std::string recorded;
    if (std::uint64_t entry = auxv(AT_ENTRY); entry != 0)
      if (FileMapping* fm = file_mapping_at(entry)) recorded = fm->path;
    std::string base = basename_of(exe_);
    char* real = ::realpath(exe_.c_str(), nullptr);
    std::string real_base = real ? basename_of(real) : base;
    std::free(real);
    for (FileMapping& fm : files_) {
      std::string b = basename_of(strip_deleted(fm.path));
      fm.is_exe = recorded.empty() ? (b == base || b == real_base) : fm.path == recorded;
    }
  }

  // Refuses an executable the core was not made from: reading through the
  // wrong file would give wrong text, symbols and unwind tables silently.
  void check_exe(const ExeInfo& exe) {
    const std::string not_from = path_ + " was not made from " + exe_ + ": ";
    const std::uint64_t at_entry = auxv(AT_ENTRY), at_phdr = auxv(AT_PHDR);
    if (at_entry == 0) {
      // No auxiliary vector: the mapped files' names are all we have.
      if (files_.empty()) return;
      bool named = std::any_of(files_.begin(), files_.end(), [](const FileMapping& fm) { return fm.is_exe; });
      if (!named) throw Error(not_from + "no file named " + basename_of(exe_) + " is mapped in it");
      return;
    }
    // The kernel put the entry point at e_entry + bias and the program
    // headers at their vaddr + bias, with one bias for the whole file.
    const std::uint64_t bias = at_entry - exe.entry;
    if (exe.type == ET_EXEC && bias != 0)
      throw Error(not_from + "its entry point is " + hex(at_entry) + ", the executable's is " + hex(exe.entry));
    if (exe.type == ET_DYN && (bias & 4095) != 0)
      throw Error(not_from + "its entry point " + hex(at_entry) + " is not the executable's " + hex(exe.entry) +
                  " plus a page-aligned load bias");
    if (at_phdr != 0 && exe.phdr_vaddr != 0 && at_phdr != bias + exe.phdr_vaddr)
      throw Error(not_from + "with the load bias " + hex(bias) + " that its entry point " + hex(at_entry) +
                  " gives, the program headers would be at " + hex(bias + exe.phdr_vaddr) + ", but AT_PHDR is " +
                  hex(at_phdr));
    // The build ID, where the core itself has that page (the kernel dumps
    // the first page of every ELF mapping): same layout but another build
    // (a rebuilt binary) is caught here. Only the core's own bytes count:
    // the file fallback would compare the file with itself.
    if (!exe.build_id.empty()) {
      std::vector<unsigned char> got(exe.build_id.size());
      if (read_core_only(bias + exe.build_id_vaddr, got.data(), got.size()) && got != exe.build_id)
        throw Error(not_from + "its build ID is " + hex_bytes(got) + ", the executable's is " + hex_bytes(exe.build_id));
    }
  }

  // A core without NT_FILE (or whose NT_FILE misses the executable, e.g.
  // written by a tool other than gcore and the kernel) still has the
  // executable's text in the file: map its PT_LOADs at the bias the
  // auxiliary vector gives, where no other mapping is.
  void add_exe_mappings(const ExeInfo& exe) {
    const std::uint64_t at_entry = auxv(AT_ENTRY);
    if (at_entry == 0 || file_mapping_at(at_entry) != nullptr) return;
    const std::uint64_t bias = at_entry - exe.entry;
    for (const ExeInfo::Load& l : exe.loads) {
      // From the page that holds p_offset (as the loader maps it) to the
      // last byte of the file's part: past it the loader zeroed the memory.
      const std::uint64_t skew = l.offset & 4095;
      if ((l.vaddr & 4095) != skew) continue;  // not mappable as is: not a loader's layout
      FileMapping fm;
      fm.start = bias + l.vaddr - skew;
      fm.end = bias + l.vaddr + l.filesz;
      fm.offset = l.offset - skew;
      fm.path = exe_;
      fm.is_exe = true;
      bool overlaps = std::any_of(files_.begin(), files_.end(),
                                  [&](const FileMapping& o) { return o.start < fm.end && fm.start < o.end; });
      if (!overlaps) files_.push_back(std::move(fm));
    }
    std::sort(files_.begin(), files_.end(), [](const FileMapping& a, const FileMapping& b) { return a.start < b.start; });
  }

  static std::string hex_bytes(const std::vector<unsigned char>& v) {
    std::string s;
    char b[4];
    for (unsigned char c : v) {
      std::snprintf(b, sizeof b, "%02x", c);
      s += b;
    }
    return s;
  }

  // Reads only from the core's segments (no file fallback); false if they
  // do not hold all of [addr, addr+len).
  bool read_core_only(std::uint64_t addr, void* buf, std::size_t len) const {
    const Segment* s = segment_at(addr);
    if (s == nullptr || addr - s->vaddr >= s->filesz || s->filesz - (addr - s->vaddr) < len) return false;
    std::memcpy(buf, core_->data() + s->offset + (addr - s->vaddr), len);
    return true;
  }

  // The segment (any, p_filesz 0 included) whose memory range holds addr.
  const Segment* segment_at(std::uint64_t addr) const {
    auto it = std::upper_bound(segs_.begin(), segs_.end(), addr,
                               [](std::uint64_t v, const Segment& s) { return v < s.vaddr; });
    if (it == segs_.begin()) return nullptr;
    --it;
    return addr - it->vaddr < it->memsz ? &*it : nullptr;
  }

  FileMapping* file_mapping_at(std::uint64_t addr) {
    auto it = std::upper_bound(files_.begin(), files_.end(), addr,
                               [](std::uint64_t v, const FileMapping& f) { return v < f.start; });
    if (it == files_.begin()) return nullptr;
    --it;
    return addr < it->end ? &*it : nullptr;
  }

  // The file behind a mapping, opened once per path.
  const MappedFile* file_of(FileMapping& fm) {
    if (fm.opened) return fm.file;
    fm.opened = true;
    const std::string path = fm.is_exe ? exe_ : fm.path;
    auto it = open_files_.find(path);
    if (it == open_files_.end()) {
      std::string err;
      auto f = MappedFile::open(path, &err);
      it = open_files_.emplace(path, OpenFile{std::move(f), err}).first;
    }
    fm.file = it->second.file.get();
    fm.error = it->second.error;
    return fm.file;
  }

  // Why the byte at addr cannot be read, for the error message.
  std::string why_unreadable(std::uint64_t addr) {
    FileMapping* fm = file_mapping_at(addr);
    if (fm == nullptr) return segment_at(addr) ? " (not dumped)" : " (not mapped)";
    const std::string path = fm->is_exe ? exe_ : fm->path;
    if (file_of(*fm) == nullptr) return " (not dumped, and " + path + " cannot be opened: " + fm->error + ")";
    return " (not dumped, and past the end of " + path + ")";
  }

  struct OpenFile {
    std::unique_ptr<MappedFile> file;
    std::string error;
  };

  std::string path_, exe_;
  std::unique_ptr<MappedFile> core_;
  pid_t pid_ = 0;
  std::vector<Segment> segs_;  // every PT_LOAD, by address
  std::vector<Segment> data_;  // those with bytes in the core (p_filesz > 0), by address
  std::vector<FileMapping> files_;  // NT_FILE, by address
  std::unordered_map<std::string, OpenFile> open_files_;
  std::vector<Thread> threads_;
  std::vector<std::pair<std::uint64_t, std::uint64_t>> auxv_;
  std::vector<Mapping> mappings_;  // made on first use
};

}  // namespace

std::unique_ptr<Target> open_core(const std::string& core_path, const std::string& exe_path) {
  return std::make_unique<CoreTarget>(core_path, exe_path);
}

}  // namespace gort::inspect
