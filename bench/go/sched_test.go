// Package bench measures the Go runtime on the shapes that bench_sched
// measures on gort, so compare.sh can put the two side by side.
//
// Run with: go test -run '^$' -bench . -cpu 1,2
// (-cpu sets GOMAXPROCS per run; the benchmark name gets a "-2" suffix for 2.)
//
// Every benchmark's ns/op is the cost of one item: one Gosched call (for
// GoschedPair, one call of the measured loop), or one goroutine spawned and
// finished.
package bench

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

// spawnBatch is the number of goroutines started before waiting for them; the
// same N as bench_sched and bench_peers, so each item carries the same share
// of the final wg.Wait.
const spawnBatch = 1000

// BenchmarkGosched is one goroutine calling runtime.Gosched in a loop: with
// nothing else runnable, the cost of putting the G on the global run queue and
// scheduling it again.
func BenchmarkGosched(b *testing.B) {
	for i := 0; i < b.N; i++ {
		runtime.Gosched()
	}
}

// BenchmarkGoschedPair is two goroutines both calling runtime.Gosched in a
// loop, so that each call switches to the other (at GOMAXPROCS=1): the
// benchmark goroutine's b.N calls are measured, while a partner goroutine
// yields until told to stop. Only the benchmark goroutine's calls are ops.
// Starting the partner and stopping it are not timed, as in bench_sched, where
// Google Benchmark times only the loop.
func BenchmarkGoschedPair(b *testing.B) {
	var stop atomic.Bool
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for !stop.Load() {
			runtime.Gosched()
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		runtime.Gosched()
	}
	b.StopTimer()
	stop.Store(true)
	wg.Wait()
}

// BenchmarkSpawn starts do-nothing goroutines in batches of spawnBatch and
// waits for each batch with a sync.WaitGroup. One op is one goroutine (b.N is
// split into batches; the last may be short), so ns/op is ns per goroutine.
func BenchmarkSpawn(b *testing.B) {
	var wg sync.WaitGroup
	for done := 0; done < b.N; {
		n := spawnBatch
		if b.N-done < n {
			n = b.N - done
		}
		wg.Add(n)
		for i := 0; i < n; i++ {
			go func() { wg.Done() }()
		}
		wg.Wait()
		done += n
	}
}
