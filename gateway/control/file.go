package control

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
)

// fileDebounce is how long the config file's directory must be quiet
// before the file is read again: an editor's save is several events.
const fileDebounce = 50 * time.Millisecond

// WatchFile keeps the node on the config file at path. It watches the
// file's directory (editors save by renaming a new file over the old one;
// Kubernetes swaps a "..data" symlink), waits until the events stop for a
// moment, re-reads the file and, if its bytes changed since the last read,
// submits it (Source "file", Actor and problem file name: path). An invalid
// file is logged and audited, and the served snapshot keeps serving.
//
// On start it reads the file once and submits it unless it is exactly the
// served YAML (the node usually started from it). An empty file is
// ignored: it is far more likely a save in progress than a wish to serve
// no routes. WatchFile returns nil when
// ctx ends, or an error if the directory cannot be watched.
func (m *Manager) WatchFile(ctx context.Context, path string) error {
	abs, err := filepath.Abs(path)
	if err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}
	dir, base := filepath.Dir(abs), filepath.Base(abs)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		return fmt.Errorf("watching %s: %w", path, err)
	}
	defer w.Close()
	if err := w.Add(dir); err != nil {
		return fmt.Errorf("watching %s: %w", dir, err)
	}

	var last []byte // the file's bytes at the last read; nil before the first
	reload := func() {
		data, err := os.ReadFile(abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				m.opts.Logf("control: config file %s is missing; the served config keeps serving", path)
			} else {
				m.opts.Logf("control: reading config file %s: %v; the served config keeps serving", path, err)
			}
			return
		}
		if len(bytes.TrimSpace(data)) == 0 {
			// A valid (empty) config, but far more likely a save in
			// progress (truncated, not yet written): wait for the next
			// event.
			m.opts.Logf("control: config file %s is empty; ignored, the served config keeps serving", path)
			return
		}
		first := last == nil
		if !first && bytes.Equal(data, last) {
			m.opts.Logf("control: config file %s unchanged; nothing to submit", path)
			return
		}
		last = data
		if first {
			if _, served := m.Current(); served != nil && bytes.Equal(served, data) {
				return
			}
		}
		res, err := m.Submit(data, Submission{Source: SourceFile, Actor: path, Name: path})
		switch {
		case err != nil:
			m.opts.Logf("control: config file %s not applied (%s); version %d keeps serving:\n%v", path, res.Outcome, res.Version, err)
		case res.Outcome == OutcomeApplied:
			m.opts.Logf("control: config file %s applied as version %d (was %d)", path, res.Version, res.Previous)
		}
	}
	reload()

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watching %s: the watcher stopped", dir)
			}
			if name := filepath.Base(ev.Name); name == base || strings.HasPrefix(name, "..") {
				debounce.Reset(fileDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watching %s: the watcher stopped", dir)
			}
			// An overflow loses events: read the file anyway.
			m.opts.Logf("control: watching %s: %v", dir, err)
			debounce.Reset(fileDebounce)
		case <-debounce.C:
			reload()
		}
	}
}
