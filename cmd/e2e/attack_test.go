package e2e

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// The attacks of a hostile peer on loopback, each against the real central
// while real agencies play a round: what must hold is that every agency
// finishes with its winners and every bet is stored exactly once.

// procStatus reads a field of /proc/PID/status, in KiB for memory fields.
func procStatus(t *testing.T, pid int, field string) int {
	t.Helper()
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, _ := strconv.Atoi(strings.Fields(v)[0])
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// openFiles counts the file descriptors a process holds.
func openFiles(pid int) int {
	entries, _ := os.ReadDir(fmt.Sprintf("/proc/%d/fd", pid))
	return len(entries)
}

// waitUntil polls cond until it holds or bound passes; it watches another
// process, which offers nothing to wait on.
func waitUntil(t *testing.T, bound time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(bound)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, bound)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestTenThousandIdleConnectionsCostTheCentralLittleMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: opens 10,000 connections")
	}
	dir := t.TempDir()
	// Memory is measured without the race detector, which multiplies it.
	plain, err := proctest.BuildPlain("../..", dir, "server")
	if err != nil {
		t.Fatal(err)
	}
	server, addr := proctest.StartServer(t, plain["server"], dir, "SERVER_LISTEN_BACKLOG=1024")
	pid := server.Cmd.Process.Pid
	before := procStatus(t, pid, "VmRSS")
	filesBefore := openFiles(pid)
	const n = 10000
	conns := make([]net.Conn, 0, n)
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range n {
		c, err := net.DialTimeout("tcp", addr, 5*time.Second)
		if err != nil {
			t.Fatalf("connection %d: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	waitUntil(t, time.Minute, "the central accepting every connection", func() bool { return openFiles(pid)-filesBefore >= n })
	after := procStatus(t, pid, "VmRSS")
	perConn := float64(after-before) / n
	t.Logf("%d idle connections: central RSS %d KiB -> %d KiB, %.1f KiB each, %d threads", n, before, after, perConn, procStatus(t, pid, "Threads"))
	if after > 150*1024 {
		t.Fatalf("the central holds %d KiB for %d idle connections, want under 150 MiB", after, n)
	}
}

func TestAFloodOfSilentAndSlowPeersDoesNotKeepFiveAgenciesFromTheirRound(t *testing.T) {
	if testing.Short() {
		t.Skip("SKIP: -short: opens 20,000 connections")
	}
	r := newFaultRound(t, 2000, 3)
	server := proctest.Start(t, bins["server"], r.dir, "SERVER_IP=127.0.0.1", "SERVER_PORT="+r.port,
		"STORAGE_FILEPATH="+r.store, "SERVER_MAX_CONNECTIONS=500", "SERVER_FRAME_TIMEOUT=1s",
		// A central expecting floods takes a deeper accept queue: with the
		// course's 5, a fast dialer overruns it and the kernel drops SYNs
		// (about 50 connections a second get through here).
		"SERVER_LISTEN_BACKLOG=1024")
	server.WaitForLine(t, logattr.Listen, logattr.Success)
	r.servers = append(r.servers, server)

	stop := make(chan struct{})
	var flood sync.WaitGroup
	var opened, slowCut atomic.Int64
	started := make(chan struct{})
	var startedOnce sync.Once
	// Silent sockets from four dialers, as fast as they connect, 20,000 in
	// all; at most 2,000 held open here at a time, to stay within this
	// process's files. The agencies start once the first 2,000 are in.
	for range 4 {
		flood.Go(func() {
			defer startedOnce.Do(func() { close(started) })
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for opened.Load() < 20000 {
				select {
				case <-stop:
					return
				default:
				}
				c, err := net.DialTimeout("tcp", r.addr(), time.Second)
				if err != nil {
					continue
				}
				if opened.Add(1) == 2000 {
					startedOnce.Do(func() { close(started) })
				}
				if held = append(held, c); len(held) > 500 {
					held[0].Close()
					held = held[1:]
				}
			}
		})
	}
	// Peers that never read their replies, and one dripping a header.
	for range 10 {
		flood.Go(func() {
			c, err := net.Dial("tcp", r.addr())
			if err != nil {
				return
			}
			defer c.Close()
			frame, _ := protocol.AppendEcho(nil, 0, make([]byte, protocol.MaxEchoPayload))
			c.SetWriteDeadline(time.Now().Add(time.Minute))
			for {
				if _, err := c.Write(frame); err != nil {
					slowCut.Add(1)
					return
				}
			}
		})
	}
	flood.Go(func() {
		c, err := net.Dial("tcp", r.addr())
		if err != nil {
			return
		}
		defer c.Close()
		for _, b := range protocol.AppendEnd(nil, 1) {
			select {
			case <-stop:
				return
			case <-time.After(900 * time.Millisecond):
			}
			if _, err := c.Write([]byte{b}); err != nil {
				return
			}
		}
	})

	<-started
	before := opened.Load()
	for i := 1; i <= 5; i++ {
		r.startClient(i, r.addr())
	}
	for i := 1; i <= 5; i++ {
		r.clients[i].Wait(t, 2*time.Minute)
	}
	during := opened.Load() - before
	// The flood goes on to its 20,000 before the round is checked (which
	// stops the central).
	done := make(chan struct{})
	go func() { flood.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(3 * time.Minute):
	}
	close(stop)
	<-done
	r.check()
	t.Logf("flood: %d silent connections before the agencies started, %d while they played, %d in all; %d of 10 never-reading peers cut off",
		before, during, opened.Load(), slowCut.Load())
	if before < 2000 || opened.Load() < 20000 {
		t.Errorf("the flood opened %d connections (%d before the round), want 20,000 (2,000 before)", opened.Load(), before)
	}
	if slowCut.Load() != 10 {
		t.Errorf("%d of 10 peers that never read their replies were cut off", slowCut.Load())
	}
	if !strings.Contains(server.Log(), "action: connection_limit") {
		t.Error("the connection limit was never reached")
	}
}

func TestADiskFullRoundResumedOnALargerDiskStoresEveryBetExactlyOnce(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("SKIP: mounting a small tmpfs needs root")
	}
	r := newFaultRound(t, 1500, 2)
	disk := filepath.Join(r.dir, "disk")
	os.Mkdir(disk, 0o755)
	if out, err := exec.Command("mount", "-t", "tmpfs", "-o", "size=24k", "tmpfs", disk).CombinedOutput(); err != nil {
		t.Skipf("SKIP: cannot mount a tmpfs here: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command("umount", "-l", disk).Run() })
	r.store = filepath.Join(disk, "bets.csv")
	server := proctest.Start(t, bins["server"], r.dir, "SERVER_IP=127.0.0.1", "SERVER_PORT="+r.port, "STORAGE_FILEPATH="+r.store)
	server.WaitForLine(t, logattr.Listen, logattr.Success)
	r.servers = append(r.servers, server)
	for i := 1; i <= 5; i++ {
		r.startClient(i, r.addr())
	}
	// 7,500 rows of about 45 bytes do not fit in 24 KiB: batches fail. The
	// agencies keep coming back to the full disk a while, and each time a
	// smaller group may fit where a larger one did not: the chance, before
	// streams, to store a batch after a refused one.
	server.WaitForN(t, `action: apuesta_recibida \| result: fail .*no space left on device`, 40)
	if out, err := exec.Command("mount", "-o", "remount,size=20m", disk).CombinedOutput(); err != nil {
		t.Fatalf("growing the disk: %v %s", err, out)
	}
	r.check()
	refused := strings.Count(server.Log(), "code: -8")
	t.Logf("%d refusals with -8 before the disk grew", refused)
	if refused == 0 {
		t.Fatal("no batch was refused: the disk was never full")
	}
}
