//go:build unix

package deps

import (
	"os"
	"path/filepath"
	"syscall"
)

// lockMachine takes a lock shared by every process on this machine (test
// binaries of several packages, a lab run) so that one of them builds an
// image and the others then find it. Without a lock file it does nothing.
func lockMachine(name string) (unlock func()) {
	f, err := os.OpenFile(filepath.Join(os.TempDir(), name), os.O_CREATE|os.O_RDWR, 0o666)
	if err != nil {
		return func() {}
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX); err != nil {
		f.Close()
		return func() {}
	}
	return func() {
		syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}
}
