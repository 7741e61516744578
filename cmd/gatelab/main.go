// Command gatelab is the reference gateway and its lab tools in one binary.
//
// Every subcommand follows the same command-line conventions: -h, -help or
// --help prints its help on stdout and exits 0; a usage error (an unknown
// flag, a bad value, a missing or extra argument) is printed once on stderr
// with a pointer to -h and exits 2; any other failure exits 1 (bench has its
// own codes). Defaults that name repository files resolve the same way in
// every subcommand (repoFile).
package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

// command is one subcommand. run gets the arguments after the subcommand name
// and returns nil, errHelpShown, a usageError, an exitCode, or an error to
// print.
type command struct {
	summary string
	run     func(args []string, stdout, stderr io.Writer) error
}

var commands = map[string]command{}

// register adds a subcommand; each command's file calls it from init().
func register(name, summary string, run func(args []string, stdout, stderr io.Writer) error) {
	if _, dup := commands[name]; dup {
		panic("gatelab: command registered twice: " + name)
	}
	commands[name] = command{summary: summary, run: run}
}

// exitCode is returned by a command that has already printed what went wrong
// and only needs the process to exit with a code.
type exitCode int

func (e exitCode) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

// errHelpShown is returned by a command that printed its help because it was
// asked to: exit 0.
var errHelpShown = errors.New("help shown")

// usageError is a problem with the command line. run prints it once, with a
// pointer to the command's help, and exits 2.
type usageError struct{ err error }

func (e usageError) Error() string { return e.err.Error() }
func (e usageError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return usageError{fmt.Errorf(format, args...)}
}

// flags is a subcommand's flag set with its help text. Parse errors are
// returned (and printed once by run), never printed by the flag package.
type flags struct {
	*flag.FlagSet
	intro string // printed by -h before the flags
}

// newFlags returns the flag set of subcommand name; intro opens its help
// (a usage line, then what the command does) and should end in a newline.
func newFlags(name, intro string) *flags {
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.Usage = func() {}
	return &flags{FlagSet: fs, intro: intro}
}

// parse parses args, which may hold no positional argument. -h, -help and
// --help print the help on stdout and give errHelpShown; a bad flag or an
// argument gives a usageError.
func (f *flags) parse(args []string, stdout io.Writer) error {
	err := f.Parse(args)
	if errors.Is(err, flag.ErrHelp) {
		f.printHelp(stdout)
		return errHelpShown
	}
	if err != nil {
		return usageError{err}
	}
	if f.NArg() > 0 {
		return usageErrorf("unexpected argument %q", f.Arg(0))
	}
	return nil
}

func (f *flags) printHelp(w io.Writer) {
	fmt.Fprint(w, f.intro)
	fmt.Fprintln(w, "\nFlags:")
	f.SetOutput(w)
	f.PrintDefaults()
	f.SetOutput(io.Discard)
}

// isSet reports whether the flag name was given on the command line.
func (f *flags) isSet(name string) bool {
	set := false
	f.Visit(func(fl *flag.Flag) { set = set || fl.Name == name })
	return set
}

// EnvRoot names the repository root that defaults under fixtures/ resolve
// against.
const EnvRoot = "GATELAB_ROOT"

// repoFile resolves rel, the default of a flag naming a file of this
// repository (fixtures/gateway.yaml, fixtures/keys/rsa.pem), the same way in
// every subcommand: under $GATELAB_ROOT when it is set, else in the nearest
// directory at or above the working directory that holds it, else rel as
// given (so the error names it).
func repoFile(rel string) string {
	if root := os.Getenv(EnvRoot); root != "" {
		return filepath.Join(root, rel)
	}
	if _, err := os.Stat(rel); err == nil {
		return rel
	}
	dir, err := os.Getwd()
	if err != nil {
		return rel
	}
	for {
		parent := filepath.Dir(dir)
		if parent == dir {
			return rel
		}
		dir = parent
		if p := filepath.Join(dir, rel); fileExists(p) {
			return p
		}
	}
}

func fileExists(p string) bool {
	_, err := os.Stat(p)
	return err == nil
}

// repoFileHelp is the sentence the help of such a flag ends with.
const repoFileHelp = "; relative to $" + EnvRoot + " if set, else found in the working directory or above"

func usage(w io.Writer) {
	fmt.Fprintln(w, "usage: gatelab <command> [flags]   (gatelab <command> -h: the command's flags)")
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-10s %s\n", n, commands[n].summary)
	}
}

func main() {
	os.Exit(run(os.Args[1:], os.Stdout, os.Stderr))
}

func run(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "-h", "-help", "--help":
		usage(stdout)
		return 0
	case "help":
		if len(args) == 1 {
			usage(stdout)
			return 0
		}
		if len(args) > 2 {
			fmt.Fprintf(stderr, "gatelab help: unexpected argument %q\n", args[2])
			return 2
		}
		return run([]string{args[1], "-h"}, stdout, stderr)
	case "-version", "--version":
		name, args = "version", []string{"version"}
	}
	c, ok := commands[name]
	if !ok {
		what := "command"
		if strings.HasPrefix(name, "-") {
			what = "flag"
		}
		fmt.Fprintf(stderr, "gatelab: unknown %s %q\n", what, name)
		usage(stderr)
		return 2
	}
	err := c.run(args[1:], stdout, stderr)
	var (
		code  exitCode
		usage usageError
	)
	switch {
	case err == nil, errors.Is(err, errHelpShown):
		return 0
	case errors.As(err, &usage):
		fmt.Fprintf(stderr, "gatelab %s: %v\nRun 'gatelab %s -h' for usage.\n", name, usage.err, name)
		return 2
	case errors.As(err, &code):
		return int(code)
	default:
		fmt.Fprintf(stderr, "gatelab %s: %v\n", name, err)
		return 1
	}
}
