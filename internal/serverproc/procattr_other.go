//go:build !linux

package serverproc

import "os/exec"

// SetProcAttr: only Linux has a parent-death signal; elsewhere a server the
// test binary leaves behind (killed before its cleanup) keeps running.
func SetProcAttr(cmd *exec.Cmd) {}
