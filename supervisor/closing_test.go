package supervisor

import (
	"context"
	"log/slog"
	"net"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"quiniela/protocol"
	"quiniela/store/csvfile"
)

func TestTheDailyClosingIsTheFirstSuchTimeAfterTheRoundOpened(t *testing.T) {
	t.Parallel()
	day := func(d, h, m int) time.Time { return time.Date(2026, 12, d, h, m, 0, 0, time.Local) }
	at := time.Date(2026, 12, 1, 21, 0, 0, 0, time.FixedZone("", -3*3600))
	tests := []struct {
		name    string
		closing Closing
		opened  time.Time
		want    time.Time
	}{
		{"a round opened in the morning closes that evening", Closing{Daily: true, Clock: 21 * time.Hour}, day(1, 9, 0), day(1, 21, 0)},
		{"a round opened after the time closes the next day", Closing{Daily: true, Clock: 21 * time.Hour}, day(1, 22, 0), day(2, 21, 0)},
		{"a round opened at the very time closes the next day", Closing{Daily: true, Clock: 21 * time.Hour}, day(1, 21, 0), day(2, 21, 0)},
		{"midnight is the next midnight", Closing{Daily: true}, day(1, 0, 30), day(2, 0, 0)},
		{"a fixed instant is itself, whenever the round opened", Closing{At: at}, day(5, 9, 0), at},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.closing.after(tt.opened); !got.Equal(tt.want) {
				t.Fatalf("got %v, want %v", got, tt.want)
			}
		})
	}
}

// awaitDraw asks agency's winners until the draw answers, within a bound:
// the central holds each query up to a second.
func awaitDraw(t *testing.T, c *agencyConn, agency uint16) []uint32 {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if code, docs := c.winners(agency); code == protocol.CodeOK {
			return docs
		} else if code != protocol.CodeDrawPending {
			t.Fatalf("winners of agency %d: %v", agency, code)
		}
	}
	t.Fatalf("no draw within 10 s")
	return nil
}

func TestTheClosingTimeDrawsWithoutTheAbsentAgencies(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 3
	cfg.WinnersHold = 200 * time.Millisecond
	cfg.Closing = Closing{At: time.Now().Add(700 * time.Millisecond)}
	ts := startServer(t, cfg, nil)
	one, two, three := dial(t, ts.addr), dial(t, ts.addr), dial(t, ts.addr)
	b1, b2 := bets(1, 1000, 30), bets(2, 2000, 20)
	if one.batch(1, b1) != protocol.CodeOK || one.end(1) != protocol.CodeOK || two.batch(2, b2) != protocol.CodeOK {
		t.Fatal("a batch or end before the close was refused")
	}
	if got := awaitDraw(t, one, 1); !slices.Equal(got, winnersAmong(b1)) {
		t.Fatalf("agency 1's winners %v, want %v", got, winnersAmong(b1))
	}
	if n := ts.logs.count("sorteo", "ausentes=2,3", "tras_reinicio=false"); n != 1 {
		t.Fatalf("%d sorteo lines naming agencies 2 and 3 absent, want 1:\n%s", n, ts.logs)
	}
	if n := ts.logs.count("cierre", "result=success"); n != 1 {
		t.Fatalf("%d cierre lines, want 1", n)
	}
	if c := two.batch(2, bets(2, 3000, 5)); c != protocol.CodeBettingClosed {
		t.Fatalf("a batch after the close: %v, want betting closed", c)
	}
	if c := three.batch(3, bets(3, 4000, 5)); c != protocol.CodeBettingClosed {
		t.Fatalf("an agency's first batch after the close: %v, want betting closed", c)
	}
	if got := awaitDraw(t, two, 2); !slices.Equal(got, winnersAmong(b2)) {
		t.Fatalf("an agency that never ended gets %v, want the winners of its stored bets %v", got, winnersAmong(b2))
	}
	if c := two.end(2); c != protocol.CodeOK {
		t.Fatalf("an end after the close: %v", c)
	}
	if n := len(ts.storedBets(t)); n != 50 {
		t.Fatalf("the store holds %d bets, want the 50 sent before the close", n)
	}
	if n := ts.logs.count("sorteo"); n != 1 {
		t.Fatalf("%d draws, want 1", n)
	}
	st := ts.srv.status()
	if st.ClosingTime == nil || !st.BettingClosed || !slices.Equal(st.Absent, []uint16{2, 3}) {
		t.Fatalf("status: closing %v, closed %v, absent %v", st.ClosingTime, st.BettingClosed, st.Absent)
	}
}

