#!/bin/sh
# The installed CMake package: `cmake --install` the build into a scratch
# prefix, then configure, build and run a scratch project that uses only
# find_package(gort CONFIG REQUIRED) and gort::gort. It fails if the package
# config, the exported target, the installed headers or the library's link
# dependencies are wrong, or if the program built from them misbehaves.
#
# usage: package_test.sh BUILD_DIR SOURCE_DIR [CXX_COMPILER [CXX_FLAGS [EXE_LINKER_FLAGS]]]
set -eu

build_dir=${1:?usage: package_test.sh BUILD_DIR SOURCE_DIR [CXX [CXXFLAGS [LDFLAGS]]]}
source_dir=${2:?usage: package_test.sh BUILD_DIR SOURCE_DIR [CXX [CXXFLAGS [LDFLAGS]]]}
cxx=${3:-}
cxx_flags=${4:-}
ld_flags=${5:-}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/gort-package-test.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM

fail() {
  echo "package_test: FAIL: $*" >&2
  exit 1
}

echo "package_test: installing $build_dir into $tmp/prefix"
cmake --install "$build_dir" --prefix "$tmp/prefix" >"$tmp/install.log" 2>&1 || {
  cat "$tmp/install.log" >&2
  fail "cmake --install failed"
}
[ -f "$tmp/prefix/include/gort/gort.h" ] || fail "gort/gort.h was not installed"
ls "$tmp/prefix"/lib*/cmake/gort/gortConfig.cmake >/dev/null 2>&1 || fail "gortConfig.cmake was not installed"

mkdir "$tmp/proj"
cat >"$tmp/proj/CMakeLists.txt" <<'EOF'
cmake_minimum_required(VERSION 3.20)
project(gort_package_user LANGUAGES CXX)
set(CMAKE_CXX_STANDARD 20)
set(CMAKE_CXX_STANDARD_REQUIRED ON)
find_package(gort 0.1 CONFIG REQUIRED)
if(NOT TARGET gort::gort)
  message(FATAL_ERROR "find_package(gort) did not define gort::gort")
endif()
add_executable(x main.cpp)
target_compile_options(x PRIVATE -Wall -Wextra -Werror)
target_link_libraries(x PRIVATE gort::gort)
if(NOT TARGET gort::inspect)
  message(FATAL_ERROR "find_package(gort) did not define gort::inspect")
endif()
# The inspector library, reading the ELF header of the program x.
add_executable(y inspect.cpp)
target_compile_options(y PRIVATE -Wall -Wextra -Werror)
target_link_libraries(y PRIVATE gort::inspect)
# A goroutine that panics in the user's code: its dump must name that code,
# whichever compiler built it (optimised, so inlined, with DWARF).
add_executable(z panic.cpp)
target_compile_options(z PRIVATE -O2 -g)
target_link_libraries(z PRIVATE gort::gort)
EOF
cat >"$tmp/proj/panic.cpp" <<'EOF'
#include <gort/gort.h>

#include <stdexcept>

namespace app {
void check_order(int n) {
  if (n > 0) throw std::runtime_error("order out of stock");
}
}  // namespace app

int main() {
  return gort::run([] {
    gort::WaitGroup wg;
    wg.add(1);
    gort::go([&] {
      app::check_order(1);
      wg.done();
    });
    wg.wait();
  });
}
EOF
cat >"$tmp/proj/inspect.cpp" <<'EOF'
#include <gort/inspect/elf.h>

#include <cstdio>

int main(int argc, char** argv) {
  if (argc != 2) return 2;
  gort::inspect::ElfInfo e = gort::inspect::read_elf(argv[1]);
  std::printf("entry=%s gort=%d\n", e.entry_symbol.c_str(), e.has_gort_runtime ? 1 : 0);
  return 0;
}
EOF
cat >"$tmp/proj/main.cpp" <<'EOF'
// Uses every public header: goroutines, Mutex, WaitGroup, sleep.
#include <gort/gort.h>

#include <chrono>
#include <cstdio>
#include <mutex>

int main() {
  return gort::run([] {
    gort::Mutex mu;
    gort::WaitGroup wg;
    long sum = 0;
    wg.add(100);
    for (int i = 1; i <= 100; ++i) {
      gort::go([&, i] {
        gort::sleep_for(std::chrono::microseconds(i));
        {
          std::lock_guard<gort::Mutex> lk(mu);
          sum += i;
        }  // unlocked before done(): main's return destroys mu
        wg.done();
      });
    }
    wg.wait();
    std::printf("sum=%ld main=%lld\n", sum, static_cast<long long>(gort::goid()));
    return 7;
  });
}
EOF

