package deps

import (
	"context"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Etcd environment variables.
const (
	// EnvEtcdMode chooses the strategy when EtcdOptions.Mode is empty:
	// "auto" (or unset), "process" or "docker".
	EnvEtcdMode = "GATELAB_ETCD_MODE"
	// EnvEtcdImage names the etcd image of the Docker strategy when
	// EtcdOptions.Image is empty.
	EnvEtcdImage = "GATELAB_ETCD_IMAGE"
)

// DefaultEtcdImage is the Docker strategy's etcd image unless
// EtcdOptions.Image or EnvEtcdImage say otherwise: the one built from the
// host's etcd (set GATELAB_ETCD_IMAGE to use an official image where a
// registry is reachable).
const DefaultEtcdImage = EtcdLocalImage

// EtcdLocalImage is the image EtcdImage builds from the host's etcd.
const EtcdLocalImage = "gatelab-etcd:local"

// Etcd timeouts.
const (
	// EtcdReadyTimeout bounds the wait for a started server to answer.
	EtcdReadyTimeout = 10 * time.Second
	// EtcdStopGrace is how long the server gets to exit after SIGTERM
	// before SIGKILL.
	EtcdStopGrace = 5 * time.Second
)

// etcdPollTimeout bounds each readiness attempt.
const etcdPollTimeout = 250 * time.Millisecond

// EtcdOptions choose how StartEtcd runs the server.
type EtcdOptions struct {
	// Mode is ModeAuto, ModeProcess or ModeDocker; "" means the value of
	// EnvEtcdMode, or ModeAuto. ModeAuto runs the host's etcd as a process
	// if there is one, else a container.
	Mode string
	// Image is the Docker strategy's image; "" means the value of
	// EnvEtcdImage, or DefaultEtcdImage (and, without a registry,
	// EtcdLocalImage built from the host's etcd). The image must have etcd
	// on its PATH.
	Image string
	// DataDir is the process strategy's data directory; "" means a new
	// temporary directory that Close removes. (A container keeps its data
	// in its own filesystem.)
	DataDir string
	// Log, if set, receives progress messages.
	Log func(format string, args ...any)
}

// Etcd is a running single-member etcd cluster. Its methods are safe for
// concurrent use; Stop, Restart and Close are serialized.
type Etcd struct {
	kind, note, version string
	clientPort          int

	mu      sync.Mutex
	stopped bool
	closed  bool
	b       etcdBackend
}

type etcdBackend interface {
	stop(ctx context.Context) error  // SIGTERM, SIGKILL after EtcdStopGrace; returns once exited
	start(ctx context.Context) error // same ports, same data
	done() <-chan struct{}           // closed when the current server exited (nil: unknown)
	close() error
	logs() string
}

// EtcdBinary returns the host's etcd binary (Debian's etcd-server installs
// /usr/bin/etcd), or why there is none.
func EtcdBinary() (string, error) {
	bin, err := exec.LookPath("etcd")
	if err != nil {
		return "", fmt.Errorf("no etcd on PATH: %w", err)
	}
	return bin, nil
}

// EtcdImage describes EtcdLocalImage: the host's etcd with its libraries,
// ENTRYPOINT etcd, EXPOSE 2379 and 2380.
func EtcdImage() (*Image, error) {
	bin, err := EtcdBinary()
	if err != nil {
		return nil, err
	}
	im := &Image{
		Ref:        EtcdLocalImage,
		Binaries:   []string{bin},
		Entrypoint: []string{bin},
		Expose:     []string{"2379/tcp", "2380/tcp"},
		Env:        []string{"PATH=/usr/local/bin:/usr/bin:/bin"},
		Labels:     map[string]string{"org.gatelab.image": "host etcd"},
	}
	if etcdNeedsArch() {
		im.Env = append(im.Env, "ETCD_UNSUPPORTED_ARCH="+runtime.GOARCH)
	}
	return im, nil
}

// etcdNeedsArch: etcd 3.4 refuses to start on architectures other than
// amd64 and ppc64le unless ETCD_UNSUPPORTED_ARCH names it. The binary is the
// host's, so this program's GOARCH is its architecture.
func etcdNeedsArch() bool {
	if _, set := os.LookupEnv("ETCD_UNSUPPORTED_ARCH"); set {
		return false
	}
	return runtime.GOARCH != "amd64" && runtime.GOARCH != "ppc64le"
}

// etcdArgs is the command line of a single-member cluster. Its log level is
// info: the line "serving client traffic" says it is ready.
func etcdArgs(dataDir, listenClient, advertiseClient, peer string) []string {
	return []string{
		"--name", "gatelab",
		"--data-dir", dataDir,
		"--listen-client-urls", listenClient,
		"--advertise-client-urls", advertiseClient,
		"--listen-peer-urls", peer,
		"--initial-advertise-peer-urls", peer,
		"--initial-cluster", "gatelab=" + peer,
		"--initial-cluster-state", "new",
		"--initial-cluster-token", "gatelab",
		// A single member elects itself after one election timeout: keep
		// it short so that start and restart are quick (loopback only).
		"--heartbeat-interval", "20",
		"--election-timeout", "200",
		"--logger", "zap",
		"--log-outputs", "stderr",
		"--log-level", "info",
	}
}

// StartEtcd starts a single-member etcd and returns once it answers a Get.
// ModeAuto runs the host's etcd as a process if there is one, else in a
// container if Docker is reachable; an error wrapping ErrUnavailable when
// neither is possible.
func StartEtcd(ctx context.Context, o EtcdOptions) (*Etcd, error) {
	ctx, cancel := bound(ctx, startBound)
	defer cancel()
	mode := o.Mode
	if mode == "" {
		mode = os.Getenv(EnvEtcdMode)
	}
	img := o.Image
	if img == "" {
		img = os.Getenv(EnvEtcdImage)
	}
	if img == "" {
		img = DefaultEtcdImage
	}
	docker := func(forced string) (*Etcd, error) {
		if err := DockerAvailable(); err != nil {
			return nil, unavailable("etcd", forced+"Docker not reachable: "+err.Error())
		}
		res, err := resolveImage(ctx, img, EtcdImage)
		if err != nil {
			return nil, unavailable("etcd", forced+"Docker is reachable but no etcd image is usable: "+err.Error())
		}
		return startEtcdDocker(ctx, res, o.Log)
	}
	switch mode {
	case ModeProcess:
		bin, err := EtcdBinary()
		if err != nil {
			return nil, unavailable("etcd", err.Error())
		}
		return startEtcdProcess(ctx, bin, o.DataDir, "etcd process (forced)", o.Log)
	case ModeDocker:
		return docker("")
	case "", ModeAuto:
	default:
		return nil, fmt.Errorf("starting etcd: mode %q: want %q, %q or %q", mode, ModeAuto, ModeDocker, ModeProcess)
	}
	bin, err := EtcdBinary()
	if err == nil {
		return startEtcdProcess(ctx, bin, o.DataDir, "etcd process", o.Log)
	}
	return docker(err.Error() + "; ")
}

// Kind is the strategy: KindLocalProcess or KindTestcontainers.
func (e *Etcd) Kind() string { return e.kind }

// Note says how the strategy and image were chosen.
func (e *Etcd) Note() string { return e.note }

// Version is the server version the running etcd reports.
func (e *Etcd) Version() string { return e.version }

// Endpoints are the client URLs, http://127.0.0.1:PORT. They do not change
// across Restart.
func (e *Etcd) Endpoints() []string {
	return []string{"http://" + net.JoinHostPort("127.0.0.1", strconv.Itoa(e.clientPort))}
}

// Client returns a new client of the server with a silent logger (retries
// during an outage are expected). ctx is the client's context: ending it
// cancels the client's work. The caller closes the client.
func (e *Etcd) Client(ctx context.Context) (*clientv3.Client, error) {
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:   e.Endpoints(),
		DialTimeout: 2 * time.Second,
		Logger:      zap.NewNop(),
		Context:     ctx,
	})
	if err != nil {
		return nil, fmt.Errorf("making an etcd client: %w", err)
	}
	return cli, nil
}

