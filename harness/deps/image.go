package deps

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// LabelImageSum is the label an Image carries: a digest of everything it is
// made of (files, their contents, entrypoint, command, environment...). An
// image under the same reference whose label differs is rebuilt.
const LabelImageSum = "org.gatelab.image.sum"

// Image describes a container image made on this machine from host files,
// for machines without an image registry: the host binaries, every shared
// library ldd lists for them and the dynamic loader, extra files, a minimal
// /etc/passwd and /etc/group and a world-writable /tmp, imported as a root
// filesystem through the Docker API (what `docker import` does) with the
// image settings below.
type Image struct {
	// Ref is the image's name:tag, e.g. "gatelab-redis:local".
	Ref string
	// Binaries are host executables (absolute paths, or names looked up on
	// PATH). Each goes to the same path in the image, with its libraries.
	Binaries []string
	// Files are extra files.
	Files []File
	// Entrypoint and Cmd are the image's ENTRYPOINT and CMD (exec form).
	Entrypoint []string
	Cmd        []string
	// Env are KEY=value pairs (ENV).
	Env []string
	// Expose are ports such as "6379" or "6379/tcp" (EXPOSE).
	Expose []string
	// WorkDir is the working directory (WORKDIR); default /tmp.
	WorkDir string
	// Labels are extra image labels.
	Labels map[string]string
}

// File is one extra file of an Image.
type File struct {
	Path string      // absolute path in the image
	Data []byte      // the content, unless From is set
	From string      // a host file to copy instead (symbolic links followed)
	Mode fs.FileMode // permission bits; default 0644
	// Libs: From is an executable; the shared libraries and the dynamic
	// loader ldd lists for it go into the image too, at their host paths
	// (as for Binaries, but the executable itself may go anywhere).
	Libs bool
}

// plan is an Image resolved against the host: the files to write and the
// digest of everything.
type plan struct {
	entries []rootEntry
	changes []string // Dockerfile instructions applied on import
	sum     string
}

// makePlan resolves binaries and their libraries and computes the digest.
// It reads every file once.
func (im *Image) makePlan() (*plan, error) {
	if im.Ref == "" {
		return nil, errors.New("image has no Ref")
	}
	p := &plan{}
	for _, b := range im.Binaries {
		bin := b
		if !filepath.IsAbs(bin) {
			found, err := exec.LookPath(bin)
			if err != nil {
				return nil, fmt.Errorf("finding binary %s: %w", b, err)
			}
			if bin, err = filepath.Abs(found); err != nil {
				return nil, err
			}
		}
		libs, err := sharedLibraries(bin)
		if err != nil {
			return nil, err
		}
		p.entries = append(p.entries, rootEntry{path: bin, from: bin, mode: 0o755})
		for _, l := range libs {
			p.entries = append(p.entries, rootEntry{path: l, from: l, mode: 0o755})
		}
	}
	for _, f := range im.Files {
		if !filepath.IsAbs(f.Path) {
			return nil, fmt.Errorf("image file %q: path is not absolute", f.Path)
		}
		mode := int64(f.Mode.Perm())
		if mode == 0 {
			mode = 0o644
		}
		p.entries = append(p.entries, rootEntry{path: filepath.Clean(f.Path), from: f.From, data: f.Data, mode: mode})
		if f.Libs {
			if f.From == "" {
				return nil, fmt.Errorf("image file %q: Libs needs From", f.Path)
			}
			libs, err := sharedLibraries(f.From)
			if err != nil {
				return nil, err
			}
			for _, l := range libs {
				p.entries = append(p.entries, rootEntry{path: l, from: l, mode: 0o755})
			}
		}
	}
	has := func(path string) bool {
		return slices.ContainsFunc(p.entries, func(e rootEntry) bool { return e.path == path })
	}
	if !has("/etc/passwd") {
		p.entries = append(p.entries, rootEntry{path: "/etc/passwd", mode: 0o644,
			data: []byte("root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n")})
	}
	if !has("/etc/group") {
		p.entries = append(p.entries, rootEntry{path: "/etc/group", mode: 0o644, data: []byte("root:x:0:\nnogroup:x:65534:\n")})
	}

	jsonList := func(v []string) string {
		b, _ := json.Marshal(v)
		return string(b)
	}
	if len(im.Entrypoint) > 0 {
		p.changes = append(p.changes, "ENTRYPOINT "+jsonList(im.Entrypoint))
	}
	if len(im.Cmd) > 0 {
		p.changes = append(p.changes, "CMD "+jsonList(im.Cmd))
	}
	for _, e := range im.Env {
		if !strings.Contains(e, "=") {
			return nil, fmt.Errorf("image env %q: want KEY=value", e)
		}
		p.changes = append(p.changes, "ENV "+e)
	}
	for _, e := range im.Expose {
		p.changes = append(p.changes, "EXPOSE "+e)
	}
	wd := im.WorkDir
	if wd == "" {
		wd = "/tmp"
	}
	p.changes = append(p.changes, "WORKDIR "+wd)
	keys := make([]string, 0, len(im.Labels))
	for k := range im.Labels {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v, _ := json.Marshal(im.Labels[k])
		p.changes = append(p.changes, fmt.Sprintf("LABEL %s=%s", k, v))
	}

	h := sha256.New()
	for _, c := range p.changes {
		fmt.Fprintf(h, "change %q\n", c)
	}
	for _, e := range p.entries {
		fmt.Fprintf(h, "file %q %o ", e.path, e.mode)
		if e.from == "" {
			fmt.Fprintf(h, "%d\n", len(e.data))
			h.Write(e.data)
			continue
		}
		f, err := os.Open(e.from)
		if err != nil {
			return nil, fmt.Errorf("reading %s for image %s: %w", e.from, im.Ref, err)
		}
		_, err = io.Copy(h, f)
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("reading %s for image %s: %w", e.from, im.Ref, err)
		}
	}
	p.sum = hex.EncodeToString(h.Sum(nil))
	p.changes = append(p.changes, fmt.Sprintf("LABEL %s=%q", LabelImageSum, p.sum))
	return p, nil
}

