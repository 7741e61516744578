package deps

import (
	"context"
	"os"
	"os/exec"
	"strconv"
	"testing"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
)

// TestRemoveOrphans: a container labelled by a process of this host that
// is gone is removed; one labelled by this process is kept.
func TestRemoveOrphans(t *testing.T) {
	needDocker(t)
	needBinary(t, "redis-server", requireRedis) // its local image is the container's
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	im, err := RedisImage()
	if err != nil {
		t.Fatal(err)
	}
	if _, err := im.Ensure(ctx); err != nil {
		t.Fatal(err)
	}
	// A pid that is certainly gone: a child that has exited and been reaped.
	child := exec.Command("true")
	if err := child.Run(); err != nil {
		t.Fatal(err)
	}
	dead := child.Process.Pid
	create := func(pid int) string {
		c, err := testcontainers.Run(ctx, im.Ref, testcontainers.WithNoStart(), testcontainers.WithLogger(tclog.TestLogger(t)),
			testcontainers.WithLabels(map[string]string{LabelOwner: "1", LabelHost: hostname(), LabelPID: strconv.Itoa(pid)}))
		if c != nil {
			t.Cleanup(func() { testcontainers.TerminateContainer(c) })
		}
		if err != nil {
			t.Fatal(err)
		}
		return c.GetContainerID()
	}
	orphan, mine := create(dead), create(os.Getpid())
	removeOrphans(ctx, docker.cli, LabelOwner, LabelHost, LabelPID)
	exists := func(id string) bool {
		_, err := docker.cli.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
		return err == nil
	}
	if exists(orphan) {
		t.Errorf("the container of dead pid %d was not removed", dead)
	}
	if !exists(mine) {
		t.Error("the container of this process was removed")
	}
}
