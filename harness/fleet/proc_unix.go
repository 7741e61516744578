//go:build unix && !linux

package fleet

import (
	"fmt"
	"syscall"
)

func sysProcAttr() *syscall.SysProcAttr { return &syscall.SysProcAttr{Setpgid: true} }

func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return fmt.Errorf("signalling process group %d: invalid id", pgid)
	}
	return syscall.Kill(-pgid, sig)
}
