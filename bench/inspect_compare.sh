#!/usr/bin/env bash
# Inspection speed, gort vs Delve: how long `gort goroutines` takes to list
# the goroutines of a live program with 10,000 of them parked (attach, read,
# detach), with and without backtraces, next to `dlv attach` doing the same
# on a Go program with 10,000 parked goroutines; and how long each keeps its
# target stopped. Prints one table with the ratios gort/dlv and the targets
# of the issue (listing ≤ 0.1 s, with backtraces ≤ 0.5 s).
#
# gort lists two targets, each with 10,000 goroutines parked in a channel
# receive: bench_inspect_parked (nothing else: as idle as the Go program,
# the like-for-like comparison) and examples/inspectee (plus its ~21
# goroutines in every state, 6 of them always running or runnable, which
# keep the CPUs busy: gort's CLI competes with them for the CPU).
#
#   bench/inspect_compare.sh [BUILD_DIR]    BUILD_DIR defaults to build/default
#
# Needs dlv (`apt-get install delve`), go (`golang-go`) and, for the rows of
# how long the target is stopped, perf (`perf trace`, as root). gort and dlv
# must be allowed to ptrace the targets, which are their siblings, not their
# children: root (CAP_SYS_PTRACE), or kernel.yama.ptrace_scope=0.
#
# Knobs (environment):
#   BENCH_REPETITIONS=5     runs of each measurement; the table shows the median
#   BENCH_GOROUTINES=10000  goroutines parked in each target
#   BENCH_KEEP=DIR          keep the raw output (listings, perf trace logs, times) in DIR
#   BENCH_TIMEOUT=120       seconds before a hung gort or dlv is killed
#   BENCH_GORT_TARGETS="parked inspectee"  gort's targets, either or both
#   BENCH_INSPECTEE_GOMAXPROCS=N  the inspectee's GOMAXPROCS (default: the
#                           number of CPUs); its 2 spinners and 4 yielders keep
#                           that many CPUs busy
#
# Takes about two minutes on 2 cores with the defaults (dlv's runs are most
# of it), plus the builds.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build/default}
reps=${BENCH_REPETITIONS:-5}
ngor=${BENCH_GOROUTINES:-10000}
tmo=${BENCH_TIMEOUT:-120}
gort_targets=${BENCH_GORT_TARGETS:-parked inspectee}

source "$here/lib.sh"
bench_outdir 'inspect-*'

for tool in go dlv; do
  if ! command -v "$tool" >/dev/null; then
    echo "inspect_compare.sh: $tool not found (apt-get install golang-go delve)" >&2
    exit 2
  fi
done
# perf trace (linux-perf) for how long the target is stopped: it needs the
# syscall tracepoints (root, or a low kernel.perf_event_paranoid).
have_perf=1
if ! perf trace -e ptrace -o /dev/null -- true >/dev/null 2>&1; then
  echo "inspect_compare.sh: warning: perf trace does not work here; no rows for how long the target is stopped" >&2
  have_perf=0
fi

# --- build -------------------------------------------------------------------
bench_configured inspect_compare.sh "$build" $(( $# > 0 ))
build_type=$(sed -n 's/^CMAKE_BUILD_TYPE:[A-Z]*=//p' "$build/CMakeCache.txt")
case "$build_type" in
  Release | RelWithDebInfo) ;;
  *) echo "inspect_compare.sh: warning: $build is a '$build_type' build; numbers will not be representative" >&2 ;;
esac
gort=$build/cli/gort
inspectee=$build/examples/inspectee
parked=$build/bench/bench_inspect_parked
build_targets=(gort_cli)
for t in $gort_targets; do
  case "$t" in
    parked) build_targets+=(bench_inspect_parked) ;;
    inspectee) build_targets+=(inspectee) ;;
    *) echo "inspect_compare.sh: BENCH_GORT_TARGETS: unknown target '$t' (parked, inspectee)" >&2; exit 2 ;;
  esac
done
cmake --build "$build" --target "${build_targets[@]}"
gobin=$out/inspect-go-target
(
  # As compare.sh: offline, no toolchain switch, a private cache if needed.
  # -N -l (no optimisation, no inlining) is how Delve users build what they
  # attach to (and what `dlv debug` does); it also gives dlv full DWARF.
  cd "$here/go"
  export GOPROXY=off GOFLAGS='' GO111MODULE=on GOTOOLCHAIN=local
  cache=$(go env GOCACHE)
  if ! mkdir -p "$cache" 2>/dev/null || [[ ! -w "$cache" ]]; then
    export GOCACHE=$out/gocache GOPATH=$out/gopath
  fi
  go build -gcflags='all=-N -l' -o "$gobin" ./inspect
)

