#!/usr/bin/env bash
# tools/gort-gdb.py in gdb against examples/inspectee: `info goroutines` and
# `goroutine N bt` on a live process (gdb -p), on a core file (gcore), and on
# a stripped copy of the binary; and the refusal of a descriptor version the
# extension does not know.
#
#   gdb_extension_test.sh INSPECTEE GORT_GDB_PY
#
# Exits 0 when every check passes; otherwise says which failed and exits 1.
# Exits 77 (a skip for ctest) when gdb may not attach to a process here.
set -uo pipefail

if (($# != 2)); then
  echo "usage: $0 INSPECTEE GORT_GDB_PY" >&2
  exit 2
fi
BIN=$1
EXT=$2
for tool in gdb gcore strip; do
  if ! command -v "$tool" >/dev/null; then
    echo "FAIL: $tool not found (tools/install-deps.sh installs gdb and binutils)" >&2
    exit 1
  fi
done

TMP=$(mktemp -d "${TMPDIR:-/tmp}/gort-gdb-test.XXXXXX")
PIDS=()
cleanup() {
  for p in "${PIDS[@]}"; do kill -9 "$p" 2>/dev/null; done
  rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 1' INT TERM

FAILS=0
PASSES=0
fail() {
  echo "FAIL: $*" >&2
  FAILS=$((FAILS + 1))
}
pass() {
  PASSES=$((PASSES + 1))
}

# start NAME BINARY: runs BINARY with GOMAXPROCS=2, stdout to $TMP/NAME.out,
# and waits (at most 30 s) for its `ready` line. Sets PID. The process is
# killed on exit; should this script itself be killed (a ctest timeout), it
# ends on its own after --exit-after.
start() {
  local name=$1 bin=$2 out=$TMP/$1.out
  : >"$out"
  GOMAXPROCS=2 "$bin" --exit-after 150 >"$out" 2>"$TMP/$name.err" &
  PID=$!
  PIDS+=("$PID")
  local i
  for ((i = 0; i < 300; i++)); do
    grep -qx ready "$out" && return 0
    if ! kill -0 "$PID" 2>/dev/null; then
      echo "FAIL: $name exited before ready:" >&2
      cat "$TMP/$name.err" >&2
      exit 1
    fi
    sleep 0.1
  done
  echo "FAIL: $name not ready after 30 s; its output:" >&2
  cat "$out" "$TMP/$name.err" >&2
  exit 1
}

# The process gdb left must run on (gdb -batch detaches), not stay stopped.
check_not_stopped() {
  local pid=$1 what=$2 state
  state=$(awk '/^State:/{print $2}' "/proc/$pid/status" 2>/dev/null)
  if [[ -z "$state" ]]; then
    fail "$what: process $pid is gone"
  elif [[ "$state" == t || "$state" == T ]]; then
    fail "$what: process $pid left stopped (State $state)"
  else
    pass
  fi
}

# run_gdb OUT ARGS...: gdb in batch mode with the extension loaded.
run_gdb() {
  local out=$1
  shift
  timeout 60 gdb -batch -nx "$@" >"$out" 2>&1
  local rc=$?
  if ((rc == 124)); then fail "gdb timed out: gdb $*"; fi
  if grep -qE "Python Exception|Error occurred in Python|Traceback" "$out"; then
    fail "Python error in gdb $* :"
    sed 's/^/    /' "$out" >&2
  fi
}

# The goroutine lines of an `info goroutines` output.
goroutine_lines() {
  grep -E '^[ *] Goroutine [0-9]+ - ' "$1"
}

# A line's state matches one of STATES (a|b|c): a G status (running,
# runnable, syscall, ...) or a wait reason, shown in brackets.
state_regex() {
  local states=$1 alt re=""
  local IFS='|'
  for alt in $states; do
    case "$alt" in
      idle | runnable | running | syscall | waiting | preempted) re+="${re:+|}- $alt( |\$)" ;;
      *) re+="${re:+|}\\[$alt\\]" ;;
    esac
  done
  printf '%s' "($re)"
}

# check_listing WHAT OUTFILE EXPECTFILE WITH_ROLES: the number of goroutines,
# and per `expect` line the count of goroutines in that state (with that role
# in their User location, when WITH_ROLES is 1: not on a stripped binary).
check_listing() {
  local what=$1 out=$2 expect=$3 roles=$4
  local want got
  want=$(awk '$1=="expect" && $2=="goroutines"{print $3}' "$expect")
  got=$(goroutine_lines "$out" | wc -l)
  if [[ "$got" == "$want" ]]; then pass; else fail "$what: $got goroutine lines, want $want"; fi
  local role count states re n
  if ((roles)); then
    while read -r _ role count states; do
      re=$(state_regex "$states")
      n=$(goroutine_lines "$out" | grep -E " $role \(0x| from $role \(0x" | grep -cE -- "$re")
      if [[ "$n" == "$count" ]]; then pass; else fail "$what: $n goroutines of $role in state $states, want $count"; fi
    done < <(awk '$1=="expect" && $2!="goroutines" && $2!="gomaxprocs"' "$expect")
  else
    # Without symbols: the count of goroutines in each state, over roles.
    while read -r count states; do
      re=$(state_regex "$states")
      n=$(goroutine_lines "$out" | grep -cE -- "$re")
      if [[ "$n" == "$count" ]]; then pass; else fail "$what: $n goroutines in state $states, want $count"; fi
    done < <(awk '$1=="expect" && $2!="goroutines" && $2!="gomaxprocs" {
                    s=$4; for (i=5;i<=NF;i++) s=s" "$i; n[s]+=$3 } END { for (s in n) print n[s], s }' "$expect")
  fi
  if ! ((roles)) || goroutine_lines "$out" | grep -q "inspectee.cpp:"; then pass; else
    fail "$what: no location in examples/inspectee.cpp"
  fi
}

# goid_of OUTFILE ROLE: the id of a goroutine whose User frame is ROLE.
goid_of() {
  goroutine_lines "$1" | grep -E " $2 \(0x" | head -1 | sed -E 's/^[ *] Goroutine ([0-9]+) .*/\1/'
}
# goid_in_state OUTFILE REASON: the id of a goroutine waiting for REASON.
goid_in_state() {
  goroutine_lines "$1" | grep -F "[$2]" | head -1 | sed -E 's/^[ *] Goroutine ([0-9]+) .*/\1/'
}

# check_bt WHAT OUTFILE MARKER PATTERN...: the part of OUTFILE after the line
# MARKER (what `echo MARKER\n` printed) and before the next marker has a
# frame #0 and matches each PATTERN.
check_bt() {
  local what=$1 out=$2 marker=$3
  shift 3
  local bt
  bt=$(awk -v m="$marker" '$0==m{on=1; next} /^=== /{on=0} on' "$out")
  if ! grep -qE '^#0 ' <<<"$bt"; then
    fail "$what: no frame #0 in the backtrace:"
    sed 's/^/    /' <<<"$bt" >&2
    return
  fi
  local p
  for p in "$@"; do
    if grep -qE -- "$p" <<<"$bt"; then pass; else
      fail "$what: backtrace does not match /$p/:"
      sed 's/^/    /' <<<"$bt" >&2
    fi
  done
}

# ---- A live process ----
start live "$BIN"
LIVE=$PID
run_gdb "$TMP/live-info.txt" -p "$LIVE" -ex "source $EXT" -ex "info goroutines"
if grep -q "ptrace: Operation not permitted" "$TMP/live-info.txt"; then
  echo "SKIP: gdb may not attach to a child process here (ptrace: Operation not permitted; see" \
    "/proc/sys/kernel/yama/ptrace_scope)" >&2
  exit 77
fi
check_not_stopped "$LIVE" "live (info goroutines)"
check_listing "live" "$TMP/live-info.txt" "$TMP/live.out" 1
RECV=$(goid_of "$TMP/live-info.txt" chan_receiver)
SPIN=$(goid_of "$TMP/live-info.txt" spinner)
if [[ -z "$RECV" || -z "$SPIN" ]]; then
  fail "live: no chan_receiver or spinner goroutine in the listing"
  cat "$TMP/live-info.txt" >&2
  exit 1
fi
run_gdb "$TMP/live-bt.txt" -p "$LIVE" -ex "source $EXT" \
  -ex "echo === before\n" -ex "info registers rip rsp rbp rbx r12 r13 r14 r15" \
  -ex "echo === recv\n" -ex "goroutine $RECV bt" \
  -ex "echo === spin\n" -ex "goroutine $SPIN backtrace" \
  -ex "echo === after\n" -ex "info registers rip rsp rbp rbx r12 r13 r14 r15" \
  -ex "echo === end\n"
check_not_stopped "$LIVE" "live (goroutine N bt)"
check_bt "live goroutine $RECV bt" "$TMP/live-bt.txt" "=== recv" "chan_receiver" "chan_recv" "gort_gostart"
check_bt "live goroutine $SPIN bt" "$TMP/live-bt.txt" "=== spin" "spinner"
# The selected thread's registers, set to a goroutine's for its backtrace, are restored.
before=$(awk '$0=="=== before"{on=1; next} /^=== /{on=0} on' "$TMP/live-bt.txt")
after=$(awk '$0=="=== after"{on=1; next} /^=== /{on=0} on' "$TMP/live-bt.txt")
if [[ -n "$before" && "$before" == "$after" ]]; then pass; else
  fail "live: registers not restored after goroutine N bt: before:"$'\n'"$before"$'\n'"after:"$'\n'"$after"
fi

# ---- A stripped binary: the descriptor found by its section ----
# The process runs the binary with symbols (the runtime needs its own debug
# information for asynchronous preemption, without which the spinners never
# let inspectee get ready); gdb reads a stripped copy of it, as when a
# stripped program's process or core is debugged.
STRIPPED=$TMP/inspectee-stripped
cp "$BIN" "$STRIPPED"
strip "$STRIPPED"
if nm "$STRIPPED" 2>&1 | grep -q gort_debug_descriptor; then
  fail "strip left the symbol table"
fi
# check_stripped WHAT INFO BT GDB-ARGS...
check_stripped() {
  local what=$1 info=$2 bt=$3
  shift 3
  run_gdb "$info" -iex "set exec-file-mismatch off" "$@" -ex "info address gort_debug_descriptor" \
    -ex "source $EXT" -ex "info goroutines"
  if grep -q 'No symbol "gort_debug_descriptor"' "$info"; then pass; else
    fail "$what: gdb knows the symbol gort_debug_descriptor: not a stripped binary's test"
  fi
  check_listing "$what" "$info" "$TMP/live.out" 0
  if goroutine_lines "$info" | grep -q "inspectee.cpp:"; then fail "$what: source locations without symbols?"; else pass; fi
  local recv
  recv=$(goid_in_state "$info" "chan receive")
  if [[ -z "$recv" ]]; then
    fail "$what: no goroutine in [chan receive]"
    return
  fi
  run_gdb "$bt" -iex "set exec-file-mismatch off" "$@" -ex "source $EXT" -ex "echo === recv\n" -ex "goroutine $recv bt"
  # At least three frames: the runtime's, chan_receiver's, gort_goroutine_main's.
  check_bt "$what goroutine $recv bt" "$bt" "=== recv" "^#2 "
}
check_stripped "stripped live" "$TMP/stripped-info.txt" "$TMP/stripped-bt.txt" "$STRIPPED" -p "$LIVE"
check_not_stopped "$LIVE" "stripped live"

# ---- A core of it ----
# Not of a sanitizer build: its shadow memory (terabytes reserved) makes
# gcore take minutes on this machine, when it finishes at all.
# (grep without -q: with pipefail, readelf's SIGPIPE would fail the test.)
if readelf -Ws "$BIN" 2>/dev/null | grep -E ' __(asan|tsan)_init$' >/dev/null; then
  echo "note: $BIN is built with a sanitizer: no core file checks"
elif ! timeout 60 gcore -o "$TMP/core" "$LIVE" >"$TMP/gcore.txt" 2>&1 || [[ ! -s "$TMP/core.$LIVE" ]]; then
  fail "gcore failed:"
  cat "$TMP/gcore.txt" >&2
else
  check_not_stopped "$LIVE" "gcore"
  run_gdb "$TMP/core-info.txt" "$BIN" "$TMP/core.$LIVE" -ex "source $EXT" -ex "info goroutines"
  check_listing "core" "$TMP/core-info.txt" "$TMP/live.out" 1
  CRECV=$(goid_of "$TMP/core-info.txt" chan_receiver)
  CSPIN=$(goid_of "$TMP/core-info.txt" spinner)
  CSLEEP=$(goid_of "$TMP/core-info.txt" sleeper)
  if [[ -z "$CRECV" || -z "$CSPIN" || -z "$CSLEEP" ]]; then
    fail "core: no chan_receiver, spinner or sleeper goroutine in the listing"
  else
    run_gdb "$TMP/core-bt.txt" "$BIN" "$TMP/core.$LIVE" -ex "source $EXT" \
      -ex "echo === recv\n" -ex "goroutine $CRECV bt" \
      -ex "echo === spin\n" -ex "goroutine $CSPIN bt" \
      -ex "echo === sleep\n" -ex "goroutine $CSLEEP bt 1" \
      -ex "echo === end\n"
    check_bt "core goroutine $CRECV bt" "$TMP/core-bt.txt" "=== recv" "chan_receiver" "chan_recv" "gort_gostart"
    check_bt "core goroutine $CSPIN bt" "$TMP/core-bt.txt" "=== spin" "spinner"
    # `bt 1`: one frame of the goroutine's (not the thread's own frame).
    check_bt "core goroutine $CSLEEP bt 1" "$TMP/core-bt.txt" "=== sleep" "gort::"
    n=$(awk '$0=="=== sleep"{on=1; next} /^=== /{on=0} on && /^#[0-9]/' "$TMP/core-bt.txt" | wc -l)
    if [[ "$n" == 1 ]]; then pass; else fail "core goroutine $CSLEEP bt 1: $n frames, want 1"; fi
  fi
  check_stripped "stripped core" "$TMP/stripped-core-info.txt" "$TMP/stripped-core-bt.txt" "$STRIPPED" "$TMP/core.$LIVE"
  rm -f "$TMP/core.$LIVE"
fi

# ---- A descriptor of another version: refused, naming both versions ----
run_gdb "$TMP/version.txt" -p "$LIVE" \
  -ex "set var *(unsigned int *)((char *)&gort_debug_descriptor + 8) = 99" \
  -ex "source $EXT" -ex "info goroutines"
check_not_stopped "$LIVE" "live (version)"
if grep -q "version 99" "$TMP/version.txt" && grep -q "version 2" "$TMP/version.txt" &&
  ! goroutine_lines "$TMP/version.txt" >/dev/null; then
  pass
else
  fail "a descriptor of version 99 was not refused with both versions named:"
  sed 's/^/    /' "$TMP/version.txt" >&2
fi
{
  kill -9 "$LIVE"
  wait "$LIVE"
} 2>/dev/null

echo "gdb_extension_test: $PASSES checks passed, $FAILS failed"
if ((FAILS)); then exit 1; fi
exit 0
