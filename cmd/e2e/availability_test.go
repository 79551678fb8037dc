package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/lottery/logattr"
)

// Availability under a peer that holds what it can: every honest agency
// must still finish its round.

// playAgencies runs agencies 1..n of a round, each with a course-style file
// of 300 bets and winners on lines 3 and 50, and checks they all exit 0
// with their 2 winners.
func playAgencies(t *testing.T, dir string, n int, envOf func(id int, file string) []string) {
	t.Helper()
	var clients []*proctest.Process
	for i := 1; i <= n; i++ {
		file := filepath.Join(dir, fmt.Sprintf("agency-%d.csv", i))
		proctest.CourseFile(t, file, 300, 3, 50)
		clients = append(clients, proctest.Start(t, bins["client"], dir, envOf(i, file)...))
	}
	for i, c := range clients {
		if code, _ := c.Wait(t, 2*time.Minute); code != 0 || !strings.Contains(c.Log(), "cant_ganadores: 2") {
			t.Fatalf("agency %d exited %d:\n%s", i+1, code, c.Log())
		}
	}
}

func TestThousandsOfSilentConnectionsOfOneCertificateLockNoAgencyOut(t *testing.T) {
	t.Parallel()
	r := startTLSRound(t, 5, "SERVER_MAX_CONNECTIONS=100", "SERVER_LISTEN_BACKLOG=1024")
	cfg, err := tlsfiles.Client(r.cert("agency-2.crt"), r.cert("agency-2.key"), r.cert("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	// 2,000 handshakes with agency 2's certificate, each connection then
	// silent; at most 250 held by each of two dialers (this process's
	// files), far more than the central's bound of 100.
	var (
		mu     sync.Mutex
		made   int
		dialer sync.WaitGroup
		// flooded is done once both dialers have made their connections;
		// release lets them close what they hold.
		flooded sync.WaitGroup
		release = make(chan struct{})
	)
	flooded.Add(2)
	// A dial the central leaves unanswered waits out its 5 s: on a machine
	// busy enough for many of them, 1,000 dials would take over an hour;
	// the flood stops at a minute, however far it got.
	floodEnds := time.Now().Add(time.Minute)
	for range 2 {
		dialer.Go(func() {
			var held []net.Conn
			defer func() {
				for _, c := range held {
					c.Close()
				}
			}()
			for i := 0; i < 1000 && time.Now().Before(floodEnds); i++ {
				c, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.addr, cfg)
				if err != nil {
					continue // evicted before the handshake ended: fine
				}
				mu.Lock()
				made++
				mu.Unlock()
				if held = append(held, c); len(held) > 250 {
					held[0].Close()
					held = held[1:]
				}
			}
			flooded.Done()
			<-release // the agencies play while the last ones are held
		})
	}
	defer func() { close(release); dialer.Wait() }()
	flooded.Wait()
	t.Logf("%d silent connections with agency 2's certificate", made)
	if made < 200 {
		t.Fatalf("only %d connections with agency 2's certificate were made: too few to press on the central's bound of 100", made)
	}
	playAgencies(t, r.dir, 5, func(id int, file string) []string { return r.agencyEnv(id, id, "CLI_DATA_FILE="+file) })
	if !strings.Contains(r.server.Log(), "max_idle_per_agency: 4") {
		t.Fatalf("no connection_limit line names the agency's bound:\n%s", r.server.Log())
	}
}

func TestHeldAdminConnectionsLeaveTheCentralItsFiles(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	admin := "127.0.0.1:" + proctest.FreePort(t)
	server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=3", "SERVER_ADMIN_ADDRESS="+admin)
	server.WaitForLine(t, logattr.AdminListen, logattr.Success)
	pid := server.Cmd.Process.Pid
	before := openFiles(pid)
	// 2,000 connections held on the admin port, silent: the central keeps
	// at most its bound of them, closing the rest as they come.
	var held []net.Conn
	defer func() {
		for _, c := range held {
			c.Close()
		}
	}()
	for range 2000 {
		c, err := net.DialTimeout("tcp", admin, 5*time.Second)
		if err != nil {
			t.Fatalf("after %d admin connections: %v", len(held), err)
		}
		held = append(held, c)
	}
	// Its files settle once it has accepted (and closed) what is queued.
	waitUntil(t, 30*time.Second, "the central's files settle", func() bool { return openFiles(pid) <= before+64+8 })
	files := openFiles(pid)
	playAgencies(t, dir, 3, func(id int, file string) []string { return clientEnv(id, addr, "CLI_DATA_FILE="+file) })
	t.Logf("files open: %d before, %d with 2,000 admin connections held", before, files)
	if len(server.Find(t, logattr.AdminLimit, logattr.InProgress)) == 0 {
		t.Fatalf("no admin_limit line:\n%s", server.Log())
	}
	// Its shutdown closes both ports, each said: the agencies' first, the
	// admin endpoint's once the sessions are done.
	server.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := server.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the central exited %d on SIGTERM:\n%s", code, server.Log())
	}
	log := server.Log()
	agencies := strings.Index(log, "action: close_listener | result: success | listener: agencies")
	adminClosed := strings.Index(log, "action: close_listener | result: success | listener: admin")
	if agencies < 0 || adminClosed < agencies {
		t.Fatalf("the shutdown did not close the agencies' port, then the admin endpoint's, each with its line:\n%s", log)
	}
}