# --- targets -----------------------------------------------------------------
# We kill them when done with them, and at exit whatever way we exit. A
# lifetime (about ten times what the runs need) is a backstop for a script
# that is itself SIGKILLed (the inspectee's spinners would otherwise burn the
# CPUs for good): their own --exit-after option, or `timeout` for
# bench_inspect_parked, which has none. SIGKILL also ends a target some
# tracer left stopped.
target_pids=()
cleanup() {
  local p
  for p in "${target_pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  for p in "${target_pids[@]}"; do wait "$p" 2>/dev/null || true; done
  if [[ -z "${BENCH_KEEP:-}" ]]; then rm -rf "$out"; fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM
lifetime=$((600 + 120 * reps))

# start_target NAME COMMAND...: starts it with stdout to inspect-NAME.out and
# waits for its `ready` line (all three print it once every goroutine is
# parked, as their runtime sees it). Sets $target_pid from the target's own
# `... pid PID` line (COMMAND may be a wrapper), $target_expect from its
# `expect goroutines N`, and $target_procs from its `expect gomaxprocs N`
# (default: the CPUs).
start_target() {
  local name=$1 file=$out/inspect-$1.out
  shift
  "$@" >"$file" 2>"$out/inspect-$name.log" &
  target_pids+=($!)
  local wrapper=$! deadline=$((SECONDS + 90))
  until grep -qsx ready "$file"; do
    if ! kill -0 "$wrapper" 2>/dev/null || ((SECONDS > deadline)); then
      echo "inspect_compare.sh: $name did not become ready" >&2
      cat "$file" "$out/inspect-$name.log" >&2
      exit 1
    fi
    sleep 0.1
  done
  target_pid=$(awk '$2 == "pid" {print $3; exit}' "$file")
  if [[ "$target_pid" != "$wrapper" ]]; then target_pids+=("$target_pid"); fi
  target_expect=$(awk '$1 == "expect" && $2 == "goroutines" {print $3}' "$file")
  target_procs=$(awk '$1 == "expect" && $2 == "gomaxprocs" {print $3}' "$file")
  target_procs=${target_procs:-$(nproc)}
}
# start_gort_target T: gort's target T; sets gort_pid[T], gort_expect[T],
# gort_procs[T].
declare -A gort_pid gort_expect gort_procs
start_gort_target() {
  if [[ $1 == parked ]]; then
    start_target gort-parked timeout -s KILL "$lifetime" "$parked" -n "$ngor"
  else
    local vars=()
    if [[ -n "${BENCH_INSPECTEE_GOMAXPROCS:-}" ]]; then vars=(GOMAXPROCS="$BENCH_INSPECTEE_GOMAXPROCS"); fi
    start_target gort-inspectee env "${vars[@]}" "$inspectee" --goroutines "$ngor" --exit-after "$lifetime"
  fi
  gort_pid[$1]=$target_pid gort_expect[$1]=$target_expect gort_procs[$1]=$target_procs
}
# The idle targets run side by side (see the measurements); the inspectee,
# whose spinners would slow everything else down, comes later and alone.
start_target go-target "$gobin" -n "$ngor" -exit-after "${lifetime}s"
go_pid=$target_pid
# dlv also lists the Go runtime's own goroutines (GC workers, ...): at least.
go_expect=$target_expect

# After every run: the target must still be there, running, and untraced; a
# tracer that leaves it stopped (or kills it) fails the script right away.
check_target() {
  local pid=$1 what=$2 state tracer
  state=$(awk '/^State:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  tracer=$(awk '/^TracerPid:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
  if [[ -z "$state" || "$state" == [tTZX] || "$tracer" != 0 ]]; then
    echo "inspect_compare.sh: after $what: target $pid is state '${state:-gone}', tracer '${tracer:-?}'" >&2
    exit 1
  fi
}

# --- one run -----------------------------------------------------------------
# The listing must be complete, or the time means nothing:
#   check_listing FILE MIN_GOROUTINES BACKTRACES(0/1) [STACKLESS]
# Both print `[N goroutines]` at the end, one `Goroutine ID - ...` line each,
# and with -t a frame `0  0x... in FUNCTION` under each goroutine whose stack
# they could read: all but STACKLESS (default 0) of them. (gort without
# --stop cannot read the stack of a goroutine running on a thread: at most
# GOMAXPROCS of them.)
check_listing() {
  local file=$1 min=$2 bt=$3 stackless=${4:-0} total lines frames
  total=$(sed -n 's/^\[\([0-9]*\) goroutines\]$/\1/p' "$file" | tail -n 1)
  # (dlv's first line comes after its prompt: `(dlv)   Goroutine 1 - ...`.)
  lines=$(grep -cE '^(\(dlv\) )? *Goroutine [0-9]+ - ' "$file" || true)
  frames=$(grep -cE '^[[:space:]]+0  0x[0-9a-f]+ in ' "$file" || true)
  if [[ -z "$total" ]] || ((total < min || lines != total)) ||
    ((bt && frames < total - stackless)); then
    echo "inspect_compare.sh: short listing in $file: [${total:-no} goroutines], $lines goroutine lines, $frames stacks; want at least $min" >&2
    tail -n 5 "$file" >&2
    exit 1
  fi
}

# now: seconds since the epoch, µs resolution (bash 5's EPOCHREALTIME).
now() { echo "${EPOCHREALTIME/,/.}"; }

# Other processes skew every number: the CPU time the machine used during
# the timed runs beyond what our own processes used tells how busy it was
# (reported with the table). The inspectee's spinners and yielders keep its
# CPUs busy on their own (that is what they are for): its CPU time is ours.
# Only the timed runs count: a command run under perf trace is not reaped
# into our children's times.
busy_ticks() { awk '/^cpu / {print $2 + $3 + $4 + $7 + $8 + $9}' /proc/stat; }
our_ticks() {
  local p sum
  sum=$(awk '{print $14 + $15 + $16 + $17}' "/proc/$$/stat")
  for p in "${target_pids[@]}"; do
    sum=$((sum + $(awk '{print $14 + $15}' "/proc/$p/stat" 2>/dev/null || echo 0)))
  done
  echo "$sum"
}
others_ticks=0 timed_seconds=0

# Times one whole invocation (process start, attach, read, print, detach,
# exit): the wall time a user waits for. Appends it to inspect-times.txt as
# `KEY SECONDS`; the listing goes to inspect-KEY.txt (the last run's).
#   timed KEY COMMAND...   (stdin comes from $stdin_file)
timed() {
  local key=$1 t0 t1 busy0 ours0
  shift
  busy0=$(busy_ticks) ours0=$(our_ticks)
  t0=$(now)
  if ! timeout "$tmo" "$@" <"$stdin_file" >"$out/inspect-$key.txt" 2>"$out/inspect-$key.log"; then
    echo "inspect_compare.sh: failed: $*" >&2
    tail -n 5 "$out/inspect-$key.log" >&2
    exit 1
  fi
  t1=$(now)
  others_ticks=$((others_ticks + $(busy_ticks) - busy0 - ($(our_ticks) - ours0)))
  timed_seconds=$(awk -v s="$timed_seconds" -v a="$t0" -v b="$t1" 'BEGIN {print s + b - a}')
  echo "$key $(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.4f", b - a}')" >>"$out/inspect-times.txt"
}

# How long the target is stopped, seen from outside: `perf trace` logs the
# tracer's ptrace calls with their times and durations, from the kernel's
# syscall tracepoints (it does not stop the tracer, unlike strace: under
# strace dlv slows down many times over, every SIGURG its Go runtime sends
# itself becoming a stop). The span from the first call that stops a thread
# (PTRACE_ATTACH, or PTRACE_INTERRUPT after PTRACE_SEIZE) to the end of the
# last PTRACE_DETACH contains every moment any target thread was held: gort
# interrupts the threads, reads, and detaches; dlv attaches to every thread
# at the start of its session and detaches at `exit`. An upper bound: a
# thread stops some time after the request, and perf adds a little to every
# system call of the tracer.
#   stopped KEY COMMAND...
stopped() {
  local key=$1 log=$out/inspect-$1.perf
  shift
  if ! timeout "$tmo" perf trace -e ptrace -o "$log" -- "$@" \
    <"$stdin_file" >"$out/inspect-$key.txt" 2>"$out/inspect-$key.log"; then
    echo "inspect_compare.sh: failed under perf trace: $*" >&2
    tail -n 5 "$out/inspect-$key.log" >&2
    exit 1
  fi
  # Lines: `MS ( DURATION ms): COMM/TID ptrace(request: REQ, pid: ...) = 0`,
  # MS from the start of the trace; REQ a number (ATTACH 16, DETACH 17,
  # INTERRUPT 0x4207), or its name in perf versions that decode it.
  awk -v key="$key" '
    match($0, /request: [A-Z_0-9]+/) {
      req = substr($0, RSTART + 9, RLENGTH - 9)
      sub(/^PTRACE_/, "", req)
      dur = 0
      if (match($0, /\( *[0-9.]+ ms\)/)) { d = substr($0, RSTART + 1); sub(/ ms.*/, "", d); dur = d + 0 }
      if ((req == "16" || req == "ATTACH" || req == "16903" || req == "INTERRUPT") && first == "") first = $1
      if (req == "17" || req == "DETACH") last = $1 + dur
    }
    END {
      if (first == "" || last == "") { print "no attach/detach in the perf trace log" > "/dev/stderr"; exit 1 }
      printf "%s %.4f\n", key, (last - first) / 1000
    }' "$log" >>"$out/inspect-times.txt"
}

# dlv reads its commands from stdin (a pipe: --allow-non-terminal-interactive).
# `exit` on an attached process asks "Would you like to kill the process?
# [Y/n]": the `n` answers it, so dlv detaches and the target goes on running.
# (`quit -c`, which continues without asking, only works with a headless
# --accept-multiclient server.)
printf 'goroutines\nexit\nn\n' >"$out/inspect-dlv-list.in"
printf 'goroutines -t\nexit\nn\n' >"$out/inspect-dlv-bt.in"
dlv=(dlv attach "$go_pid" --allow-non-terminal-interactive)

# --- measurements ------------------------------------------------------------
# gort_round T: gort's four listings of target T, timed, then the two with
# --stop again under perf trace.
gort_round() {
  local t=$1 pid=${gort_pid[$1]} n=${gort_expect[$1]}
  stdin_file=$empty
  timed "gort-$t-list" "$gort" goroutines "$pid"
  check_listing "$out/inspect-gort-$t-list.txt" "$n" 0; check_target "$pid" "gort goroutines"
  timed "gort-$t-bt" "$gort" goroutines "$pid" -t
  check_listing "$out/inspect-gort-$t-bt.txt" "$n" 1 "${gort_procs[$t]}"; check_target "$pid" "gort goroutines -t"
  timed "gort-$t-stop-list" "$gort" goroutines "$pid" --stop
  check_listing "$out/inspect-gort-$t-stop-list.txt" "$n" 0; check_target "$pid" "gort goroutines --stop"
  timed "gort-$t-stop-bt" "$gort" goroutines "$pid" -t --stop
  check_listing "$out/inspect-gort-$t-stop-bt.txt" "$n" 1; check_target "$pid" "gort goroutines -t --stop"
  if ((have_perf)); then
    stopped "gort-$t-stop-list-held" "$gort" goroutines "$pid" --stop
    check_listing "$out/inspect-gort-$t-stop-list-held.txt" "$n" 0; check_target "$pid" "perf trace gort --stop"
    stopped "gort-$t-stop-bt-held" "$gort" goroutines "$pid" -t --stop
    check_listing "$out/inspect-gort-$t-stop-bt-held.txt" "$n" 1; check_target "$pid" "perf trace gort -t --stop"
  fi
}
# dlv_round: dlv's two listings, timed, then under perf trace.
dlv_round() {
  stdin_file=$out/inspect-dlv-list.in
  timed dlv-list "${dlv[@]}"
  check_listing "$out/inspect-dlv-list.txt" "$go_expect" 0; check_target "$go_pid" "dlv goroutines"
  stdin_file=$out/inspect-dlv-bt.in
  timed dlv-bt "${dlv[@]}"
  check_listing "$out/inspect-dlv-bt.txt" "$go_expect" 1; check_target "$go_pid" "dlv goroutines -t"
  if ((have_perf)); then
    stdin_file=$out/inspect-dlv-list.in
    stopped dlv-list-held "${dlv[@]}"
    check_listing "$out/inspect-dlv-list-held.txt" "$go_expect" 0; check_target "$go_pid" "perf trace dlv goroutines"
    stdin_file=$out/inspect-dlv-bt.in
    stopped dlv-bt-held "${dlv[@]}"
    check_listing "$out/inspect-dlv-bt-held.txt" "$go_expect" 1; check_target "$go_pid" "perf trace dlv goroutines -t"
  fi
}

: >"$out/inspect-times.txt"
empty=$out/inspect-empty.in
: >"$empty"
# Idle targets: round robin, so that a slow patch of the machine hits every
# row alike.
if [[ " $gort_targets " == *" parked "* ]]; then start_gort_target parked; fi
for ((r = 1; r <= reps; r++)); do
  echo "round $r of $reps: dlv${gort_pid[parked]:+ and gort on the idle target}" >&2
  if [[ -n "${gort_pid[parked]:-}" ]]; then gort_round parked; fi
  dlv_round
done
# The inspectee, alone (the idle targets sleep).
if [[ " $gort_targets " == *" inspectee "* ]]; then
  start_gort_target inspectee
  for ((r = 1; r <= reps; r++)); do
    echo "round $r of $reps: gort on the inspectee" >&2
    gort_round inspectee
  done
  kill -KILL "${gort_pid[inspectee]}"
  wait "${gort_pid[inspectee]}" 2>/dev/null || true  # (not "Killed" on stderr)
fi

hz=$(getconf CLK_TCK)

# --- table -------------------------------------------------------------------
median() {
  awk -v k="$1" '$1 == k {print $2}' "$out/inspect-times.txt" | sort -g |
    awk '{v[NR] = $1} END {if (NR == 0) print "-"; else if (NR % 2) print v[(NR + 1) / 2]; else printf "%.4f\n", (v[NR / 2] + v[NR / 2 + 1]) / 2}'
}
ncpu=$(nproc)
echo >&2
echo "machine: $ncpu CPUs, $(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -n1); $(go version | cut -d' ' -f3); $(dlv version | sed -n 's/^Version: /dlv /p'); gort build: $build_type" >&2
for t in $gort_targets; do
  case "$t" in
    parked) echo "gort's target 'parked': bench_inspect_parked -n $ngor (${gort_expect[$t]} goroutines, idle)" >&2 ;;
    inspectee) echo "gort's target 'inspectee': inspectee --goroutines $ngor (${gort_expect[$t]} goroutines, GOMAXPROCS=${gort_procs[$t]}, 2 spinners and 4 yielders busy)" >&2 ;;
  esac
