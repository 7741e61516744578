package redistest

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/gatelab/gatelab/internal/serverproc"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	tcredis "github.com/testcontainers/testcontainers-go/modules/redis"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Labels on the containers this package creates.
const (
	labelOwner = "org.gatelab.redistest"
	labelHost  = "org.gatelab.redistest.host"
	labelPID   = "org.gatelab.redistest.pid"
)

var docker struct {
	once sync.Once
	err  error // why Docker is not usable
	cli  *testcontainers.DockerClient

	imageMu   sync.Mutex
	image     string // resolved image, "" until resolved
	imageNote string // how it was resolved, logged by every Start
}

// DockerAvailable reports whether the Docker daemon answers testcontainers-go's
// provider health check (nil) or why not. It is checked once per process.
func DockerAvailable() error {
	docker.once.Do(func() { docker.err = dockerSetup() })
	return docker.err
}

func dockerSetup() (err error) {
	// The reaper (Ryuk) image cannot be pulled without a registry.
	if _, set := os.LookupEnv("TESTCONTAINERS_RYUK_DISABLED"); !set {
		os.Setenv("TESTCONTAINERS_RYUK_DISABLED", "true")
	}
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("testcontainers panicked: %v", r)
		}
	}()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	p, err := testcontainers.ProviderDocker.GetProvider(testcontainers.WithLogger(tclog.NewNoopLogger()))
	if err != nil {
		return err
	}
	defer p.Close()
	if err := p.Health(ctx); err != nil {
		return err
	}
	cli, err := testcontainers.NewDockerClientWithOpts(ctx)
	if err != nil {
		return err
	}
	docker.cli = cli
	removeOrphans(ctx, cli)
	return nil
}

// removeOrphans removes the containers of earlier test processes on this
// host that died before their cleanup ran.
func removeOrphans(ctx context.Context, cli *testcontainers.DockerClient) {
	host, _ := os.Hostname()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", labelOwner+"=1", labelHost+"="+host),
	})
	if err != nil {
		return
	}
	for _, c := range res.Items {
		pid, err := strconv.Atoi(c.Labels[labelPID])
		if err != nil || pid == os.Getpid() || processAlive(pid) {
			continue
		}
		cli.ContainerRemove(ctx, c.ID, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	}
}

func processAlive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || errors.Is(err, syscall.EPERM)
}

// resolveImage returns the image to run and how it was chosen; see the
// package documentation for the order.
func resolveImage(ctx context.Context) (string, string, error) {
	docker.imageMu.Lock()
	defer docker.imageMu.Unlock()
	if docker.image != "" {
		return docker.image, docker.imageNote, nil
	}
	cli := docker.cli
	want := os.Getenv(EnvImage)
	if want == "" {
		want = DefaultImage
	}
	set := func(img, note string) (string, string, error) {
		docker.image, docker.imageNote = img, note
		return img, note, nil
	}
	if imageExists(ctx, cli, want) {
		return set(want, "image "+want+" (present locally)")
	}
	defer lockMachine("gatelab-redistest-image.lock")()
	if imageExists(ctx, cli, LocalImage) {
		return set(LocalImage, fmt.Sprintf("image %s (built earlier on this machine from the host's redis-server; %s is not present)", LocalImage, want))
	}
	pullErr := pullImage(ctx, cli, want)
	if pullErr == nil && imageExists(ctx, cli, want) {
		return set(want, "image "+want+" (pulled)")
	}
	src, err := buildLocalImage(ctx, cli)
	if err != nil {
		return "", "", fmt.Errorf("image %s is not present, cannot be pulled (%v), and building %s failed: %w", want, pullErr, LocalImage, err)
	}
	return set(LocalImage, fmt.Sprintf("image %s, built now from %s (%s is not present and cannot be pulled: %v)", LocalImage, src, want, pullErr))
}

func imageExists(ctx context.Context, cli *testcontainers.DockerClient, ref string) bool {
	_, err := cli.ImageInspect(ctx, ref)
	return err == nil
}

