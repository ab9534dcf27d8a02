// `gort elf FILE` against `readelf -h FILE`: every header line readelf
// prints must come out the same, on every kind of ELF file (PIE, shared
// library, static executable, stripped gort program, core file); the entry
// symbol and the gort runtime's descriptor must be found; bad input must give
// exit status 1 and exactly one line on stderr, bad usage exit status 2.
//
// The CLI runs as a child process, as a user runs it. readelf (binutils),
// strip and gcore (gdb) are the references and tools.
#include <fcntl.h>
#include <signal.h>
#include <spawn.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <gtest/gtest.h>

#include <cerrno>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <regex>
#include <sstream>
#include <string>
#include <utility>
#include <vector>

#include "inspect_testing.h"

extern char** environ;

namespace {

using namespace inspect_testing;

namespace fs = std::filesystem;

Result gort_elf(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {GORT_CLI, "elf"};
  argv.insert(argv.end(), args.begin(), args.end());
  return run(argv);
}

std::string trim(const std::string& s) {
  std::size_t b = s.find_first_not_of(' '), e = s.find_last_not_of(' ');
  return b == std::string::npos ? "" : s.substr(b, e - b + 1);
}

using Fields = std::vector<std::pair<std::string, std::string>>;

// The "  Label:   value" lines of the block that follows "ELF Header:", in
// order (readelf has two "Version" lines, so not a map).
Fields header_block(const std::string& text) {
  Fields f;
  bool in = false;
  for (const std::string& l : lines(text)) {
    if (l == "ELF Header:") {
      in = true;
      continue;
    }
    if (!in) continue;
    if (l.empty()) break;
    std::size_t colon = l.find(':');
    if (colon == std::string::npos) continue;
    f.emplace_back(trim(l.substr(0, colon)), trim(l.substr(colon + 1)));
  }
  return f;
}

// The value of the first "  Label:  value" line anywhere in gort's output.
std::string field(const std::string& text, const std::string& label) {
  for (const std::string& l : lines(text)) {
    std::string t = trim(l);
    if (t.rfind(label + ":", 0) == 0) return trim(t.substr(label.size() + 1));
  }
  return "<no " + label + " line>";
}

std::string value_of(const Fields& f, const std::string& label) {
  for (const auto& [k, v] : f)
    if (k == label) return v;
  return "<no " + label + " line>";
}

// Runs both and checks that every header line readelf prints is gort's,
// and that gort's block is readelf's output byte for byte. Returns gort's
// output for further checks.
std::string expect_same_header(const std::string& path) {
  Result r = run({"readelf", "-h", path});
  EXPECT_EQ(r.status, 0) << "readelf -h " << path << ": " << r.err;
  Result g = gort_elf({path});
  EXPECT_EQ(g.status, 0) << "gort elf " << path << ": " << g.err;
  EXPECT_EQ(g.err, "");
  Fields want = header_block(r.out), got = header_block(g.out);
  EXPECT_EQ(want.size(), 19u) << r.out;  // Magic .. Section header string table index
  EXPECT_EQ(got, want) << "gort elf:\n" << g.out << "readelf -h:\n" << r.out;
  EXPECT_EQ(g.out.substr(0, r.out.size()), r.out);
  return g.out;
}

std::string readelf_value(const std::string& path, const std::string& label) {
  return value_of(header_block(run({"readelf", "-h", path}).out), label);
}

// The Address column of a section in `readelf -SW`, as "0x..." without
// leading zeros; "" if there is no such section.
std::string readelf_section_addr(const std::string& path, const std::string& name) {
  for (const std::string& l : lines(run({"readelf", "-SW", path}).out)) {
    std::size_t at = l.find(" " + name + " ");
    if (at == std::string::npos) continue;
    std::istringstream in(l.substr(at + name.size() + 2));
    std::string type, addr;
    in >> type >> addr;
    std::size_t nz = addr.find_first_not_of('0');
    return "0x" + (nz == std::string::npos ? std::string("0") : addr.substr(nz));
  }
  return "";
}

void write_file(const std::string& path, const std::string& data) {
  std::ofstream(path, std::ios::binary | std::ios::trunc) << data;
}

// A fresh directory per test for the files it makes.
class InspectElf : public ::testing::Test {
 protected:
  void SetUp() override { ASSERT_FALSE(dir_.empty()) << std::strerror(errno); }
  std::string path(const std::string& name) const { return dir_ + "/" + name; }

  // Bad input: status 1, nothing on stdout, one line on stderr that names
  // the file and contains `what`.
  void expect_bad_input(const std::string& file, const std::string& what) {
    Result g = gort_elf({file});
    EXPECT_EQ(g.status, 1) << g.out << g.err;
    EXPECT_EQ(g.out, "");
    ASSERT_FALSE(g.err.empty());
    EXPECT_EQ(g.err.find('\n'), g.err.size() - 1) << "not exactly one line: " << g.err;
    EXPECT_NE(g.err.find(file), std::string::npos) << g.err;
    EXPECT_NE(g.err.find(what), std::string::npos) << g.err;
  }

