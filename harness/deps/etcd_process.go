package deps

import (
	"context"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"strconv"
	"sync"

	"github.com/gatelab/gatelab/harness/fleet"
)

// EtcdReady matches the line etcd prints once it serves clients (3.4 and
// 3.5, at log level info).
var EtcdReady = regexp.MustCompile(`serving client traffic|ready to serve client requests`)

// etcdProc is the process strategy.
type etcdProc struct {
	tmp string // temporary directory removed by close ("" if the data directory is the caller's)

	mu   sync.Mutex
	p    *fleet.Proc
	past string // output of earlier runs
}

func startEtcdProcess(ctx context.Context, bin, dataDir, note string, log func(string, ...any)) (*Etcd, error) {
	b := &etcdProc{}
	if dataDir == "" {
		tmp, err := os.MkdirTemp("", "gatelab-etcd-")
		if err != nil {
			return nil, fmt.Errorf("starting etcd: %w", err)
		}
		b.tmp = tmp
		dataDir = filepath.Join(tmp, "data")
	}
	spec := fleet.Spec{Name: "etcd", Path: bin, Ready: EtcdReady, ReadyTimeout: EtcdReadyTimeout}
	if etcdNeedsArch() {
		spec.Env = []string{"ETCD_UNSUPPORTED_ARCH=" + runtime.GOARCH}
	}
	p, ports, err := StartOnFreePorts(ctx, spec, 2, func(ports []int) ([]string, error) {
		if b.tmp != "" {
			// A start that failed on a taken port may have begun a member.
			os.RemoveAll(dataDir)
		}
		client := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[0]))
		peer := "http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(ports[1]))
		return etcdArgs(dataDir, client, client, peer), nil
	})
	if err != nil {
		b.close()
		return nil, fmt.Errorf("starting etcd (%s): %w", bin, err)
	}
	b.p = p
	e := &Etcd{kind: KindLocalProcess, note: note, clientPort: ports[0], b: b}
	if err := e.finishStart(ctx); err != nil {
		return nil, err
	}
	if log != nil {
		log("deps: etcd %s at %s: %s", e.version, e.Endpoints()[0], e.note)
	}
	return e, nil
}

func (b *etcdProc) proc() *fleet.Proc {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.p
}

func (b *etcdProc) stop(context.Context) error { return b.proc().Stop(EtcdStopGrace) }

func (b *etcdProc) start(ctx context.Context) error {
	old := b.proc()
	np, err := old.Restart(ctx)
	if err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.past += old.Output() + "\n---- restart ----\n"
	b.p = np
	return nil
}

func (b *etcdProc) done() <-chan struct{} { return b.proc().Done() }

func (b *etcdProc) close() error {
	var err error
	if p := b.proc(); p != nil {
		err = p.Stop(EtcdStopGrace)
	}
	if b.tmp != "" {
		if rerr := os.RemoveAll(b.tmp); err == nil {
			err = rerr
		}
	}
	return err
}

func (b *etcdProc) logs() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.p == nil {
		return b.past
	}
	return b.past + b.p.Output()
}
