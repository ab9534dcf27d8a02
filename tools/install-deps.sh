#!/usr/bin/env bash
# Installs the Debian 12 packages gort needs to build, test and benchmark,
# and only those that are missing. Run as root (or with sudo available).
#   tools/install-deps.sh          build + tests + demo
#   tools/install-deps.sh --bench  also Go, Delve and perf, for the bench/ scripts
set -euo pipefail
pkgs=(cmake ninja-build g++ make pkg-config libgtest-dev libgmock-dev libbenchmark-dev
      libunwind-dev libelf-dev libdw-dev libboost-context-dev libboost-fiber-dev
      gdb binutils  # gdb: gcore and the gdb extension's tests; binutils: readelf for gort elf's tests
      clang-14      # package_test builds a user's program with clang too: its dumps must name the user's code
      chromium fonts-dejavu-core)  # chromium: the trace viewer's test (a font: installed without recommends)
if [[ "${1:-}" == "--bench" ]]; then pkgs+=(golang-go delve linux-perf); fi  # perf: how long inspect_compare.sh's targets stay stopped
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then exit 0; fi
echo "install-deps: installing ${missing[*]}"
sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
