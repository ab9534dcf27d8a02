#!/usr/bin/env bash
# What the execution trace costs: skynet and channel ping-pong with tracing
# off and on, gort (GORTDEBUG=trace=FILE) next to Go 1.19 (go test -trace),
# the bytes the recorder writes per event, and how fast `gort trace` reads
# and converts a trace. One table, ratios on/off.
#
#   bench/compare_trace.sh [BUILD_DIR]     BUILD_DIR defaults to build/default
#
# Knobs (environment):
#   BENCH_PAIRS=5        off/on pairs per benchmark (run back to back: this
#                        VM's speed drifts, a pair sees the same drift)
#   BENCH_PROCS=2        GOMAXPROCS
#   BENCH_KEEP=DIR       keep the raw output and the traces in DIR
#
# About two minutes on 2 cores with the defaults.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build/default}
pairs=${BENCH_PAIRS:-5}
procs=${BENCH_PROCS:-2}

source "$here/lib.sh"
bench_outdir
bench_configured compare_trace.sh "$build" $(( $# > 0 ))
cmake --build "$build" --target bench_chan gort_cli skynet >&2
(cd "$here/go" && go test -c -o "$out/gobench.test" . >&2)

export GOMAXPROCS=$procs
results="$out/results.txt"
: >"$results"

# gort: one Google Benchmark run of BENCH; prints ns per op (real time).
gort_run() {
  local bench=$1 trace=$2 json="$out/gort.json"
  if [[ -n $trace ]]; then
    GORTDEBUG=trace=$trace "$build/bench/bench_chan" --benchmark_filter="^$bench\$" --benchmark_min_time=0.3 \
      --benchmark_format=json >"$json" 2>/dev/null
  else
    "$build/bench/bench_chan" --benchmark_filter="^$bench\$" --benchmark_min_time=0.3 \
      --benchmark_format=json >"$json" 2>/dev/null
  fi
  python3 -c 'import json,sys; b=json.load(open(sys.argv[1]))["benchmarks"][0]; print(b["real_time"] * {"ns":1,"us":1e3,"ms":1e6}[b["time_unit"]])' "$json"
}

# Go: one `go test -bench` run; prints ns per op.
go_run() {
  local bench=$1 trace=$2
  local args=(-test.run '^$' -test.bench "^$bench\$" -test.benchtime 0.3s)
  [[ -n $trace ]] && args+=(-test.trace "$trace")
  "$out/gobench.test" "${args[@]}" | awk -v b="$bench" '$1 ~ "^"b {for (i = 1; i < NF; i++) if ($(i+1) == "ns/op") print $i}'
}

for pair in $(seq "$pairs"); do
  for b in "chan/pingpong/real_time Go:BenchmarkChanPingPong" "chan/skynet/1000000/real_time Go:BenchmarkSkynet"; do
    g=${b% *}
    go=${b#*Go:}
    echo "pair $pair: $g" >&2
    echo "gort $g off $(gort_run "$g" "")" >>"$results"
    echo "gort $g on $(gort_run "$g" "$out/gort.trace")" >>"$results"
    echo "go $go off $(go_run "$go" "")" >>"$results"
    echo "go $go on $(go_run "$go" "$out/go.trace")" >>"$results"
  done
done

# One skynet run's trace (1.1 million goroutines): bytes per event, and
# the reader and converter's speed on it.
GORTDEBUG=trace=$out/skynet.trace "$build/examples/skynet" >/dev/null
"$build/cli/gort" trace "$out/skynet.trace" --summary --json >"$out/skynet.summary.json"
t_summary=$( { /usr/bin/time -f %e "$build/cli/gort" trace "$out/skynet.trace" --summary >/dev/null; } 2>&1 )
t_json=$( { /usr/bin/time -f %e "$build/cli/gort" trace "$out/skynet.trace" -o "$out/skynet.json" >/dev/null; } 2>&1 )
bytes=$(stat -c %s "$out/skynet.trace")
json_bytes=$(stat -c %s "$out/skynet.json")

python3 - "$results" "$out/skynet.summary.json" "$bytes" "$t_summary" "$t_json" "$json_bytes" <<'EOF'
import json, statistics, sys
rows = {}
for line in open(sys.argv[1]):
    who, bench, mode, ns = line.split()
    rows.setdefault((who, bench), {}).setdefault(mode, []).append(float(ns))
print("Tracing off and on, median of %d back-to-back pairs, ns per op (skynet: ms per run)" % len(next(iter(rows.values()))["off"]))
print("%-6s %-22s %14s %14s %12s" % ("", "benchmark", "off", "on", "on / off"))
for (who, bench), m in rows.items():
    # The ratio of each pair, then the median: a drift between pairs cancels.
    ratios = [on / off for off, on in zip(m["off"], m["on"])]
    scale = 1e6 if "kynet" in bench else 1
    unit = "ms" if scale > 1 else "ns"
    print("%-6s %-22s %11.1f %s %11.1f %s %11.3fx" % (who, bench, statistics.median(m["off"]) / scale, unit,
          statistics.median(m["on"]) / scale, unit, statistics.median(ratios)))
s = json.load(open(sys.argv[2]))
events = s.get("events") or s.get("summary", {}).get("events")
nbytes = int(sys.argv[3])
print()
print("skynet's trace: %d events, %.1f MB, %.2f bytes per event" % (events, nbytes / 1e6, nbytes / events))
print("gort trace --summary: %.1f s, %.2f M events/s" % (float(sys.argv[4]), events / float(sys.argv[4]) / 1e6))
print("gort trace -o JSON:   %.1f s, %.2f M events/s (%.0f MB of JSON)" % (float(sys.argv[5]), events / float(sys.argv[5]) / 1e6, int(sys.argv[6]) / 1e6))
EOF
