package bench

// Channel and select shapes, the same as bench_chan measures on gort.
//
// ns/op is the cost of one item: one one-way message for the ping-pongs (a
// round trip is two ops), one select for SelectAfter, one value for
// ChanBuffered, one whole run for Skynet.

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// BenchmarkChanPingPong: two goroutines bounce a value over two unbuffered
// channels; every message parks the receiver and wakes it again.
func BenchmarkChanPingPong(b *testing.B) { pingPong(b, false) }

// BenchmarkLockedPingPong: the same between two goroutines locked to their
// threads (runtime.LockOSThread): every message is a switch of threads.
func BenchmarkLockedPingPong(b *testing.B) { pingPong(b, true) }

func pingPong(b *testing.B, locked bool) {
	if locked {
		runtime.LockOSThread()
		defer runtime.UnlockOSThread()
	}
	ping, pong := make(chan int), make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		if locked {
			runtime.LockOSThread()
		}
		defer wg.Done()
		for v := range ping {
			pong <- v
		}
	}()
	b.ResetTimer()
	for i := 0; i < b.N; i += 2 {
		ping <- 1
		<-pong
	}
	b.StopTimer()
	close(ping)
	wg.Wait()
}

// BenchmarkSelectPingPong: the same, every receive a 2-case select (the
// data channel and a quit channel not ready until the end).
func BenchmarkSelectPingPong(b *testing.B) {
	ping, pong, quit := make(chan int), make(chan int), make(chan int)
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			select {
			case v := <-ping:
				pong <- v
			case <-quit:
				return
			}
		}
	}()
	got := 0
	b.ResetTimer()
	for i := 0; i < b.N; i += 2 {
		ping <- 1
		select {
		case v := <-pong:
			got += v
		case <-quit:
		}
	}
	b.StopTimer()
	close(quit)
	wg.Wait()
	_ = got
}

// BenchmarkSelectAfter: a select with a fresh time.After(10ms) case next to
// a case that is always ready (a closed channel). The runtime.Gosched every
// 1024 selects mirrors bench_chan (it runs due timers sooner than the next
// slice end, so both runtimes keep as many timers pending); its cost here is
// ~0.1 ns per op.
func BenchmarkSelectAfter(b *testing.B) {
	ready := make(chan int)
	close(ready)
	timeouts := 0
	for i := 0; i < b.N; i++ {
		select {
		case <-ready:
		case <-time.After(10 * time.Millisecond):
			timeouts++
		}
		if (i+1)&1023 == 0 {
			runtime.Gosched()
		}
	}
	if timeouts != 0 {
		b.Fatal("a select took the timeout")
	}
}

// BenchmarkChanBuffered: a producer goroutine sends on a channel of capacity
// 128; the benchmark goroutine receives.
func BenchmarkChanBuffered(b *testing.B) {
	ch := make(chan int, 128)
	var stop atomic.Bool
	go func() {
		for !stop.Load() {
			ch <- 1
		}
		close(ch)
	}()
	sum := 0
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		sum += <-ch
	}
	b.StopTimer()
	stop.Store(true)
	for v := range ch {
		sum += v
	}
	_ = sum
}

func skynet(c chan int, num, size, div int) {
	if size == 1 {
		c <- num
		return
	}
	rc := make(chan int)
	child := size / div
	for i := 0; i < div; i++ {
		go skynet(rc, num+i*child, child, div)
	}
	sum := 0
	for i := 0; i < div; i++ {
		sum += <-rc
	}
	c <- sum
}

// BenchmarkSkynet: the skynet benchmark, 1,000,000 leaves (1,111,111
// goroutines) per op.
func BenchmarkSkynet(b *testing.B) {
	const n = 1000000
	for i := 0; i < b.N; i++ {
		c := make(chan int)
		go skynet(c, 0, n, 10)
		if sum := <-c; sum != n*(n-1)/2 {
			b.Fatal("skynet: wrong sum", sum)
		}
	}
}
