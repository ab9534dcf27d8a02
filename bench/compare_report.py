#!/usr/bin/env python3
"""Prints compare.sh's table from the results it collected in one directory.

Inputs, in DIR:
  gort-P.json    bench_sched --benchmark_format=json at GOMAXPROCS=P
  chan-P.json    bench_chan --benchmark_format=json at GOMAXPROCS=P (all but skynet)
  chan-skynet-P.json  bench_chan's skynet alone (fewer repetitions)
  peers-P.json   bench_peers --benchmark_format=json at GOMAXPROCS=P
  go.txt         `go test -bench ... -cpu 1,2,...` output (all runs, appended)

Every number is the cost of one item, the median over the repetitions: for
Google Benchmark 1e9 / the median items_per_second, for Go the median ns/op
(an op is one item there). The unit column says what an item is: one yield
call (for yield2, one call of the measured task's loop, not counting its
partner's calls), one goroutine/thread/fiber spawned and finished, one
one-way channel message, one select, one value through a buffered channel,
one whole skynet run (shown in ms). A missing result prints as "-".
"""

import json
import re
import statistics
import sys
from pathlib import Path

# shape -> (gort, Go, threads, Boost.Fiber) benchmark names, and the unit:
# what one item is, and the scale its time is printed in (1 for ns, 1e6 for ms).
SHAPES = {
    "yield": (("gort/yield/real_time", "Gosched", "thread/yield/real_time", "fiber/yield/real_time"), "ns/call", 1),
    "yield2": (("gort/yield2/real_time", "GoschedPair", "thread/yield2/real_time", "fiber/yield2/real_time"),
               "ns/call", 1),
    "spawn": (("gort/spawn/1000/real_time", "Spawn", "thread/spawn/1000/real_time", "fiber/spawn/1000/real_time"),
              "ns/task", 1),
    "chan pingpong": (("chan/pingpong/real_time", "ChanPingPong", None, "fiber/chan_pingpong/real_time"),
                      "ns/msg", 1),
    "locked pingpong": (("chan/locked_pingpong/real_time", "LockedPingPong", None, None), "ns/msg", 1),
    "select pingpong": (("chan/select_pingpong/real_time", "SelectPingPong", None, None), "ns/msg", 1),
    "select+after": (("chan/select_after/real_time", "SelectAfter", None, None), "ns/select", 1),
    "chan buffered": (("chan/buffered/real_time", "ChanBuffered", None, None), "ns/value", 1),
    "skynet 1M": (("chan/skynet/1000000/real_time", "Skynet", None, None), "ms/run", 1e6),
}

# Peer-only reference rows: label -> bench_peers name.
REFERENCES = {
    "Boost.Context resume round trip (2 switches)": "context/resume/real_time",
    "Boost.Fiber spawn, default fixedsize_stack": "fiber/spawn_fixedsize/1000/real_time",
}

GO_LINE = re.compile(r"^Benchmark(\w+?)(?:-(\d+))?\s+\d+\s+([\d.]+) ns/op")


def load_gbench(path):
    """run_name -> ns per item, from a Google Benchmark JSON file."""
    if not path.exists():
        return {}
    try:
        data = json.loads(path.read_text())
    except json.JSONDecodeError:
        return {}
    out = {}
    for b in data.get("benchmarks", []):
        # With repetitions only the aggregates are reported; a single run
        # (--benchmark_repetitions=1) has run_type "iteration".
        if b.get("run_type") == "aggregate" and b.get("aggregate_name") != "median":
            continue
        ips = b.get("items_per_second")
        if ips:
            out[b["run_name"]] = 1e9 / ips
    return out


def load_go(path):
    """(name, procs) -> median ns/op, from `go test -bench` output."""
    runs = {}
    if path.exists():
        for line in path.read_text().splitlines():
            m = GO_LINE.match(line)
            if m:
                procs = int(m.group(2) or 1)  # Go omits the -P suffix when P is 1
                runs.setdefault((m.group(1), procs), []).append(float(m.group(3)))
    return {k: statistics.median(v) for k, v in runs.items()}


def fmt_ns(v, scale=1):
    if v is None:
        return "-"
    v /= scale
    return f"{v:.1f}" if v < 100 else f"{v:.0f}"


def fmt_ratio(a, b):
    if a is None or b is None:
        return "-"
    r = a / b
    return f"{r:.2f}" if r >= 0.1 else f"{r:.2g}"  # keep two digits of a tiny ratio


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: compare_report.py DIR 'P1 P2 ...'")
    d = Path(sys.argv[1])
    procs_list = [int(p) for p in sys.argv[2].split()]
    go = load_go(d / "go.txt")

    header = ["shape", "unit", "GOMAXPROCS", "gort", "Go", "threads", "Boost.Fiber",
              "gort/Go", "gort/threads", "gort/Fiber"]
    rows = []
    refs = []
    for shape, ((g_name, go_name, t_name, f_name), unit, scale) in SHAPES.items():
        for p in procs_list:
            # gort's shapes come from bench_sched and bench_chan.
            gort = {**load_gbench(d / f"gort-{p}.json"), **load_gbench(d / f"chan-{p}.json"),
                    **load_gbench(d / f"chan-skynet-{p}.json")}
            peers = load_gbench(d / f"peers-{p}.json")
            g, o = gort.get(g_name), go.get((go_name, p))
            t = peers.get(t_name) if t_name else None
            f = peers.get(f_name) if f_name else None
            rows.append([shape, unit, str(p), fmt_ns(g, scale), fmt_ns(o, scale), fmt_ns(t, scale),
                         fmt_ns(f, scale), fmt_ratio(g, o), fmt_ratio(g, t), fmt_ratio(g, f)])
    for label, name in REFERENCES.items():
        for p in procs_list:
            refs.append((label, p, load_gbench(d / f"peers-{p}.json").get(name)))

    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print()
    print("Time per item, wall clock, median of the repetitions. Ratios < 1: gort is faster.")
    print("yield: one task, nothing else runnable (gort's gosched returns without switching);")
    print("yield2: two tasks yielding to each other, per call of the measured task;")
    print("spawn: per task, batches of 1000, the final wait included.")
    print("chan pingpong: two tasks bouncing a value over two unbuffered channels, per one-way")
    print("message; locked pingpong: the same between two goroutines locked to their threads;")
    print("select pingpong: the same with every receive a 2-case select;")
    print("select+after: a select with a fresh after(10ms) case next to a ready one;")
    print("chan buffered: producer -> consumer over a channel of capacity 128;")
    print("skynet 1M: 1,111,111 goroutines in a 10-ary tree summing over channels, per run.")
    print("threads: process pinned to GOMAXPROCS CPUs with taskset; Boost.Fiber: work_stealing")
    print("on GOMAXPROCS threads (spinning helpers) when GOMAXPROCS > 1.")
    print()
    print("Reference (bench_peers only):")
    for label, p, v in refs:
        print(f"  {label}, GOMAXPROCS={p}: {fmt_ns(v)} ns")


if __name__ == "__main__":
    main()
