// Command preempt measures how Go's runtime preempts call-free loops and
// stops the world. bench_preempt (../../preempt.cpp) measures the same shapes
// on gort; ../../compare_preempt.sh runs both and prints the table.
//
//	cd bench/go && go run ./preempt spin [-n 200] [-stamp]
//	               go run ./preempt work [-runs 5]
//	               go run ./preempt stw [-spinners 2] [-n 1000]
//
// Each result is a line for people, then one for compare_preempt.sh:
//
//	RESULT impl=go test=T config=C n=N median_ns=.. p99_ns=.. max_ns=..
//
// config is Go's time slice, "10ms" (fixed: forcePreemptNS), or "off" under
// GODEBUG=asyncpreemptoff=1; for stw it is the number of spinners.
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

func rdtsc() int64 // rdtsc_amd64.s

var start = time.Now()

// nanotime: monotonic nanoseconds since start.
func nanotime() int64 { return int64(time.Since(start)) }

func pct(sorted []float64, p float64) float64 {
	return sorted[int(p*float64(len(sorted)-1)+0.5)]
}

// result prints a distribution (nanoseconds): a line for people, in unit,
// and the RESULT line.
func result(label, test, config string, ns []float64, unit string, extra string) {
	if len(ns) == 0 {
		fmt.Printf("%s: no samples\nRESULT impl=go test=%s config=%s n=0\n", label, test, config)
		return
	}
	sort.Float64s(ns)
	scale := map[string]float64{"ns": 1, "us": 1e3, "ms": 1e6}[unit]
	med, p99, max := pct(ns, 0.5), pct(ns, 0.99), ns[len(ns)-1]
	fmt.Printf("%s %s: %d samples: median %.1f %s  p99 %.1f %s  max %.1f %s\n", runtime.Version(), label, len(ns),
		med/scale, unit, p99/scale, unit, max/scale, unit)
	fmt.Printf("RESULT impl=go test=%s config=%s n=%d median_ns=%.0f p99_ns=%.0f max_ns=%.0f%s\n",
		test, config, len(ns), med, p99, max, extra)
}

// sliceConfig names the preemption policy: Go's slice cannot be changed.
func sliceConfig() string {
	if strings.Contains(os.Getenv("GODEBUG"), "asyncpreemptoff=1") {
		return "off"
	}
	return "10ms"
}

// spin: at GOMAXPROCS=1 two goroutines spin in call-free loops, so only
// preemption moves the P from one to the other. Each stamps the time when it
// notices it got the P (cur is not its id): the time between two stamps is
// how long one call-free loop held the P, the time slice as a goroutine
// experiences it (slice). With -stamp each spinner also stores the TSC after
// every chunk of work; the time from the last store of the one preempted to
// the stamp of the one resumed is the cost of one preemption, signal to
// resumed (switch), to within a chunk (about 100 ns). Separate runs: Go never
// preempts asynchronously inside assembly (rdtsc); it drops such a signal
// until sysmon's next round, so with -stamp the slices are longer than they
// are. The chunk keeps that rare enough that -stamp runs do not take long.
type spinState struct {
	cur          atomic.Int32    // the spinner holding the P; -1 before the first
	last         [2]atomic.Int64 // each spinner's latest TSC (-stamp)
	stop         atomic.Bool
	since        int64 // TSC when the holder got the P
	seen, want   int   // switches seen, and wanted after the warm-up
	slices, gaps []float64
}

const (
	warmupSwitches = 3
	chunk          = 64 // xorshift steps between checks
)

var spinSink atomic.Uint64 // keeps the spinners' work

// switched runs once per switch, off the loop's fast path, and takes its own
// timestamp: the loop's may be from before a preemption. The spinners never
// run at once (one P) and the scheduler orders their runs: plain fields do.
func (s *spinState) switched(me int32) {
	now := rdtsc()
	if prev := s.cur.Load(); prev >= 0 && !s.stop.Load() {
		s.seen++
		if s.seen > warmupSwitches {
			s.slices = append(s.slices, float64(now-s.since))
			s.gaps = append(s.gaps, float64(now-s.last[prev].Load()))
		}
		if s.seen >= warmupSwitches+s.want {
			s.stop.Store(true)
		}
	}
	s.since = now
	s.cur.Store(me)
}

func spinner(s *spinState, me int32, stamp bool, wg *sync.WaitGroup) {
	defer wg.Done()
	x := uint64(me) + 1
	for !s.stop.Load() {
		if s.cur.Load() != me {
			s.switched(me)
		}
		for i := 0; i < chunk; i++ { // inline: a call would be a preemption point
			x ^= x << 13
			x ^= x >> 7
			x ^= x << 17
		}
		if stamp {
			s.last[me].Store(rdtsc())
		}
	}
	spinSink.Add(x)
}