// Stop stops the server (SIGTERM, then SIGKILL after EtcdStopGrace) and
// returns once it has exited: connections are refused afterwards. Stopping
// a stopped server does nothing.
func (e *Etcd) Stop(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stopLocked(ctx)
}

func (e *Etcd) stopLocked(ctx context.Context) error {
	if e.closed {
		return fmt.Errorf("stopping etcd: %w", errClosed)
	}
	if e.stopped {
		return nil
	}
	ctx, cancel := context.WithTimeout(ctx, EtcdStopGrace+dockerOpTimeout)
	defer cancel()
	if err := e.b.stop(ctx); err != nil {
		return fmt.Errorf("stopping etcd: %w", err)
	}
	e.stopped = true
	return nil
}

// Restart starts the server again on the same ports with the same data
// (stopping it first if it runs): the keys, the revision and the cluster
// identity survive. It returns once the server answers.
func (e *Etcd) Restart(ctx context.Context) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	ctx, cancel := bound(ctx, EtcdStopGrace+2*dockerOpTimeout+EtcdReadyTimeout)
	defer cancel()
	if err := e.stopLocked(ctx); err != nil {
		return fmt.Errorf("restarting etcd: %w", err)
	}
	if err := e.b.start(ctx); err != nil {
		return fmt.Errorf("restarting etcd: %w\n%s", err, e.b.logs())
	}
	e.stopped = false
	if err := e.waitReady(ctx); err != nil {
		return fmt.Errorf("restarting etcd: %w\n%s", err, e.b.logs())
	}
	return nil
}

