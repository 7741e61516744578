package deps

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/gatelab/gatelab/harness/fleet"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// Labels on the containers this package creates. The next process to reach
// Docker on the same host removes those whose creating process is gone.
const (
	LabelOwner = "org.gatelab.deps"
	LabelHost  = "org.gatelab.deps.host"
	LabelPID   = "org.gatelab.deps.pid"
)

// legacyOwner labelled the containers of internal/redistest before this
// package existed; its orphans are removed too.
const legacyOwner, legacyHost, legacyPID = "org.gatelab.redistest", "org.gatelab.redistest.host", "org.gatelab.redistest.pid"

// dockerAPI is the Docker client this package uses.
type dockerAPI = *testcontainers.DockerClient

var docker struct {
	once sync.Once
	err  error // why Docker is not usable
	cli  dockerAPI
}

// DockerAvailable reports whether the Docker daemon answers testcontainers'
// provider health check (nil) or why not. It is checked once per process;
// the first check also disables the Ryuk reaper
// (TESTCONTAINERS_RYUK_DISABLED=true unless set) and removes the containers
// that dead processes of this host left behind.
func DockerAvailable() error {
	docker.once.Do(func() { docker.err = dockerSetup() })
	return docker.err
}

func dockerClient() (dockerAPI, error) {
	if err := DockerAvailable(); err != nil {
		return nil, fmt.Errorf("docker not reachable: %w", err)
	}
	return docker.cli, nil
}

func dockerSetup() (err error) {
	// The reaper's image cannot be pulled without a registry.
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
	removeOrphans(ctx, cli, LabelOwner, LabelHost, LabelPID)
	removeOrphans(ctx, cli, legacyOwner, legacyHost, legacyPID)
	removeOrphanNetworks(ctx, cli) // after the containers that use them
	return nil
}

