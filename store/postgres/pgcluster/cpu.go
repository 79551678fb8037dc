package pgcluster

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The CPU time the cluster's processes used, read from /proc.

// CPU is the processor time the server's processes have used so far: the
// postmaster's own, its ended children's (the sessions), and its running
// children's, so that the difference of two readings counts every
// session whether it ended in between or not.
func (c *Cluster) CPU() time.Duration {
	if c.cmd == nil {
		return 0
	}
	pid := c.cmd.Process.Pid
	ticks := procTicks(pid, true)
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	for _, stat := range stats {
		if parent(stat) == pid {
			ticks += procTicks(pidOf(stat), false)
		}
	}
	return time.Duration(ticks) * time.Second / clockTicks
}

// statFields are the fields of /proc/PID/stat after the command's closing
// parenthesis: state is [0], the parent [1], utime..cstime [11..14].
func statFields(path string) []string {
	stat, err := os.ReadFile(path)
	if err != nil {
		return nil
	}
	return strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
}

func parent(statPath string) int {
	f := statFields(statPath)
	if len(f) < 2 {
		return 0
	}
	n, _ := strconv.Atoi(f[1])
	return n
}

func pidOf(statPath string) int {
	n, _ := strconv.Atoi(filepath.Base(filepath.Dir(statPath)))
	return n
}

// procTicks is a process's user and system time in clock ticks, and its
// ended children's too when withChildren.
func procTicks(pid int, withChildren bool) int64 {
	f := statFields(fmt.Sprintf("/proc/%d/stat", pid))
	if len(f) < 15 {
		return 0
	}
	last := 13
	if withChildren {
		last = 15
	}
	var ticks int64
	for _, v := range f[11:last] {
		n, _ := strconv.ParseInt(v, 10, 64)
		ticks += n
	}
	return ticks
}

// clockTicks is the kernel's USER_HZ, the unit of /proc's CPU times (100 on
// every Linux that Go runs on).
const clockTicks = 100
