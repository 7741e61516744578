//go:build !linux

package fleet

import (
	"errors"
	"os"
)

// Without Linux there is no parent-death signal and no /proc to read: the
// process still gets its own group where the platform has groups.

func descendants(root int) []int { return []int{root} }

func sample(pid int) (Usage, error) { return Usage{}, errors.ErrUnsupported }

func groupStopped(pgid int, stop bool) (bool, error) { return false, errors.ErrUnsupported }

func exitUsage(ps *os.ProcessState) Usage {
	if ps == nil {
		return Usage{}
	}
	return Usage{CPU: ps.UserTime() + ps.SystemTime()}
}
