// The spelling of ELF header values, as binutils' readelf 2.40 prints them
// (binutils/readelf.c: get_elf_class, get_data_encoding, get_osabi_name,
// get_file_type, get_machine_name, get_segment_type, process_file_header).
// `gort elf` promises the same values as `readelf -h`, and the tests hold it
// to that line by line, so the strings here are readelf's, typos included.
#include <elf.h>

#include <cinttypes>
#include <cstdio>

#include "gort/inspect/elf.h"

namespace gort::inspect {

namespace {

std::string format(const char* fmt, unsigned long long v) {
  char buf[64];
  std::snprintf(buf, sizeof buf, fmt, v);
  return buf;
}

}  // namespace

std::string elf_class_name(std::uint8_t c) {
  switch (c) {
    case ELFCLASSNONE: return "none";
    case ELFCLASS32: return "ELF32";
    case ELFCLASS64: return "ELF64";
    default: return format("<unknown: %llx>", c);
  }
}

std::string elf_data_name(std::uint8_t d) {
  switch (d) {
    case ELFDATANONE: return "none";
    case ELFDATA2LSB: return "2's complement, little endian";
    case ELFDATA2MSB: return "2's complement, big endian";
    default: return format("<unknown: %llx>", d);
  }
}

// readelf also names a few machine-specific values >= 64 (ARM, AMDGPU, C6000,
// MSP430); none applies to x86-64, so they print as unknown here.
std::string elf_osabi_name(std::uint8_t a) {
  switch (a) {
    case ELFOSABI_NONE: return "UNIX - System V";
    case ELFOSABI_HPUX: return "UNIX - HP-UX";
    case ELFOSABI_NETBSD: return "UNIX - NetBSD";
    case ELFOSABI_GNU: return "UNIX - GNU";
    case ELFOSABI_SOLARIS: return "UNIX - Solaris";
    case ELFOSABI_AIX: return "UNIX - AIX";
    case ELFOSABI_IRIX: return "UNIX - IRIX";
    case ELFOSABI_FREEBSD: return "UNIX - FreeBSD";
    case ELFOSABI_TRU64: return "UNIX - TRU64";
    case ELFOSABI_MODESTO: return "Novell - Modesto";
    case ELFOSABI_OPENBSD: return "UNIX - OpenBSD";
    case 13: return "VMS - OpenVMS";
    case 14: return "HP - Non-Stop Kernel";
    case 15: return "AROS";
    case 16: return "FenixOS";
    case 17: return "Nuxi CloudABI";
    case 18: return "Stratus Technologies OpenVOS";
    default: return format("<unknown: %llx>", a);
  }
}

std::string elf_type_name(std::uint16_t t, bool is_pie) {
  switch (t) {
    case ET_NONE: return "NONE (None)";
    case ET_REL: return "REL (Relocatable file)";
    case ET_EXEC: return "EXEC (Executable file)";
    case ET_DYN: return is_pie ? "DYN (Position-Independent Executable file)" : "DYN (Shared object file)";
    case ET_CORE: return "CORE (Core file)";
    default:
      if (t >= ET_LOPROC) return format("Processor Specific: (%llx)", t);
      if (t >= ET_LOOS && t <= ET_HIOS) return format("OS Specific: (%llx)", t);
      return format("<unknown>: %llx", t);
  }
}

// The machines one may plausibly meet on a Linux box; readelf knows ~250,
// the others print as readelf prints a machine it does not know.
std::string elf_machine_name(std::uint16_t m) {
  switch (m) {
    case EM_NONE: return "None";
    case EM_SPARC: return "Sparc";
    case EM_386: return "Intel 80386";
    case EM_68K: return "MC68000";
    case EM_MIPS: return "MIPS R3000";
    case EM_PARISC: return "HPPA";
    case EM_SPARC32PLUS: return "Sparc v8+";
    case EM_PPC: return "PowerPC";
    case EM_PPC64: return "PowerPC64";
    case EM_S390: return "IBM S/390";
    case EM_ARM: return "ARM";
    case EM_SH: return "Renesas / SuperH SH";
    case EM_SPARCV9: return "Sparc v9";
    case EM_IA_64: return "Intel IA-64";
    case EM_X86_64: return "Advanced Micro Devices X86-64";
    case EM_AARCH64: return "AArch64";
    case EM_CUDA: return "NVIDIA CUDA architecture";
    case EM_AMDGPU: return "AMD GPU";
    case EM_RISCV: return "RISC-V";
    case EM_BPF: return "Linux BPF";
    case 258: return "LoongArch";  // EM_LOONGARCH: newer than some glibc headers
    case EM_ALPHA: return "Alpha";
    default: return format("<unknown>: 0x%llx", m);
  }
}

std::string segment_type_name(std::uint32_t t) {
  switch (t) {
    case PT_NULL: return "NULL";
    case PT_LOAD: return "LOAD";
    case PT_DYNAMIC: return "DYNAMIC";
    case PT_INTERP: return "INTERP";
    case PT_NOTE: return "NOTE";
    case PT_SHLIB: return "SHLIB";
    case PT_PHDR: return "PHDR";
    case PT_TLS: return "TLS";
    case PT_GNU_EH_FRAME: return "GNU_EH_FRAME";
    case PT_GNU_STACK: return "GNU_STACK";
    case PT_GNU_RELRO: return "GNU_RELRO";
    case PT_GNU_PROPERTY: return "GNU_PROPERTY";
    case 0x6474e554: return "GNU_SFRAME";  // PT_GNU_SFRAME (binutils 2.40)
    default:
      if (t >= PT_LOPROC && t <= PT_HIPROC) return format("LOPROC+%#llx", t - PT_LOPROC);
      if (t >= PT_LOOS && t <= PT_HIOS) return format("LOOS+%#llx", t - PT_LOOS);
      return format("<unknown>: %llx", t);
  }
}

std::string Segment::type_name() const { return segment_type_name(type); }

std::string Segment::flags_text() const {
  std::string s = "   ";
  if (flags & PF_R) s[0] = 'R';
  if (flags & PF_W) s[1] = 'W';
  if (flags & PF_X) s[2] = 'E';
  return s;
}

std::vector<HeaderField> header_fields(const ElfInfo& e) {
  std::vector<HeaderField> f;
  std::string magic;
  for (std::uint8_t b : e.e_ident) magic += format("%2.2llx ", b);
  magic.pop_back();  // readelf leaves a trailing blank; the value is the bytes
  f.push_back({"Magic", magic});
  f.push_back({"Class", elf_class_name(e.e_ident[EI_CLASS])});
  f.push_back({"Data", elf_data_name(e.e_ident[EI_DATA])});
  std::uint8_t v = e.e_ident[EI_VERSION];
  f.push_back({"Version", std::to_string(v) + (v == EV_CURRENT ? " (current)" : v != EV_NONE ? " <unknown>" : "")});
  f.push_back({"OS/ABI", elf_osabi_name(e.e_ident[EI_OSABI])});
  f.push_back({"ABI Version", std::to_string(e.e_ident[EI_ABIVERSION])});
  f.push_back({"Type", elf_type_name(e.e_type, e.is_pie)});
  f.push_back({"Machine", elf_machine_name(e.e_machine)});
  f.push_back({"Version", format("0x%llx", e.e_version)});
  f.push_back({"Entry point address", format("0x%llx", e.e_entry)});
  // readelf prints offsets with PRId64 (print_vma's DEC).
  f.push_back({"Start of program headers",
               std::to_string(static_cast<std::int64_t>(e.e_phoff)) + " (bytes into file)"});
  f.push_back({"Start of section headers",
               std::to_string(static_cast<std::int64_t>(e.e_shoff)) + " (bytes into file)"});
  f.push_back({"Flags", format("0x%llx", e.e_flags)});
  f.push_back({"Size of this header", std::to_string(e.e_ehsize) + " (bytes)"});
  f.push_back({"Size of program headers", std::to_string(e.e_phentsize) + " (bytes)"});
  // Extended numbering: the real count is in section header 0, which
  // readelf shows in parentheses after the escape value.
  std::string phnum = std::to_string(e.e_phnum);
  if (e.e_phnum == PN_XNUM && e.phnum != PN_XNUM && e.shnum > 0) phnum += " (" + std::to_string(e.phnum) + ")";
  f.push_back({"Number of program headers", phnum});
  f.push_back({"Size of section headers", std::to_string(e.e_shentsize) + " (bytes)"});
  std::string shnum = std::to_string(e.e_shnum);
  if (e.e_shnum == 0 && e.shnum > 0) shnum += " (" + std::to_string(e.shnum) + ")";
  f.push_back({"Number of section headers", shnum});
  std::string strndx = std::to_string(e.e_shstrndx);
  std::size_t real_strndx = e.e_shstrndx;
  if (e.e_shstrndx == (SHN_XINDEX & 0xffff) && e.shnum > 0) {
    real_strndx = e.shstrndx;
    strndx += " (" + std::to_string(real_strndx) + ")";
  }
  if (real_strndx != SHN_UNDEF && real_strndx >= (e.e_shnum == 0 ? e.shnum : e.e_shnum))
    strndx += " <corrupt: out of range>";
  f.push_back({"Section header string table index", strndx});
  return f;
}

}  // namespace gort::inspect
