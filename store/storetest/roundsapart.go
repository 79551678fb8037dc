package storetest

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/store"
)

// The rounds kept apart: what one round records is not another's, and
// rounds written at once each keep their own.

// A record is something a round keeps: write records it in a round's
// store (a distinct value for each round), and read says what of it a
// round's store holds, as text.
type record struct {
	write func(t *testing.T, s store.Store, n int)
	read  func(t *testing.T, s store.Store) string
}

var (
	betsRecord = record{
		write: func(t *testing.T, s store.Store, n int) { submit(t, s, Bet(uint16(n), uint32(n))) },
		read:  func(t *testing.T, s store.Store) string { return fmt.Sprint(scanAll(t, s)) },
	}
	endRecord = record{
		write: func(t *testing.T, s store.Store, n int) {
			if err := s.RecordEnd(uint16(n)); err != nil {
				t.Fatal(err)
			}
		},
		read: func(t *testing.T, s store.Store) string { return fmt.Sprint(s.Ended()) },
	}
	drawRecord = record{
		write: func(t *testing.T, s store.Store, _ int) {
			if err := s.RecordDraw(); err != nil {
				t.Fatal(err)
			}
		},
		read: func(t *testing.T, s store.Store) string {
			return fmt.Sprintf("drawn %v at %s", s.Drawn(), s.DrawTime().UTC().Format(time.RFC3339Nano))
		},
	}
	closingRecord = record{
		write: func(t *testing.T, s store.Store, n int) {
			if _, err := s.FixClosing(time.Date(2026, 12, n, 21, 0, 0, 0, time.UTC)); err != nil {
				t.Fatal(err)
			}
		},
		read: func(t *testing.T, s store.Store) string {
			at, err := s.FixedClosing()
			if err != nil {
				t.Fatal(err)
			}
			return at.UTC().Format(time.RFC3339Nano)
		},
	}
)

// keptApart records rec in one round, and checks that the round holds it
// and the other holds what it held before, then after a restart. The
// cases run in turn on one place, each from what the one before left.
func keptApart(rec record) func(t *testing.T, open RoundsOpener) {
	return func(t *testing.T, open RoundsOpener) {
		for _, tt := range []struct{ written, other int }{{2, 1}, {1, 2}, {3, 2}} {
			t.Run(fmt.Sprintf("written in round %d, read in round %d", tt.written, tt.other), func(t *testing.T) {
				r := mustOpenRounds(t, open)
				other, written := round(t, r, tt.other), round(t, r, tt.written)
				otherBefore, writtenBefore := rec.read(t, other), rec.read(t, written)
				rec.write(t, written, tt.written)
				writtenAfter := rec.read(t, written)
				if writtenAfter == writtenBefore {
					t.Fatalf("round %d reads %s after the record as before it", tt.written, writtenAfter)
				}
				if got := rec.read(t, other); got != otherBefore {
					t.Fatalf("round %d reads %s, was %s before round %d's record", tt.other, got, otherBefore, tt.written)
				}
				closeRounds(t, r)
				again := mustOpenRounds(t, open)
				defer closeRounds(t, again)
				if got := rec.read(t, round(t, again, tt.other)); got != otherBefore {
					t.Fatalf("after a restart, round %d reads %s, want %s", tt.other, got, otherBefore)
				}
				if got := rec.read(t, round(t, again, tt.written)); got != writtenAfter {
					t.Fatalf("after a restart, round %d reads %s, want %s", tt.written, got, writtenAfter)
				}
			})
		}
	}
}

func concurrentRounds(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	defer closeRounds(t, r)
	// Two: the newest two rounds are the ones sure to be open together.
	const rounds, batches = 2, 40
	var wg sync.WaitGroup
	errs := make(chan error, rounds)
	for n := 1; n <= rounds; n++ {
		s := round(t, r, n)
		wg.Go(func() {
			stream := s.NewStream()
			var pending []store.Pending
			for i := range batches {
				pending = append(pending, stream.Submit(context.Background(), []lottery.Bet{Bet(uint16(n), uint32(2*i)), Bet(uint16(n), uint32(2*i+1))}))
			}
			for _, p := range pending {
				if err := p.Wait(); err != nil {
					errs <- fmt.Errorf("round %d: %w", n, err)
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	for n := 1; n <= rounds; n++ {
		var want []lottery.Bet
		for doc := range 2 * batches {
			want = append(want, Bet(uint16(n), uint32(doc)))
		}
		if got := scanAll(t, round(t, r, n)); !slices.Equal(got, want) {
			t.Fatalf("round %d reads back %d bets, want its own %d in order: %v", n, len(got), len(want), got)
		}
	}
}

func previousRoundWorks(t *testing.T, open RoundsOpener) {
	r := mustOpenRounds(t, open)
	defer closeRounds(t, r)
	for n := 1; n <= 3; n++ {
		submit(t, round(t, r, n), Bet(1, uint32(n)))
	}
	// Round 2's draw is done; an agency's late end and its bets' reading
	// still go to it while round 3 takes bets.
	two := round(t, r, 2)
	if err := two.RecordEnd(7); err != nil {
		t.Fatalf("round 2, with round 3 open: %v", err)
	}
	submit(t, two, Bet(1, 20))
	if got := scanAll(t, two); !slices.Equal(got, []lottery.Bet{Bet(1, 2), Bet(1, 20)}) || fmt.Sprint(two.Ended()) != "[7]" {
		t.Fatalf("round 2, with round 3 open, reads %v, ended %v", got, two.Ended())
	}
}
