package supervisor

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
	"quiniela/store"
	"quiniela/store/csvfile"
)

// startContinuous runs a central of continuous rounds on a free loopback
// port, with its rounds kept at path (round 1's file) and beside it.
func startContinuous(t *testing.T, cfg Config, path string) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rounds := csvfile.OpenRounds(path, log)
	return serveTest(t, NewContinuous(cfg, rounds, log), rounds, logs, nil)
}

func (c *agencyConn) roundStatus(agency uint16, round uint32) (protocol.Code, protocol.Status) {
	c.t.Helper()
	c.send(protocol.AppendRoundStatusQuery(nil, agency, round))
	code, st, err := protocol.ReadRoundStatus(c.conn)
	if err != nil {
		c.t.Fatalf("reading a round status: %v", err)
	}
	return code, st
}

// playRun plays one run of agency on a new connection, as the agency does:
// join the open round, send its bets, end, and wait for its winners. It
// returns the round it joined and the winners it was told.
func playRun(t *testing.T, addr string, agency uint16, bs []lottery.Bet) (uint32, []uint32) {
	t.Helper()
	c, round := sendRun(t, addr, agency, bs)
	return round, awaitDraw(t, c, agency)
}

// sendRun plays the first part of a run of agency on a new connection:
// join the open round, send its bets and end. It returns the connection,
// to ask the winners on, and the round it joined.
func sendRun(t *testing.T, addr string, agency uint16, bs []lottery.Bet) (*agencyConn, uint32) {
	t.Helper()
	c := dial(t, addr)
	code, st := c.roundStatus(agency, 0)
	if code != protocol.CodeOK || st.Stored != 0 || st.Ended {
		t.Fatalf("agency %d joining: %v %+v, want a fresh round", agency, code, st)
	}
	if c.batch(agency, bs) != protocol.CodeOK || c.end(agency) != protocol.CodeOK {
		t.Fatalf("agency %d: a batch or its end was refused in round %d", agency, st.Round)
	}
	return c, st.Round
}

