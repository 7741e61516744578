package node

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"

	"github.com/gatelab/gatelab/gateway/config"
	"github.com/gatelab/gatelab/gateway/control"
)

// Sources says where a node's config comes from.
type Sources struct {
	// File is the config file: the source when Etcd is empty, else the
	// bootstrap used only when etcd has nothing and there is no last-good
	// snapshot. Relative paths in every config resolve against its
	// directory.
	File string
	// Watch applies the file when it is saved (file source only).
	Watch bool
	// Etcd endpoints; empty: the file is the source.
	Etcd []string
	// EtcdPrefix is the key prefix (P/config, P/meta); default /gatelab.
	EtcdPrefix string
	// StateDir keeps the last good snapshot; "" none.
	StateDir string
	// StartupTimeout bounds the first etcd read (default 3s).
	StartupTimeout time.Duration
}

// Startup is the config a node starts with and where it came from.
type Startup struct {
	Raw    []byte
	Config *config.Config
	From   string // "file", "etcd" or "last-good"
}

// LoadStartup picks the startup config. With etcd: the published config;
// if etcd is unreachable or empty, the last good snapshot; then the file.
// With the file as source: the file; if it is unreadable or invalid, the
// last good snapshot (with a warning), else the file's problems. Every
// candidate is validated whole; logger reports each fallback.
func LoadStartup(src Sources, logger *slog.Logger) (*Startup, error) {
	if logger == nil {
		logger = slog.Default()
	}
	baseDir := filepath.Dir(src.File)
	parse := func(raw []byte, name string, version int64, from string) (*Startup, error) {
		cfg, err := config.Parse(raw, name, baseDir)
		if err != nil {
			return nil, err
		}
		if cfg.Version == 0 {
			cfg.Version = version
		}
		return &Startup{Raw: raw, Config: cfg, From: from}, nil
	}
	lastGood := func() (*Startup, error) {
		if src.StateDir == "" {
			return nil, errors.New("no state dir")
		}
		v, raw, err := control.LoadLastGoodVersion(src.StateDir)
		if err != nil {
			return nil, err
		}
		return parse(raw, "last-good", v, "last-good")
	}
	file := func() (*Startup, error) {
		raw, err := os.ReadFile(src.File)
		if err != nil {
			return nil, config.Problems{{File: src.File, Msg: "cannot read config: " + err.Error()}}
		}
		return parse(raw, src.File, 0, "file")
	}

	if len(src.Etcd) > 0 {
		st, err := fetchEtcd(src)
		if err == nil {
			return st, nil
		}
		logger.Warn("config: etcd unavailable at startup; trying the last good snapshot", "error", err)
		if st, lerr := lastGood(); lerr == nil {
			logger.Warn("config: serving the last good snapshot until etcd answers", "version", st.Config.Version)
			return st, nil
		} else {
			logger.Warn("config: no last good snapshot; starting from the file until etcd answers", "file", src.File, "reason", lerr)
		}
		return file()
	}
	st, err := file()
	if err == nil {
		return st, nil
	}
	if lg, lerr := lastGood(); lerr == nil {
		logger.Warn("config: file unusable; serving the last good snapshot", "file", src.File, "version", lg.Config.Version, "error", err)
		return lg, nil
	}
	return nil, err
}

func fetchEtcd(src Sources) (*Startup, error) {
	cli, err := newEtcdClient(src.Etcd)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	timeout := src.StartupTimeout
	if timeout <= 0 {
		timeout = 3 * time.Second
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	raw, version, _, err := control.Fetch(ctx, cli, prefixOf(src))
	if err != nil {
		return nil, err
	}
	cfg, err := config.Parse(raw, prefixOf(src)+"/config", filepath.Dir(src.File))
	if err != nil {
		return nil, fmt.Errorf("published config is invalid: %w", err)
	}
	if cfg.Version == 0 {
		cfg.Version = version
	}
	return &Startup{Raw: raw, Config: cfg, From: "etcd"}, nil
}

func prefixOf(src Sources) string {
	if src.EtcdPrefix == "" {
		return "/gatelab"
	}
	return src.EtcdPrefix
}

func newEtcdClient(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{
		Endpoints:   endpoints,
		DialTimeout: 2 * time.Second,
		// The client's own retry chatter stays off the node's stderr; the
		// watch reports outages itself.
		Logger: zap.NewNop(),
	})
}

// Control is a running node's control plane: the config manager, its
// sources and the admin API.
type Control struct {
	Manager *control.Manager
	cancel  context.CancelFunc
	done    chan struct{}
	audit   io.Closer
	etcd    *clientv3.Client
	// fromEtcd: the config comes from etcd; the file is not a source.
	fromEtcd bool
}

