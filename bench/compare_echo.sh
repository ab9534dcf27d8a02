#!/usr/bin/env bash
# TCP echo server, gort against Go, driven by one load client (the same
# client for both servers): 64-byte messages, one in flight per connection,
# with 100 connections and with one. Three clients, one table each: Go's
# (bench/go/echo/client), gort's (examples/echo_load --json), and
# bench/echo_epoll --spin (one thread, epoll, never sleeps: the only one
# that does not set the pace itself on two CPUs). Both servers run with
# GOMAXPROCS=1 (gort: examples/echo; Go: bench/go/echo/server, the same
# goroutine-per-connection loop). Runs alternate between the two servers;
# the table shows the median of the runs, and each server's CPU time per
# request (user + system, from /proc: the kernel's TCP work is most of it).
#
#   bench/compare_echo.sh [BUILD_DIR]     BUILD_DIR defaults to build/default
#
# Knobs (environment):
#   BENCH_ECHO_SECONDS=3       seconds per run
#   BENCH_ECHO_REPETITIONS=5   runs per server and connection count
#   BENCH_ECHO_CONNS="100 1"   connection counts
#   BENCH_ECHO_CLIENTS="go gort epoll"  the load clients
#   BENCH_KEEP=DIR             keep the client's JSON lines in DIR
#
# Takes about four minutes with the defaults.
#
# Placement: the server runs on CPU 0 and the client (at GOMAXPROCS=1) on
# CPU 1 (taskset). Left to the kernel, a run's numbers depend on whether the
# two land on one CPU or on two: on the 2-CPU VM this was measured on, the
# one-connection RTT median of either server came out at 30-40 µs in some
# runs and 110-150 µs in others. BENCH_ECHO_PIN=0 leaves placement alone.
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(dirname "$here")
build=${1:-$root/build/default}
explicit=$([[ $# -ge 1 ]] && echo 1 || echo 0)
seconds=${BENCH_ECHO_SECONDS:-3}
reps=${BENCH_ECHO_REPETITIONS:-5}
conns_list=${BENCH_ECHO_CONNS:-100 1}
clients=${BENCH_ECHO_CLIENTS:-go gort epoll}
pin=${BENCH_ECHO_PIN:-1}
server_cpu=() client_cpu=() client_env=()
if [[ $pin == 1 && $(nproc) -ge 2 ]]; then
  server_cpu=(taskset -c 0) client_cpu=(taskset -c 1) client_env=(GOMAXPROCS=1)
fi

source "$here/lib.sh"
bench_outdir 'echo-*.json'
bench_configured compare_echo.sh "$build" "$explicit"
cmake --build "$build" --target echo echo_load echo_epoll >/dev/null
(cd "$here/go" && go build -o "$out/go_echo_server" ./echo/server && go build -o "$out/go_echo_client" ./echo/client)

# cpu_ticks PID: user + system clock ticks of a process.
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }

# run_one CLIENT SERVER CONNS: starts the server on a free port, drives it, prints
# the client's JSON line with the server's CPU ticks added.
run_one() {
  local client=$1 server=$2 conns=$3 fifo="$out/listen.$$" spid addr t0 t1 line
  rm -f "$fifo"
  mkfifo "$fifo"
  if [[ $server == gort ]]; then
    GOMAXPROCS=1 "${server_cpu[@]}" "$build/examples/echo" 127.0.0.1:0 >"$fifo" &
  else
    GOMAXPROCS=1 "${server_cpu[@]}" "$out/go_echo_server" 127.0.0.1:0 >"$fifo" &
  fi
  spid=$!
  read -r _ addr <"$fifo"
  rm -f "$fifo"
  t0=$(cpu_ticks "$spid")
  if [[ $client == go ]]; then
    line=$(env "${client_env[@]}" "${client_cpu[@]}" "$out/go_echo_client" -addr "$addr" -c "$conns" -d "${seconds}s")
  elif [[ $client == epoll ]]; then
    line=$("${client_cpu[@]}" "$build/bench/echo_epoll" "$addr" -c "$conns" -d "$seconds" --spin)
  else
    line=$(env "${client_env[@]}" "${client_cpu[@]}" "$build/examples/echo_load" "$addr" -c "$conns" -d "$seconds" --json)
  fi
  t1=$(cpu_ticks "$spid")
  kill "$spid"
  wait "$spid" 2>/dev/null || true
  echo "${line%\}},\"server\":\"$server\",\"server_ticks\":$((t1 - t0)),\"seconds\":$seconds,\"hz\":$(getconf CLK_TCK)}"
}

for client in $clients; do
  for conns in $conns_list; do
    for ((i = 0; i < reps; ++i)); do
      for server in gort go; do
        run_one "$client" "$server" "$conns" >>"$out/echo-$client-$conns.json"
      done
    done
  done
done

PINNED=$([[ ${#server_cpu[@]} -gt 0 ]] && echo 1 || echo 0) python3 - "$out" "$clients" $conns_list <<'PY'
import json, statistics, sys, os
out, clients, conns = sys.argv[1], sys.argv[2].split(), sys.argv[3:]
print("TCP echo, 64-byte messages, one in flight per connection; servers at GOMAXPROCS=1" + (", pinned (server CPU 0, client CPU 1)" if os.environ.get("PINNED") == "1" else ""))
for client in clients:
  name = {"go": "Go (bench/go/echo/client)", "gort": "gort (examples/echo_load)", "epoll": "epoll (bench/echo_epoll --spin)"}[client]
  print(f"\nclient: {name}")
  print(f"{'connections':>11}  {'server':<5} {'requests/s':>11} {'RTT median':>11} {'RTT p99':>9} {'CPU/request':>12}")
  for c in conns:
    rows = [json.loads(l) for l in open(os.path.join(out, f"echo-{client}-{c}.json"))]
    med = {}
    for s in ("gort", "go"):
        rs = [r for r in rows if r["server"] == s]
        m = {k: statistics.median(r[k] for r in rs) for k in ("rps", "median_us", "p99_us")}
        m["cpu_us"] = statistics.median(r["server_ticks"] / r["hz"] * 1e6 / (r["rps"] * r["seconds"]) for r in rs)
        med[s] = m
        print(f"{c:>11}  {s:<5} {m['rps']:>11.0f} {m['median_us']:>9.0f}us {m['p99_us']:>7.0f}us {m['cpu_us']:>10.1f}us")
    g, o = med["gort"], med["go"]
    print(f"{'':>11}  {'gort/Go':<7} {g['rps']/o['rps']:>9.2f}x {g['median_us']/o['median_us']:>10.2f}x {g['p99_us']/o['p99_us']:>8.2f}x {g['cpu_us']/o['cpu_us']:>11.2f}x")
PY
