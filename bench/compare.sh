#!/usr/bin/env bash
# Builds and runs gort's scheduler and channel benchmarks next to Go's
# runtime, OS threads and Boost.Fiber on the same shapes, at each GOMAXPROCS,
# and prints one table.
#
#   bench/compare.sh [BUILD_DIR]        BUILD_DIR defaults to build/default
#
# Knobs (environment):
#   BENCH_PROCS="1 2"       the GOMAXPROCS values to run
#   BENCH_MIN_TIME=0.2      seconds per benchmark run (Go: -benchtime)
#   BENCH_REPETITIONS=5     runs per benchmark; the table shows the median
#   BENCH_SKYNET_REPETITIONS=3  runs of skynet (1-3 s each), gort's and Go's
#   BENCH_KEEP=DIR          keep the raw JSON / Go output in DIR
#   BENCH_TIMEOUT=300       seconds before a hung benchmark binary is killed
#   BENCH_PREEMPT=0         skip the preemption table (compare_preempt.sh)
#
# Takes about two and a half minutes on 2 cores with the defaults, then about
# half a minute more for the preemption table.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build/default}
procs_list=${BENCH_PROCS:-1 2}
min_time=${BENCH_MIN_TIME:-0.2}
reps=${BENCH_REPETITIONS:-5}
skynet_reps=${BENCH_SKYNET_REPETITIONS:-3}

source "$here/lib.sh"
bench_outdir

# --- build -------------------------------------------------------------------
bench_configured compare.sh "$build" $(( $# > 0 ))
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
case "$build_type" in
  Release | RelWithDebInfo) ;;
  *) echo "compare.sh: warning: $build is a '$build_type' build; numbers will not be representative" >&2 ;;
esac
cmake --build "$build" --target bench_peers
# bench_sched and bench_chan need the runtime; while that does not build,
# still measure the others and show gort's column as "-", but exit non-zero
# at the end.
have_gort=1
if ! cmake --build "$build" --target bench_sched bench_chan; then
  echo "compare.sh: warning: bench_sched/bench_chan did not build; gort's column will be empty" >&2
  have_gort=0
fi

gbench_flags=(--benchmark_min_time="$min_time" --benchmark_repetitions="$reps"
  --benchmark_report_aggregates_only=true --benchmark_format=json)

# Runs a Google Benchmark binary, its JSON to $1, its stderr to $1.log. The
# timeout turns a scheduler hang into a failed row instead of a stuck script.
#   run_gbench JSON COMMAND... [-- EXTRA_FLAGS...]
# EXTRA_FLAGS come after the common flags, so they win over them.
run_gbench() {
  local json=$1
  shift
  local cmd=() extra=()
  while (($#)) && [[ $1 != -- ]]; do
    cmd+=("$1")
    shift
  done
  if (($#)); then
    shift
    extra=("$@")
  fi
  if ! timeout "${BENCH_TIMEOUT:-300}" "${cmd[@]}" "${gbench_flags[@]}" "${extra[@]}" >"$json" 2>"$json.log"; then
    echo "compare.sh: failed: ${cmd[*]} ${extra[*]}" >&2
    cat "$json.log" >&2
    return 1
  fi
}

ncpu=$(nproc)
status=0
for p in $procs_list; do
  if ((have_gort)); then
    echo "running bench_sched, GOMAXPROCS=$p" >&2
    # GOMAXPROCS is read by gort::run at start-up, as Go reads it.
    GOMAXPROCS=$p run_gbench "$out/gort-$p.json" "$build/bench/bench_sched" || status=1
    echo "running bench_chan, GOMAXPROCS=$p" >&2
    # skynet takes a second or more per run: fewer repetitions of it.
    GOMAXPROCS=$p run_gbench "$out/chan-$p.json" "$build/bench/bench_chan" \
      -- --benchmark_filter='^chan/[^s]|^chan/select' || status=1
    GOMAXPROCS=$p run_gbench "$out/chan-skynet-$p.json" "$build/bench/bench_chan" \
      -- --benchmark_filter='^chan/skynet' --benchmark_repetitions="$skynet_reps" || status=1
  fi
  echo "running bench_peers, GOMAXPROCS=$p" >&2
  # OS threads have no GOMAXPROCS: limit the whole process to p CPUs instead.
  # bench_peers itself reads GOMAXPROCS for Boost.Fiber's thread count.
  pin=()
  if ((p <= ncpu)); then pin=(taskset -c "0-$((p - 1))"); fi
  GOMAXPROCS=$p run_gbench "$out/peers-$p.json" "${pin[@]}" "$build/bench/bench_peers" || status=1
done

# --- Go ----------------------------------------------------------------------
echo "running go test -bench, GOMAXPROCS=${procs_list// /,}" >&2
(
  cd "$here/go"
  # Offline and self-contained: the module has no dependencies, so nothing is
  # fetched (GOPROXY=off makes sure of it); GOTOOLCHAIN=local stops a newer go
  # from switching toolchains (Go 1.19 ignores it). Fall back to a temporary
  # build cache when the default one (under $HOME) is not writable.
  export GOPROXY=off GOFLAGS='' GO111MODULE=on GOTOOLCHAIN=local
  cache=$(go env GOCACHE)
  if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w "$cache" ]]; then
    export GOCACHE=$out/gocache GOPATH=$out/gopath
  fi
  go test -run '^$' -bench '^Benchmark[^S]|^BenchmarkS[^k]' -cpu "${procs_list// /,}" -benchtime "${min_time}s" -count "$reps"
  go test -run '^$' -bench '^BenchmarkSkynet$' -cpu "${procs_list// /,}" -benchtime "${min_time}s" -count "$skynet_reps"
) >"$out/go.txt" 2>&1 || {
  echo "compare.sh: go test failed" >&2
  cat "$out/go.txt" >&2
  status=1
}

# --- table -------------------------------------------------------------------
echo >&2
echo "machine: $ncpu CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(go version | cut -d' ' -f3); build: $build_type" >&2
python3 "$here/compare_report.py" "$out" "$procs_list"
if ((!have_gort)); then status=1; fi

# --- preemption --------------------------------------------------------------
# Latency distributions, one process per GORTDEBUG setting: its own script
# and table (it reads BENCH_KEEP and BENCH_TIMEOUT too).
if [[ ${BENCH_PREEMPT:-1} != 0 ]]; then
  echo >&2
  "$here/compare_preempt.sh" "$build" || status=1
fi
exit "$status"
