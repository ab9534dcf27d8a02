// The load client of bench/compare_echo.sh, the same for both servers: CONNS
// connections, one SIZE-byte message in flight on each, for DURATION;
// prints one line of JSON with requests per second and RTT percentiles (µs).
//
//	go run ./echo/client -addr ADDR -c 100 -d 3s -s 64
package main

import (
	"bytes"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"sort"
	"sync"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:7007", "server address")
	conns := flag.Int("c", 100, "connections")
	dur := flag.Duration("d", 3*time.Second, "duration")
	size := flag.Int("s", 64, "message size")
	flag.Parse()

	var mu sync.Mutex
	var all []time.Duration
	var wg sync.WaitGroup
	var failed error
	start := time.Now()
	end := start.Add(*dur)
	for i := 0; i < *conns; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c, err := net.Dial("tcp", *addr)
			if err != nil {
				mu.Lock()
				failed = err
				mu.Unlock()
				return
			}
			defer c.Close()
			msg := bytes.Repeat([]byte{byte('a' + i%26)}, *size)
			back := make([]byte, *size)
			var mine []time.Duration
			for time.Now().Before(end) {
				t0 := time.Now()
				if _, err := c.Write(msg); err != nil {
					failed = err
					break
				}
				if _, err := io.ReadFull(c, back); err != nil {
					failed = err
					break
				}
				mine = append(mine, time.Since(t0))
				if !bytes.Equal(back, msg) {
					failed = fmt.Errorf("reply differs from request")
					break
				}
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	secs := time.Since(start).Seconds()
	if failed != nil {
		fmt.Fprintln(os.Stderr, "client:", failed)
		os.Exit(1)
	}
	sort.Slice(all, func(a, b int) bool { return all[a] < all[b] })
	pct := func(p float64) float64 {
		if len(all) == 0 {
			return 0
		}
		k := int(p * float64(len(all)))
		if k >= len(all) {
			k = len(all) - 1
		}
		return float64(all[k].Nanoseconds()) / 1000
	}
	out, _ := json.Marshal(map[string]float64{
		"rps": float64(len(all)) / secs, "median_us": pct(0.5), "p99_us": pct(0.99), "max_us": pct(1),
		"conns": float64(*conns),
	})
	fmt.Println(string(out))
}
