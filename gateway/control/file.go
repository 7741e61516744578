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
// ignored (logged, not submitted, not counted as a refusal): it is far more
// likely a save in progress than a wish to serve no routes. A submission's
// PublishedAt is the first file system event of the save, so propagation
// counts the debounce too. WatchFile returns nil when
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
	// reload reads and submits the file; savedAt is when the save was first
	// seen (the first event of the burst), zero for the startup read.
	reload := func(savedAt time.Time) {
		data, err := os.ReadFile(abs)
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) {
				m.opts.Logger.Warn("config file is missing; the served config keeps serving", "file", path)
			} else {
				m.opts.Logger.Warn("config file unreadable; the served config keeps serving", "file", path, "error", err)
			}
			return
		}
		if len(bytes.TrimSpace(data)) == 0 {
			// config.Parse would refuse it ("config is empty"), but it is
			// far more likely a save in progress (truncated, not yet
			// written) than a mistake: wait for the next event, without
			// an audit entry or a failed-reload count.
			m.opts.Logger.Warn("config file is empty; ignored, the served config keeps serving", "file", path)
			return
		}
		first := last == nil
		if !first && bytes.Equal(data, last) {
			m.opts.Logger.Info("config file unchanged; nothing to submit", "file", path)
			return
		}
		last = data
		if first {
			if _, served := m.Current(); served != nil && bytes.Equal(served, data) {
				return
			}
		}
		res, err := m.Submit(data, Submission{Source: SourceFile, Actor: path, Name: path, PublishedAt: savedAt})
		switch {
		case err != nil:
			m.opts.Logger.Warn("config file not applied; the served config keeps serving", "file", path, "outcome", res.Outcome, "serving", res.Version, "error", err)
		case res.Outcome == OutcomeApplied:
			m.opts.Logger.Debug("config file applied", "file", path, "version", res.Version, "previous", res.Previous)
		}
	}
	reload(time.Time{})

	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	var burst time.Time // the first event since the last read; zero: none
	for {
		select {
		case <-ctx.Done():
			return nil
		case ev, ok := <-w.Events:
			if !ok {
				return fmt.Errorf("watching %s: the watcher stopped", dir)
			}
			if name := filepath.Base(ev.Name); name == base || strings.HasPrefix(name, "..") {
				if burst.IsZero() {
					burst = m.opts.Now()
				}
				debounce.Reset(fileDebounce)
			}
		case err, ok := <-w.Errors:
			if !ok {
				return fmt.Errorf("watching %s: the watcher stopped", dir)
			}
			// An overflow loses events: read the file anyway.
			m.opts.Logger.Error("config file: not watching its directory", "dir", dir, "error", err)
			if burst.IsZero() {
				burst = m.opts.Now()
			}
			debounce.Reset(fileDebounce)
		case <-debounce.C:
			at := burst
			burst = time.Time{}
			reload(at)
		}
	}
}
