// The core-file Target (open_core): cores made by gcore from real child
// processes (/bin/cat for the generic part, examples/inspectee for a gort
// program), checked against what /proc showed of the child before it was
// killed and against the executable file itself; and every kind of bad
// input refused with one line naming the file.
#include <elf.h>
#include <fcntl.h>
#include <gelf.h>
#include <gort/debug_layout.h>
#include <gtest/gtest.h>
#include <libelf.h>
#include <signal.h>
#include <spawn.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <climits>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <map>
#include <optional>
#include <sstream>
#include <string>
#include <vector>

#include "child_env.h"
#include "gort/inspect/error.h"
#include "gort/inspect/target.h"
#include "inspect_testing.h"

extern char** environ;

namespace gi = gort::inspect;

namespace {

using inspect_testing::make_core;
using inspect_testing::TempDir;

constexpr std::uint64_t kPage = 4096;

std::string real_path(const std::string& path) {
  char buf[PATH_MAX];
  return ::realpath(path.c_str(), buf) ? std::string(buf) : path;
}

// What the tests need of an ELF file, read with libelf independently of the
// code under test.
struct ElfFacts {
  unsigned type = 0;
  std::uint64_t entry = 0;
  std::vector<GElf_Phdr> loads;
  std::map<std::string, std::uint64_t> sections;  // name -> sh_addr
};

ElfFacts read_elf(const std::string& path) {
  ElfFacts out;
  int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return out;
  elf_version(EV_CURRENT);
  Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
  GElf_Ehdr eh;
  if (elf != nullptr && gelf_getehdr(elf, &eh) != nullptr) {
    out.type = eh.e_type;
    out.entry = eh.e_entry;
    std::size_t phnum = 0, shstrndx = 0;
    elf_getphdrnum(elf, &phnum);
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) != nullptr && ph.p_type == PT_LOAD) out.loads.push_back(ph);
    }
    if (elf_getshdrstrndx(elf, &shstrndx) == 0) {
      for (Elf_Scn* scn = elf_nextscn(elf, nullptr); scn != nullptr; scn = elf_nextscn(elf, scn)) {
        GElf_Shdr sh;
        if (gelf_getshdr(scn, &sh) == nullptr) continue;
        if (const char* name = elf_strptr(elf, shstrndx, sh.sh_name)) out.sections[name] = sh.sh_addr;
      }
    }
  }
  if (elf) elf_end(elf);
  ::close(fd);
  return out;
}

struct ProcMapping {
  std::uint64_t start, end, offset;
  std::string perms, path;
};

std::vector<ProcMapping> proc_maps(pid_t pid) {
  std::vector<ProcMapping> out;
  std::istringstream in(command_testing::read_file("/proc/" + std::to_string(pid) + "/maps"));
  std::string line;
  while (std::getline(in, line)) {
    unsigned long long start = 0, end = 0, off = 0;
    char perms[8] = {};
    int pathpos = 0;
    if (std::sscanf(line.c_str(), "%llx-%llx %7s %llx %*s %*s %n", &start, &end, perms, &off, &pathpos) < 4) continue;
    ProcMapping m{start, end, off, perms, ""};
    if (pathpos > 0 && static_cast<std::size_t>(pathpos) < line.size()) m.path = line.substr(pathpos);
    out.push_back(m);
  }
  return out;
}

std::size_t task_count(pid_t pid) {
  std::size_t n = 0;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator("/proc/" + std::to_string(pid) + "/task", ec)) {
    (void)e;
    ++n;
  }
  return n;
}

// The load bias the child had: where its executable's first mapping
// starts, minus the page of the file's first PT_LOAD.
std::optional<std::uint64_t> load_bias(const std::vector<ProcMapping>& maps, const std::string& exe, const ElfFacts& f) {
  const std::string want = real_path(exe);
  for (const ProcMapping& m : maps)
    if (m.path == want && !f.loads.empty()) return m.start - (f.loads.front().p_vaddr & ~(kPage - 1));
  return std::nullopt;
}

