// Command connmem measures what idle keep-alive connections cost a running
// gateway: it opens -n connections to -addr, sends one request on each and
// keeps them open, then prints the gateway process's resident memory (VmRSS
// of -pid, Linux) before and after, and the difference per connection.
//
//	gatelab serve -config F -server nethttp -listen 127.0.0.1:18080 &
//	go run ./scripts/connmem -addr 127.0.0.1:18080 -pid $! -n 5000 -path /public/x
//
// The client needs a file-descriptor limit above -n.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:8080", "gateway traffic address")
	pid := flag.Int("pid", 0, "gateway process id (required)")
	n := flag.Int("n", 5000, "connections to hold")
	path := flag.String("path", "/", "request path (a route the gateway answers)")
	settle := flag.Duration("settle", time.Second, "wait before each memory reading")
	flag.Parse()
	if *pid == 0 {
		fmt.Fprintln(os.Stderr, "connmem: -pid is required")
		os.Exit(2)
	}
	time.Sleep(*settle)
	before, err := rssKB(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connmem:", err)
		os.Exit(1)
	}
	conns := make([]net.Conn, 0, *n)
	for len(conns) < *n {
		c, err := net.Dial("tcp", *addr)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connmem: connection %d: %v\n", len(conns)+1, err)
			break
		}
		fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: connmem\r\n\r\n", *path)
		resp, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			fmt.Fprintf(os.Stderr, "connmem: connection %d: %v\n", len(conns)+1, err)
			c.Close()
			break
		}
		resp.Body.Close()
		conns = append(conns, c)
	}
	time.Sleep(*settle)
	after, err := rssKB(*pid)
	if err != nil {
		fmt.Fprintln(os.Stderr, "connmem:", err)
		os.Exit(1)
	}
	fmt.Printf("connections %d: VmRSS %d KB -> %d KB, %.1f KB per connection\n",
		len(conns), before, after, float64(after-before)/float64(max(1, len(conns))))
	for _, c := range conns {
		c.Close()
	}
}

// rssKB reads VmRSS (KB) from /proc/<pid>/status.
func rssKB(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) >= 2 && f[0] == "VmRSS:" {
			return strconv.ParseInt(f[1], 10, 64)
		}
	}
	return 0, fmt.Errorf("no VmRSS in /proc/%d/status", pid)
}
