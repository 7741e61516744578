package engines_test

import (
	"strings"
	"testing"

	"github.com/gatelab/gatelab/engines"
	_ "github.com/gatelab/gatelab/engines/all"
	"github.com/gatelab/gatelab/gateway/pipeline"
)

func TestRegistryHasEveryEngine(t *testing.T) {
	want := map[engines.Kind][]string{
		engines.KindServer:  {"fasthttp", "nethttp"},
		engines.KindRouter:  {"mux", "regex", "trie"},
		engines.KindLimiter: {"crdt", "local", "redis"},
	}
	for kind, names := range want {
		got := strings.Join(engines.Names(kind), ",")
		if got != strings.Join(names, ",") {
			t.Errorf("%s engines = %s, want %s", kind, got, strings.Join(names, ","))
		}
	}
}

func TestUnknownEngineListsKnown(t *testing.T) {
	_, err := engines.NewRouterFactory("radix")
	if err == nil || !strings.Contains(err.Error(), `unknown router engine "radix"`) || !strings.Contains(err.Error(), "mux, regex, trie") {
		t.Errorf("error = %v", err)
	}
	if _, err := engines.NewLimiter("nope", engines.LimiterOptions{}); err == nil || !strings.Contains(err.Error(), "local") {
		t.Errorf("limiter error = %v", err)
	}
	if _, err := engines.NewServer("nope", nil); err == nil || !strings.Contains(err.Error(), "fasthttp, nethttp") {
		t.Errorf("server error = %v", err)
	}
}

func TestDuplicateRegistrationPanics(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("registering trie twice did not panic")
		}
	}()
	engines.RegisterRouter("trie", func([]pipeline.RouteSpec) (pipeline.Router, error) { return nil, nil })
}
