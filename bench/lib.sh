# Sourced by compare.sh and compare_preempt.sh: where the raw output goes,
# and a configured build directory.

# Sets $out: $BENCH_KEEP (created; the files named by the patterns given
# are removed from it first), or a temporary folder removed at exit.
bench_outdir() {
  if [[ -n "${BENCH_KEEP:-}" ]]; then
    out=$BENCH_KEEP
    mkdir -p "$out"
    local p
    for p in "$@"; do rm -f "$out"/$p; done
  else
    out=$(mktemp -d)
    trap 'rm -rf "$out"' EXIT
  fi
}

# bench_configured SCRIPT BUILD EXPLICIT: the default build directory is
# configured with the default preset if it is not yet; a directory the user
# named (EXPLICIT=1) must be configured already.
bench_configured() {
  if [[ ! -f "$2/CMakeCache.txt" ]]; then
    if [[ $3 -eq 0 ]]; then
      (cd "$root" && cmake --preset default >/dev/null)
    else
      echo "$1: $2 is not a configured CMake build directory" >&2
      exit 2
    fi
  fi
}
