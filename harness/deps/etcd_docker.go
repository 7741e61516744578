package deps

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/testcontainers/testcontainers-go/wait"
)

// etcdDocker is the testcontainers strategy. The data lives in the
// container's filesystem, which a stop and start keep.
type etcdDocker struct {
	d *dockerCtr
}

func startEtcdDocker(ctx context.Context, img resolved, log func(string, ...any)) (*Etcd, error) {
	d, err := startContainer(ctx, containerSpec{
		image:      img.ref,
		port:       "2379/tcp",
		entrypoint: []string{"etcd"},
		cmd: func(hostPort int) []string {
			return etcdArgs("/var/lib/etcd", "http://0.0.0.0:2379",
				"http://127.0.0.1:"+strconv.Itoa(hostPort), "http://127.0.0.1:2380")
		},
		wait: wait.ForLog(EtcdReady.String()).AsRegexp().WithStartupTimeout(EtcdReadyTimeout),
		log:  log,
	})
	if err != nil {
		return nil, fmt.Errorf("starting etcd with %s: %w", img.note, err)
	}
	e := &Etcd{kind: KindTestcontainers, note: "testcontainers with " + img.note, clientPort: d.port, b: &etcdDocker{d: d}}
	if err := e.finishStart(ctx); err != nil {
		return nil, err
	}
	if log != nil {
		log("deps: etcd %s at %s: %s", e.version, e.Endpoints()[0], e.note)
	}
	return e, nil
}

func (b *etcdDocker) stop(ctx context.Context) error  { return b.d.stop(ctx, EtcdStopGrace) }
func (b *etcdDocker) start(ctx context.Context) error { return b.d.start(ctx) }

// done: Docker gives no cheap exit signal here; readiness waits are bounded
// by their timeout instead.
func (b *etcdDocker) done() <-chan struct{} { return nil }

func (b *etcdDocker) close() error { return b.d.terminate() }

func (b *etcdDocker) logs() string {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	return b.d.logs(ctx)
}
