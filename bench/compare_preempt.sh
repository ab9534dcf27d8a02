#!/usr/bin/env bash
# Preemption speed, gort vs Go: runs bench_preempt (preempt.cpp) under each
# GORTDEBUG time slice and go/preempt on Go's runtime, one process at a time,
# and prints one table with the ratios gort/Go and the targets of the
# preemption issue. The numbers are latency distributions of single events
# (see README.md), so these are plain programs, not Google Benchmark.
#
#   bench/compare_preempt.sh [BUILD_DIR]    BUILD_DIR defaults to build/default
#
# Knobs (environment):
#   BENCH_PREEMPT_ROUNDS=2  rounds of the throughput runs (5 timed runs each;
#                           the configurations alternate within a round)
#   BENCH_KEEP=DIR          keep the raw output in DIR
#   BENCH_TIMEOUT=120       seconds before a hung process is killed
#
# Takes about half a minute on 2 cores, plus the builds. compare.sh runs it
# after its own table.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build/default}
rounds=${BENCH_PREEMPT_ROUNDS:-2}
tmo=${BENCH_TIMEOUT:-120}

source "$here/lib.sh"
bench_outdir 'preempt-*.txt' 'preempt-*.log'

# --- build -------------------------------------------------------------------
bench_configured compare_preempt.sh "$build" $(( $# > 0 ))
status=0 have_gort=1 have_go=1
gort=$build/bench/bench_preempt
if ! cmake --build "$build" --target bench_preempt; then
  echo "compare_preempt.sh: warning: bench_preempt did not build; gort's column will be empty" >&2
  have_gort=0 status=1
fi
gobin=$out/go_preempt
(
  # As compare.sh: offline, no toolchain switch, a private cache if needed.
  cd "$here/go"
  export GOPROXY=off GOFLAGS='' GO111MODULE=on GOTOOLCHAIN=local
  cache=$(go env GOCACHE)
  if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w "$cache" ]]; then
    export GOCACHE=$out/gocache GOPATH=$out/gopath
  fi
  go build -o "$gobin" ./preempt
) || {
  echo "compare_preempt.sh: warning: go/preempt did not build; Go's column will be empty" >&2
  have_go=0 status=1
}

# Other processes skew latencies (a busy CPU delays sysmon and the signals):
# the machine's CPU time minus our children's tells how busy it was.
busy_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
busy0=$(busy_ticks) child0=$(child_ticks) start=$SECONDS

# run NAME COMMAND...: stdout to preempt-NAME.txt, stderr to preempt-NAME.log.
# The timeout turns a program that is never preempted into a failed row.
run() {
  local name=$1
  shift
  echo "running $*" >&2
  if ! timeout "$tmo" "$@" >>"$out/preempt-$name.txt" 2>>"$out/preempt-$name.log"; then
    echo "compare_preempt.sh: failed: $*" >&2
    tail -n 5 "$out/preempt-$name.log" >&2
    status=1
  fi
}
# run_gort / run_go [VAR=VALUE...] PROGRAM ARGS...: skipped if it did not build.
run_gort() { if ((have_gort)); then run gort env "$@"; fi; }
run_go() { if ((have_go)); then run go env "$@"; fi; }

# Preemption latency and the cost of one preemption (GOMAXPROCS=1, set by the
# programs). About 3 s of switches per slice for gort; Go's slices are 20 ms.
run_gort GORTDEBUG=timeslice=10ms "$gort" spin 300
run_gort GORTDEBUG=timeslice=1ms "$gort" spin 1000
run_gort GORTDEBUG=timeslice=100us "$gort" spin 3000
run_go "$gobin" spin -n 200
run_go "$gobin" spin -stamp -n 200
# Stop-the-world latency (GOMAXPROCS=2, set by the programs).
for s in 0 1 2; do
  run_gort "$gort" stw "$s" 1000
  run_go "$gobin" stw -spinners "$s" -n 1000
done
# Throughput: one goroutine per CPU; the settings alternate so that drift in
# the machine's speed hits them all alike.
procs=$(nproc)
for ((r = 0; r < rounds; r++)); do
  for cfg in preemptoff=1 timeslice=10ms timeslice=1ms timeslice=100us; do
    run_gort GOMAXPROCS="$procs" GORTDEBUG="$cfg" "$gort" work 5
  done
  run_go GOMAXPROCS="$procs" GODEBUG=asyncpreemptoff=1 "$gobin" work -runs 5
  run_go GOMAXPROCS="$procs" "$gobin" work -runs 5
done

others=$(( ($(busy_ticks) - busy0) - ($(child_ticks) - child0) ))
others_pct=$(( others * 100 / ($(getconf CLK_TCK) * (SECONDS - start + 1)) ))

if grep -q "unknown setting" "$out/preempt-gort.log" 2>/dev/null; then
  echo "compare_preempt.sh: the runtime does not know a GORTDEBUG setting:" >&2
  grep "unknown setting" "$out/preempt-gort.log" | sort -u >&2
  status=1
fi

# --- table -------------------------------------------------------------------
echo >&2
echo "machine: $procs CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); other processes used ${others_pct}% of a CPU meanwhile; $(go version | cut -d' ' -f3); build: $(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")" >&2
if ((others_pct > 10)); then
  echo "compare_preempt.sh: warning: the machine was busy; latencies are skewed" >&2
fi
python3 "$here/compare_preempt_report.py" "$out"
exit "$status"