// A child process with its stdin and stdout on pipes: we learn that it is
// ready from a line it prints (inspectee says `ready`; cat echoes what we
// write). posix_spawn returns while the kernel is still setting up the new
// image, so /proc/PID/maps is not worth reading before that line. Killed
// and reaped by kill_and_reap or the destructor.
class Child {
 public:
  explicit Child(const std::vector<std::string>& argv) {
    int out[2], in[2];
    if (::pipe2(out, O_CLOEXEC) != 0) return;
    if (::pipe2(in, O_CLOEXEC) != 0) {
      ::close(out[0]);
      ::close(out[1]);
      return;
    }
    std::vector<char*> cargv = gort_test::c_strings(argv);
    posix_spawn_file_actions_t fa;
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    int rc = posix_spawn(&pid_, cargv[0], &fa, nullptr, cargv.data(), environ);
    posix_spawn_file_actions_destroy(&fa);
    ::close(out[1]);
    ::close(in[0]);
    out_ = out[0];
    in_ = in[1];
    if (rc != 0) pid_ = -1;
  }
  ~Child() {
    kill_and_reap();
    if (out_ >= 0) ::close(out_);
    if (in_ >= 0) ::close(in_);
  }

  bool write_in(const std::string& s) { return ::write(in_, s.data(), s.size()) == static_cast<ssize_t>(s.size()); }
  Child(const Child&) = delete;
  Child& operator=(const Child&) = delete;

  pid_t pid() const { return pid_; }

  // Reads stdout until a line equal to `line` (true) or EOF (false).
  // Blocking: the child says when it is ready, we do not guess.
  bool wait_for_line(const std::string& line, std::string* seen) {
    std::string buf;
    char c;
    for (;;) {
      ssize_t n = ::read(out_, &c, 1);
      if (n < 0 && errno == EINTR) continue;
      if (n <= 0) return false;
      if (c != '\n') {
        buf += c;
        continue;
      }
      *seen += buf + "\n";
      if (buf == line) return true;
      buf.clear();
    }
  }

  void kill_and_reap() {
    if (pid_ <= 0) return;
    ::kill(pid_, SIGKILL);
    int status;
    while (::waitpid(pid_, &status, 0) < 0 && errno == EINTR) {
    }
    pid_ = -1;
  }

 private:
  pid_t pid_ = -1;
  int out_ = -1, in_ = -1;
};

// A core of a child, with what /proc showed of the child just before.
struct CoreOf {
  TempDir tmp{"inspect_core_test"};
  std::string dir = tmp.path(), core, exe;
  pid_t pid = -1;
  std::vector<ProcMapping> maps;
  std::size_t tasks_before = 0, tasks_after = 0;
  std::string skip, error;

  // Runs argv (argv[0] is the executable), writes `input` to its stdin,
  // waits for `ready_line` on its stdout, and makes the core.
  void make(const std::vector<std::string>& argv, const std::string& input, const std::string& ready_line) {
    exe = argv[0];
    if (dir.empty()) {
      error = std::string("mkdtemp: ") + std::strerror(errno);
      return;
    }
    Child child(argv);
    if (child.pid() <= 0) {
      error = "cannot start " + exe;
      return;
    }
    std::string seen;
    if (!input.empty() && !child.write_in(input)) {
      error = "cannot write to " + exe + "'s stdin";
      return;
    }
    if (!child.wait_for_line(ready_line, &seen)) {
      error = exe + " exited before saying " + ready_line + "; it said: " + seen;
      return;
    }
    pid = child.pid();
    tasks_before = task_count(pid);
    maps = proc_maps(pid);
    core = make_core(pid, dir, &skip, &error);
    tasks_after = task_count(pid);
    child.kill_and_reap();
  }
};

#define SKIP_OR_FAIL(c)                                \
  do {                                                 \
    if (!(c).skip.empty()) GTEST_SKIP() << (c).skip;   \
    ASSERT_TRUE((c).error.empty()) << (c).error;       \
    ASSERT_FALSE((c).core.empty());                    \
  } while (0)

const gi::Mapping* mapping_at(const std::vector<gi::Mapping>& maps, std::uint64_t addr) {
  for (const gi::Mapping& m : maps)
    if (addr >= m.start && addr < m.end) return &m;
  return nullptr;
}

// Whether the core file itself has the bytes at addr (a PT_LOAD with
// p_filesz covering it), read with libelf.
bool core_has_bytes(const std::string& core, std::uint64_t addr) {
  ElfFacts f = read_elf(core);
  for (const GElf_Phdr& ph : f.loads)
    if (addr >= ph.p_vaddr && addr - ph.p_vaddr < ph.p_filesz) return true;
  return false;
}