func pullImage(ctx context.Context, cli *testcontainers.DockerClient, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

func startDocker(t testing.TB) *Redis {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	img, note, err := resolveImage(ctx)
	if err != nil {
		t.Fatalf("redistest: Docker is reachable but no Redis image is usable: %v (set %s=process to use the local binary)", err, EnvMode)
	}
	t.Logf("redistest: testcontainers with %s", note)
	cmd := append([]string{"--port", "6379"}, serverArgs...)
	if img != LocalImage {
		// Official-style images: the entrypoint runs the command given.
		cmd = append([]string{"redis-server"}, cmd...)
	}
	logger := &testLogger{t: t}
	host, _ := os.Hostname()
	var c *tcredis.RedisContainer
	var port int
	for range 5 {
		if port, err = serverproc.FreePort(); err != nil {
			break
		}
		c, err = tcredis.Run(ctx, img,
			testcontainers.WithLogger(logger),
			testcontainers.WithCmd(cmd...),
			// The module also waits for the port through the address
			// testcontainers infers for the daemon (inside a container, the
			// bridge gateway), where nothing is published: the port is bound
			// on 127.0.0.1 only. Keep the module's log-line wait; the PING
			// below checks the published address.
			testcontainers.WithWaitStrategy(wait.ForLog("* Ready to accept connections").WithStartupTimeout(startTimeout)),
			testcontainers.WithLabels(map[string]string{
				labelOwner: "1",
				labelHost:  host,
				labelPID:   strconv.Itoa(os.Getpid()),
			}),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				// A fixed host port, so that a restarted container serves
				// the same URL.
				hc.PortBindings = network.PortMap{
					network.MustParsePort("6379/tcp"): {{
						HostIP:   netip.MustParseAddr("127.0.0.1"),
						HostPort: strconv.Itoa(port),
					}},
				}
			}),
		)
		if err == nil {
			break
		}
		if c != nil {
			testcontainers.TerminateContainer(c)
			c = nil
		}
		if !strings.Contains(err.Error(), "already allocated") && !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	if err != nil {
		logger.stop()
		t.Fatalf("redistest: starting a Redis container from %s: %v", img, err)
	}
	d := &dockerBackend{cli: docker.cli, c: c, id: c.GetContainerID(), port: port, logger: logger}
	r := &Redis{t: t, kind: KindTestcontainers, port: port, b: d}
	t.Cleanup(r.cleanup)
	// The module waited for the log line and the port; check the fixed
	// address really serves.
	if err := waitPing(r.Addr(), readyTimeout); err != nil {
		t.Fatalf("redistest: container started but %v", err)
	}
	return r
}

// dockerBackend is the testcontainers backend.
type dockerBackend struct {
	cli    *testcontainers.DockerClient
	c      *tcredis.RedisContainer
	id     string
	port   int
	paused bool
	logger *testLogger
}

func apiCtx() (context.Context, context.CancelFunc) {
	return context.WithTimeout(context.Background(), 30*time.Second)
}

func (d *dockerBackend) freeze() error {
	ctx, cancel := apiCtx()
	defer cancel()
	if _, err := d.cli.ContainerPause(ctx, d.id, client.ContainerPauseOptions{}); err != nil {
		return err
	}
	d.paused = true
	return nil
}

func (d *dockerBackend) thaw() error {
	ctx, cancel := apiCtx()
	defer cancel()
	if _, err := d.cli.ContainerUnpause(ctx, d.id, client.ContainerUnpauseOptions{}); err != nil {
		return err
	}
	d.paused = false
	return nil
}

func (d *dockerBackend) kill() error {
	if d.paused {
		// Docker refuses to kill a paused container.
		if err := d.thaw(); err != nil {
			return err
		}
	}
	ctx, cancel := apiCtx()
	defer cancel()
	st, err := d.cli.ContainerInspect(ctx, d.id, client.ContainerInspectOptions{})
	if err != nil {
		return err
	}
	if st.Container.State == nil || !st.Container.State.Running {
		return nil
	}
	wait := d.cli.ContainerWait(ctx, d.id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := d.cli.ContainerKill(ctx, d.id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return err
	}
	select {
	case <-wait.Result:
		return nil
	case err := <-wait.Error:
		return fmt.Errorf("waiting for the container to exit: %w", err)
	}
}

func (d *dockerBackend) restart() error {
	ctx, cancel := apiCtx()
	defer cancel()
	// Not c.Start: its readiness hooks would find the previous run's log
	// line. Redis.Restart waits for PING instead.
	_, err := d.cli.ContainerStart(ctx, d.id, client.ContainerStartOptions{})
	return err
}

func (d *dockerBackend) close() error {
	defer d.logger.stop()
	if d.paused {
		d.thaw()
	}
	return testcontainers.TerminateContainer(d.c)
}

func (d *dockerBackend) logs() string {
	ctx, cancel := apiCtx()
	defer cancel()
	rc, err := d.c.Logs(ctx)
	if err != nil {
		return "(no logs: " + err.Error() + ")"
	}
	defer rc.Close()
	var b strings.Builder
	buf := make([]byte, 32<<10)
	for b.Len() < 64<<10 {
		n, err := rc.Read(buf)
		b.Write(buf[:n])
		if err != nil {
			break
		}
	}
	return b.String()
}

// testLogger routes testcontainers' messages to the test log until the test
// ends (a log call after that would panic).
type testLogger struct {
	mu      sync.Mutex
	t       testing.TB
	stopped bool
}

func (l *testLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.stopped {
		l.t.Logf("testcontainers: "+format, v...)
	}
}

func (l *testLogger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}
