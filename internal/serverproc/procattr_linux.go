package serverproc

import (
	"os/exec"
	"syscall"
)

// SetProcAttr makes the kernel kill the server if the test binary dies
// without running its cleanup (a timeout panic, a kill).
func SetProcAttr(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
