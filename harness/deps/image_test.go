package deps

import (
	"archive/tar"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/testcontainers/testcontainers-go"
	tclog "github.com/testcontainers/testcontainers-go/log"
	"github.com/testcontainers/testcontainers-go/wait"
)

// needDocker skips t when Docker is not reachable, or fails it under
// GATELAB_REQUIRE_DOCKER=1.
func needDocker(t *testing.T) {
	t.Helper()
	if err := DockerAvailable(); err != nil {
		msg := fmt.Sprintf("deps: DOCKER NOT REACHABLE, test not run: %v (GATELAB_REQUIRE_DOCKER=1 makes this a failure)", err)
		if os.Getenv("GATELAB_REQUIRE_DOCKER") == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
}

// needBinary returns the path of name, or skips t (fails it when the
// environment variable require, if any, is 1).
func needBinary(t *testing.T, name, require string) string {
	t.Helper()
	bin, err := exec.LookPath(name)
	if err != nil {
		msg := fmt.Sprintf("deps: NO %s ON PATH, test not run: %v", name, err)
		if require != "" {
			msg += " (" + require + "=1 makes this a failure)"
			if os.Getenv(require) == "1" {
				t.Fatal(msg)
			}
		}
		t.Skip(msg)
	}
	return bin
}

// readTar returns an archive's entries by absolute path.
func readTar(t *testing.T, r io.Reader) map[string]*tar.Header {
	t.Helper()
	entries := map[string]*tar.Header{}
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return entries
		}
		if err != nil {
			t.Fatal(err)
		}
		entries["/"+strings.TrimSuffix(h.Name, "/")] = h
	}
}

// resolveIn follows the archive's own symbolic links to the entry at p.
func resolveIn(entries map[string]*tar.Header, p string, depth int) *tar.Header {
	if depth > 10 {
		return nil
	}
	parts := strings.Split(strings.TrimPrefix(p, "/"), "/")
	cur := ""
	for i, part := range parts {
		cur += "/" + part
		h := entries[cur]
		if h == nil {
			return nil
		}
		if h.Typeflag == tar.TypeSymlink {
			target := h.Linkname
			if !strings.HasPrefix(target, "/") {
				target = filepath.Join(filepath.Dir(cur), target)
			}
			return resolveIn(entries, filepath.Join(target, strings.Join(parts[i+1:], "/")), depth+1)
		}
	}
	return entries[cur]
}

// TestRootFS checks an image's root filesystem without Docker: the binary,
// every library ldd lists (reached through the host's directory links), the
// loader, the extra files, /etc/passwd and a world-writable /tmp.
func TestRootFS(t *testing.T) {
	bin := needBinary(t, "cat", "")
	libs, err := sharedLibraries(bin)
	if err != nil {
		t.Fatal(err)
	}
	if len(libs) == 0 {
		t.Logf("%s is statically linked", bin)
	}
	im := &Image{
		Ref:      "gatelab-deps-test:rootfs",
		Binaries: []string{"cat"}, // found on PATH
		Files:    []File{{Path: "/srv/hello.txt", Data: []byte("hello\n")}, {Path: "/srv/copy", From: bin, Mode: 0o700}},
	}
	var buf bytes.Buffer
	if err := im.WriteRootFS(&buf); err != nil {
		t.Fatal(err)
	}
	entries := readTar(t, &buf)
	want := map[string]int64{bin: 0o755, "/srv/hello.txt": 0o644, "/srv/copy": 0o700, "/etc/passwd": 0o644, "/etc/group": 0o644}
	for _, l := range libs {
		want[l] = 0o755
	}
	for p, mode := range want {
		h := resolveIn(entries, p, 0)
		if h == nil {
			t.Errorf("%s missing from the root filesystem", p)
			continue
		}
		if h.Typeflag != tar.TypeReg || h.Mode != mode {
			t.Errorf("%s: type %c mode %o, want a regular file with mode %o", p, h.Typeflag, h.Mode, mode)
		}
	}
	if h := entries["/tmp"]; h == nil || h.Typeflag != tar.TypeDir || h.Mode != 0o1777 {
		t.Errorf("/tmp: %+v, want a directory with mode 1777", h)
	}
	fi, err := os.Stat(bin)
	if err != nil {
		t.Fatal(err)
	}
	if h := resolveIn(entries, bin, 0); h != nil && h.Size != fi.Size() {
		t.Errorf("%s has %d bytes in the image, %d on the host", bin, h.Size, fi.Size())
	}
	t.Logf("%d entries, %d libraries", len(entries), len(libs))

	// The digest follows the content.
	p1, err := im.makePlan()
	if err != nil {
		t.Fatal(err)
	}
	im.Files[0].Data = []byte("hello again\n")
	p2, err := im.makePlan()
	if err != nil {
		t.Fatal(err)
	}
	if p1.sum == p2.sum {
		t.Error("changing a file did not change the image digest")
	}
}

