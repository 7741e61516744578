package deps

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"
)

// RedisError is an error reply of a Redis server.
type RedisError string

func (e RedisError) Error() string { return string(e) }

// RedisDo sends one command to the Redis server at addr on a new
// connection and returns its reply: a string (simple or bulk; "" for a nil
// bulk), an int64, a []any, or an error (a RedisError for an error reply).
// ctx bounds everything, dial included. It is a probe for harness code and
// tests (PING, INFO, CLUSTER INFO...), not a client for load.
func RedisDo(ctx context.Context, addr string, args ...string) (any, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	defer c.Close()
	if dl, ok := ctx.Deadline(); ok {
		c.SetDeadline(dl)
	}
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Now()) })
	defer stop()
	var b strings.Builder
	fmt.Fprintf(&b, "*%d\r\n", len(args))
	for _, a := range args {
		fmt.Fprintf(&b, "$%d\r\n%s\r\n", len(a), a)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		return nil, err
	}
	v, err := readReply(bufio.NewReader(c), 0)
	if err != nil {
		return nil, err
	}
	if e, ok := v.(RedisError); ok {
		return nil, e
	}
	return v, nil
}

// RedisPing sends PING to addr and expects PONG, within ctx.
func RedisPing(ctx context.Context, addr string) error {
	v, err := RedisDo(ctx, addr, "PING")
	if err != nil {
		return err
	}
	if v != "PONG" {
		return fmt.Errorf("PING answered %v", v)
	}
	return nil
}

// readReply reads one RESP2 reply. An error reply is returned as a value.
func readReply(rd *bufio.Reader, depth int) (any, error) {
	if depth > 8 {
		return nil, errors.New("reading a Redis reply: nested too deep")
	}
	line, err := rd.ReadString('\n')
	if err != nil {
		return nil, err
	}
	line = strings.TrimSuffix(line, "\r\n")
	if line == "" {
		return nil, errors.New("reading a Redis reply: empty line")
	}
	body := line[1:]
	switch line[0] {
	case '+':
		return body, nil
	case '-':
		return RedisError(body), nil
	case ':':
		return strconv.ParseInt(body, 10, 64)
	case '$':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return "", err
		}
		if n > 64<<20 {
			return nil, fmt.Errorf("reading a Redis reply: bulk of %d bytes", n)
		}
		buf := make([]byte, n+2)
		if _, err := io.ReadFull(rd, buf); err != nil {
			return nil, err
		}
		return string(buf[:n]), nil
	case '*':
		n, err := strconv.Atoi(body)
		if err != nil || n < 0 {
			return []any(nil), err
		}
		if n > 1<<20 {
			return nil, fmt.Errorf("reading a Redis reply: array of %d elements", n)
		}
		out := make([]any, n)
		for i := range out {
			if out[i], err = readReply(rd, depth+1); err != nil {
				return nil, err
			}
		}
		return out, nil
	}
	return nil, fmt.Errorf("reading a Redis reply: unknown type in %q", line)
}

// InfoField returns field's value in the text of an INFO or CLUSTER INFO
// reply ("" if absent).
func InfoField(info, field string) string {
	for _, l := range strings.Split(info, "\n") {
		if v, ok := strings.CutPrefix(strings.TrimSpace(l), field+":"); ok {
			return v
		}
	}
	return ""
}

// waitPing retries RedisPing until it succeeds, ctx ends or within passes.
// A refused connection fails at once: attempts are at least 5ms apart.
func waitPing(ctx context.Context, addr string, within time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, within)
	defer cancel()
	var err error
	for {
		attempt, cancelAttempt := context.WithTimeout(ctx, 250*time.Millisecond)
		err = RedisPing(attempt, addr)
		cancelAttempt()
		if err == nil {
			return nil
		}
		t := time.NewTimer(5 * time.Millisecond)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("waiting for PONG from %s (%v): %w", addr, within, err)
		case <-t.C:
		}
	}
}
