package fleet

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// pfExiting is the kernel's PF_EXITING task flag: the task is past the point
// of no return in exit (set before its files are closed).
const pfExiting = 0x4

// userHZ is the unit of the times in /proc/PID/stat (USER_HZ, 100 on every
// Linux architecture's user ABI).
const userHZ = 100

// maxTree bounds the walk over a process's descendants.
const maxTree = 100000

// sysProcAttr puts the child in its own process group and has the kernel
// SIGKILL it if the thread that started it (and so this process) dies.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}

// signalGroup sends sig to the process group pgid.
func signalGroup(pgid int, sig syscall.Signal) error {
	if pgid <= 0 {
		return fmt.Errorf("signalling process group %d: invalid id", pgid)
	}
	return syscall.Kill(-pgid, sig)
}

// procStat is what fleet reads from /proc/PID/stat.
type procStat struct {
	state                        byte
	ppid, pgrp                   int
	flags                        uint64 // PF_* of the (main) thread
	utime, stime, cutime, cstime uint64 // clock ticks
}

func readStat(path string) (procStat, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return procStat{}, err
	}
	return parseStat(b)
}

// parseStat parses "pid (comm) state ppid pgrp ...": comm may hold spaces
// and parentheses, so the fields start after the last ')'.
func parseStat(b []byte) (procStat, error) {
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("parsing /proc stat %q: no ')'", b)
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 15 {
		return procStat{}, fmt.Errorf("parsing /proc stat %q: %d fields after comm", b, len(f))
	}
	var s procStat
	s.state = f[0][0]
	ints := []*int{&s.ppid, &s.pgrp}
	for k, p := range ints {
		n, err := strconv.Atoi(f[1+k])
		if err != nil {
			return procStat{}, fmt.Errorf("parsing /proc stat field %d: %w", 4+k, err)
		}
		*p = n
	}
	flags, err := strconv.ParseUint(f[6], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("parsing /proc stat field 9: %w", err)
	}
	s.flags = flags
	times := []*uint64{&s.utime, &s.stime, &s.cutime, &s.cstime}
	for k, p := range times {
		n, err := strconv.ParseUint(f[11+k], 10, 64)
		if err != nil {
			return procStat{}, fmt.Errorf("parsing /proc stat field %d: %w", 14+k, err)
		}
		*p = n
	}
	return s, nil
}

func ticks(n uint64) time.Duration { return time.Duration(n) * (time.Second / userHZ) }

var childrenFiles = sync.OnceValue(func() bool {
	_, err := os.Stat("/proc/thread-self/children")
	return err == nil
})

// descendants returns root and every living descendant, root first; nil if
// root does not exist. It reads /proc/PID/task/TID/children where the kernel
// has them (CONFIG_PROC_CHILDREN), else the parent field of every
// /proc/PID/stat.
func descendants(root int) []int {
	if _, err := os.Stat("/proc/" + strconv.Itoa(root)); err != nil {
		return nil
	}
	kids := childrenOf
	if !childrenFiles() {
		tree := parentTree()
		kids = func(pid int) []int { return tree[pid] }
	}
	out := []int{root}
	seen := map[int]bool{root: true}
	for i := 0; i < len(out) && len(out) < maxTree; i++ {
		for _, c := range kids(out[i]) {
			if !seen[c] {
				seen[c] = true
				out = append(out, c)
			}
		}
	}
	return out
}

// childrenOf reads the children of every thread of pid.
func childrenOf(pid int) []int {
	dir := "/proc/" + strconv.Itoa(pid) + "/task"
	tids, err := os.ReadDir(dir)
	if err != nil {
		return nil
	}
	var out []int
	for _, t := range tids {
		b, err := os.ReadFile(dir + "/" + t.Name() + "/children")
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if n, err := strconv.Atoi(f); err == nil {
				out = append(out, n)
			}
		}
	}
	return out
}

// parentTree maps each process id to its children's, from /proc/*/stat.
func parentTree() map[int][]int {
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	tree := make(map[int][]int)
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		s, err := readStat("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue // exited meanwhile
		}
		tree[s.ppid] = append(tree[s.ppid], pid)
	}
	return tree
}

// sample reads one process's CPU and memory.
func sample(pid int) (Usage, error) {
	dir := "/proc/" + strconv.Itoa(pid)
	s, err := readStat(dir + "/stat")
	if err != nil {
		return Usage{}, err
	}
	b, err := os.ReadFile(dir + "/status")
	if err != nil {
		return Usage{}, err
	}
	u := Usage{CPU: ticks(s.utime + s.stime + s.cutime + s.cstime)}
	u.RSS = statusKB(b, "VmRSS:") << 10
	u.PeakRSS = statusKB(b, "VmHWM:") << 10
	return u, nil
}

// statusKB returns the value of a "Key:   123 kB" line of /proc/PID/status
// (0 if absent, as for kernel threads and zombies).
func statusKB(status []byte, key string) int64 {
	for l := range strings.SplitSeq(string(status), "\n") {
		v, ok := strings.CutPrefix(l, key)
		if !ok {
			continue
		}
		f := strings.Fields(v)
		if len(f) == 0 {
			return 0
		}
		n, _ := strconv.ParseInt(f[0], 10, 64)
		return n
	}
	return 0
}

// groupStopped reports whether every thread of the processes of group pgid
// (descendants of pgid in that group) is stopped (stop) or none is (!stop).
// Dead threads count as both.
func groupStopped(pgid int, stop bool) (bool, error) {
	for _, pid := range descendants(pgid) {
		dir := "/proc/" + strconv.Itoa(pid)
		s, err := readStat(dir + "/stat")
		if err != nil || s.pgrp != pgid {
			continue // gone, or left the group
		}
		tids, err := os.ReadDir(dir + "/task")
		if err != nil {
			continue
		}
		for _, t := range tids {
			ts, err := readStat(dir + "/task/" + t.Name() + "/stat")
			if err != nil {
				continue
			}
			switch ts.state {
			case 'Z', 'X', 'x':
			case 'T', 't':
				if !stop {
					return false, nil
				}
			default:
				if stop {
					return false, nil
				}
			}
		}
	}
	return true, nil
}

// exitUsage is the usage wait reported for an exited process: wait4's
// rusage covers the process and the descendants it reaped.
func exitUsage(ps *os.ProcessState) Usage {
	if ps == nil {
		return Usage{}
	}
	u := Usage{CPU: ps.UserTime() + ps.SystemTime()}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		u.PeakRSS = ru.Maxrss << 10 // kilobytes on Linux
	}
	return u
}