func TestTheBarrierStillDrawsFirstWhenEveryAgencyEndsBeforeTheClose(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 1
	cfg.Closing = Closing{At: time.Now().Add(time.Hour)}
	ts := startServer(t, cfg, nil)
	c := dial(t, ts.addr)
	if c.batch(1, bets(1, 10, 10)) != protocol.CodeOK || c.end(1) != protocol.CodeOK {
		t.Fatal("refused")
	}
	awaitDraw(t, c, 1)
	if n := ts.logs.count("sorteo", `ausentes=""`); n != 1 {
		t.Fatalf("%d sorteo lines with no agency absent, want 1:\n%s", n, ts.logs)
	}
	if ts.srv.status().BettingClosed {
		t.Fatal("the barrier's draw says betting closed at the closing time")
	}
}

func TestARestartAfterTheCloseKeepsBettingClosedAndDrawsOnce(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bets.csv")
	cfg := testConfig()
	cfg.Agencies = 2
	ts := startServerAt(t, cfg, path, nil)
	if c := dial(t, ts.addr).batch(1, bets(1, 10, 10)); c != protocol.CodeOK {
		t.Fatal(c)
	}
	ts.stop()
	// Down across the closing time: the round's close, fixed in its store,
	// passed while no central ran.
	closes := time.Now().Add(-time.Second).Truncate(time.Second)
	st, err := csvfile.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.FixClosing(closes); err != nil {
		t.Fatal(err)
	}
	if err := st.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	cfg.Closing = Closing{At: closes}
	for i, want := range []int{1, 0} {
		ts = startServerAt(t, cfg, path, nil)
		if n := ts.logs.count("sorteo", "tras_reinicio=true", "ausentes=1,2"); n != want {
			t.Fatalf("start %d: %d draws announced, want %d:\n%s", i+1, n, want, ts.logs)
		}
		c := dial(t, ts.addr)
		if code := c.batch(1, bets(1, 20, 5)); code != protocol.CodeBettingClosed {
			t.Fatalf("start %d: a batch after the close: %v, want betting closed", i+1, code)
		}
		if got := awaitDraw(t, c, 1); !slices.Equal(got, winnersAmong(bets(1, 10, 10))) {
			t.Fatalf("start %d: winners %v", i+1, got)
		}
		ts.stop()
	}
}

func TestADailyClosingIsFixedWhenTheRoundOpens(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bets.csv")
	cfg := testConfig()
	first := time.Now().Add(2 * time.Hour)
	cfg.Closing = Closing{Daily: true, Clock: time.Duration(first.Hour())*time.Hour + time.Duration(first.Minute())*time.Minute}
	ts := startServerAt(t, cfg, path, nil)
	fixed := *ts.srv.status().ClosingTime
	ts.stop()
	cfg.Closing.Clock = (cfg.Closing.Clock + time.Hour) % (24 * time.Hour) // another time, same store
	ts = startServerAt(t, cfg, path, nil)
	if again := ts.srv.status().ClosingTime; again == nil || !again.Equal(fixed) {
		t.Fatalf("after a restart the round closes at %v, want %v as fixed when it opened", again, fixed)
	}
	if ts.logs.count("cierre", "result=in_progress", "restante_ms") != 1 || ts.logs.count("cierre", "result=in_progress", "aviso") != 1 {
		t.Fatalf("no cierre line says when betting closes, or none that the setting does not move it:\n%s", ts.logs)
	}
}

func TestAClosingTimeFixedWhenTheRoundOpenedHoldsWithTheSettingGone(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bets.csv")
	cfg := testConfig()
	cfg.Agencies = 2
	first := time.Now().Add(time.Hour).Truncate(time.Second)
	cfg.Closing = Closing{At: first}
	ts := startServerAt(t, cfg, path, nil)
	ts.stop()
	// Restarted without the setting, or with another instant: the round
	// keeps the close it opened with (an outsider reopened betting by
	// leaving the key out of one restart).
	for _, setting := range []Closing{{}, {At: first.Add(-30 * time.Minute)}} {
		cfg.Closing = setting
		ts = startServerAt(t, cfg, path, nil)
		if got := ts.srv.status().ClosingTime; got == nil || !got.Equal(first) {
			t.Fatalf("restarted with SERVER_CLOSING_TIME %s, the round closes at %v, want %v", setting, got, first)
		}
		if ts.logs.count("cierre", "result=in_progress", "aviso") != 1 {
			t.Fatalf("restarted with SERVER_CLOSING_TIME %s, no warning that it does not move the close:\n%s", setting, ts.logs)
		}
		ts.stop()
	}
}

func TestAClosingInstantAlreadyPastIsRefusedForANewRound(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Closing = Closing{At: time.Now().Add(-time.Minute)}
	st, err := csvfile.Open(filepath.Join(t.TempDir(), "bets.csv"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	srv := New(cfg, st, slog.New(slog.DiscardHandler))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	err = srv.Serve(context.Background(), ln)
	if err == nil || !strings.Contains(err.Error(), "has passed") {
		t.Fatalf("a new round whose closing instant has passed served: %v", err)
	}
	if at, _ := st.FixedClosing(); !at.IsZero() {
		t.Fatalf("the refused round's store fixed a closing instant, %v", at)
	}
}
