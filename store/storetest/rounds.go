package storetest

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/store"
)

// RoundsOpener opens what is kept at one place, as continuous rounds and
// as the single round: calling either again after Close reopens the same
// place, as a restarted central would.
type RoundsOpener struct {
	// Rounds opens the rounds kept at the place.
	Rounds func() (store.Rounds, error)
	// Single opens the single-round store at the same place, the one a
	// central switched to continuous rounds carries on as round 1.
	Single Opener
}

// RunRounds runs every test of the Rounds contract. fresh gives each test
// a new, empty place, and returns how to open it.
func RunRounds(t *testing.T, fresh func(t *testing.T) RoundsOpener) {
	tests := []struct {
		name string
		run  func(t *testing.T, open RoundsOpener)
	}{
		{"an empty store's latest round is 1", latestOfEmpty},
		{"a round's bets are not another round's, before or after a restart", keptApart(betsRecord)},
		{"a round's ends are not another round's, before or after a restart", keptApart(endRecord)},
		{"a round's draw and its time are not another round's, before or after a restart", keptApart(drawRecord)},
		{"a round's closing instant is not another round's, before or after a restart", keptApart(closingRecord)},
		{"the latest round after a restart is the newest opened, even one holding nothing", latestAfterRestart},
		{"a restart reads back each round exactly", eachRoundReadsBack},
		{"asking for a round twice gives a store that works", roundTwice},
		{"round 1 is the single-round store kept at the same place", roundOneIsTheSingleRound},
		{"a round's draw time survives a restart", roundDrawTimeRestored},
		{"two rounds' concurrent submitters each store into their own round", concurrentRounds},
		{"opening a round leaves the one before it working", previousRoundWorks},
		{"closing the rounds closes every round's store, and no round opens after", closingRounds},
		{"a round numbered below 1 is refused", roundBelowOne},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, fresh(t))
		})
	}
}

// mustOpenRounds opens the rounds, and closes them when the test ends,
// so that one stopped half way does not keep them open for the next.
func mustOpenRounds(t *testing.T, open RoundsOpener) store.Rounds {
	t.Helper()
	r, err := open.Rounds()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(context.Background()) })
	return r
}

func closeRounds(t *testing.T, r store.Rounds) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func round(t *testing.T, r store.Rounds, n int) store.Store {
	t.Helper()
	s, err := r.Round(n)
	if err != nil {
		t.Fatalf("round %d: %v", n, err)
	}
	return s
}