// The Error open_core throws, or "" if it did not throw.
std::string open_error(const std::string& core, const std::string& exe) {
  try {
    gi::open_core(core, exe);
  } catch (const gi::Error& e) {
    return e.what();
  }
  return "";
}

void expect_one_line_naming(const std::string& what, const std::string& file) {
  EXPECT_FALSE(what.empty()) << "no Error for " << file;
  EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  EXPECT_NE(what.find(file), std::string::npos) << what;
}

// The target's 64 bytes at the entry point (entry: in the target) are the
// executable file's at e_entry.
void expect_entry_code_from_file(gi::Target& t, std::uint64_t entry, const ElfFacts& exe, const std::string& path) {
  const GElf_Phdr* text = nullptr;
  for (const GElf_Phdr& ph : exe.loads)
    if (exe.entry >= ph.p_vaddr && exe.entry < ph.p_vaddr + ph.p_filesz) text = &ph;
  ASSERT_NE(text, nullptr);
  std::string file = command_testing::read_file(path);
  const std::uint64_t off = text->p_offset + (exe.entry - text->p_vaddr);
  ASSERT_LE(off + 64, file.size());
  char code[64];
  t.read(entry, code, sizeof code);
  EXPECT_EQ(std::string(code, sizeof code), file.substr(off, sizeof code));
}

// cat: one thread, libc and locale files mapped; blocked in read(2) on its
// stdin once it has echoed our line.
const char* const kCat = "/bin/cat";

class CatCore : public ::testing::Test {
 protected:
  void SetUp() override { c_.make({kCat}, "echoed\n", "echoed"); }
  CoreOf c_;
};

TEST_F(CatCore, DescribesTheProcess) {
  SKIP_OR_FAIL(c_);
  auto t = gi::open_core(c_.core, kCat);
  EXPECT_EQ(t->describe(), "core file " + c_.core);
  EXPECT_EQ(t->pid(), c_.pid);
  EXPECT_TRUE(t->frozen());
  EXPECT_EQ(t->exe_path(), kCat);
}

TEST_F(CatCore, ThreadsHaveRegistersInCode) {
  SKIP_OR_FAIL(c_);
  auto t = gi::open_core(c_.core, kCat);
  std::vector<gi::Thread> threads = t->threads();
  ASSERT_EQ(c_.tasks_before, 1u);
  ASSERT_EQ(threads.size(), c_.tasks_before);
  EXPECT_EQ(threads[0].tid, c_.pid);
  EXPECT_TRUE(threads[0].has_regs);
  EXPECT_TRUE(threads[0].state.empty());
  std::vector<gi::Mapping> maps = t->mappings();
  const gi::Mapping* m = mapping_at(maps, threads[0].regs.rip);
  ASSERT_NE(m, nullptr) << std::hex << threads[0].regs.rip;
  EXPECT_EQ(m->perms[2], 'x') << m->perms << " " << m->path;
  // The stack pointer is in writable memory, and the word at it readable.
  const gi::Mapping* s = mapping_at(maps, threads[0].regs.rsp);
  ASSERT_NE(s, nullptr);
  EXPECT_EQ(s->perms[1], 'w');
  EXPECT_NO_THROW(t->read_value<std::uint64_t>(threads[0].regs.rsp));
}

TEST_F(CatCore, AuxvGivesTheLoadBias) {
  SKIP_OR_FAIL(c_);
  ElfFacts exe = read_elf(kCat);
  ASSERT_FALSE(exe.loads.empty());
  std::optional<std::uint64_t> bias = load_bias(c_.maps, kCat, exe);
  ASSERT_TRUE(bias.has_value()) << "no mapping of " << real_path(kCat) << " in the child";
  auto t = gi::open_core(c_.core, kCat);
  EXPECT_EQ(t->auxv(AT_ENTRY) - exe.entry, *bias);
  EXPECT_EQ(t->auxv(AT_PAGESZ), kPage);
  EXPECT_EQ(t->auxv(0x7fffffff), 0u);  // absent
  // AT_EXECFN points at the path given to execve, on the stack.
  ASSERT_NE(t->auxv(AT_EXECFN), 0u);
  EXPECT_EQ(t->read_string(t->auxv(AT_EXECFN)), kCat);
  EXPECT_EQ(t->read_string(t->auxv(AT_EXECFN), 4), "/bin");
}

