#!/usr/bin/env python3
"""Prints compare_preempt.sh's table from the RESULT lines in DIR/preempt-*.txt.

A RESULT line (bench_preempt and go/preempt print them) is
  RESULT impl=gort|go test=T config=C n=N median_ns=.. p99_ns=.. max_ns=.. [runs_ns=a,b,..]
config is the time slice ("10ms", "1ms", "100us"; "off" with preemption off)
or, for the stop-the-world tests, the number of spinners. A missing result
prints as "-".
"""

import statistics
import sys
from pathlib import Path

MS, US = 1e6, 1e3
# measure, gort (test, config), Go (test, config) or None, unit, targets
# (median, p99) in ns or None. Go's time slice is fixed at 10 ms: its column
# is empty for the others.
ROWS = [
    ("call-free loop holds the P", ("slice", "10ms"), ("slice", "10ms"), MS, (None, 10.5 * MS)),
    ("call-free loop holds the P", ("slice", "1ms"), None, MS, (None, 1.2 * MS)),
    ("call-free loop holds the P", ("slice", "100us"), None, MS, None),
    ("preemption, signal to resumed", ("switch", "10ms"), ("switch", "10ms"), US, None),
    ("preemption, signal to resumed", ("switch", "1ms"), None, US, None),
    ("preemption, signal to resumed", ("switch", "100us"), None, US, None),
] + [
    (f"stop the world, {what}", (test, s), (go_test, s), US, (15 * US, 30 * US) if test == "stw_stop" and s == "2" else None)
    for test, go_test, what in [("stw_stop", "stw_stop", "stop returns"),
                                ("stw_start", "stw_start", "start"),
                                ("stw_round", "stw_round", "stop + start"),
                                ("stw_round", "memstats", "stop + start / ReadMemStats")]
    for s in ("0", "1", "2")
]
WORK = [("10ms", "10ms"), ("1ms", None), ("100us", None)]  # gort config, Go config
WORK_TARGET = {"100us": 5.0}  # at most this many percent lost


def load(d):
    """(impl, test, config) -> dict of the RESULT line's fields (the last one);
    for test=work the runs_ns of every line are pooled."""
    out = {}
    for f in sorted(d.glob("preempt-*.txt")):
        for line in f.read_text().splitlines():
            if not line.startswith("RESULT "):
                continue
            kv = dict(item.split("=", 1) for item in line.split()[1:])
            key = (kv.get("impl"), kv.get("test"), kv.get("config"))
            if key[1] == "work" and key in out:
                out[key]["runs_ns"] += "," + kv.get("runs_ns", "")
            else:
                out[key] = kv
    return out


def stat(res, key, field):
    r = res.get(key)
    if r is None or int(r.get("n", 0)) == 0 or field not in r:
        return None
    return float(r[field])


def work_median(res, impl, config):
    r = res.get((impl, "work", config))
    runs = [float(x) for x in (r or {}).get("runs_ns", "").split(",") if x]
    return statistics.median(runs) if runs else None


def fmt(v, scale=1.0):
    if v is None:
        return "-"
    v /= scale
    return f"{v:.3g}" if v < 100 else f"{v:.0f}"


def ratio(a, b):
    return "-" if a is None or b is None or b == 0 else f"{a / b:.2f}"


def met(values, targets):
    checks = [(v, t) for v, t in zip(values, targets) if t is not None]
    if not checks:
        return "", ""
    text = " ".join(f"{name}≤{fmt(t, US if t < MS else MS)}{'µs' if t < MS else 'ms'}"
                    for name, t in zip(("median", "p99"), targets) if t is not None)
    if any(v is None for v, _ in checks):
        return text, "-"
    return text, "yes" if all(v <= t for v, t in checks) else "NO"


def main():
    if len(sys.argv) != 2:
        sys.exit("usage: compare_preempt_report.py DIR")
    res = load(Path(sys.argv[1]))
    header = ["measure", "config", "unit", "gort med", "gort p99", "Go med", "Go p99", "gort/Go med",
              "gort/Go p99", "target", "met"]
    rows = []
    for measure, (test, cfg), go, scale, targets in ROWS:
        g = [stat(res, ("gort", test, cfg), f) for f in ("median_ns", "p99_ns")]
        o = [stat(res, ("go", *go), f) for f in ("median_ns", "p99_ns")] if go else [None, None]
        label = f"{cfg} spinner{'s' if cfg != '1' else ''}" if test.startswith("stw") else f"slice {cfg}"
        unit = "ms" if scale == MS else "µs"
        rows.append([measure, label, unit, fmt(g[0], scale), fmt(g[1], scale), fmt(o[0], scale), fmt(o[1], scale),
                     ratio(g[0], o[0]), ratio(g[1], o[1]), *met(g, targets or (None, None))])
    g_off, o_off = work_median(res, "gort", "off"), work_median(res, "go", "off")
    for cfg, go_cfg in WORK:
        g, o = work_median(res, "gort", cfg), work_median(res, "go", go_cfg) if go_cfg else None
        gs = g / g_off if g and g_off else None  # slowdown factors
        os_ = o / o_off if o and o_off else None
        lost = (gs - 1) * 100 if gs else None
        target = WORK_TARGET.get(cfg)
        rows.append(["CPU-bound throughput lost", f"slice {cfg}", "%", fmt(lost), "-",
                     fmt((os_ - 1) * 100) if os_ else "-", "-", ratio(gs, os_), "-",
                     f"≤{target:g}%" if target else "",
                     ("-" if lost is None else "yes" if lost <= target else "NO") if target else ""])

    widths = [max(len(r[i]) for r in [header] + rows) for i in range(len(header))]
    line = lambda r: "  ".join(c.ljust(w) if i < 2 else c.rjust(w) for i, (c, w) in enumerate(zip(r, widths))).rstrip()
    print(line(header))
    print(line(["-" * w for w in widths]))
    for r in rows:
        print(line(r))
    print()
    print("Ratios < 1: gort is faster. Go's time slice is fixed (10 ms): its column is empty at 1ms/100us.")
    print("call-free loop holds the P: GOMAXPROCS=1, two call-free spinners; the time from one getting the P to")
    print("  the other getting it (the slice as experienced). preemption, signal to resumed: from the preempted")
    print("  spinner's last timestamp to the resumed one's first (Go: from a separate run, see go/preempt).")
    print("stop the world: GOMAXPROCS=2, main stops and restarts the world while 0-2 call-free spinners run;")
    print("  Go: runtime.stopTheWorld/startTheWorld (go:linkname), and ReadMemStats (stop, read, start) in the last rows.")
    print("CPU-bound throughput lost: one call-free loop per P, fixed work, time per run vs preemption off")
    print("  (gort: GORTDEBUG=preemptoff=1; Go: GODEBUG=asyncpreemptoff=1); gort/Go compares the slowdowns t/t_off.")


if __name__ == "__main__":
    main()
