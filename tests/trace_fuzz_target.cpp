// libFuzzer over the trace tool (clang only; see tests/CMakeLists.txt):
// any input either reads and converts or is one FormatError.
//
// Run with a corpus directory: the seeds of trace_fuzz_seeds.h are written
// into it first (LLVMFuzzerInitialize runs before libFuzzer reads it).
#include <sys/stat.h>

#include <cstdint>
#include <cstring>
#include <fstream>
#include <string>

#include "trace_fuzz_seeds.h"

extern "C" int LLVMFuzzerInitialize(int* argc, char*** argv) {
  for (int i = 1; i < *argc; ++i) {
    const char* a = (*argv)[i];
    if (a[0] == '-') continue;
    ::mkdir(a, 0755);
    int n = 0;
    for (const std::string& s : trace_testing::fuzz_seeds()) {
      std::ofstream f(std::string(a) + "/seed" + std::to_string(n++) + ".bin", std::ios::binary | std::ios::trunc);
      f.write(s.data(), static_cast<std::streamsize>(s.size()));
    }
    break;
  }
  return 0;
}

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  trace_testing::fuzz_pipeline(std::string_view(reinterpret_cast<const char*>(data), size));
  return 0;
}