TEST_F(CatCore, ReadsFromTheCoreAndFromTheFiles) {
  SKIP_OR_FAIL(c_);
  ElfFacts exe = read_elf(kCat);
  std::optional<std::uint64_t> bias = load_bias(c_.maps, kCat, exe);
  ASSERT_TRUE(bias.has_value());
  auto t = gi::open_core(c_.core, kCat);

  // The ELF header at the executable's first mapping.
  char magic[4];
  t->read(*bias + (exe.loads.front().p_vaddr & ~(kPage - 1)), magic, sizeof magic);
  EXPECT_EQ(std::string(magic, 4), "\x7f" "ELF");

  // Code at the entry point: gcore leaves unwritten text out of the core,
  // so these bytes come from the executable file.
  const std::uint64_t entry = *bias + exe.entry;
  ASSERT_FALSE(core_has_bytes(c_.core, entry)) << "the core has the text: this test proves nothing";
  ASSERT_NO_FATAL_FAILURE(expect_entry_code_from_file(*t, entry, exe, kCat));

  // A read that starts in the core's bytes and runs into the text, across
  // the boundary between the first (dumped) mapping and the text.
  std::vector<gi::Mapping> maps = t->mappings();
  const gi::Mapping* first = mapping_at(maps, *bias + (exe.loads.front().p_vaddr & ~(kPage - 1)));
  ASSERT_NE(first, nullptr);
  std::vector<char> across(128);
  ASSERT_EQ(t->read_partial(first->end - 64, across.data(), across.size()), across.size());
}

TEST_F(CatCore, ReadsStopAtTheEndOfMemory) {
  SKIP_OR_FAIL(c_);
  auto t = gi::open_core(c_.core, kCat);
  std::vector<gi::Mapping> maps = t->mappings();
  // The end of a mapping followed by a hole.
  const gi::Mapping* before_hole = nullptr;
  for (std::size_t i = 0; i + 1 < maps.size(); ++i)
    if (maps[i].end < maps[i + 1].start) {
      before_hole = &maps[i];
      break;
    }
  ASSERT_NE(before_hole, nullptr);
  std::vector<char> buf(64);
  std::string first16(16, '\0');
  t->read(before_hole->end - 16, first16.data(), 16);
  EXPECT_EQ(t->read_partial(before_hole->end - 16, buf.data(), buf.size()), 16u);
  EXPECT_EQ(std::string(buf.data(), 16), first16);
  EXPECT_EQ(t->read_partial(before_hole->end, buf.data(), buf.size()), 0u);
  try {
    t->read(before_hole->end - 16, buf.data(), buf.size());
    ADD_FAILURE() << "read past the end of a mapping did not throw";
  } catch (const gi::Error& e) {
    std::string what = e.what();
    char want[96];
    std::snprintf(want, sizeof want, "cannot read 64 bytes at 0x%llx in core file ",
                  static_cast<unsigned long long>(before_hole->end - 16));
    EXPECT_EQ(what.rfind(want + c_.core, 0), 0u) << what;
    EXPECT_EQ(what.find('\n'), std::string::npos) << what;
  }
  EXPECT_THROW(t->read_string(before_hole->end), gi::Error);
}

TEST_F(CatCore, MappingsAreTheProcessMappings) {
  SKIP_OR_FAIL(c_);
  auto t = gi::open_core(c_.core, kCat);
  std::vector<gi::Mapping> maps = t->mappings();
  ASSERT_TRUE(std::is_sorted(maps.begin(), maps.end(),
                             [](const gi::Mapping& a, const gi::Mapping& b) { return a.start < b.start; }));
  for (std::size_t i = 0; i + 1 < maps.size(); ++i) EXPECT_LE(maps[i].end, maps[i + 1].start);
  const std::string exe = real_path(kCat);
  bool have_exe = false, have_libc = false, have_exe_text = false;
  for (const gi::Mapping& m : maps) {
    EXPECT_EQ(m.perms.size(), 4u);
    if (m.path == exe) {
      have_exe = true;
      have_exe_text |= m.perms == "r-xp";
    }
    have_libc |= m.path.find("/libc.so") != std::string::npos;
  }
  EXPECT_TRUE(have_exe) << exe;
  EXPECT_TRUE(have_exe_text);
  EXPECT_TRUE(have_libc);
  // Every file mapping the child had is there, at the same place.
  for (const ProcMapping& pm : c_.maps) {
    if (pm.path.empty() || pm.path[0] != '/') continue;
    const gi::Mapping* m = mapping_at(maps, pm.start);
    ASSERT_NE(m, nullptr) << pm.path;
    EXPECT_EQ(m->start, pm.start) << pm.path;
    EXPECT_EQ(m->end, pm.end) << pm.path;
    EXPECT_EQ(m->offset, pm.offset) << pm.path;
    EXPECT_EQ(m->path, pm.path);
    if (pm.perms[2] == 'x') {
      EXPECT_EQ(m->perms, pm.perms) << pm.path;
    }
  }
}