// write writes the plan's root filesystem as a tar stream.
func (p *plan) write(w io.Writer) error {
	tb := newTarWriter(w)
	if err := tb.dirEntry("/tmp", 0o1777); err != nil {
		return err
	}
	for _, e := range p.entries {
		if err := tb.file(e); err != nil {
			return fmt.Errorf("writing %s into the image: %w", e.path, err)
		}
	}
	return tb.close()
}

// WriteRootFS writes the image's root filesystem as a tar stream (what
// Ensure imports). It needs no Docker.
func (im *Image) WriteRootFS(w io.Writer) error {
	p, err := im.makePlan()
	if err != nil {
		return fmt.Errorf("planning image %s: %w", im.Ref, err)
	}
	return p.write(w)
}

// builtImages remembers, per process, the images Ensure has found or built
// (reference -> digest), so that later calls cost nothing.
var builtImages struct {
	mu   sync.Mutex
	refs map[string]string
	busy map[string]*sync.Mutex
}

func imageLock(ref string) *sync.Mutex {
	builtImages.mu.Lock()
	defer builtImages.mu.Unlock()
	if builtImages.busy == nil {
		builtImages.busy = map[string]*sync.Mutex{}
	}
	m := builtImages.busy[ref]
	if m == nil {
		m = &sync.Mutex{}
		builtImages.busy[ref] = m
	}
	return m
}

// Present reports whether Docker holds the image as described now (its
// LabelImageSum matches the host files).
func (im *Image) Present(ctx context.Context) (bool, error) {
	cli, err := dockerClient()
	if err != nil {
		return false, err
	}
	p, err := im.makePlan()
	if err != nil {
		return false, fmt.Errorf("planning image %s: %w", im.Ref, err)
	}
	return imageSum(ctx, cli, im.Ref) == p.sum, nil
}

