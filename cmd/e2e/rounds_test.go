package e2e

import (
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
)

// playRounds plays the round's five agencies rounds times against a
// central of continuous rounds, one run of each per round; between
// rounds, and while agencies send, kill restarts the central when it says
// so (after round n; within round n: the central has stored some batches
// of it). It checks that every run ends with its winners and finds no
// earlier round's bets (ronda_anterior), then stops the last central.
func (r *faultRound) playRounds(rounds int, killBetween, killWithin int) {
	t := r.t
	t.Helper()
	central := r.startServer()
	for round := 1; round <= rounds; round++ {
		for i := 1; i <= 5; i++ {
			r.startClient(i, r.addr())
		}
		if round == killWithin {
			central.WaitForN(t, logline.Pattern(logattr.ApuestaRecibida, logattr.Success), 20)
			kill(t, central)
			central = r.startServer()
		}
		r.checkAgencies()
		for i, c := range r.clients {
			if strings.Contains(c.Log(), "action: ronda_anterior") {
				t.Fatalf("round %d: agency %d found an earlier round's bets:\n%s", round, i, c.Log())
			}
		}
		if round == killBetween {
			kill(t, central)
			central = r.startServer()
		}
	}
	central.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := central.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the last central exited %d", code)
	}
}

// checkDraws checks that each round 1..rounds was drawn, once, or once
// more after a restart that found it unannounced, marked so.
func (r *faultRound) checkDraws(rounds int) {
	t := r.t
	t.Helper()
	for round := 1; round <= rounds; round++ {
		var lines []logline.Line
		for _, s := range r.servers {
			lines = append(lines, s.Find(t, logattr.Sorteo, logattr.Success, logattr.RondaKey, fmt.Sprint(round))...)
		}
		if len(lines) == 0 || len(lines) > 2 || len(lines) == 2 && lines[1].Values[logattr.TrasReinicioKey] != "true" {
			t.Errorf("round %d: %d draw announcements, want one (or one repeated after a crash, marked so)", round, len(lines))
		}
	}
}

func TestContinuousRoundsOnOneCentralKeepEachRoundsBetsApartThroughKills(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name                    string
		rounds                  int
		killBetween, killWithin int
	}{
		{"two rounds in a row, the central never restarted", 2, 0, 0},
		{"three rounds, the central killed between the first two and within the third", 3, 1, 3},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			r := newFaultRound(t, 2000, 2)
			r.env = []string{"SERVER_ROUNDS=continuous"}
			r.playRounds(tt.rounds, tt.killBetween, tt.killWithin)
			r.checkDraws(tt.rounds)
			for round := 1; round <= tt.rounds; round++ {
				r.checkStored(r.storedRowsOf(round))
			}
			r.refusedToOneRound()
		})
	}
}

func TestAStandbyCentralTakesOverInTheSecondRoundAndCarriesItOn(t *testing.T) {
	t.Parallel()
	r := newPostgresRound(t, nil, 3000, 2)
	r.env = []string{"SERVER_ROUNDS=continuous"}
	active, standby, centrals := r.startActiveAndStandby()
	for i := 1; i <= 5; i++ {
		r.startClient(i, centrals)
	}
	r.checkAgencies()
	active.WaitForLine(t, logattr.Ronda, logattr.Success, logattr.RondaKey, "2")
	// Round 2: the active central is killed while agencies send, its
	// writer held with a third of the round stored (else a fast central
	// may store the whole round before the kill), and the standby carries
	// round 2 on from the database.
	r.faultWithWriterHeld(func() {
		for i := 1; i <= 5; i++ {
			r.startClient(i, centrals)
		}
	}, func() { kill(t, active) })
	standby.WaitFor(t, leadershipLine)
	r.checkAgencies()
	for i, c := range r.clients {
		if strings.Contains(c.Log(), "action: ronda_anterior") {
			t.Fatalf("agency %d found round 1's bets in round 2:\n%s", i, c.Log())
		}
	}
	standby.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := standby.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the standby exited %d", code)
	}
	if len(standby.Find(t, logattr.ApuestaRecibida, logattr.Success)) == 0 {
		t.Fatal("the standby stored no batch of round 2")
	}
	r.checkDraws(2)
	r.checkStored(r.storedRowsOf(1))
	r.checkStored(r.storedRowsOf(2))
	if len(standby.Find(t, logattr.Sorteo, logattr.Success, logattr.RondaKey, "1")) != 0 {
		t.Fatal("the standby announced round 1's draw again")
	}
	r.refusedToOneRound()
}

// refusedToOneRound checks that a central of one round per store refuses
// the round's store, which holds continuous rounds: it would serve round
// 1, drawn long ago, and leave the later ones unread.
func (r *faultRound) refusedToOneRound() {
	t := r.t
	t.Helper()
	r.env = []string{"SERVER_ROUNDS=one"}
	var one *proctest.Process
	if r.url == "" {
		one = proctest.Start(t, bins["server"], r.dir, append([]string{"SERVER_IP=127.0.0.1", "SERVER_PORT=" + r.port, "STORAGE_FILEPATH=" + r.store}, r.env...)...)
	} else {
		one = r.startCentral(proctest.FreePort(t))
	}
	if code, _ := one.Wait(t, 30*time.Second); code != 1 {
		t.Fatalf("a central of one round on a store of continuous rounds exited %d, want 1:\n%s", code, one.Log())
	}
	one.WaitForLine(t, logattr.OpenStore, logattr.Fail)
	if !strings.Contains(one.Log(), "SERVER_ROUNDS=continuous") {
		t.Fatalf("the refusal does not say how to carry on:\n%s", one.Log())
	}
}