set --
if command -v ninja >/dev/null 2>&1; then set -- -G Ninja; fi
[ -n "$cxx" ] && set -- "$@" "-DCMAKE_CXX_COMPILER=$cxx"
set -- "$@" "-DCMAKE_CXX_FLAGS=$cxx_flags" "-DCMAKE_EXE_LINKER_FLAGS=$ld_flags"

echo "package_test: configuring a scratch project against $tmp/prefix"
cmake -S "$tmp/proj" -B "$tmp/proj/build" "$@" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
  -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$tmp/configure.log" 2>&1 || {
  cat "$tmp/configure.log" >&2
  fail "configuring the scratch project failed"
}
grep -q "gort_DIR:PATH=$tmp/prefix" "$tmp/proj/build/CMakeCache.txt" ||
  fail "gort was not found in the install prefix: $(grep gort_DIR "$tmp/proj/build/CMakeCache.txt")"

cmake --build "$tmp/proj/build" >"$tmp/build.log" 2>&1 || {
  cat "$tmp/build.log" >&2
  fail "building the scratch project failed"
}
# The scratch project must have compiled against the installed headers, not
# the source tree.
if grep -q -- "$source_dir/runtime/include" "$tmp/proj/build/build.ninja" "$tmp/proj/build/CMakeFiles"/*/flags.make 2>/dev/null; then
  fail "the scratch project used headers from the source tree"
fi

# A hang is a failure, reported here (and the scratch directory removed)
# rather than left to ctest's timeout, which kills this script uncleanly.
run=
if command -v timeout >/dev/null 2>&1; then run="timeout -s KILL 60"; fi
status=0
out=$(GOMAXPROCS=2 $run "$tmp/proj/build/x") || status=$?
[ "$status" -ne 137 ] || fail "the scratch program hung (killed after 60 s); output so far: '$out'"
[ "$out" = "sum=5050 main=1" ] || fail "unexpected output: '$out' (exit status $status)"
[ "$status" -eq 7 ] || fail "exit status $status, expected 7"
elf=$($run "$tmp/proj/build/y" "$tmp/proj/build/x") || fail "the gort::inspect program failed: '$elf'"
[ "$elf" = "entry=_start gort=1" ] || fail "gort::inspect read x as '$elf', expected 'entry=_start gort=1'"
# The dump of a panicking goroutine names the user's function and where
# the goroutine was created. ($1: which compiler built $2.)
check_dump() {
  st=0
  dump=$($run "$2" 2>&1) || st=$?
  [ "$st" -eq 2 ] || fail "$1: the panicking program exited with $st, expected 2: $dump"
  echo "$dump" | grep -q "^panic: std::runtime_error: order out of stock" || fail "$1: no panic message in: $dump"
  echo "$dump" | grep -q "app::check_order" || fail "$1: the dump does not name app::check_order: $dump"
  echo "$dump" | grep -q "panic.cpp:7" || fail "$1: the dump does not show panic.cpp:7: $dump"
  echo "$dump" | grep -q "^created by main" || fail "$1: 'created by' does not name main: $dump"
}
check_dump "${cxx:-c++}" "$tmp/proj/build/z"

# The same user code built by clang, if it is here: clang nests definitions
# in their namespaces in DWARF, where libdw's scope lookup does not look.
# Not for a sanitizer build: GCC's instrumented library needs GCC's runtime.
clang=$(command -v clang++ || command -v clang++-14 || true)
case "$cxx_flags" in *-fsanitize*) clang= ;; esac
if [ -n "$clang" ] && [ "$(basename "${cxx:-}")" != "$(basename "$clang")" ]; then
  cmake -S "$tmp/proj" -B "$tmp/proj/build-clang" -DCMAKE_CXX_COMPILER="$clang" -DCMAKE_PREFIX_PATH="$tmp/prefix" \
    -DCMAKE_FIND_PACKAGE_NO_PACKAGE_REGISTRY=ON >"$tmp/configure-clang.log" 2>&1 || {
    cat "$tmp/configure-clang.log" >&2
    fail "configuring the scratch project with clang failed"
  }
  cmake --build "$tmp/proj/build-clang" --target z >"$tmp/build-clang.log" 2>&1 || {
    cat "$tmp/build-clang.log" >&2
    fail "building the panicking program with clang failed"
  }
  check_dump clang "$tmp/proj/build-clang/z"
  echo "package_test: the dumps of both compilers' builds name the user's code"
else
  echo "package_test: no clang++ here (or a sanitizer build): the dump of a clang build was not checked"
fi
echo "package_test: OK ($out, exit $status)"