func spin(n int, stamp bool) {
	runtime.GOMAXPROCS(1)
	s := &spinState{want: n}
	s.cur.Store(-1)
	var wg sync.WaitGroup
	wg.Add(2)
	ns0, tsc0 := nanotime(), rdtsc()
	go spinner(s, 0, stamp, &wg)
	go spinner(s, 1, stamp, &wg)
	wg.Wait()
	perNs := float64(rdtsc()-tsc0) / float64(nanotime()-ns0) // TSC ticks per ns
	for i := range s.slices {
		s.slices[i] /= perNs
		s.gaps[i] /= perNs
	}
	cfg := sliceConfig()
	if !stamp {
		result("spin, GOMAXPROCS=1: P held by a call-free loop", "slice", cfg, s.slices, "ms", "")
		return
	}
	result("spin -stamp, GOMAXPROCS=1: preemption, last iteration to resumed", "switch", cfg, s.gaps, "us", "")
	result("spin -stamp (not reported: asm in the loop): P held", "slice_stamp", cfg, s.slices, "ms", "")
}

// work: a fixed amount of call-free work, one goroutine per P; the time per
// run shows what preemption costs a CPU-bound program (compare with
// GODEBUG=asyncpreemptoff=1).
const workIters = 50_000_000

func xorshift(x uint64, n int) uint64 {
	for i := 0; i < n; i++ {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
	}
	return x
}

func work(runs int) {
	procs := runtime.GOMAXPROCS(0)
	sink := make([]uint64, procs)
	var times []float64
	var all []string
	for r := 0; r <= runs; r++ { // run 0 warms up
		var wg sync.WaitGroup
		t0 := nanotime()
		for i := 0; i < procs; i++ {
			wg.Add(1)
			go func(i int) {
				defer wg.Done()
				sink[i] = xorshift(uint64(i)+1, workIters)
			}(i)
		}
		wg.Wait()
		if r > 0 {
			d := nanotime() - t0
			times = append(times, float64(d))
			all = append(all, fmt.Sprint(d))
		}
	}
	result(fmt.Sprintf("work, GOMAXPROCS=%d, %d iterations per goroutine (sink %x): time per run", procs, workIters, sink[0]&1),
		"work", sliceConfig(), times, "ms", " runs_ns="+strings.Join(all, ","))
}

// stw: at GOMAXPROCS=2, `spinners` goroutines spin in call-free loops while
// main stops the world: how long until runtime.stopTheWorld returns, how long
// startTheWorld takes, and ReadMemStats (the public call that stops the
// world), alternately.
func stw(spinners, n int) {
	runtime.GOMAXPROCS(2)
	var stop atomic.Bool
	var beat atomic.Int64 // the running spinner's iteration count
	var wg sync.WaitGroup
	for i := 0; i < spinners; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for x := int64(1); !stop.Load(); x++ {
				beat.Store(x)
			}
		}()
	}
	const warmup = 20
	var stops, starts, rounds, mems []float64
	var ms runtime.MemStats
	for i := 0; len(mems) < n; i++ {
		settle(&beat, spinners)
		t0 := nanotime()
		if !haveSTW || i%2 == 1 {
			runtime.ReadMemStats(&ms)
			if i >= 2*warmup {
				mems = append(mems, float64(nanotime()-t0))
			}
			continue
		}
		stopTheWorld("bench preempt")
		t1 := nanotime()
		startTheWorld()
		t2 := nanotime()
		if i >= 2*warmup {
			stops = append(stops, float64(t1-t0))
			starts = append(starts, float64(t2-t1))
			rounds = append(rounds, float64(t2-t0))
		}
	}
	stop.Store(true)
	wg.Wait()
	cfg := fmt.Sprint(spinners)
	label := fmt.Sprintf("stw, GOMAXPROCS=2, %d call-free spinners: ", spinners)
	if haveSTW {
		result(label+"runtime.stopTheWorld returns", "stw_stop", cfg, stops, "us", "")
		result(label+"runtime.startTheWorld", "stw_start", cfg, starts, "us", "")
		result(label+"stop + start", "stw_round", cfg, rounds, "us", "")
	}
	result(label+"runtime.ReadMemStats", "memstats", cfg, mems, "us", "")
}

// settle keeps the P (busy, no sleep) until 100 µs have passed and a spinner
// has been seen running, so that every stop finds a call-free loop to preempt
// on the other P (one at most: main holds the other).
func settle(beat *atomic.Int64, spinners int) {
	b, t := beat.Load(), nanotime()
	for {
		d := nanotime() - t
		if d >= 100_000 && (spinners == 0 || beat.Load() != b) || d >= 50_000_000 {
			return
		}
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: preempt spin [-n N] [-stamp] | work [-runs R] | stw [-spinners S] [-n N]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	switch os.Args[1] {
	case "spin":
		n := fs.Int("n", 200, "switches to measure")
		stamp := fs.Bool("stamp", false, "stamp every iteration: measure the switch, not the slice")
		fs.Parse(os.Args[2:])
		spin(*n, *stamp)
	case "work":
		runs := fs.Int("runs", 5, "timed runs")
		fs.Parse(os.Args[2:])
		work(*runs)
	case "stw":
		spinners := fs.Int("spinners", 2, "call-free spinning goroutines")
		n := fs.Int("n", 1000, "samples of each call")
		fs.Parse(os.Args[2:])
		stw(*spinners, *n)
	default:
		fmt.Fprintln(os.Stderr, "preempt: unknown subcommand", os.Args[1])
		os.Exit(2)
	}
}