// removeOrphans removes the containers labelled owner by processes of this
// host that are gone.
func removeOrphans(ctx context.Context, cli dockerAPI, owner, hostLabel, pidLabel string) {
	host, _ := os.Hostname()
	res, err := cli.ContainerList(ctx, client.ContainerListOptions{
		All:     true,
		Filters: make(client.Filters).Add("label", owner+"=1", hostLabel+"="+host),
	})
	if err != nil {
		return
	}
	for _, c := range res.Items {
		pid, err := strconv.Atoi(c.Labels[pidLabel])
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

func imageExists(ctx context.Context, cli dockerAPI, ref string) bool {
	_, err := cli.ImageInspect(ctx, ref)
	return err == nil
}

func pullImage(ctx context.Context, cli dockerAPI, ref string) error {
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	resp, err := cli.ImagePull(ctx, ref, client.ImagePullOptions{})
	if err != nil {
		return err
	}
	defer resp.Close()
	return resp.Wait(ctx)
}

// resolved is the outcome of resolveImage for one wanted image.
type resolved struct {
	ref, note string
	local     bool // ref is the locally built image
}

var resolvedImages struct {
	mu sync.Mutex
	m  map[string]resolved
}

// resolveImage picks the image to run when want is asked for: want if
// Docker has it; else the local image if it is already built (no pull is
// tried any more once it exists: remove it to try the registry again); else
// want if it can be pulled; else the local image, built now. local may be
// nil (no local fallback) or fail (no host binary). The answer is kept for
// the rest of the process.
func resolveImage(ctx context.Context, want string, local func() (*Image, error)) (resolved, error) {
	resolvedImages.mu.Lock()
	defer resolvedImages.mu.Unlock()
	if r, ok := resolvedImages.m[want]; ok {
		return r, nil
	}
	cli, err := dockerClient()
	if err != nil {
		return resolved{}, err
	}
	keep := func(r resolved) (resolved, error) {
		if resolvedImages.m == nil {
			resolvedImages.m = map[string]resolved{}
		}
		resolvedImages.m[want] = r
		return r, nil
	}
	var im *Image
	var localErr error
	if local != nil {
		im, localErr = local()
	} else {
		localErr = errors.New("no local image for it")
	}
	if im != nil && want == im.Ref {
		built, err := im.Ensure(ctx)
		if err != nil {
			return resolved{}, err
		}
		return keep(resolved{ref: im.Ref, local: true, note: "image " + im.Ref + builtNote(built)})
	}
	if imageExists(ctx, cli, want) {
		return keep(resolved{ref: want, note: "image " + want + " (present locally)"})
	}
	if im != nil {
		if ok, _ := im.Present(ctx); ok {
			return keep(resolved{ref: im.Ref, local: true,
				note: fmt.Sprintf("image %s (built earlier on this machine from host files; %s is not present)", im.Ref, want)})
		}
	}
	pullErr := pullImage(ctx, cli, want)
	if pullErr == nil && imageExists(ctx, cli, want) {
		return keep(resolved{ref: want, note: "image " + want + " (pulled)"})
	}
	if im == nil {
		return resolved{}, fmt.Errorf("image %s is not present and cannot be pulled (%v), and no local image can be built: %v", want, pullErr, localErr)
	}
	built, err := im.Ensure(ctx)
	if err != nil {
		return resolved{}, fmt.Errorf("image %s is not present and cannot be pulled (%v), and %w", want, pullErr, err)
	}
	return keep(resolved{ref: im.Ref, local: true,
		note: fmt.Sprintf("image %s%s (%s is not present and cannot be pulled: %v)", im.Ref, builtNote(built), want, pullErr)})
}

func builtNote(built bool) string {
	if built {
		return " (built now from host files)"
	}
	return " (built earlier from host files)"
}

// containerSpec is what startContainer runs.
type containerSpec struct {
	image      string
	port       string // the one container port published, e.g. "6379/tcp"
	entrypoint []string
	cmd        func(hostPort int) []string // the command, knowing the published port
	env        map[string]string
	wait       wait.Strategy // nil: none (the caller checks readiness)
	log        func(format string, args ...any)
	// run creates and starts the container (default testcontainers.Run).
	run func(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (testcontainers.Container, error)
}

// dockerCtr is a container started by startContainer, with its port
// published on 127.0.0.1 at a fixed host port (so that a restarted container
// serves the same address; testcontainers' usual random port would change).
type dockerCtr struct {
	c      testcontainers.Container
	cli    dockerAPI
	id     string
	port   int
	paused bool
	logger *funcLogger
}

// startContainer starts a container, retrying with another host port when
// the one picked was taken meanwhile.
func startContainer(ctx context.Context, s containerSpec) (*dockerCtr, error) {
	cli, err := dockerClient()
	if err != nil {
		return nil, err
	}
	run := s.run
	if run == nil {
		run = func(ctx context.Context, img string, opts ...testcontainers.ContainerCustomizer) (testcontainers.Container, error) {
			c, err := testcontainers.Run(ctx, img, opts...)
			if c == nil {
				return nil, err
			}
			return c, err
		}
	}
	logger := &funcLogger{f: s.log}
	host, _ := os.Hostname()
	cport := network.MustParsePort(s.port)
	strategy := s.wait
	if strategy == nil {
		strategy = wait.ForNop(func(context.Context, wait.StrategyTarget) error { return nil })
	}
	for range 5 {
		var port int
		if port, err = fleet.FreePort(); err != nil {
			break
		}
		opts := []testcontainers.ContainerCustomizer{
			testcontainers.WithLogger(logger),
			exposePort(s.port),
			testcontainers.WithWaitStrategy(strategy),
			testcontainers.WithLabels(map[string]string{
				LabelOwner: "1",
				LabelHost:  host,
				LabelPID:   strconv.Itoa(os.Getpid()),
			}),
			testcontainers.WithHostConfigModifier(func(hc *container.HostConfig) {
				hc.PortBindings = network.PortMap{cport: {{
					HostIP:   netip.MustParseAddr("127.0.0.1"),
					HostPort: strconv.Itoa(port),
				}}}
			}),
		}
		if len(s.entrypoint) > 0 {
			opts = append(opts, testcontainers.WithEntrypoint(s.entrypoint...))
		}
		if s.cmd != nil {
			opts = append(opts, testcontainers.WithCmd(s.cmd(port)...))
		}
		if len(s.env) > 0 {
			opts = append(opts, testcontainers.WithEnv(s.env))
		}
		var c testcontainers.Container
		c, err = run(ctx, s.image, opts...)
		if err == nil {
			return &dockerCtr{c: c, cli: cli, id: c.GetContainerID(), port: port, logger: logger}, nil
		}
		if c != nil {
			testcontainers.TerminateContainer(c)
		}
		if !strings.Contains(err.Error(), "already allocated") && !strings.Contains(err.Error(), "address already in use") {
			break
		}
	}
	logger.stop()
	return nil, fmt.Errorf("starting a container from %s: %w", s.image, err)
}

// exposePort exposes port unless the request (a module's defaults) already
// does.
func exposePort(port string) testcontainers.CustomizeRequestOption {
	return func(req *testcontainers.GenericContainerRequest) error {
		if !slices.Contains(req.ExposedPorts, port) {
			req.ExposedPorts = append(req.ExposedPorts, port)
		}
		return nil
	}
}

func (d *dockerCtr) pause(ctx context.Context) error {
	if _, err := d.cli.ContainerPause(ctx, d.id, client.ContainerPauseOptions{}); err != nil {
		return fmt.Errorf("pausing container: %w", err)
	}
	d.paused = true
	return nil
}

func (d *dockerCtr) unpause(ctx context.Context) error {
	if _, err := d.cli.ContainerUnpause(ctx, d.id, client.ContainerUnpauseOptions{}); err != nil {
		return fmt.Errorf("unpausing container: %w", err)
	}
	d.paused = false
	return nil
}

func (d *dockerCtr) running(ctx context.Context) (bool, error) {
	st, err := d.cli.ContainerInspect(ctx, d.id, client.ContainerInspectOptions{})
	if err != nil {
		return false, fmt.Errorf("inspecting container: %w", err)
	}
	return st.Container.State != nil && st.Container.State.Running, nil
}

// stop ends the container's process: SIGKILL at once when grace is 0, else
// SIGTERM and SIGKILL after grace; it returns once the container has exited.
func (d *dockerCtr) stop(ctx context.Context, grace time.Duration) error {
	if d.paused {
		// Docker refuses to signal a paused container.
		if err := d.unpause(ctx); err != nil {
			return err
		}
	}
	up, err := d.running(ctx)
	if err != nil || !up {
		return err
	}
	if grace > 0 {
		secs := int((grace + time.Second - 1) / time.Second)
		if _, err := d.cli.ContainerStop(ctx, d.id, client.ContainerStopOptions{Timeout: &secs}); err != nil {
			return fmt.Errorf("stopping container: %w", err)
		}
		return nil
	}
	w := d.cli.ContainerWait(ctx, d.id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := d.cli.ContainerKill(ctx, d.id, client.ContainerKillOptions{Signal: "KILL"}); err != nil {
		return fmt.Errorf("killing container: %w", err)
	}
	select {
	case <-w.Result:
		return nil
	case err := <-w.Error:
		return fmt.Errorf("waiting for the container to exit: %w", err)
	}
}

// start starts the stopped container again (same filesystem, same port).
// Not the testcontainers Start: its readiness hooks would find the previous
// run's log lines.
func (d *dockerCtr) start(ctx context.Context) error {
	if _, err := d.cli.ContainerStart(ctx, d.id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("starting container: %w", err)
	}
	return nil
}

// terminate removes the container.
func (d *dockerCtr) terminate() error {
	defer d.logger.stop()
	if d.paused {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		d.unpause(ctx)
		cancel()
	}
	if err := testcontainers.TerminateContainer(d.c); err != nil {
		return fmt.Errorf("removing container: %w", err)
	}
	return nil
}

// logs returns up to 64 KiB of the container's output.
func (d *dockerCtr) logs(ctx context.Context) string {
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

// funcLogger passes testcontainers' messages to a function until stopped (a
// test's log function must not be called after the test ends).
type funcLogger struct {
	mu      sync.Mutex
	f       func(format string, args ...any)
	stopped bool
}

func (l *funcLogger) Printf(format string, v ...any) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.f != nil && !l.stopped {
		l.f("testcontainers: "+format, v...)
	}
}

func (l *funcLogger) stop() {
	l.mu.Lock()
	l.stopped = true
	l.mu.Unlock()
}
