package main

import (
	"fmt"
	"io"
	"runtime"
	"runtime/debug"
)

func init() {
	register("version", "print the version, source revision and Go version of this binary", cmdVersion)
}

// buildInfo is what a binary knows about its own build.
type buildInfo struct {
	Module   string // module path
	Version  string // module version: a tag, a pseudo-version or "(devel)"
	Revision string // vcs.revision; "" when built outside a checkout
	Time     string // vcs.time (the commit's time)
	Modified bool   // vcs.modified: the tree had uncommitted changes
	Go       string // the toolchain, e.g. go1.26.8
}

// readBuildInfo reads the build information the Go toolchain stamps into
// every binary built from a module.
func readBuildInfo() buildInfo {
	b := buildInfo{Version: "(unknown)", Go: runtime.Version()}
	bi, ok := debug.ReadBuildInfo()
	if !ok {
		return b
	}
	b.Module, b.Go = bi.Main.Path, bi.GoVersion
	if bi.Main.Version != "" {
		b.Version = bi.Main.Version
	}
	for _, s := range bi.Settings {
		switch s.Key {
		case "vcs.revision":
			b.Revision = s.Value
		case "vcs.time":
			b.Time = s.Value
		case "vcs.modified":
			b.Modified = s.Value == "true"
		}
	}
	return b
}

func cmdVersion(args []string, stdout, stderr io.Writer) error {
	f := newFlags("version", `usage: gatelab version
Prints this binary's module version, the source revision it was built from
(with "modified" when the checkout had uncommitted changes) and the Go
toolchain, as recorded by the Go toolchain at build time.
`)
	if err := f.parse(args, stdout); err != nil {
		return err
	}
	b := readBuildInfo()
	fmt.Fprintf(stdout, "gatelab %s\n", b.Version)
	if b.Module != "" {
		fmt.Fprintf(stdout, "  module    %s\n", b.Module)
	}
	switch {
	case b.Revision == "":
		fmt.Fprintln(stdout, "  revision  unknown (built outside a git checkout, or with -buildvcs=false)")
	case b.Modified:
		fmt.Fprintf(stdout, "  revision  %s (modified: uncommitted changes)\n", b.Revision)
	default:
		fmt.Fprintf(stdout, "  revision  %s\n", b.Revision)
	}
	if b.Time != "" {
		fmt.Fprintf(stdout, "  committed %s\n", b.Time)
	}
	fmt.Fprintf(stdout, "  go        %s %s/%s\n", b.Go, runtime.GOOS, runtime.GOARCH)
	return nil
}