// A core whose NT_FILE note is gone (renamed to an unknown note type in a
// copy): the executable's text still comes from the file, placed by the
// load bias from the auxiliary vector.
TEST_F(CatCore, ReadsTextWithoutNtFile) {
  SKIP_OR_FAIL(c_);
  std::string bytes = command_testing::read_file(c_.core);
  bool patched = false;
  {
    int fd = ::open(c_.core.c_str(), O_RDONLY | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    elf_version(EV_CURRENT);
    Elf* elf = elf_begin(fd, ELF_C_READ, nullptr);
    std::size_t phnum = 0;
    ASSERT_EQ(elf_getphdrnum(elf, &phnum), 0);
    for (std::size_t i = 0; i < phnum; ++i) {
      GElf_Phdr ph;
      if (gelf_getphdr(elf, static_cast<int>(i), &ph) == nullptr || ph.p_type != PT_NOTE) continue;
      // Notes: namesz, descsz, type, then name and desc, each padded to 4.
      for (std::size_t off = ph.p_offset; off + 12 <= ph.p_offset + ph.p_filesz;) {
        std::uint32_t h[3];
        std::memcpy(h, bytes.data() + off, sizeof h);
        if (h[2] == NT_FILE) {
          const std::uint32_t unknown = 0x7fff0000;
          std::memcpy(bytes.data() + off + 8, &unknown, 4);
          patched = true;
        }
        off += 12 + ((h[0] + 3) & ~3u) + ((h[1] + 3) & ~3u);
      }
    }
    elf_end(elf);
    ::close(fd);
  }
  ASSERT_TRUE(patched) << "no NT_FILE note in " << c_.core;
  const std::string core = c_.dir + "/core.no-nt-file";
  std::ofstream(core, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));

  ElfFacts exe = read_elf(kCat);
  std::optional<std::uint64_t> bias = load_bias(c_.maps, kCat, exe);
  ASSERT_TRUE(bias.has_value());
  auto t = gi::open_core(core, kCat);
  const std::uint64_t entry = *bias + exe.entry;
  std::vector<gi::Mapping> maps = t->mappings();
  const gi::Mapping* m = mapping_at(maps, entry);
  ASSERT_NE(m, nullptr);
  EXPECT_EQ(m->path, kCat);
  EXPECT_EQ(m->perms, "r-xp");
  ASSERT_NO_FATAL_FAILURE(expect_entry_code_from_file(*t, entry, exe, kCat));
  // No file mappings but the executable's.
  for (const gi::Mapping& mm : maps) EXPECT_TRUE(mm.path.empty() || mm.path == kCat) << mm.path;
}

TEST_F(CatCore, RefusesTruncatedCore) {
  SKIP_OR_FAIL(c_);
  const std::string cut = c_.dir + "/truncated";
  std::string bytes = command_testing::read_file(c_.core).substr(0, 4096);
  std::ofstream(cut, std::ios::binary).write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
  std::string what = open_error(cut, kCat);
  expect_one_line_naming(what, cut);
  EXPECT_NE(what.find("truncated"), std::string::npos) << what;
}

TEST_F(CatCore, RefusesAnotherExecutable) {
  SKIP_OR_FAIL(c_);
  std::string what = open_error(c_.core, "/bin/true");
  expect_one_line_naming(what, c_.core);
  EXPECT_NE(what.find("was not made from /bin/true"), std::string::npos) << what;
}

