package deps

import (
	"archive/tar"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// sharedLibraries returns the absolute paths `ldd bin` lists: every shared
// library and the dynamic loader. A statically linked binary has none.
func sharedLibraries(bin string) ([]string, error) {
	out, err := exec.Command("ldd", bin).CombinedOutput()
	text := string(out)
	if strings.Contains(text, "not a dynamic executable") || strings.Contains(text, "statically linked") {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("running ldd %s: %w: %s", bin, err, strings.TrimSpace(text))
	}
	var libs []string
	for _, line := range strings.Split(text, "\n") {
		line = strings.TrimSpace(line)
		if line == "" {
			continue
		}
		if strings.Contains(line, "not found") {
			return nil, fmt.Errorf("listing the libraries of %s: %s", bin, line)
		}
		path := line
		if _, after, ok := strings.Cut(line, "=> "); ok {
			path = after
		}
		path, _, _ = strings.Cut(path, " (")
		path = strings.TrimSpace(path)
		// linux-vdso and friends are in the kernel, not in a file.
		if strings.HasPrefix(path, "/") {
			libs = append(libs, path)
		}
	}
	return libs, nil
}

// rootEntry is one regular file of an image's root filesystem.
type rootEntry struct {
	path string // absolute path in the image
	from string // host file to copy ("" = data)
	data []byte
	mode int64
}

// tarWriter writes a root filesystem tar stream. Directories are made as on
// the host where the host has them: a directory that is a symbolic link on
// the host (say /lib -> usr/lib) becomes the same link, and its target is
// made too, so that paths ldd printed resolve in the image exactly as they
// do on the host. Directories the host lacks become plain directories.
type tarWriter struct {
	tw   *tar.Writer
	seen map[string]bool
}

func newTarWriter(w io.Writer) *tarWriter {
	return &tarWriter{tw: tar.NewWriter(w), seen: map[string]bool{}}
}

// epoch is every entry's modification time, so that the same inputs give
// the same archive.
var epoch = time.Unix(0, 0)

func tarName(p string) string { return strings.TrimPrefix(p, "/") }

func (b *tarWriter) close() error { return b.tw.Close() }

func (b *tarWriter) dirEntry(p string, mode int64) error {
	if b.seen[p] {
		return nil
	}
	b.seen[p] = true
	return b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: tarName(p) + "/", Mode: mode, ModTime: epoch})
}

// dir makes directory p exist in the archive and returns the path it
// resolves to there (see tarWriter).
func (b *tarWriter) dir(p string, depth int) (string, error) {
	if p == "/" {
		return "/", nil
	}
	if depth > 40 {
		return "", fmt.Errorf("resolving %s: too many symbolic links", p)
	}
	parent, err := b.dir(filepath.Dir(p), depth+1)
	if err != nil {
		return "", err
	}
	here := filepath.Join(parent, filepath.Base(p))
	fi, err := os.Lstat(here)
	if os.IsNotExist(err) {
		return here, b.dirEntry(here, 0o755)
	}
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
			if err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeSymlink, Name: tarName(here), Linkname: target, Mode: 0o777, ModTime: epoch}); err != nil {
				return "", err
			}
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(parent, target)
		}
		return b.dir(filepath.Clean(target), depth+1)
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("making directory %s in the image: it is a file on the host", here)
	}
	return here, b.dirEntry(here, 0o755)
}

// file writes one regular file; a path written before is skipped.
func (b *tarWriter) file(e rootEntry) error {
	d, err := b.dir(filepath.Dir(e.path), 0)
	if err != nil {
		return err
	}
	name := filepath.Join(d, filepath.Base(e.path))
	if b.seen[name] {
		return nil
	}
	b.seen[name] = true
	if e.from == "" {
		if err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: tarName(name), Size: int64(len(e.data)), Mode: e.mode, ModTime: epoch}); err != nil {
			return err
		}
		_, err := b.tw.Write(e.data)
		return err
	}
	f, err := os.Open(e.from) // follows symbolic links
	if err != nil {
		return err
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return err
	}
	if err := b.tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: tarName(name), Size: fi.Size(), Mode: e.mode, ModTime: epoch}); err != nil {
		return err
	}
	n, err := io.Copy(b.tw, f)
	if err == nil && n != fi.Size() {
		err = fmt.Errorf("copying %s: it changed size while being read", e.from)
	}
	return err
}
