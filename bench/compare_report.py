#!/usr/bin/env python3
"""Prints compare.sh's table from the results it collected in one directory.

Inputs, in DIR:
  gort-P.json    bench_sched --benchmark_format=json at GOMAXPROCS=P
  peers-P.json   bench_peers --benchmark_format=json at GOMAXPROCS=P
  go.txt         `go test -bench . -cpu 1,2,...` output

Every number is ns per item (one yield call -- for yield2, one call of the
measured task's loop, not counting its partner's calls -- one
goroutine/thread/fiber spawned and finished, one context round trip), the
median over the repetitions: for Google Benchmark 1e9 / the median items_per_second, for Go the median ns/op
(an op is one item there). A missing result prints as "-".
"""

import json
import re
import statistics
import sys
from pathlib import Path

# shape -> (gort, Go, threads, Boost.Fiber) benchmark names.
SHAPES = {
    "yield": ("gort/yield/real_time", "Gosched", "thread/yield/real_time", "fiber/yield/real_time"),
    "yield2": ("gort/yield2/real_time", "GoschedPair", "thread/yield2/real_time", "fiber/yield2/real_time"),
    "spawn": ("gort/spawn/1000/real_time", "Spawn", "thread/spawn/1000/real_time", "fiber/spawn/1000/real_time"),
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


def fmt_ns(v):
    return "-" if v is None else (f"{v:.1f}" if v < 100 else f"{v:.0f}")


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

    header = ["shape", "GOMAXPROCS", "gort ns", "Go ns", "threads ns", "Boost.Fiber ns",
              "gort/Go", "gort/threads", "gort/Fiber"]
    rows = []
    refs = []
    for shape, (g_name, go_name, t_name, f_name) in SHAPES.items():
        for p in procs_list:
            gort = load_gbench(d / f"gort-{p}.json")
            peers = load_gbench(d / f"peers-{p}.json")
            g, o, t, f = gort.get(g_name), go.get((go_name, p)), peers.get(t_name), peers.get(f_name)
            rows.append([shape, str(p), fmt_ns(g), fmt_ns(o), fmt_ns(t), fmt_ns(f),
                         fmt_ratio(g, o), fmt_ratio(g, t), fmt_ratio(g, f)])
    for label, name in REFERENCES.items():
        for p in procs_list:
            refs.append((label, p, load_gbench(d / f"peers-{p}.json").get(name)))

    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.rjust(w) if i else c.ljust(w) for i, (c, w) in enumerate(zip(r, widths)))
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print()
    print("ns per item: per yield call / per goroutine (thread, fiber) spawned and finished,")
    print("batches of 1000, wall clock, median of the repetitions. Ratios < 1: gort is faster.")
    print("yield: one task, nothing else runnable (gort's gosched returns without switching);")
    print("yield2: two tasks yielding to each other, per call of the measured task.")
    print("threads: process pinned to GOMAXPROCS CPUs with taskset; Boost.Fiber: work_stealing")
    print("on GOMAXPROCS threads (spinning helpers) when GOMAXPROCS > 1.")
    print()
    print("Reference (bench_peers only):")
    for label, p, v in refs:
        print(f"  {label}, GOMAXPROCS={p}: {fmt_ns(v)} ns")


if __name__ == "__main__":
    main()