  TempDir tmp_{"inspect_elf"};
  std::string dir_ = tmp_.path();
};

// ---- The same header as readelf, on every kind of file ----

TEST_F(InspectElf, GortCliItselfMatchesReadelf) {
  std::string out = expect_same_header(GORT_CLI);
  EXPECT_EQ(field(out, "Entry point symbol"), "_start (.symtab)");
  EXPECT_EQ(field(out, "Type"), "DYN (Position-Independent Executable file)");
  // The CLI links gort_inspect, never the runtime.
  EXPECT_NE(out.find("\ngort runtime: no\n"), std::string::npos) << out;
}

TEST_F(InspectElf, GortProgramHasRuntimeDescriptorVersion1) {
  std::string out = expect_same_header(GORT_PROBE);
  EXPECT_EQ(field(out, "Entry point symbol"), "_start (.symtab)");
  std::string addr = readelf_section_addr(GORT_PROBE, ".gort_debug");
  ASSERT_NE(addr, "") << "gort_probe has no .gort_debug section";
  EXPECT_NE(out.find("\ngort runtime: yes (descriptor version " + std::to_string(GORT_DEBUG_VERSION) + ", section .gort_debug at " + addr + ")\n"),
            std::string::npos)
      << out;
}

TEST_F(InspectElf, SystemExecutableMatchesReadelf) {
  if (!fs::exists("/bin/true")) GTEST_SKIP() << "no /bin/true";
  std::string out = expect_same_header("/bin/true");
  EXPECT_NE(out.find("\ngort runtime: no\n"), std::string::npos) << out;
}

// libc.so.6 has a PT_INTERP (it runs as a program) but no DF_1_PIE: readelf
// calls it a shared object, and so must we.
TEST_F(InspectElf, SharedLibraryWithInterpreterIsNotPie) {
  std::string libc;
  for (const char* p : {"/lib/x86_64-linux-gnu/libc.so.6", "/lib64/libc.so.6", "/usr/lib64/libc.so.6"})
    if (fs::exists(p)) libc = p;
  if (libc.empty()) GTEST_SKIP() << "no libc.so.6 where expected";
  std::string out = expect_same_header(libc);
  EXPECT_EQ(field(out, "Type"), "DYN (Shared object file)");
  EXPECT_NE(field(out, "Program interpreter"), "<no Program interpreter line>") << out;
}

TEST_F(InspectElf, OwnSharedLibraryMatchesReadelf) {
  std::string out = expect_same_header(INSPECT_ELF_SHLIB);
  EXPECT_EQ(field(out, "Type"), "DYN (Shared object file)");
  EXPECT_EQ(field(out, "Entry point address"), "0x0");
  EXPECT_EQ(field(out, "Entry point symbol"), "(none)");
}

TEST_F(InspectElf, StaticExecutableMatchesReadelf) {
  std::string out = expect_same_header(INSPECT_ELF_STATIC);
  EXPECT_EQ(field(out, "Type"), "EXEC (Executable file)");
  EXPECT_EQ(field(out, "Entry point symbol"), "_start (.symtab)");
  EXPECT_EQ(field(out, "Program interpreter"), "<no Program interpreter line>");
  EXPECT_EQ(out.find("INTERP"), std::string::npos) << out;
}

// strip drops .symtab but keeps allocated sections: the descriptor is still
// found by its section, and the entry symbol can only come from .dynsym.
TEST_F(InspectElf, StrippedGortProgramStillHasRuntime) {
  std::string copy = path("probe_stripped");
  fs::copy_file(GORT_PROBE, copy);
  Result s = run({"strip", copy});
  ASSERT_EQ(s.status, 0) << "strip: " << s.err;
  ASSERT_EQ(run({"readelf", "-SW", copy}).out.find(" .symtab "), std::string::npos) << "strip left .symtab";

  std::string out = expect_same_header(copy);
  std::string sym = field(out, "Entry point symbol");
  EXPECT_TRUE(sym == "(none)" || sym.find("(.dynsym)") != std::string::npos) << sym;
  std::string addr = readelf_section_addr(copy, ".gort_debug");
  ASSERT_NE(addr, "") << "strip removed .gort_debug";
  EXPECT_NE(out.find("\ngort runtime: yes (descriptor version " + std::to_string(GORT_DEBUG_VERSION) + ", section .gort_debug at " + addr + ")\n"),
            std::string::npos)
      << out;
}

// A core file from gcore of a `sleep` we start; killed whatever happens.
TEST_F(InspectElf, CoreFileMatchesReadelf) {
  int out = memfd_create("out", MFD_CLOEXEC), err = memfd_create("err", MFD_CLOEXEC);
  pid_t sleeper = spawn({"sleep", "30"}, out, err);
  ASSERT_GT(sleeper, 0);
  struct Reaper {
    pid_t pid;
    int fds[2];
    ~Reaper() {
      kill(pid, SIGKILL);
      while (waitpid(pid, nullptr, 0) < 0 && errno == EINTR) {
      }
      close(fds[0]);
      close(fds[1]);
    }
  } reaper{sleeper, {out, err}};

  std::string prefix = path("core");
  Result g = run({"timeout", "120", "gcore", "-o", prefix, std::to_string(sleeper)});
  std::string core = prefix + "." + std::to_string(sleeper);
  if (g.status != 0 || !fs::exists(core))
    GTEST_SKIP() << "gcore could not dump a child (ptrace not permitted here?): " << g.err;

  std::string text = expect_same_header(core);
  EXPECT_EQ(field(text, "Type"), "CORE (Core file)");
  EXPECT_EQ(field(text, "Process ID"), std::to_string(sleeper));
  // gdb writes the program's name (the kernel would write "sleep 30").
  EXPECT_EQ(field(text, "Command").rfind("sleep", 0), 0u) << text;
  EXPECT_EQ(field(text, "Threads"), "1 (NT_PRSTATUS notes)");
  EXPECT_NE(field(text, "Mapped files"), "0 (NT_FILE)");
}

TEST_F(InspectElf, JsonHasTheEntryPoint) {
  Result g = gort_elf({"--json", GORT_PROBE});
  ASSERT_EQ(g.status, 0) << g.err;
  std::smatch m;
  ASSERT_TRUE(std::regex_search(g.out, m, std::regex("\"entry\":\"(0x[0-9a-f]+)\""))) << g.out;
  EXPECT_EQ(m[1].str(), readelf_value(GORT_PROBE, "Entry point address"));
  EXPECT_NE(g.out.find("\"entry_symbol\":\"_start\""), std::string::npos) << g.out;
  EXPECT_TRUE(std::regex_search(g.out, std::regex("\"gort\":\\{\"runtime\":true,[^}]*\"version\":" + std::to_string(GORT_DEBUG_VERSION) + ","))) << g.out;
  EXPECT_EQ(g.out.front(), '{');
  EXPECT_EQ(g.out.substr(g.out.size() - 2), "}\n");
}

// ---- Bad input: one line on stderr, exit status 1 ----

TEST_F(InspectElf, MissingFile) { expect_bad_input(path("nonexistent"), "No such file or directory"); }

TEST_F(InspectElf, Directory) { expect_bad_input(dir_, "is a directory"); }

TEST_F(InspectElf, TextFileIsNotElf) {
  write_file(path("notes.txt"), "not an ELF file at all\n");
  expect_bad_input(path("notes.txt"), "is not an ELF file");
}

TEST_F(InspectElf, TruncatedElf) {
  std::string bytes = command_testing::read_file(GORT_PROBE);
  ASSERT_GT(bytes.size(), 4096u);
  write_file(path("first100"), bytes.substr(0, 100));
  expect_bad_input(path("first100"), "is truncated");
  write_file(path("first40"), bytes.substr(0, 40));  // not even the ELF header
  expect_bad_input(path("first40"), "is truncated");
  // Cut in the middle of the program headers (64-byte ELF header, then
  // 56-byte program headers): readelf itself still prints the header.
  ASSERT_EQ(readelf_value(GORT_PROBE, "Start of program headers"), "64 (bytes into file)");
  write_file(path("mid_phdrs"), bytes.substr(0, 64 + 56 * 2 + 20));
  expect_bad_input(path("mid_phdrs"), "is truncated");
}

// A copy of a real x86-64 binary with e_machine (offset 18) set to
// EM_AARCH64 (183): refused by default, read with --any-machine.
TEST_F(InspectElf, ElfForAnotherMachine) {
  std::string bytes = command_testing::read_file(GORT_PROBE);
  bytes[18] = static_cast<char>(183);
  bytes[19] = 0;
  write_file(path("aarch64"), bytes);
  expect_bad_input(path("aarch64"), "is an ELF file for AArch64, not x86-64");

  Result g = gort_elf({"--any-machine", path("aarch64")});
  EXPECT_EQ(g.status, 0) << g.err;
  Result r = run({"readelf", "-h", path("aarch64")});
  EXPECT_EQ(header_block(g.out), header_block(r.out));
  EXPECT_EQ(value_of(header_block(g.out), "Machine"), "AArch64");
}

TEST_F(InspectElf, Elf32IsAnotherMachine) {
  std::string bytes = command_testing::read_file(GORT_PROBE);
  bytes[4] = 1;  // EI_CLASS = ELFCLASS32
  write_file(path("elf32"), bytes);
  expect_bad_input(path("elf32"), "not x86-64");
}

// ---- Usage: exit status 2 ----

TEST_F(InspectElf, UsageErrors) {
  for (const auto& args : std::vector<std::vector<std::string>>{
           {}, {GORT_PROBE, GORT_PROBE}, {"--bogus", GORT_PROBE}, {"--json"}}) {
    Result g = gort_elf(args);
    EXPECT_EQ(g.status, 2) << g.err;
    EXPECT_EQ(g.out, "");
    EXPECT_EQ(g.err.find('\n'), g.err.size() - 1) << "not exactly one line: " << g.err;
  }
  Result h = gort_elf({"--help"});
  EXPECT_EQ(h.status, 0);
  EXPECT_EQ(h.out.rfind("Usage: gort elf", 0), 0u) << h.out;
}

}  // namespace
