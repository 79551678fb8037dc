package hacluster

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// A node's "machine" is every process that belongs to it: its Patroni
// (started by this package), the PostgreSQL server Patroni started (it
// detaches it into a session of its own, so it is no child of Patroni's
// and outlives it), that server's own children (each in a session of its
// own too), and whatever Patroni runs meanwhile (initdb, pg_basebackup,
// pg_rewind). No process group or session holds them all; what they share
// is the node's folder: Patroni's command line names its configuration
// there and the postmaster's its data folder, and every other one descends
// from those two.

// proc is a process as /proc shows it.
type proc struct {
	pid, ppid int
	state     byte   // R, S, D, T, Z…
	start     uint64 // start time in clock ticks since boot: a reused pid has another
	args      []string
}

// processes reads every process of the machine from /proc.
func processes() map[int]proc {
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	procs := make(map[int]proc, len(dirs))
	for _, dir := range dirs {
		pid, err := strconv.Atoi(filepath.Base(dir))
		if err != nil {
			continue
		}
		p, ok := readProc(pid)
		if !ok {
			continue
		}
		cmdline, _ := os.ReadFile(filepath.Join(dir, "cmdline"))
		p.args = strings.Split(strings.TrimRight(string(cmdline), "\x00"), "\x00")
		procs[pid] = p
	}
	return procs
}

// readProc reads a process's state, parent and start time; false when it
// is gone.
func readProc(pid int) (proc, bool) {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return proc{}, false
	}
	// The fields after the command's closing parenthesis: state [0],
	// parent [1], …, start time [19].
	f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	if len(f) < 20 {
		return proc{}, false
	}
	ppid, _ := strconv.Atoi(f[1])
	start, _ := strconv.ParseUint(f[19], 10, 64)
	return proc{pid: pid, ppid: ppid, state: f[0][0], start: start}, true
}

// mentions reports whether a command line names dir or something in it.
func mentions(args []string, dir string) bool {
	for _, a := range args {
		if a == dir || strings.Contains(a, dir+"/") {
			return true
		}
	}
	return false
}

// machine is the living processes of folder dir: those whose command line
// names it, those of also (already found), and all their descendants.
// This process and its ancestors are never among them.
func machine(dir string, also map[int]proc) map[int]proc {
	all := processes()
	mine := map[int]bool{}
	for pid := os.Getpid(); pid > 1 && !mine[pid]; pid = all[pid].ppid {
		mine[pid] = true
	}
	found := map[int]proc{}
	for pid, p := range all {
		_, known := also[pid]
		if (known && also[pid].start == p.start || mentions(p.args, dir)) && !mine[pid] && p.state != 'Z' {
			found[pid] = p
		}
	}
	for grew := true; grew; {
		grew = false
		for pid, p := range all {
			if _, ok := found[pid]; ok || mine[pid] || p.state == 'Z' {
				continue
			}
			if _, parent := found[p.ppid]; parent {
				found[pid] = p
				grew = true
			}
		}
	}
	return found
}

// killMachine stops every process of folder dir at once, as a machine
// that loses its power does: all are frozen first (freezeMachine), so
// that none forks or reacts while the others die, then all get SIGKILL.
// It returns them, for waitGone.
func killMachine(dir string) map[int]proc {
	stopped := freezeMachine(dir)
	for pid := range stopped {
		syscall.Kill(pid, syscall.SIGKILL)
	}
	return stopped
}

// freezeMachine stops every process of folder dir with SIGSTOP, looking
// again until no new one appears (one may have forked meanwhile), and
// leaves them so: a machine that stopped answering without closing a
// single connection. It returns them.
func freezeMachine(dir string) map[int]proc {
	stopped := map[int]proc{}
	for range 100 {
		added := false
		for pid, p := range machine(dir, stopped) {
			if _, ok := stopped[pid]; !ok {
				syscall.Kill(pid, syscall.SIGSTOP)
				stopped[pid] = p
				added = true
			}
		}
		if !added {
			break
		}
	}
	return stopped
}

// waitGone waits until every process of procs has exited (a zombie
// counts: it runs no more, and only its parent can reap it), or timeout.
func waitGone(procs map[int]proc, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		var alive []string
		for pid, p := range procs {
			if now, ok := readProc(pid); ok && now.start == p.start && now.state != 'Z' {
				alive = append(alive, describe(p))
			}
		}
		if len(alive) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			slices.Sort(alive)
			return fmt.Errorf("hacluster: still running %s after SIGKILL: %s", timeout, strings.Join(alive, "; "))
		}
		time.Sleep(pollEvery)
	}
}

// describe names a process for an error message.
func describe(p proc) string {
	cmd := strings.Join(p.args, " ")
	if len(cmd) > 120 {
		cmd = cmd[:120] + "…"
	}
	return fmt.Sprintf("pid %d (%s)", p.pid, cmd)
}

// ownerFile, in a cluster's folder, names the process that made it (pid
// and start time), so that a later Start can tell a cluster left behind by
// a process that died (a test binary killed by its timeout) from one in use.
const ownerFile = "owner"

func writeOwner(dir string) error {
	self, ok := readProc(os.Getpid())
	if !ok {
		return errors.New("hacluster: cannot read this process's own /proc entry")
	}
	return os.WriteFile(filepath.Join(dir, ownerFile), fmt.Appendf(nil, "%d %d\n", self.pid, self.start), 0o644)
}

// reapOrphans removes the clusters whose maker is gone, with every process
// still running in them: PostgreSQL outlives Patroni, so a test binary that
// died without Remove would leave servers running for good.
func reapOrphans() {
	dirs, _ := filepath.Glob(filepath.Join(os.TempDir(), dirPrefix+"*"))
	for _, dir := range dirs {
		owner, err := os.ReadFile(filepath.Join(dir, ownerFile))
		if err != nil {
			continue // being made, or not ours
		}
		var pid int
		var start uint64
		if _, err := fmt.Sscan(string(owner), &pid, &start); err != nil {
			continue
		}
		if p, ok := readProc(pid); ok && p.start == start {
			continue // its maker runs
		}
		if waitGone(killMachine(dir), killTimeout) == nil {
			os.RemoveAll(dir)
		}
	}
}
