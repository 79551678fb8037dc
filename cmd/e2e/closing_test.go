package e2e

import (
	"errors"
	"fmt"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
)

// closingRound is three small agency files, a store, and a central whose
// betting closes a few seconds ahead (SERVER_CLOSING_TIME) unless closes
// is empty.
type closingRound struct {
	t                *testing.T
	dir, data, store string
	port, closes     string
}

func newClosingRound(t *testing.T, ahead time.Duration) *closingRound {
	t.Helper()
	dir := t.TempDir()
	r := &closingRound{t: t, dir: dir, data: filepath.Join(dir, "data"), store: filepath.Join(dir, "bets.csv"), port: proctest.FreePort(t)}
	if ahead > 0 {
		// RFC 3339 counts whole seconds: round up, so the close is at
		// least ahead away.
		r.closes = time.Now().Add(ahead).Truncate(time.Second).Add(time.Second).Format(time.RFC3339)
	}
	if out, err := exec.Command(bins["datagen"], "-out", r.data, "-agencies", "3", "-seed", "7", "-bets", "200", "-winners", "2").CombinedOutput(); err != nil {
		t.Fatalf("datagen: %v\n%s", err, out)
	}
	return r
}

func (r *closingRound) startServer() *proctest.Process {
	r.t.Helper()
	s := proctest.Start(r.t, bins["server"], r.dir, r.serverEnv()...)
	s.WaitFor(r.t, logline.Pattern(logattr.Listen, logattr.Success))
	return s
}

func (r *closingRound) serverEnv() []string {
	return []string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + r.port, "AGENCIES=3", "STORAGE_FILEPATH=" + r.store, "SERVER_CLOSING_TIME=" + r.closes}
}

func (r *closingRound) startClient(i int) *proctest.Process {
	return proctest.Start(r.t, bins["client"], r.dir, clientEnv(i, "127.0.0.1:"+r.port,
		fmt.Sprintf("CLI_DATA_FILE=%s/agency-%d.csv", r.data, i), "CLI_CONNECT_TIMEOUT=30s", "CLI_WINNERS_TIMEOUT=30s")...)
}

// played waits for agency c to exit 0 with its two winners.
func played(t *testing.T, i int, c *proctest.Process) {
	t.Helper()
	if code, _ := c.Wait(t, time.Minute); code != 0 {
		t.Fatalf("agency %d exited %d:\n%s", i, code, c.Log())
	}
	c.WaitForLine(t, logattr.ConsultaGanadores, logattr.Success, logattr.CantGanadoresKey, "2")
}

// lateAgency starts agency 3 after the close: it is refused, still hears
// its (no) winners, and exits 1 saying that its 200 bets were not stored.
func (r *closingRound) lateAgency() {
	t := r.t
	t.Helper()
	late := r.startClient(3)
	if code, _ := late.Wait(t, time.Minute); code != 1 {
		t.Fatalf("an agency after the close exited %d, want 1:\n%s", code, late.Log())
	}
	late.WaitForLine(t, logattr.ConsultaGanadores, logattr.Success, logattr.CantGanadoresKey, "0")
	late.WaitForLine(t, logattr.Resumen, logattr.Fail, "no_almacenadas", "200", "motivo", "betting closed")
}

// checkStore checks that the store holds exactly agencies 1 and 2's bets.
func (r *closingRound) checkStore() {
	t := r.t
	t.Helper()
	want := append(readRows(t, r.data+"/agency-1.csv", 1), readRows(t, r.data+"/agency-2.csv", 2)...)
	got := readRows(t, r.store, 0)
	if strings.Join(got, "\n") != strings.Join(sortedRows(want), "\n") {
		t.Fatalf("the store holds %d rows, want exactly agencies 1 and 2's %d bets once each%s", len(got), len(want), firstDuplicate(got))
	}
}

func sortedRows(rows []string) []string {
	out := append([]string(nil), rows...)
	sort.Strings(out)
	return out
}

