package redistest

import (
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// TestStartCluster: three masters that each own a third of the slots and
// agree on it, and a URL naming all three.
func TestStartCluster(t *testing.T) {
	c := StartCluster(t, 3)
	addrs := c.Addrs()
	u, err := url.Parse(c.URL())
	if err != nil {
		t.Fatal(err)
	}
	if got := append([]string{u.Host}, u.Query()["addr"]...); !slices.Equal(got, addrs) {
		t.Errorf("URL %s names %v, want %v", c.URL(), got, addrs)
	}
	for _, a := range addrs {
		v, err := command(a, time.Second, "CLUSTER", "SLOTS")
		if err != nil {
			t.Fatalf("CLUSTER SLOTS on %s: %v", a, err)
		}
		owners := map[string]int64{}
		for _, r := range v.([]any) {
			r := r.([]any)
			node := r[2].([]any)
			owners[node[0].(string)+":"+strconv.FormatInt(node[1].(int64), 10)] += r[1].(int64) - r[0].(int64) + 1
		}
		if len(owners) != 3 {
			t.Errorf("%s: slots owned by %v, want 3 masters", a, owners)
		}
		for o, n := range owners {
			if !slices.Contains(addrs, o) || n < 5000 {
				t.Errorf("%s: %s owns %d slots", a, o, n)
			}
		}
	}
}

// TestStartSentinel: the sentinel names the master; after KillMaster it
// promotes the replica, which holds what was written before.
func TestStartSentinel(t *testing.T) {
	s := StartSentinel(t)
	if !strings.Contains(s.URL(), "?master_name="+SentinelMaster) {
		t.Errorf("URL %s", s.URL())
	}
	data := s.DataAddrs()
	if m := s.MasterAddr(); m != data[0] {
		t.Fatalf("master %s, want %s", m, data[0])
	}
	if _, err := command(data[0], time.Second, "SET", "k", "v"); err != nil {
		t.Fatal(err)
	}
	// Replicated before the kill (WAIT would need the SET's connection).
	err := poll(5*time.Second, func() error {
		if v, err := commandString(data[1], time.Second, "GET", "k"); err != nil || v != "v" {
			return fmt.Errorf("GET k on the replica: %q, %v", v, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	began := time.Now()
	if old := s.KillMaster(); old != data[0] {
		t.Fatalf("KillMaster killed %s, want %s", old, data[0])
	}
	if m := s.WaitFailover(data[0], 15*time.Second); m != data[1] {
		t.Fatalf("new master %s, want the replica %s", m, data[1])
	}
	t.Logf("failover in %v", time.Since(began).Round(time.Millisecond))
	if v, err := commandString(data[1], time.Second, "GET", "k"); err != nil || v != "v" {
		t.Errorf("GET k on the new master: %q, %v", v, err)
	}
	if _, err := command(data[1], time.Second, "SET", "k2", "v"); err != nil {
		t.Errorf("the new master refuses writes: %v", err)
	}
}
