// Command handoff measures how soon Go's runtime hands the P of a goroutine
// blocked in a system call to another thread: bench_handoff (../../handoff.cpp)
// measures the same on gort.
//
// At GOMAXPROCS=1 a reader goroutine blocks in syscall.Read on an empty,
// blocking pipe (syscall.Pipe, not os.Pipe, whose non-blocking descriptors
// would go through the netpoller instead), while the main goroutine is
// runnable. main can run again only once sysmon has retaken the reader's P.
// One sample is the time from just before the reader enters read(2) to main
// running again.
//
//	cd bench/go && go run ./handoff [-n SAMPLES]
package main

import (
	"flag"
	"fmt"
	"os"
	"runtime"
	"sort"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

var start = time.Now()

// nanotime: monotonic nanoseconds since start.
func nanotime() int64 { return int64(time.Since(start)) }

func pct(sorted []int64, p float64) float64 {
	i := int(p*float64(len(sorted)-1) + 0.5)
	return float64(sorted[i]) / 1000
}

func main() {
	samples := flag.Int("n", 1000, "samples")
	flag.Parse()
	runtime.GOMAXPROCS(1)
	var fds [2]int
	if err := syscall.Pipe(fds[:]); err != nil {
		fmt.Fprintln(os.Stderr, "pipe:", err)
		os.Exit(1)
	}
	const warmup = 50
	lat := make([]int64, 0, *samples)
	for i := 0; i < warmup+*samples; i++ {
		var t0 atomic.Int64
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			var b [1]byte
			t0.Store(nanotime())
			syscall.Read(fds[0], b[:])
			wg.Done()
		}()
		// The reader is in runnext: Gosched lets it run; with one P, main
		// comes back only after the hand-off. (If the scheduler took main
		// from the global queue first, go round again.)
		for {
			runtime.Gosched()
			if t0.Load() != 0 {
				break
			}
		}
		t1 := nanotime()
		if i >= warmup {
			lat = append(lat, t1-t0.Load())
		}
		if _, err := syscall.Write(fds[1], []byte{'x'}); err != nil {
			fmt.Fprintln(os.Stderr, "write:", err)
			os.Exit(1)
		}
		wg.Wait()
	}
	sort.Slice(lat, func(a, b int) bool { return lat[a] < lat[b] })
	fmt.Printf("go %s syscall hand-off, GOMAXPROCS=1, %d samples: median %.1f us  p90 %.1f us  p99 %.1f us  max %.1f us\n",
		runtime.Version(), *samples, pct(lat, 0.5), pct(lat, 0.9), pct(lat, 0.99), float64(lat[len(lat)-1])/1000)
}
