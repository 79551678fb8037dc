// Package storetest is the conformance suite of the store contract: every
// implementation of store.Store runs Run in its own tests and must pass it
// whole, and every implementation of store.Rounds runs RunRounds too. Run
// checks what the central relies on: batches all-or-nothing and durable
// once Wait says so, each submitter's order kept, names stored byte for
// byte, each stream's stored batches a prefix of what it submitted, ends,
// the draw's announcement and its time recorded and restored, a restart
// that reads back exactly what was acknowledged, and a closing store that
// answers every batch and refuses the rest. RunRounds checks that each
// round keeps its bets and records apart from every other's, after a
// restart too, that the latest round is the newest opened, and that round
// 1 is the single round's store, so that a central switched to continuous
// rounds carries on.
package storetest

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/store"
)

// Opener opens the store kept at one place; calling it again after Close
// reopens the same place, as a restarted central would.
type Opener func() (store.Store, error)

// Run runs every test of the contract. fresh gives each test a new, empty
// place to keep a store in, and returns how to open it.
func Run(t *testing.T, fresh func(t *testing.T) Opener) {
	tests := []struct {
		name string
		run  func(t *testing.T, open Opener)
	}{
		{"a stored batch reads back whole and in order", storedBatchReadsBack},
		{"concurrent submitters are stored exactly once each, each in its order", concurrentSubmitters},
		{"names with commas, quotes, accents and spaces are kept byte for byte", namesKept},
		{"every bet of the documents' whole range is kept", documentRange},
		{"birthdates across the calendar are kept", birthdatesKept},
		{"an empty batch stores nothing and succeeds", emptyBatch},
		{"what was acknowledged is read back after a restart, and nothing else", restartReadsBack},
		{"ends are recorded once each and restored in order", endsRestored},
		{"the draw's announcement is recorded and restored", drawRestored},
		{"the draw's time is none before it is recorded, then kept, after a restart too", drawTimeKept},
		{"the first closing instant fixed is kept, after a restart too", closingFixed},
		{"close answers every batch submitted before it", closeAnswersEveryBatch},
		{"a closed store refuses batches and records whole", closedStoreRefuses},
		{"close is safe to call twice", closeTwice},
		{"a batch whose context has ended is refused whole", cancelledSubmit},
		{"after a refused batch, no later batch of its stream is stored", brokenStream},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.run(t, fresh(t))
		})
	}
}

// Bet is the bet the suite uses: documents tell bets apart.
func Bet(agency uint16, document uint32) lottery.Bet {
	return lottery.Bet{Agency: agency, FirstName: "Ana", LastName: "Pérez", Document: document, Birthdate: "1990-01-02", Number: uint16(document % 10000)}
}

// mustOpen opens the store, and closes it when the test ends, so that
// one stopped half way does not keep it open (locked, or holding its
// lease) for the next.
func mustOpen(t *testing.T, open Opener) store.Store {
	t.Helper()
	s, err := open()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func closeStore(t *testing.T, s store.Store) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Close(ctx); err != nil {
		t.Fatal(err)
	}
}

