package crdt

import (
	"bytes"
	"log/slog"
	"strings"
	"testing"
)

// memberlist's lines reach the process's slog logger at the level they are
// tagged with; debug lines stay out at the info level.
func TestMemberlistLogLevels(t *testing.T) {
	var buf bytes.Buffer
	prev := slog.Default()
	slog.SetDefault(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo})))
	t.Cleanup(func() { slog.SetDefault(prev) })

	l := memberlistLogger()
	l.Printf("[DEBUG] memberlist: Stream connection from=127.0.0.1:1")
	l.Printf("[INFO] memberlist: Marking n2 as failed, suspect timeout reached")
	l.Printf("[WARN] memberlist: Was able to connect to n3 over TCP but UDP probes failed")
	l.Printf("[ERR] memberlist: Failed to send gossip to 127.0.0.1:2")
	l.Printf("an untagged line")

	got := buf.String()
	for _, want := range []string{
		`level=INFO msg="memberlist: Marking n2 as failed, suspect timeout reached" limiter=crdt`,
		`level=WARN msg="memberlist: Was able to connect to n3 over TCP but UDP probes failed" limiter=crdt`,
		`level=ERROR msg="memberlist: Failed to send gossip to 127.0.0.1:2" limiter=crdt`,
	} {
		if !strings.Contains(got, want) {
			t.Errorf("log lacks %q:\n%s", want, got)
		}
	}
	for _, unwanted := range []string{"Stream connection", "untagged"} {
		if strings.Contains(got, unwanted) {
			t.Errorf("a debug line got through at the info level (%q):\n%s", unwanted, got)
		}
	}
}