// Close stops the server and removes what it used (container, temporary
// data directory). Later calls return nil.
func (e *Etcd) Close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	if err := e.b.close(); err != nil {
		return fmt.Errorf("closing etcd: %w", err)
	}
	return nil
}

// Logs returns the server's recent output.
func (e *Etcd) Logs() string { return e.b.logs() }

// finishStart waits for the server and reads its version; on failure the
// server is closed.
func (e *Etcd) finishStart(ctx context.Context) error {
	err := e.waitReady(ctx)
	if err == nil {
		e.version, err = e.readVersion(ctx)
	}
	if err != nil {
		err = fmt.Errorf("starting etcd: %w\n%s", err, e.b.logs())
		e.b.close()
		return err
	}
	return nil
}

func (e *Etcd) readVersion(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	cli, err := e.Client(ctx)
	if err != nil {
		return "", err
	}
	defer cli.Close()
	st, err := cli.Status(ctx, e.Endpoints()[0])
	if err != nil {
		return "", fmt.Errorf("reading the etcd status: %w", err)
	}
	return st.Version, nil
}

// waitReady polls a Get until it succeeds; it gives up when the server
// exits, ctx ends or EtcdReadyTimeout passes. Each attempt uses a new
// client: a gRPC connection refused once backs off for a second or more
// before it tries again, and Docker's port proxy accepts connections before
// the server in the container listens.
func (e *Etcd) waitReady(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, EtcdReadyTimeout)
	defer cancel()
	for {
		start := time.Now()
		attempt, cancelAttempt := context.WithTimeout(ctx, etcdPollTimeout)
		cli, err := e.Client(attempt)
		if err == nil {
			_, err = cli.Get(attempt, "gatelab-ready")
			cli.Close()
		}
		cancelAttempt()
		if err == nil {
			return nil
		}
		if err := e.pace(ctx, start, err); err != nil {
			return err
		}
	}
}

// pace ends one failed readiness attempt that began at start: an error if
// ctx ended or the server exited, otherwise it returns at least 20ms after
// start (a refused connection fails at once; the loop must not spin).
func (e *Etcd) pace(ctx context.Context, start time.Time, err error) error {
	t := time.NewTimer(20*time.Millisecond - time.Since(start))
	defer t.Stop()
	select {
	case <-ctx.Done():
		return fmt.Errorf("waiting for etcd at %s: %w (last attempt: %v)", e.Endpoints()[0], ctx.Err(), err)
	case <-e.b.done():
		return errors.New("waiting for etcd: it exited")
	case <-t.C:
		return nil
	}
}