func scanAll(t *testing.T, s store.Store) []lottery.Bet {
	t.Helper()
	var got []lottery.Bet
	if err := s.Scan(func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func submit(t *testing.T, s store.Store, bets ...lottery.Bet) {
	t.Helper()
	if err := s.NewStream().Submit(context.Background(), bets).Wait(); err != nil {
		t.Fatal(err)
	}
}

func storedBatchReadsBack(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	batch := []lottery.Bet{Bet(1, 3), Bet(1, 1), Bet(1, 2)}
	submit(t, s, batch...)
	submit(t, s, Bet(2, 9))
	if got := scanAll(t, s); !slices.Equal(got, append(batch, Bet(2, 9))) {
		t.Fatalf("read back %v", got)
	}
}

func concurrentSubmitters(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	const submitters, batches = 12, 30
	var wg sync.WaitGroup
	errs := make(chan error, submitters)
	for c := range submitters {
		wg.Go(func() {
			// Several batches in flight at once, as a session keeps them.
			stream := s.NewStream()
			var pending []store.Pending
			doc := uint32(1)
			for i := range batches {
				batch := make([]lottery.Bet, 1+(c+i)%63)
				for j := range batch {
					batch[j] = Bet(uint16(c+1), doc)
					doc++
				}
				pending = append(pending, stream.Submit(context.Background(), batch))
			}
			for _, p := range pending {
				if err := p.Wait(); err != nil {
					errs <- err
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
	next := map[uint16]uint32{}
	want := 0
	for c := range submitters {
		next[uint16(c+1)] = 1
		for i := range batches {
			want += 1 + (c+i)%63
		}
	}
	got := scanAll(t, s)
	if len(got) != want {
		t.Fatalf("read back %d bets, want %d", len(got), want)
	}
	for _, b := range got {
		if b != Bet(b.Agency, next[b.Agency]) {
			t.Fatalf("agency %d: read %+v, want document %d (order or duplicate broken)", b.Agency, b, next[b.Agency])
		}
		next[b.Agency]++
	}
}

func namesKept(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	bets := []lottery.Bet{
		{Agency: 1, FirstName: "María, José", LastName: `O"Neil`, Document: 7, Birthdate: "1980-12-31", Number: 7574},
		{Agency: 2, FirstName: " Ñandú", LastName: "Fornerón Álvarez ", Document: 8, Birthdate: "2000-02-29", Number: 0},
		{Agency: 3, FirstName: `\.`, LastName: "a|b: c", Document: 9, Birthdate: "1930-01-01", Number: 9999},
	}
	submit(t, s, bets...)
	closeStore(t, s)
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if got := scanAll(t, again); !slices.Equal(got, bets) {
		t.Fatalf("read back\n%+v\nwant\n%+v", got, bets)
	}
}

func documentRange(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	bets := []lottery.Bet{Bet(1, 0), Bet(1, lottery.MaxDocument), Bet(65535, 1)}
	submit(t, s, bets...)
	if got := scanAll(t, s); !slices.Equal(got, bets) {
		t.Fatalf("read back %v", got)
	}
}

func birthdatesKept(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	var bets []lottery.Bet
	for i, d := range []string{"0000-02-29", "0001-01-01", "1582-10-10", "1900-02-28", "1999-12-31", "2000-01-01", "2024-02-29"} {
		b := Bet(1, uint32(i))
		b.Birthdate = d
		bets = append(bets, b)
	}
	submit(t, s, bets...)
	if got := scanAll(t, s); !slices.Equal(got, bets) {
		t.Fatalf("read back\n%v\nwant\n%v", got, bets)
	}
}

func emptyBatch(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	submit(t, s)
	if got := scanAll(t, s); len(got) != 0 {
		t.Fatalf("an empty batch stored %v", got)
	}
}

func restartReadsBack(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	var want []lottery.Bet
	for i := range 50 {
		batch := []lottery.Bet{Bet(uint16(1+i%3), uint32(2*i)), Bet(uint16(1+i%3), uint32(2*i+1))}
		submit(t, s, batch...)
		want = append(want, batch...)
	}
	closeStore(t, s)
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if got := scanAll(t, again); !slices.Equal(got, want) {
		t.Fatalf("after a restart, read back %d bets, want the %d acknowledged", len(got), len(want))
	}
}

func closeAnswersEveryBatch(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	stream := s.NewStream()
	var pending []store.Pending
	for i := range 200 {
		pending = append(pending, stream.Submit(context.Background(), []lottery.Bet{Bet(1, uint32(i)), Bet(1, uint32(i+1000))}))
	}
	closeStore(t, s)
	for i, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatalf("batch %d, submitted before Close: %v", i, err)
		}
	}
	again := mustOpen(t, open)
	defer closeStore(t, again)
	got := scanAll(t, again)
	if len(got) != 400 {
		t.Fatalf("stored %d bets, want 400", len(got))
	}
	for i := range 200 {
		if got[2*i] != Bet(1, uint32(i)) || got[2*i+1] != Bet(1, uint32(i+1000)) {
			t.Fatalf("batch %d out of order or split: %v %v", i, got[2*i], got[2*i+1])
		}
	}
}

func closedStoreRefuses(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	submit(t, s, Bet(1, 1))
	closeStore(t, s)
	if err := s.NewStream().Submit(context.Background(), []lottery.Bet{Bet(1, 2)}).Wait(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a batch after Close: %v, want ErrClosed", err)
	}
	if err := s.RecordEnd(1); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("an end after Close: %v, want ErrClosed", err)
	}
	if err := s.RecordDraw(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("the draw after Close: %v, want ErrClosed", err)
	}
	again := mustOpen(t, open)
	defer closeStore(t, again)
	if got := scanAll(t, again); !slices.Equal(got, []lottery.Bet{Bet(1, 1)}) || len(again.Ended()) != 0 || again.Drawn() {
		t.Fatalf("after refusals the store holds %v, ends %v, drawn %v", got, again.Ended(), again.Drawn())
	}
}

func closeTwice(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	closeStore(t, s)
	closeStore(t, s)
}

func cancelledSubmit(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.NewStream().Submit(ctx, []lottery.Bet{Bet(1, 1), Bet(1, 2)}).Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a batch whose context had ended: %v, want context.Canceled", err)
	}
	if got := scanAll(t, s); len(got) != 0 {
		t.Fatalf("a refused batch was stored: %v", got)
	}
}

func brokenStream(t *testing.T, open Opener) {
	s := mustOpen(t, open)
	defer closeStore(t, s)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	broken, other := s.NewStream(), s.NewStream()
	first := broken.Submit(context.Background(), []lottery.Bet{Bet(1, 1)})
	refused := broken.Submit(ctx, []lottery.Bet{Bet(1, 2)})
	after := broken.Submit(context.Background(), []lottery.Bet{Bet(1, 3)})
	fine := other.Submit(context.Background(), []lottery.Bet{Bet(2, 1)})
	if err := first.Wait(); err != nil {
		t.Fatalf("the batch before the refused one: %v", err)
	}
	if err := refused.Wait(); err == nil {
		t.Fatal("a batch whose context had ended was stored")
	}
	if err := after.Wait(); !errors.Is(err, store.ErrBroken) {
		t.Fatalf("the batch after a refused one: %v, want ErrBroken", err)
	}
	if err := fine.Wait(); err != nil {
		t.Fatalf("another stream's batch: %v", err)
	}
	if got := scanAll(t, s); !slices.Equal(got, []lottery.Bet{Bet(1, 1), Bet(2, 1)}) {
		t.Fatalf("the store holds %v, want the prefix of the broken stream and the other stream's batch", got)
	}
}