// storedIn reads the bets of a round's file (none if it does not exist),
// without its lock, which the central holds.
func storedIn(t *testing.T, path string) []lottery.Bet {
	t.Helper()
	var out []lottery.Bet
	f, err := os.Open(path)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := csvfile.Read(f, func(b lottery.Bet) error { out = append(out, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestContinuousRoundsDrawOneRoundAfterAnotherEachWithItsOwnBets(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 2
	path := filepath.Join(t.TempDir(), "bets.csv")
	ts := startContinuous(t, cfg, path)
	for round := uint32(1); round <= 3; round++ {
		mine := map[uint16][]lottery.Bet{1: bets(1, round*10_000, 40), 2: bets(2, round*10_000+5_000, 25)}
		two, _ := sendRun(t, ts.addr, 2, mine[2])
		joined, winners := playRun(t, ts.addr, 1, mine[1])
		if joined != round {
			t.Fatalf("run %d joined round %d", round, joined)
		}
		if !slices.Equal(winners, winnersAmong(mine[1])) || !slices.Equal(awaitDraw(t, two, 2), winnersAmong(mine[2])) {
			t.Fatalf("round %d: the winners told are not the round's own", round)
		}
		if !slices.Equal(storedIn(t, csvfile.RoundPath(path, int(round))), append(slices.Clone(mine[1]), mine[2]...)) &&
			!slices.Equal(storedIn(t, csvfile.RoundPath(path, int(round))), append(slices.Clone(mine[2]), mine[1]...)) {
			t.Fatalf("round %d's file does not hold exactly its bets", round)
		}
	}
	if n := ts.logs.count("sorteo", "result=success"); n != 3 {
		t.Fatalf("%d draws, want 3:\n%s", n, ts.logs)
	}
	for _, want := range []string{"ronda=1", "ronda=2", "ronda=3"} {
		if ts.logs.count("sorteo", want) != 1 {
			t.Fatalf("no single draw line with %s", want)
		}
	}
	// Round 4 opened as soon as round 3 was drawn; the three before are
	// the operator's history.
	waitFor(t, func() bool { return ts.srv.status().Round == 4 })
	st := ts.srv.status()
	if len(st.Rounds) != 3 || st.Rounds[0].Round != 1 || st.Rounds[2].Round != 3 || st.Rounds[1].Bets != 65 ||
		st.Rounds[1].Winners["1"] != 4 || st.Rounds[1].Winners["2"] != len(winnersAmong(bets(2, 25_000, 25))) || st.Rounds[1].DrawTime == nil {
		t.Fatalf("history %+v", st.Rounds)
	}
}

// waitFor polls cond, which a goroutine of the central makes true, for up
// to 10 s.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("not so within 10 s")
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestAnAgencyReconnectingAfterItsRoundWasDrawnHearsOfThatRoundNotTheNext(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 2
	ts := startContinuous(t, cfg, filepath.Join(t.TempDir(), "bets.csv"))
	mine := bets(1, 100, 30)
	one := dial(t, ts.addr)
	if code, st := one.roundStatus(1, 0); code != protocol.CodeOK || st.Round != 1 {
		t.Fatalf("joining: %v %+v", code, st)
	}
	if one.batch(1, mine) != protocol.CodeOK || one.end(1) != protocol.CodeOK {
		t.Fatal("agency 1's bets or end refused")
	}
	one.conn.Close() // its connection is lost before it hears the winners
	playRun(t, ts.addr, 2, bets(2, 5000, 10))
	waitFor(t, func() bool { return ts.srv.status().Round == 2 })

	again := dial(t, ts.addr)
	code, st := again.roundStatus(1, 1)
	if code != protocol.CodeOK || st != (protocol.Status{Stored: 30, Ended: true, Round: 1}) {
		t.Fatalf("the reconnection's status: %v %+v, want round 1's: 30 stored and ended", code, st)
	}
	if c := again.batch(1, bets(1, 900, 3)); c != protocol.CodeAfterEnd {
		t.Fatalf("a batch on a connection about round 1: %v, want bets after end", c)
	}
	if code, docs := again.winners(1); code != protocol.CodeOK || !slices.Equal(docs, winnersAmong(mine)) {
		t.Fatalf("winners of round 1: %v %v", code, docs)
	}
	// A new run joins round 2, where agency 1 holds nothing yet.
	if code, st := dial(t, ts.addr).roundStatus(1, 0); code != protocol.CodeOK || st != (protocol.Status{Round: 2}) {
		t.Fatalf("a new run's status: %v %+v, want round 2, empty", code, st)
	}
	if code, _ := dial(t, ts.addr).roundStatus(1, 7); code != protocol.CodeUnknownRound {
		t.Fatalf("a status of round 7: %v, want unknown round", code)
	}
}

func TestARoundClosedWithoutAnAgencyRefusesItsBetsAndTheNextRoundGetsNoneOfThem(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 2
	cfg.WinnersHold = 200 * time.Millisecond
	path := filepath.Join(t.TempDir(), "bets.csv")
	// Round 1's close, fixed in its store as when it opened with a closing
	// time; the rounds after it have none.
	f, err := csvfile.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.FixClosing(time.Now().Add(700 * time.Millisecond)); err != nil {
		t.Fatal(err)
	}
	f.Close(context.Background())
	ts := startContinuous(t, cfg, path)

	one := dial(t, ts.addr)
	if code, st := one.roundStatus(1, 0); code != protocol.CodeOK || st.Round != 1 {
		t.Fatalf("joining: %v %+v", code, st)
	}
	mine := bets(1, 100, 20)
	if one.batch(1, mine) != protocol.CodeOK {
		t.Fatal("a batch before the close was refused")
	}
	waitFor(t, func() bool { return ts.srv.status().Round == 2 })
	if ts.logs.count("sorteo", "ausentes=1,2", "ronda=1") != 1 {
		t.Fatalf("round 1 was not drawn once with both agencies absent:\n%s", ts.logs)
	}
	if c := one.batch(1, bets(1, 500, 5)); c != protocol.CodeBettingClosed {
		t.Fatalf("a batch into round 1 after its close: %v, want betting closed", c)
	}
	if code, docs := one.winners(1); code != protocol.CodeOK || !slices.Equal(docs, winnersAmong(mine)) {
		t.Fatalf("round 1's winners: %v %v, want those of its stored bets", code, docs)
	}
	if got := storedIn(t, csvfile.RoundPath(path, 2)); len(got) != 0 {
		t.Fatalf("round 2 holds %d bets of a connection about round 1", len(got))
	}
	if got := storedIn(t, path); !slices.Equal(got, mine) {
		t.Fatalf("round 1 holds %d bets, want the 20 sent before its close", len(got))
	}
}

func TestARestartedCentralCarriesOnTheRoundItWasInAndKeepsThePastRounds(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 1
	path := filepath.Join(t.TempDir(), "bets.csv")
	first := startContinuous(t, cfg, path)
	round1 := bets(1, 10, 30)
	playRun(t, first.addr, 1, round1)
	waitFor(t, func() bool { return first.srv.status().Round == 2 })
	drawn := *first.srv.status().Rounds[0].DrawTime
	c := dial(t, first.addr)
	if code, st := c.roundStatus(1, 0); code != protocol.CodeOK || st.Round != 2 || c.batch(1, bets(1, 90, 7)) != protocol.CodeOK {
		t.Fatalf("round 2: %v %+v", code, st)
	}
	first.stop()

	again := startContinuous(t, cfg, path)
	code, st := dial(t, again.addr).roundStatus(1, 0)
	if code != protocol.CodeOK || st != (protocol.Status{Stored: 7, Round: 2}) {
		t.Fatalf("after the restart: %v %+v, want round 2 with its 7 bets", code, st)
	}
	hist := again.srv.status().Rounds
	if len(hist) != 1 || hist[0].Bets != 30 || hist[0].Winners["1"] != 3 || hist[0].DrawTime == nil || !hist[0].DrawTime.Equal(drawn) {
		t.Fatalf("history after the restart %+v, want round 1 as it was drawn at %v", hist, drawn)
	}
	if code, docs := dial(t, again.addr).winners(1); code != protocol.CodeDrawPending && !slices.Equal(docs, winnersAmong(round1)) {
		t.Fatalf("winners: %v %v", code, docs)
	}
	if again.logs.count("sorteo") != 0 || again.logs.count("round_finished") != 0 {
		t.Fatalf("the restart announced a draw again or warned of a finished round:\n%s", again.logs)
	}
}

func TestACentralStoppedBetweenADrawAndTheNextRoundOpensItOnRestart(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 1
	path := filepath.Join(t.TempDir(), "bets.csv")
	// What a central killed right after round 1's draw leaves: its bets,
	// the end and the draw's record, and no file of round 2.
	f, err := csvfile.Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	round1 := bets(1, 10, 20)
	if err := f.Append(context.Background(), round1); err != nil || f.RecordEnd(1) != nil || f.RecordDraw() != nil {
		t.Fatal("writing round 1")
	}
	f.Close(context.Background())

	ts := startContinuous(t, cfg, path)
	joined, winners := playRun(t, ts.addr, 1, bets(1, 500, 10))
	if joined != 2 || !slices.Equal(winners, winnersAmong(bets(1, 500, 10))) {
		t.Fatalf("a run after the restart joined round %d, winners %v", joined, winners)
	}
	if ts.logs.count("sorteo", "ronda=1") != 0 || ts.logs.count("ronda", "result=success", "ronda=2") != 1 {
		t.Fatalf("round 1 announced again, or round 2 not opened once:\n%s", ts.logs)
	}
	if got := storedIn(t, path); !slices.Equal(got, round1) {
		t.Fatal("round 1's file changed")
	}
}

// orderedRounds is a store of rounds that notes when a round is opened
// while the draw of the round before it has not been recorded yet.
type orderedRounds struct {
	*csvfile.Rounds
	opened   chan int // the rounds opened after the first
	violated atomic.Bool
}

type recordingRound struct {
	store.Store
	rounds *orderedRounds
	number int
}

// RecordDraw gives the central half a second to open the next round
// before the record is written: it must not.
func (r *recordingRound) RecordDraw() error {
	select {
	case n := <-r.rounds.opened:
		if n == r.number+1 {
			r.rounds.violated.Store(true)
		}
	case <-time.After(500 * time.Millisecond):
	}
	return r.Store.RecordDraw()
}

func (o *orderedRounds) Round(n int) (store.Store, error) {
	st, err := o.Rounds.Round(n)
	if err != nil {
		return nil, err
	}
	if n > 1 {
		select {
		case o.opened <- n:
		default:
		}
	}
	return &recordingRound{Store: st, rounds: o, number: n}, nil
}

func TestTheNextRoundOpensOnlyOnceTheDrawIsRecorded(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 1
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	rounds := &orderedRounds{Rounds: csvfile.OpenRounds(filepath.Join(t.TempDir(), "bets.csv"), log), opened: make(chan int, 1)}
	ts := serveTest(t, NewContinuous(cfg, rounds, log), rounds, logs, nil)
	playRun(t, ts.addr, 1, bets(1, 10, 5))
	waitFor(t, func() bool { return ts.srv.status().Round == 2 })
	if rounds.violated.Load() {
		t.Fatal("round 2 opened before round 1's draw was recorded: a crash then would leave round 1 unannounced")
	}
}

func TestTheBookKeepsTheLastRoundsAndCountsEveryOne(t *testing.T) {
	t.Parallel()
	b := newBook()
	for n := uint32(1); n <= keptRounds+5; n++ {
		b.advance(newRound(1, n, nil))
	}
	kept, all := b.history()
	if len(kept) != keptRounds || all != keptRounds+4 || kept[0].number != 5 || kept[len(kept)-1].number != keptRounds+4 {
		t.Fatalf("kept %d rounds from %d, %d in all; want the last %d of %d", len(kept), kept[0].number, all, keptRounds, keptRounds+4)
	}
	if b.find(4) != nil || b.find(5) == nil || b.open().number != keptRounds+5 {
		t.Fatal("a round beyond the bound is still found, or a kept one is not")
	}
}

// blockedRounds holds the opening of round 2 until release is closed.
type blockedRounds struct {
	*csvfile.Rounds
	release chan struct{}
}

func (b *blockedRounds) Round(n int) (store.Store, error) {
	if n == 2 {
		<-b.release
	}
	return b.Rounds.Round(n)
}

func TestACentralBetweenADrawAndTheNextRoundIsNotReady(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 1
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Admin = ln
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, nil))
	rounds := &blockedRounds{Rounds: csvfile.OpenRounds(filepath.Join(t.TempDir(), "bets.csv"), log), release: make(chan struct{})}
	ts := serveTest(t, NewContinuous(cfg, rounds, log), rounds, logs, nil)
	readyz := "http://" + ln.Addr().String() + "/readyz"
	if code, body := get(t, readyz); code != http.StatusOK {
		t.Fatalf("round 1 open: /readyz %d %s", code, body)
	}
	playRun(t, ts.addr, 1, bets(1, 10, 5))
	if code, body := get(t, readyz); code != http.StatusServiceUnavailable || !strings.Contains(string(body), "round 2 has not opened yet") {
		t.Fatalf("between round 1's draw and round 2: /readyz %d %s", code, body)
	}
	close(rounds.release)
	waitFor(t, func() bool { code, _ := get(t, readyz); return code == http.StatusOK })
}