// Ensure makes sure Docker holds the image: it reuses an image of that
// reference whose digest label matches, and otherwise builds it (replacing
// the tag). built tells which. One build runs at a time per reference in
// this process, and per machine (a lock file in the temporary directory),
// so that concurrent test binaries build it once. A rebuild removes the
// outdated image unless a container uses it. A success is remembered
// for the rest of the process.
func (im *Image) Ensure(ctx context.Context) (built bool, err error) {
	l := imageLock(im.Ref)
	l.Lock()
	defer l.Unlock()
	cli, err := dockerClient()
	if err != nil {
		return false, fmt.Errorf("building image %s: %w", im.Ref, err)
	}
	p, err := im.makePlan()
	if err != nil {
		return false, fmt.Errorf("planning image %s: %w", im.Ref, err)
	}
	builtImages.mu.Lock()
	known := builtImages.refs[im.Ref] == p.sum
	builtImages.mu.Unlock()
	if known && imageSum(ctx, cli, im.Ref) == p.sum {
		return false, nil
	}
	defer lockMachine("gatelab-deps-image.lock")()
	if imageSum(ctx, cli, im.Ref) != p.sum {
		oldID := imageID(ctx, cli, im.Ref)
		if err := importImage(ctx, cli, im.Ref, p); err != nil {
			return false, fmt.Errorf("building image %s: %w", im.Ref, err)
		}
		if got := imageSum(ctx, cli, im.Ref); got != p.sum {
			return false, fmt.Errorf("building image %s: import reported success but the image's %s is %q, want %s", im.Ref, LabelImageSum, got, p.sum)
		}
		if oldID != "" && oldID != imageID(ctx, cli, im.Ref) {
			// The outdated image lost its tag; remove it unless a
			// container still uses it.
			cli.ImageRemove(ctx, oldID, client.ImageRemoveOptions{})
		}
		built = true
	}
	builtImages.mu.Lock()
	if builtImages.refs == nil {
		builtImages.refs = map[string]string{}
	}
	builtImages.refs[im.Ref] = p.sum
	builtImages.mu.Unlock()
	return built, nil
}

// RemoveImage deletes an image from Docker (forcibly: containers using it
// keep running). A missing image is no error.
func RemoveImage(ctx context.Context, ref string) error {
	cli, err := dockerClient()
	if err != nil {
		return fmt.Errorf("removing image %s: %w", ref, err)
	}
	builtImages.mu.Lock()
	delete(builtImages.refs, ref)
	builtImages.mu.Unlock()
	if _, err := cli.ImageInspect(ctx, ref); err != nil {
		return nil
	}
	if _, err := cli.ImageRemove(ctx, ref, client.ImageRemoveOptions{Force: true, PruneChildren: true}); err != nil {
		return fmt.Errorf("removing image %s: %w", ref, err)
	}
	return nil
}

// importImage streams the plan's root filesystem into `docker import`.
func importImage(ctx context.Context, cli dockerAPI, ref string, p *plan) error {
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(p.write(pw)) }()
	defer pr.Close()
	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := cli.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, ref,
		client.ImageImportOptions{Changes: p.changes, Message: "gatelab harness/deps: built from host files"})
	if err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	defer resp.Close()
	if err := jsonStreamError(resp); err != nil {
		return fmt.Errorf("docker import: %w", err)
	}
	return nil
}

// imageSum is the LabelImageSum of image ref, "" if it has none or does not
// exist.
func imageSum(ctx context.Context, cli dockerAPI, ref string) string {
	res, err := cli.ImageInspect(ctx, ref)
	if err != nil || res.Config == nil {
		return ""
	}
	return res.Config.Labels[LabelImageSum]
}

// imageID is the ID of image ref, "" if it does not exist.
func imageID(ctx context.Context, cli dockerAPI, ref string) string {
	res, err := cli.ImageInspect(ctx, ref)
	if err != nil {
		return ""
	}
	return res.ID
}

// jsonStreamError reads a Docker progress stream to its end and returns the
// first error it reports.
func jsonStreamError(r io.Reader) error {
	dec := json.NewDecoder(r)
	for {
		var m struct {
			Error       string `json:"error"`
			ErrorDetail *struct {
				Message string `json:"message"`
			} `json:"errorDetail"`
		}
		if err := dec.Decode(&m); err != nil {
			if errors.Is(err, io.EOF) {
				return nil
			}
			return err
		}
		if m.ErrorDetail != nil && m.ErrorDetail.Message != "" {
			return errors.New(m.ErrorDetail.Message)
		}
		if m.Error != "" {
			return errors.New(m.Error)
		}
	}
}
