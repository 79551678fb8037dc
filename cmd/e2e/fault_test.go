package e2e

import (
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
)

// faultRound is a round of five agencies whose central or agencies are
// made to fail; it checks that the outcome is that of an uninterrupted
// round: every agency exits 0 with its winners, and the store holds every
// generated bet exactly once.
type faultRound struct {
	t          *testing.T
	dir, data  string
	store      string // the central's STORAGE_FILEPATH
	url        string // the centrals' STORAGE_URL (PostgreSQL) when set, instead
	port       string
	bets, wins int
	servers    []*proctest.Process
	clients    map[int]*proctest.Process
	env        []string // more settings of the centrals (SERVER_ROUNDS=continuous)
}

func newFaultRound(t *testing.T, bets, wins int) *faultRound {
	t.Helper()
	dir := t.TempDir()
	r := &faultRound{t: t, dir: dir, data: filepath.Join(dir, "data"), store: filepath.Join(dir, "bets.csv"), port: proctest.FreePort(t),
		bets: bets, wins: wins, clients: map[int]*proctest.Process{}}
	if out, err := exec.Command(bins["datagen"], "-out", r.data, "-seed", "11", "-bets", strconv.Itoa(bets), "-winners", strconv.Itoa(wins)).CombinedOutput(); err != nil {
		t.Fatalf("datagen: %v\n%s", err, out)
	}
	return r
}

func (r *faultRound) addr() string { return "127.0.0.1:" + r.port }

// startServer starts a central on the round's port and store.
func (r *faultRound) startServer() *proctest.Process {
	r.t.Helper()
	s := proctest.Start(r.t, bins["server"], r.dir, append([]string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + r.port,
		"STORAGE_FILEPATH=" + r.store}, r.env...)...)
	s.WaitFor(r.t, logline.Pattern(logattr.Listen, logattr.Success))
	r.servers = append(r.servers, s)
	return s
}

// startClient starts agency i against addr.
func (r *faultRound) startClient(i int, addr string) *proctest.Process {
	c := proctest.Start(r.t, bins["client"], r.dir, clientEnv(i, addr,
		fmt.Sprintf("CLI_DATA_FILE=%s/agency-%d.csv", r.data, i), "CLI_CONNECT_TIMEOUT=60s", "CLI_WINNERS_TIMEOUT=120s")...)
	r.clients[i] = c
	return c
}

func kill(t *testing.T, p *proctest.Process) {
	t.Helper()
	p.Cmd.Process.Signal(syscall.SIGKILL)
	p.Wait(t, 10*time.Second)
}

// check waits for every agency and checks the outcome.
func (r *faultRound) check() {
	t := r.t
	t.Helper()
	r.checkAgencies()
	last := r.servers[len(r.servers)-1]
	last.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := last.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the last central exited %d", code)
	}
	// The draw is announced once; only a central killed between the
	// announcement and its record announces it again after the restart,
	// marked so, with the same result.
	var announced []string
	for i, s := range r.servers {
		for _, m := range drawLine.FindAllStringSubmatch(s.Log(), -1) {
			if i > 0 && len(announced) > 0 && m[2] != "true" {
				t.Errorf("run %d announced the draw again without marking it as after a restart", i+1)
			}
			announced = append(announced, m[1])
		}
	}
	if len(announced) == 0 || len(announced) > 2 || announced[0] != announced[len(announced)-1] {
		t.Errorf("draw announcements (winners) %v over %d runs of the central, want one (or one repeated after the crash)", announced, len(r.servers))
	}
	r.checkStored(r.storedRows())
}

// checkAgencies waits for every agency to exit 0 with its winners.
func (r *faultRound) checkAgencies() {
	t := r.t
	t.Helper()
	for i := 1; i <= 5; i++ {
		c := r.clients[i]
		if code, _ := c.Wait(t, 2*time.Minute); code != 0 {
			t.Fatalf("agency %d exited %d:\n%s", i, code, c.Log())
		}
		if m := winnersLine.FindStringSubmatch(c.Log()); m == nil || m[1] != strconv.Itoa(r.wins) {
			t.Errorf("agency %d: winners %v, want %d", i, m, r.wins)
		}
	}
}

// checkStored checks that got, a store's rows sorted, are every generated
// bet exactly once.
func (r *faultRound) checkStored(got []string) {
	t := r.t
	t.Helper()
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, readRows(t, fmt.Sprintf("%s/agency-%d.csv", r.data, i), i)...)
	}
	sort.Strings(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the store holds %d rows, want exactly the %d generated bets once each%s", len(got), len(want), firstDuplicate(got))
	}
}