// TestImageBuildRun builds a tiny image from the host's cat and a file,
// runs it, and checks that Ensure reuses it until its content changes.
func TestImageBuildRun(t *testing.T) {
	needDocker(t)
	bin := needBinary(t, "cat", "")
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	ref := fmt.Sprintf("gatelab-deps-test:%d", os.Getpid())
	t.Cleanup(func() {
		if err := RemoveImage(context.Background(), ref); err != nil {
			t.Error(err)
		}
	})
	im := &Image{
		Ref:        ref,
		Binaries:   []string{bin},
		Files:      []File{{Path: "/srv/hello.txt", Data: []byte("hello from a local image\n")}},
		Entrypoint: []string{bin},
		Cmd:        []string{"/srv/hello.txt"},
	}
	built, err := im.Ensure(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !built {
		t.Fatalf("first Ensure of %s did not build it", ref)
	}
	if ok, err := im.Present(ctx); err != nil || !ok {
		t.Fatalf("Present after Ensure: %v, %v", ok, err)
	}
	if built, err := im.Ensure(ctx); err != nil || built {
		t.Fatalf("second Ensure: built=%v, %v; want the image reused", built, err)
	}
	if got := runImage(t, ctx, ref); got != "hello from a local image\n" {
		t.Fatalf("the container printed %q", got)
	}

	// New content under the same reference: rebuilt, and the container
	// shows it.
	im.Files[0].Data = []byte("changed\n")
	if ok, err := im.Present(ctx); err != nil || ok {
		t.Fatalf("Present after a change: %v, %v; want false", ok, err)
	}
	if built, err := im.Ensure(ctx); err != nil || !built {
		t.Fatalf("Ensure after a change: built=%v, %v; want a rebuild", built, err)
	}
	if got := runImage(t, ctx, ref); got != "changed\n" {
		t.Fatalf("the rebuilt container printed %q", got)
	}
}

// runImage runs ref to completion and returns its output; it fails t unless
// the container exits with status 0.
func runImage(t *testing.T, ctx context.Context, ref string) string {
	t.Helper()
	c, err := testcontainers.Run(ctx, ref, testcontainers.WithLogger(tclog.TestLogger(t)),
		testcontainers.WithWaitStrategy(wait.ForExit().WithExitTimeout(time.Minute)),
		testcontainers.WithLabels(map[string]string{LabelOwner: "1", LabelHost: hostname(), LabelPID: fmt.Sprint(os.Getpid())}))
	if c != nil {
		defer testcontainers.TerminateContainer(c)
	}
	if err != nil {
		t.Fatalf("running %s: %v", ref, err)
	}
	st, err := c.State(ctx)
	if err != nil {
		t.Fatal(err)
	}
	rc, err := c.Logs(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	out, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	if st.ExitCode != 0 {
		t.Fatalf("%s exited with %d: %s", ref, st.ExitCode, out)
	}
	return string(out)
}

func hostname() string {
	h, _ := os.Hostname()
	return h
}