// startBeforeTheClose starts a central whose betting closes ahead (2 s,
// then twice as long each time a busy machine kept agencies 1 and 2 from
// ending before the close, which the scenarios need), and the two agencies.
func startBeforeTheClose(t *testing.T) (r *closingRound, server, one, two *proctest.Process) {
	t.Helper()
	for ahead := 2 * time.Second; ; ahead *= 2 {
		r = newClosingRound(t, ahead)
		server = proctest.Start(t, bins["server"], r.dir, r.serverEnv()...)
		if _, err := server.Await(logline.Pattern(logattr.Listen, logattr.Success), 0); err != nil {
			if !strings.Contains(server.Log(), "has passed") || ahead >= 16*time.Second {
				t.Fatal(err)
			}
			// So slow a start that the close passed first: the central
			// rightly refuses a round that would close before it opened.
			t.Logf("the central started after a close %v ahead: again, with the close twice as far", ahead)
			continue
		}
		if len(server.Find(t, logattr.Cierre, logattr.InProgress)) != 1 {
			t.Fatalf("the central did not say when betting closes:\n%s", server.Log())
		}
		one, two = r.startClient(1), r.startClient(2)
		closes, err := time.Parse(time.RFC3339, r.closes)
		if err != nil {
			t.Fatal(err)
		}
		ended := logline.Pattern(logattr.FinApuestas, logattr.Success)
		// Await's bound of 0 is none: a close already past is a bound of
		// a millisecond, for the lines logged already.
		untilClose := func() time.Duration { return max(time.Until(closes), time.Millisecond) }
		_, err = server.Await(ended, untilClose())
		if err == nil {
			_, err = server.Await(ended, untilClose())
		}
		switch {
		case err == nil:
			return r, server, one, two
		case !errors.Is(err, proctest.ErrTimeout):
			t.Fatal(err)
		case ahead >= 16*time.Second:
			t.Fatalf("agencies 1 and 2 did not end within %v of their start", ahead)
		}
		t.Logf("agencies 1 and 2 did not end within %v: again, with the close twice as far", ahead)
		for _, p := range []*proctest.Process{server, one, two} {
			kill(t, p)
		}
	}
}

func TestTheClosingTimeDrawsWithoutTheAgencyThatNeverCame(t *testing.T) {
	t.Parallel()
	r, server, one, two := startBeforeTheClose(t)
	// Both ended before the close and wait for the draw, which the close
	// runs without agency 3.
	server.WaitForLine(t, logattr.Cierre, logattr.Success, logattr.TrasReinicioKey, "false")
	server.WaitForLine(t, logattr.Sorteo, logattr.Success, logattr.GanadoresKey, "4", logattr.AusentesKey, "3")
	played(t, 1, one)
	played(t, 2, two)
	r.lateAgency()
	stopServer(t, server)
	if n := len(server.Find(t, logattr.Sorteo, logattr.Success)); n != 1 {
		t.Fatalf("%d draws, want 1", n)
	}
	r.checkStore()
}

func TestWithoutAClosingTimeTheRoundWaitsForEveryAgency(t *testing.T) {
	t.Parallel()
	r := newClosingRound(t, 0)
	server := r.startServer()
	clients := []*proctest.Process{r.startClient(1), r.startClient(2), r.startClient(3)}
	server.WaitForLine(t, logattr.Sorteo, logattr.Success, logattr.GanadoresKey, "6", logattr.AusentesKey, "")
	for i, c := range clients {
		played(t, i+1, c)
	}
	stopServer(t, server)
	if strings.Contains(server.Log(), "action: "+logattr.Cierre) {
		t.Fatalf("a central without a closing time logged a cierre line:\n%s", server.Log())
	}
}

func TestACentralKilledAroundTheCloseNeverReopensBetting(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		after logattr.Action // the first central is killed right after this line
		pairs []string
	}{
		{"killed just before the close, both agencies ended", logattr.FinApuestas, nil},
		{"killed just after the close", logattr.Cierre, []string{logattr.TrasReinicioKey, "false"}},
		{"killed just after the draw", logattr.Sorteo, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r, first, one, two := startBeforeTheClose(t)
			if tt.after != logattr.FinApuestas { // both ends were waited for
				first.WaitFor(t, logline.Pattern(tt.after, logattr.Success, tt.pairs...))
			}
			kill(t, first)
			second := r.startServer()
			// The draw: run by the second central (at the close, or at its
			// start when the close passed while it was down), or by the first
			// if it was recorded before the kill; never twice but for the
			// announcement a kill cut from its record.
			played(t, 1, one)
			played(t, 2, two)
			r.lateAgency()
			stopServer(t, second)
			draws := append(first.Find(t, logattr.Sorteo, logattr.Success), second.Find(t, logattr.Sorteo, logattr.Success)...)
			if len(draws) == 0 || len(draws) > 2 {
				t.Fatalf("%d draws announced, want one (or one repeated after the kill)", len(draws))
			}
			for _, d := range draws {
				if d.Values[logattr.GanadoresKey] != "4" || d.Values[logattr.AusentesKey] != "3" {
					t.Fatalf("a draw announced %v, want 4 winners without agency 3", d.Values)
				}
			}
			if len(draws) == 2 && draws[1].Values[logattr.TrasReinicioKey] != "true" {
				t.Fatal("the draw announced again without saying it was after a restart")
			}
			r.checkStore()
		})
	}
}
