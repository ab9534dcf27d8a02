// Command inspect is the Go side of ../../inspect_compare.sh: a program with
// many goroutines parked in a channel receive, for Delve to list, as gort
// lists examples/inspectee.cpp's (which parks `--goroutines N` more
// goroutines the same way).
//
//	cd bench/go && go build -gcflags='all=-N -l' -o /tmp/inspect ./inspect
//	/tmp/inspect [-n 10000] [-exit-after 0]
//
// (-N -l: no optimisation or inlining, what `dlv debug` builds with and what
// Delve users build with to attach.)
//
// stdout, one line each: `inspect pid <PID>`, `expect goroutines <N+1>`
// (the parked ones plus main; the runtime's own goroutines, which dlv also
// lists, come on top), then `ready` once every one of the N goroutines is
// parked in its receive, as the runtime itself reports it. The program then
// sleeps until it is killed, or until -exit-after has passed.
package main

import (
	"bytes"
	"flag"
	"fmt"
	"os"
	"runtime"
	"sync"
	"time"
)

// parked blocks forever in a receive on a channel nobody sends on or closes.
// Its own function, so that dlv's User location names it.
//
//go:noinline
func parked(ch <-chan int, started *sync.WaitGroup) {
	started.Done()
	<-ch
}

// parkedCount counts the goroutines the runtime shows waiting in a channel
// receive inside parked (runtime.Stack with all=true stops the world and
// formats every goroutine: once, before `ready`, it does not matter).
func parkedCount() int {
	buf := make([]byte, 1<<20)
	for {
		n := runtime.Stack(buf, true)
		if n < len(buf) {
			buf = buf[:n]
			break
		}
		buf = make([]byte, 2*len(buf))
	}
	count := 0
	for _, g := range bytes.Split(buf, []byte("\n\n")) {
		if bytes.Contains(g, []byte("[chan receive")) && bytes.Contains(g, []byte("main.parked(")) {
			count++
		}
	}
	return count
}

func main() {
	n := flag.Int("n", 10000, "goroutines parked in a channel receive")
	exitAfter := flag.Duration("exit-after", 0, "exit with status 0 this long after start-up (0: run until killed)")
	flag.Parse()
	start := time.Now()

	fmt.Printf("inspect pid %d\n", os.Getpid())
	fmt.Printf("expect goroutines %d\n", *n+1)

	ch := make(chan int)
	var started sync.WaitGroup
	started.Add(*n)
	for i := 0; i < *n; i++ {
		go parked(ch, &started)
	}
	started.Wait()
	// Done comes just before the receive: wait until every one is parked.
	for parkedCount() != *n {
		if time.Since(start) > time.Minute {
			fmt.Fprintf(os.Stderr, "inspect: not ready after a minute: %d of %d goroutines parked\n", parkedCount(), *n)
			os.Exit(1)
		}
		time.Sleep(10 * time.Millisecond)
	}
	fmt.Println("ready")

	// A sleeping main keeps a timer pending, so the runtime never declares
	// the parked goroutines deadlocked. ch stays reachable from here.
	for *exitAfter == 0 || time.Since(start) < *exitAfter {
		time.Sleep(100 * time.Millisecond)
	}
	runtime.KeepAlive(ch)
}