func latest(t *testing.T, r store.Rounds) int {
	t.Helper()
	n, err := r.Latest()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func latestOfEmpty(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	defer closeRounds(t, r)
	if n := latest(t, r); n != 1 {
		t.Fatalf("an empty store's latest round is %d, want 1", n)
	}
	round(t, r, 1)
	if n := latest(t, r); n != 1 {
		t.Fatalf("with round 1 open, the latest round is %d, want 1", n)
	}
}

func latestAfterRestart(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	submit(t, round(t, r, 1), Bet(1, 1))
	submit(t, round(t, r, 2), Bet(1, 2))
	round(t, r, 3) // opened, nothing in it yet
	if n := latest(t, r); n != 3 {
		t.Fatalf("with round 3 opened, the latest round is %d, want 3", n)
	}
	closeRounds(t, r)
	again := mustOpenRounds(t, open)
	defer closeRounds(t, again)
	if n := latest(t, again); n != 3 {
		t.Fatalf("after a restart, the latest round is %d, want 3, opened before it", n)
	}
	if got := scanAll(t, round(t, again, 3)); len(got) != 0 {
		t.Fatalf("round 3, opened with nothing, holds %v", got)
	}
}

// roundContents is what the suite writes in round n, and reads back.
func roundContents(n int) (bets []lottery.Bet, ended string) {
	for i := range 10 * n {
		bets = append(bets, Bet(uint16(1+i%3), uint32(1000*n+i)))
	}
	return bets, fmt.Sprint([]uint16{uint16(n), uint16(10 + n)})
}

func eachRoundReadsBack(t *testing.T, open RoundsOpener) {
	const rounds = 4
	r := mustOpenRounds(t, open)
	closes := map[int]time.Time{}
	draws := map[int]time.Time{}
	for n := 1; n <= rounds; n++ {
		s := round(t, r, n)
		bets, _ := roundContents(n)
		for i := 0; i < len(bets); i += 7 {
			submit(t, s, bets[i:min(i+7, len(bets))]...)
		}
		for _, a := range []uint16{uint16(10 + n), uint16(n), uint16(n)} {
			if err := s.RecordEnd(a); err != nil {
				t.Fatal(err)
			}
		}
		closes[n] = time.Date(2026, 12, n, 21, 0, 0, 0, time.UTC)
		if _, err := s.FixClosing(closes[n]); err != nil {
			t.Fatal(err)
		}
		if n < rounds { // the newest round is still betting
			if err := s.RecordDraw(); err != nil {
				t.Fatal(err)
			}
			draws[n] = s.DrawTime()
		}
	}
	closeRounds(t, r)
	again := mustOpenRounds(t, open)
	defer closeRounds(t, again)
	if n := latest(t, again); n != rounds {
		t.Fatalf("after a restart, the latest round is %d, want %d", n, rounds)
	}
	for n := 1; n <= rounds; n++ {
		s := round(t, again, n)
		bets, ended := roundContents(n)
		if got := scanAll(t, s); !slices.Equal(got, bets) {
			t.Errorf("round %d reads back %d bets %v, want its %d", n, len(got), got, len(bets))
		}
		if got := fmt.Sprint(s.Ended()); got != ended {
			t.Errorf("round %d: ended %s, want %s", n, got, ended)
		}
		if s.Drawn() != (n < rounds) || !s.DrawTime().Equal(draws[n]) {
			t.Errorf("round %d: drawn %v at %v, want %v at %v", n, s.Drawn(), s.DrawTime(), n < rounds, draws[n])
		}
		if got, err := s.FixedClosing(); err != nil || !got.Equal(closes[n]) {
			t.Errorf("round %d closes at %v (%v), want %v", n, got, err, closes[n])
		}
	}
}

func roundTwice(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	defer closeRounds(t, r)
	first := round(t, r, 2)
	second := round(t, r, 2)
	submit(t, second, Bet(1, 1))
	if err := second.RecordEnd(1); err != nil {
		t.Fatal(err)
	}
	submit(t, first, Bet(1, 2))
	for i, s := range []store.Store{first, second} {
		if got := scanAll(t, s); !slices.Equal(got, []lottery.Bet{Bet(1, 1), Bet(1, 2)}) || fmt.Sprint(s.Ended()) != "[1]" {
			t.Fatalf("round 2's store asked for %s time reads %v, ended %v", [...]string{"the first", "a second"}[i], got, s.Ended())
		}
	}
}

func roundOneIsTheSingleRound(t *testing.T, open RoundsOpener) {
	closes := time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)
	single := mustOpen(t, open.Single)
	submit(t, single, Bet(1, 1), Bet(2, 2))
	for _, record := range []func() error{func() error { return single.RecordEnd(2) }, single.RecordDraw} {
		if err := record(); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := single.FixClosing(closes); err != nil {
		t.Fatal(err)
	}
	drawAt := single.DrawTime()
	closeStore(t, single)

	r := mustOpenRounds(t, open)
	if n := latest(t, r); n != 1 {
		t.Fatalf("a single round's store read as rounds: latest round %d, want 1", n)
	}
	one := round(t, r, 1)
	if got := scanAll(t, one); !slices.Equal(got, []lottery.Bet{Bet(1, 1), Bet(2, 2)}) {
		t.Fatalf("round 1 reads %v, the single round's bets", got)
	}
	fixed, err := one.FixedClosing()
	if fmt.Sprint(one.Ended()) != "[2]" || !one.Drawn() || !one.DrawTime().Equal(drawAt) || err != nil || !fixed.Equal(closes) {
		t.Fatalf("round 1: ended %v, drawn %v at %v, closes at %v (%v); want the single round's [2], drawn at %v, closing at %v",
			one.Ended(), one.Drawn(), one.DrawTime(), fixed, err, drawAt, closes)
	}
	// It carries on: round 2 opens beside it, and round 1 stays as it was.
	submit(t, round(t, r, 2), Bet(3, 3))
	closeRounds(t, r)
	again := mustOpen(t, open.Single)
	defer closeStore(t, again)
	if got := scanAll(t, again); !slices.Equal(got, []lottery.Bet{Bet(1, 1), Bet(2, 2)}) {
		t.Fatalf("the single round's store, after round 2 was played beside it, reads %v", got)
	}
}

func roundDrawTimeRestored(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	s := round(t, r, 2)
	if !s.DrawTime().IsZero() {
		t.Fatalf("a new round's draw time is %v, want none", s.DrawTime())
	}
	before := time.Now()
	if err := s.RecordDraw(); err != nil {
		t.Fatal(err)
	}
	at := s.DrawTime()
	// A database's clock may be another than this process's: a minute's
	// leeway tells a time recorded now from none or a wrong one.
	if at.Before(before.Add(-time.Minute)) || at.After(time.Now().Add(time.Minute)) {
		t.Fatalf("round 2's draw recorded at %v, not about now (%v)", at, before)
	}
	round(t, r, 3) // the next round opens
	closeRounds(t, r)
	again := mustOpenRounds(t, open)
	defer closeRounds(t, again)
	if got := round(t, again, 2).DrawTime(); !got.Equal(at) {
		t.Fatalf("after a restart, round 2's draw time is %v, want %v", got, at)
	}
}

func closingRounds(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	one, two := round(t, r, 1), round(t, r, 2)
	submit(t, two, Bet(1, 1))
	closeRounds(t, r)
	for n, s := range map[int]store.Store{1: one, 2: two} {
		if err := s.NewStream().Submit(context.Background(), []lottery.Bet{Bet(1, 2)}).Wait(); !errors.Is(err, store.ErrClosed) {
			t.Errorf("a batch of round %d after the rounds closed: %v, want ErrClosed", n, err)
		}
		if err := s.RecordEnd(1); !errors.Is(err, store.ErrClosed) {
			t.Errorf("an end of round %d after the rounds closed: %v, want ErrClosed", n, err)
		}
	}
	if _, err := r.Round(3); !errors.Is(err, store.ErrClosed) {
		t.Errorf("opening round 3 after the rounds closed: %v, want ErrClosed", err)
	}
	closeRounds(t, r) // twice is safe
	again := mustOpenRounds(t, open)
	defer closeRounds(t, again)
	if n := latest(t, again); n != 2 {
		t.Errorf("after a restart, the latest round is %d, want 2: nothing opened once closed", n)
	}
	if got := scanAll(t, round(t, again, 2)); !slices.Equal(got, []lottery.Bet{Bet(1, 1)}) {
		t.Errorf("round 2 holds %v, want only what was stored before the close", got)
	}
}

func roundBelowOne(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	defer closeRounds(t, r)
	for _, n := range []int{0, -1} {
		if s, err := r.Round(n); err == nil {
			t.Errorf("round %d opened: %v", n, s)
		}
	}
	if n := latest(t, r); n != 1 {
		t.Errorf("after round 0 was refused, the latest round is %d, want 1", n)
	}
}