// StartControl runs the control plane of n, which was started from st:
// the manager adopts st, the admin API (GET/PUT /config, POST
// /config/validate, POST /drain) goes on the admin listener, and the
// source (file watch or etcd watch) starts.
func (n *Node) StartControl(st *Startup, src Sources, logger *slog.Logger) (*Control, error) {
	if logger == nil {
		logger = slog.Default()
	}
	n.warnf = func(format string, args ...any) { logger.Warn(fmt.Sprintf(format, args...)) }
	// A file served only because etcd had nothing at startup is a
	// bootstrap: etcd's first version replaces it, whatever its number, and
	// it is never saved as last-good.
	bootstrap := len(src.Etcd) > 0 && st.From == "file"
	n.bootstrap.Store(bootstrap)
	st.Config.Version = n.Version()
	auditW, auditC, err := openLog(st.Config.Admin.AuditLog)
	if err != nil {
		return nil, fmt.Errorf("admin audit log: %w", err)
	}
	metrics := n.Gateway.Metrics()
	m := control.New(control.Options{
		Target:   n,
		BaseDir:  filepath.Dir(src.File),
		StateDir: src.StateDir,
		Audit:    auditW,
		Logger:   logger,
		// The manager counts refusals and applies (with their propagation);
		// the gateway counts the outcome of each Apply.
		Metrics: metrics,
		Applied: func(ev control.Applied) {
			attrs := []any{"version", ev.Version, "source", ev.Source, "previous", ev.From}
			if ev.Propagation >= 0 {
				attrs = append(attrs, "propagation_us", ev.Propagation.Microseconds())
			}
			logger.Info("config: now serving", attrs...)
		},
	})
	m.Adopt(st.Raw, st.Config, st.From, !bootstrap)
	metrics.ConfigApplied(control.SourceStartup, -1)

	ctx, cancel := context.WithCancel(context.Background())
	c := &Control{Manager: m, cancel: cancel, done: make(chan struct{}), audit: auditC, fromEtcd: len(src.Etcd) > 0}
	switch {
	case len(src.Etcd) > 0:
		cli, err := newEtcdClient(src.Etcd)
		if err != nil {
			cancel()
			return nil, err
		}
		c.etcd = cli
		// PUT /config on an etcd node publishes to etcd (compare-and-swap),
		// so every node gets the change from the one source.
		m.SetPublish(func(raw []byte, expected int64, actor string) (int64, error) {
			pctx, pcancel := context.WithTimeout(ctx, 5*time.Second)
			defer pcancel()
			return control.Publish(pctx, cli, prefixOf(src), raw, expected, actor)
		})
		go func() {
			defer close(c.done)
			m.WatchEtcd(ctx, cli, prefixOf(src))
		}()
	case src.Watch && src.File != "":
		go func() {
			defer close(c.done)
			if err := m.WatchFile(ctx, src.File); err != nil {
				logger.Error("config: not watching the file", "file", src.File, "error", err)
			}
		}()
	default:
		close(c.done)
	}
	// The admin API goes up last, once its publisher (etcd) is set.
	api := m.Handler()
	n.HandleAdmin("/config", api)
	n.HandleAdmin("/config/", api)
	n.HandleAdmin("POST /drain", m.Authenticate(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		logger.Info("drain requested through the admin API", "actor", control.Actor(r))
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		io.WriteString(w, `{"status":"draining"}`)
		n.RequestDrain()
	})))

	return c, nil
}

// ErrNotFileSource is SubmitFile's answer on a node whose config comes
// from etcd.
var ErrNotFileSource = errors.New("the config comes from etcd: publish the change there (or PUT /config); the file is only a bootstrap")

// SubmitFile re-reads the config file and submits it (SIGHUP).
func (c *Control) SubmitFile(path string) (control.Result, error) {
	asked := time.Now() // propagation counts from the signal
	if c.fromEtcd {
		return control.Result{}, ErrNotFileSource
	}
	raw, err := os.ReadFile(path)
	if err != nil {
		return control.Result{}, err
	}
	return c.Manager.Submit(raw, control.Submission{Source: control.SourceFile, Actor: "sighup", Name: path, PublishedAt: asked})
}

// Stop ends the sources' watches and closes the audit log.
func (c *Control) Stop() {
	c.cancel()
	<-c.done
	if c.etcd != nil {
		c.etcd.Close()
	}
	if c.audit != nil {
		c.audit.Close()
	}
}
