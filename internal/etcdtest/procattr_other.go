//go:build !linux

package etcdtest

import "os/exec"

// setProcAttr: only Linux has a parent-death signal; elsewhere a server the
// test binary leaves behind (killed before its cleanup) keeps running.
func setProcAttr(cmd *exec.Cmd) {}