TEST_F(CatCore, RefusesMissingOrNonElfExecutable) {
  SKIP_OR_FAIL(c_);
  const std::string missing = c_.dir + "/no-such-exe";
  std::string what = open_error(c_.core, missing);
  expect_one_line_naming(what, missing);
  const std::string text = c_.dir + "/text-exe";
  std::ofstream(text) << "#!/bin/sh\necho not elf\n";
  what = open_error(c_.core, text);
  expect_one_line_naming(what, text);
  EXPECT_NE(what.find("not an ELF"), std::string::npos) << what;
}

// Bad cores that need no child.
class BadCore : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()); }
  TempDir tmp_{"inspect_core_test"};
  std::string dir_ = tmp_.path();
};

TEST_F(BadCore, Missing) {
  const std::string core = dir_ + "/core.404";
  std::string what = open_error(core, kCat);
  expect_one_line_naming(what, core);
  EXPECT_NE(what.find(std::strerror(ENOENT)), std::string::npos) << what;
}

TEST_F(BadCore, NotElf) {
  const std::string core = dir_ + "/core.text";
  std::ofstream(core) << "this is not a core\nat all\n";
  std::string what = open_error(core, kCat);
  expect_one_line_naming(what, core);
  EXPECT_NE(what.find("not a core file"), std::string::npos) << what;
  const std::string empty = dir_ + "/core.empty";
  std::ofstream{empty};
  expect_one_line_naming(open_error(empty, kCat), empty);
}

TEST_F(BadCore, ExecutableIsNotACore) {
  std::string what = open_error(kCat, kCat);
  expect_one_line_naming(what, kCat);
  ElfFacts f = read_elf(kCat);
  EXPECT_NE(what.find(f.type == ET_DYN ? "not a core file (ELF type DYN)" : "not a core file (ELF type EXEC)"),
            std::string::npos)
      << what;
}

TEST_F(BadCore, Directory) { expect_one_line_naming(open_error(dir_, kCat), dir_); }

// The inspector finds gort's debug descriptor in a core at the
// .gort_debug section's address plus the load bias.
TEST(GortCore, DebugDescriptorAtSectionPlusBias) {
  CoreOf c;
  c.make({GORT_INSPECTEE, "--exit-after", "120"}, "", "ready");
  SKIP_OR_FAIL(c);
  ElfFacts exe = read_elf(GORT_INSPECTEE);
  ASSERT_TRUE(exe.sections.count(GORT_DEBUG_SECTION)) << GORT_INSPECTEE << " has no " << GORT_DEBUG_SECTION;
  std::optional<std::uint64_t> bias = load_bias(c.maps, GORT_INSPECTEE, exe);
  ASSERT_TRUE(bias.has_value());
  auto t = gi::open_core(c.core, GORT_INSPECTEE);
  EXPECT_EQ(t->pid(), c.pid);
  EXPECT_EQ(t->auxv(AT_ENTRY) - exe.entry, *bias);
  const std::uint64_t desc = exe.sections[GORT_DEBUG_SECTION] + *bias;
  EXPECT_EQ(t->read_value<std::uint64_t>(desc), GORT_DEBUG_MAGIC);
  gort_debug_descriptor d = t->read_value<gort_debug_descriptor>(desc);
  EXPECT_EQ(d.version, static_cast<std::uint32_t>(GORT_DEBUG_VERSION));
  EXPECT_EQ(d.ptr_size, 8u);
  // Its roots point into the image: allgs.len is a readable word.
  EXPECT_NO_THROW(t->read_value<std::uint64_t>(d.allgs_len));

  // Every thread, with registers in code. The count is comparable only if
  // the runtime did not start or end a thread around gcore.
  std::vector<gi::Thread> threads = t->threads();
  ASSERT_FALSE(threads.empty());
  if (c.tasks_before == c.tasks_after) {
    EXPECT_EQ(threads.size(), c.tasks_before);
  }
  std::vector<gi::Mapping> maps = t->mappings();
  for (const gi::Thread& th : threads) {
    EXPECT_TRUE(th.has_regs);
    const gi::Mapping* m = mapping_at(maps, th.regs.rip);
    ASSERT_NE(m, nullptr) << "thread " << th.tid << " rip " << std::hex << th.regs.rip;
    EXPECT_EQ(m->perms[2], 'x') << "thread " << th.tid << " in " << m->path;
  }
}

}  // namespace
