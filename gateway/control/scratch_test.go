package control

import (
	"testing"
	_ "github.com/fsnotify/fsnotify"
	_ "go.etcd.io/etcd/client/v3"
	"github.com/gatelab/gatelab/gateway/config"
)

func TestScratch(t *testing.T) {
	for _, y := range []string{"", "version: 3\n", "version: -1\nroutes:\n  - id: a\n    pattern: x\n    backend: nope\n"} {
		c, err := config.Parse([]byte(y), "x.yaml", t.TempDir())
		t.Logf("%q -> %v %v", y, c != nil, err)
		if pp, ok := err.(config.Problems); ok { t.Logf("%d problems %+v", len(pp), pp) }
	}
}
