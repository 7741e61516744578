// Command keepalive counts the client errors a gateway gives while its
// upstream closes keep-alive connections: -workers clients send GETs to
// -url for -duration, each pausing now and then (-pause every -every
// requests) so pooled upstream connections sit idle past the upstream's
// idle timeout. It prints the number of 200s and of everything else, by
// status.
//
//	gatelab upstream -listen 127.0.0.1:18081 -static -max-conn-requests 100 -idle-timeout 100ms &
//	gatelab serve -config F -listen 127.0.0.1:18080 &   # a route to that upstream
//	go run ./scripts/keepalive -url http://127.0.0.1:18080/public/x
package main

import (
	"flag"
	"fmt"
	"io"
	"net/http"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

func main() {
	url := flag.String("url", "http://127.0.0.1:8080/", "URL to GET through the gateway")
	workers := flag.Int("workers", 16, "concurrent clients")
	duration := flag.Duration("duration", 6*time.Second, "how long to send")
	every := flag.Int64("every", 97, "pause after this many requests (all workers together)")
	pause := flag.Duration("pause", 120*time.Millisecond, "pause length")
	flag.Parse()

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *workers}, Timeout: 5 * time.Second}
	var ok, sent atomic.Int64
	var mu sync.Mutex
	bad := map[string]int{}
	end := time.Now().Add(*duration)
	var wg sync.WaitGroup
	for range *workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for time.Now().Before(end) {
				resp, err := client.Get(*url)
				what := ""
				switch {
				case err != nil:
					what = "error"
				case resp.StatusCode != http.StatusOK:
					what = resp.Status
				}
				if resp != nil {
					io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				if what == "" {
					ok.Add(1)
				} else {
					mu.Lock()
					bad[what]++
					mu.Unlock()
				}
				if sent.Add(1)%*every == 0 {
					time.Sleep(*pause)
				}
			}
		}()
	}
	wg.Wait()
	fmt.Printf("200: %d", ok.Load())
	keys := make([]string, 0, len(bad))
	for k := range bad {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		fmt.Printf(", %s: %d", k, bad[k])
	}
	fmt.Println()
}