done
echo "dlv's target: go/inspect -n $ngor (built -gcflags='all=-N -l', idle; dlv lists $go_expect and the runtime's own)" >&2
awk -v t="$others_ticks" -v hz="$hz" -v s="$timed_seconds" 'BEGIN {
  pct = s > 0 ? 100 * t / hz / s : 0
  printf "other processes used %.0f%% of one CPU during the %.0f s of timed runs%s\n", pct, s,
    (pct > 10 ? " (WARNING: not quiet; numbers are skewed)" : "") > "/dev/stderr" }'
echo "median of $reps runs, wall seconds of the whole command; gort/dlv below 1: gort is faster" >&2
echo

# what|gort's key|dlv's key|target (s). dlv has one way to list: its rows
# for gort --stop are the same runs as for plain gort.
rows=()
for t in $gort_targets; do
  rows+=(
    "$t: list|gort-$t-list|dlv-list|0.1"
    "$t: list -t|gort-$t-bt|dlv-bt|0.5"
    "$t: list --stop|gort-$t-stop-list|dlv-list|0.1"
    "$t: list -t --stop|gort-$t-stop-bt|dlv-bt|0.5"
  )
  if ((have_perf)); then
    rows+=(
      "$t: stopped, list --stop|gort-$t-stop-list-held|dlv-list-held|-"
      "$t: stopped, list -t --stop|gort-$t-stop-bt-held|dlv-bt-held|-"
    )
  fi
done
printf '%-36s %10s %10s %9s %8s %4s\n' "what ($ngor goroutines)" "gort (s)" "dlv (s)" gort/dlv target met
for row in "${rows[@]}"; do
  IFS='|' read -r what gk dk target <<<"$row"
  g=$(median "$gk") d=$(median "$dk")
  ratio=$(awk -v g="$g" -v d="$d" 'BEGIN {printf "%.3f", g / d}')
  if [[ $target == - ]]; then
    tcol=- met=-
  else
    tcol="<= $target"
    met=$(awk -v g="$g" -v t="$target" 'BEGIN {print (g <= t) ? "yes" : "no"}')
  fi
  printf '%-36s %10s %10s %9s %8s %4s\n' "$what" "$g" "$d" "$ratio" "$tcol" "$met"
done
