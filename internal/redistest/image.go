package redistest

import (
	"archive/tar"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"github.com/moby/moby/client"
	"github.com/testcontainers/testcontainers-go"
)

// localImageChanges are the Dockerfile instructions applied on import.
var localImageChanges = []string{
	`ENTRYPOINT ["/usr/bin/redis-server"]`,
	`CMD ["--port", "6379", "--protected-mode", "no", "--save", "", "--appendonly", "no"]`,
	`EXPOSE 6379`,
	`WORKDIR /tmp`,
	`LABEL org.gatelab.redistest.image="host redis-server"`,
}

// buildLocalImage imports LocalImage from a root filesystem holding the
// host's redis-server and its shared libraries. It returns the binary used.
func buildLocalImage(ctx context.Context, cli *testcontainers.DockerClient) (string, error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", fmt.Errorf("no redis-server on PATH to build it from: %w", err)
	}
	bin, err = filepath.Abs(bin)
	if err != nil {
		return "", err
	}
	libs, err := sharedLibraries(bin)
	if err != nil {
		return "", err
	}
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(writeRootFS(pw, bin, libs)) }()
	defer pr.Close()

	ctx, cancel := context.WithTimeout(ctx, 5*time.Minute)
	defer cancel()
	resp, err := cli.ImageImport(ctx, client.ImageImportSource{Source: pr, SourceName: "-"}, LocalImage,
		client.ImageImportOptions{Changes: localImageChanges, Message: "gatelab redistest: host redis-server"})
	if err != nil {
		return "", fmt.Errorf("docker import: %w", err)
	}
	defer resp.Close()
	if err := jsonStreamError(resp); err != nil {
		return "", fmt.Errorf("docker import: %w", err)
	}
	if !imageExists(ctx, cli, LocalImage) {
		return "", fmt.Errorf("docker import reported success but %s does not exist", LocalImage)
	}
	return bin, nil
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

// sharedLibraries lists the absolute paths `ldd bin` prints: every library
// and the dynamic loader.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	if err != nil {
		return nil, fmt.Errorf("ldd %s: %v: %s", bin, err, out)
	}
	var libs []string
	for _, line := range strings.Split(string(out), "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("ldd %s: %s", bin, line)
		}
		path := line
		if _, after, ok := strings.Cut(line, "=> "); ok {
			path = after
		}
		path, _, _ = strings.Cut(path, " (")
		path = strings.TrimSpace(path)
		if strings.HasPrefix(path, "/") { // linux-vdso has no file
			libs = append(libs, path)
		}
	}
	if len(libs) == 0 {
		return nil, fmt.Errorf("ldd %s listed no libraries: is it statically linked? %s", bin, out)
	}
	return libs, nil
}

// writeRootFS writes the image's root filesystem as a tar stream: the binary
// at /usr/bin/redis-server, each library at its path (directories that are
// symbolic links on the host, such as /lib -> usr/lib, become the same links),
// /etc/passwd, /etc/group and /tmp.
func writeRootFS(w io.Writer, bin string, libs []string) error {
	tb := &tarBuilder{tw: tar.NewWriter(w), seen: map[string]bool{}}
	if err := tb.fileFrom("/usr/bin/redis-server", bin, 0o755); err != nil {
		return err
	}
	for _, lib := range libs {
		if err := tb.fileFrom(lib, lib, 0o755); err != nil {
			return err
		}
	}
	if err := tb.fileData("/etc/passwd", "root:x:0:0:root:/root:/usr/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n"); err != nil {
		return err
	}
	if err := tb.fileData("/etc/group", "root:x:0:\nnogroup:x:65534:\n"); err != nil {
		return err
	}
	if err := tb.dirEntry("/tmp", 0o1777); err != nil {
		return err
	}
	return tb.tw.Close()
}

type tarBuilder struct {
	tw   *tar.Writer
	seen map[string]bool
}

func tarName(p string) string { return strings.TrimPrefix(p, "/") }

func (b *tarBuilder) dirEntry(p string, mode int64) error {
	if b.seen[p] {
		return nil
	}
	b.seen[p] = true
	return b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: tarName(p) + "/", Mode: mode, ModTime: time.Unix(0, 0)})
}

// dir makes directory p (as the host resolves it) exist in the archive and
// returns its real path: a component that is a symbolic link on the host is
// written as the same link, and its target is made to exist too.
func (b *tarBuilder) dir(p string, depth int) (string, error) {
	if p == "/" {
		return "/", nil
	}
	if depth > 40 {
		return "", fmt.Errorf("too many symbolic links resolving %s", p)
	}
	parent, err := b.dir(filepath.Dir(p), depth+1)
	if err != nil {
		return "", err
	}
	here := filepath.Join(parent, filepath.Base(p))
	fi, err := os.Lstat(here)
	if err != nil {
		return "", err
	}
	if fi.Mode()&os.ModeSymlink != 0 {
		target, err := os.Readlink(here)
		if err != nil {
			return "", err
		}
		if !b.seen[here] {
			b.seen[here] = true
			if err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: tarName(here), Linkname: target, Mode: 0o777, ModTime: time.Unix(0, 0)}); err != nil {
				return "", err
			}
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(parent, target)
		}
		return b.dir(filepath.Clean(target), depth+1)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("%s is not a directory", here)
	}
	return here, b.dirEntry(here, 0o755)
}

// fileFrom writes a regular file at path p (its directory resolved as on the
// host) with the content of host file src, following symbolic links.
func (b *tarBuilder) fileFrom(p, src string, mode int64) error {
	d, err := b.dir(filepath.Dir(p), 0)
	if err != nil {
		return err
	}
	name := filepath.Join(d, filepath.Base(p))
	if b.seen[name] {
		return nil
	}
	b.seen[name] = true
	f, err := os.Open(src)
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: tarName(name), Size: fi.Size(), Mode: mode, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err = io.Copy(b.tw, f)
	return err
}

func (b *tarBuilder) fileData(p, data string) error {
	d, err := b.dirOwn(filepath.Dir(p))
	if err != nil {
		return err
	}
	name := filepath.Join(d, filepath.Base(p))
	b.seen[name] = true
	if err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: tarName(name), Size: int64(len(data)), Mode: 0o644, ModTime: time.Unix(0, 0)}); err != nil {
		return err
	}
	_, err = io.WriteString(b.tw, data)
	return err
}

// dirOwn makes directory p and its parents exist as plain directories (for
// the image's own files, which have nothing to do with the host's layout).
func (b *tarBuilder) dirOwn(p string) (string, error) {
	if p == "/" {
		return "/", nil
	}
	if _, err := b.dirOwn(filepath.Dir(p)); err != nil {
		return "", err
	}
	return p, b.dirEntry(p, 0o755)
}