var drawLine = regexp.MustCompile(`action: sorteo \| result: success \| agencias: \d+ \| ganadores: (\d+) \| tras_reinicio: (true|false)`)

func firstDuplicate(rows []string) string {
	for i := 1; i < len(rows); i++ {
		if rows[i] == rows[i-1] {
			return "; stored twice: " + rows[i]
		}
	}
	return ""
}

func TestACentralKilledAndRestartedLosesNothingAndDrawsOnce(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after string // the central is killed after n of these lines
		n     int
	}{
		{"killed mid-ingest", logline.Pattern(logattr.ApuestaRecibida, logattr.Success), 40},
		{"killed after some agencies finished", logline.Pattern(logattr.FinApuestas, logattr.Success), 2},
		{"killed after the draw", logline.Pattern(logattr.Sorteo, logattr.Success), 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newFaultRound(t, 3000, 3)
			first := r.startServer()
			for i := 1; i <= 5; i++ {
				r.startClient(i, r.addr())
			}
			first.WaitForN(t, tt.after, tt.n)
			kill(t, first)
			r.startServer()
			r.check()
		})
	}
}

func TestAnAgencyKilledAndStartedAgainFinishesExactlyOnce(t *testing.T) {
	t.Parallel()
	r := newFaultRound(t, 3000, 2)
	server := r.startServer()
	for i := 1; i <= 5; i++ {
		r.startClient(i, r.addr())
	}
	server.WaitForN(t, `action: apuesta_recibida \| result: success \| cantidad: \d+ \| agency: 3 `, 10)
	kill(t, r.clients[3])
	r.startClient(3, r.addr())
	r.check()
}

// cutProxy forwards connections to target, and cuts the first `cuts`
// connections once `after` bytes have gone in the given direction.
type cutProxy struct {
	ln       net.Listener
	target   string
	after    int
	toServer bool
	mu       sync.Mutex
	cutsLeft int
	cutsMade int
}

func startProxy(t *testing.T, target string, cuts, after int, toServer bool) *cutProxy {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &cutProxy{ln: ln, target: target, after: after, toServer: toServer, cutsLeft: cuts}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go p.forward(c)
		}
	}()
	return p
}

func (p *cutProxy) forward(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", p.target)
	if err != nil {
		return
	}
	defer server.Close()
	p.mu.Lock()
	cut := p.cutsLeft > 0
	if cut {
		p.cutsLeft--
	}
	p.mu.Unlock()
	var limitUp, limitDown int64 = -1, -1
	if cut && p.toServer {
		limitUp = int64(p.after)
	} else if cut {
		limitDown = int64(p.after)
	}
	done := make(chan struct{}, 2)
	pipe := func(dst, src net.Conn, limit int64) {
		if limit >= 0 {
			io.CopyN(dst, src, limit)
			p.mu.Lock()
			p.cutsMade++
			p.mu.Unlock()
		} else {
			io.Copy(dst, src)
		}
		done <- struct{}{}
	}
	go pipe(server, client, limitUp)
	go pipe(client, server, limitDown)
	<-done // either side ending (or the cut) ends both
}

func TestACutConnectionIsResumedWithoutLossOrDuplicates(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		toServer bool
		after    int
	}{
		// 2.5 full batch frames: the cut falls inside the third batch.
		{"cut mid-batch on the way to the central", true, 5 + 2*8197 + 4000},
		// The status reply (7 bytes) and four acknowledgements (2 bytes
		// each) pass; the fifth acknowledgement is lost.
		{"cut on the way back, losing an acknowledgement", false, 7 + 4*2 + 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newFaultRound(t, 3000, 2)
			r.startServer()
			proxy := startProxy(t, r.addr(), 5, tt.after, tt.toServer)
			for i := 1; i <= 5; i++ {
				r.startClient(i, proxy.ln.Addr().String())
			}
			r.check()
			proxy.mu.Lock()
			defer proxy.mu.Unlock()
			if proxy.cutsMade < 5 {
				t.Fatalf("only %d connections were cut", proxy.cutsMade)
			}
			reconnects := 0
			for _, c := range r.clients {
				reconnects += len(c.Find(t, logattr.Reconnect, logattr.InProgress))
			}
			if reconnects < 5 {
				t.Fatalf("%d reconnections, want one per cut", reconnects)
			}
		})
	}
}
