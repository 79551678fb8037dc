package postgres

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/store"
	"quiniela/store/postgres/pgcluster"
	"quiniela/store/storetest"
)

func TestThePostgreSQLRoundsMeetTheRoundsContract(t *testing.T) {
	t.Parallel()
	pgcluster.SkipShort(t)
	storetest.RunRounds(t, func(t *testing.T) storetest.RoundsOpener {
		url := freshDatabase(t, nil)
		return storetest.RoundsOpener{
			Rounds: func() (store.Rounds, error) { return Open(context.Background(), url, Options{Lease: testLease}) },
			Single: func() (store.Store, error) { return Open(context.Background(), url, Options{Lease: testLease}) },
		}
	})
}

func mustRound(t *testing.T, s *Store, n int) store.Store {
	t.Helper()
	r, err := s.Round(n)
	if err != nil {
		t.Fatalf("round %d: %v", n, err)
	}
	return r
}

func scanRound(t *testing.T, s store.Store) []lottery.Bet {
	t.Helper()
	var got []lottery.Bet
	if err := s.Scan(func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func submitTo(t *testing.T, s store.Store, bets ...lottery.Bet) {
	t.Helper()
	if err := s.NewStream().Submit(context.Background(), bets).Wait(); err != nil {
		t.Fatal(err)
	}
}

func latestOf(t *testing.T, s *Store) int {
	t.Helper()
	n, err := s.Latest()
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func TestAStandbyTakingTheLeaseOverCarriesOnTheLatestRound(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	old := open(t, url, "old", nil)
	submitTo(t, old, bet(1, 1)) // round 1's, drawn
	if err := old.RecordDraw(); err != nil {
		t.Fatal(err)
	}
	two := mustRound(t, old, 2)
	submitTo(t, two, bet(1, 2), bet(2, 3))
	if err := two.RecordEnd(2); err != nil {
		t.Fatal(err)
	}
	// The old central stops, as a paused process does, with a batch of
	// round 2 between its fence and its commit.
	p := newPauser("commit")
	old.pause = p.pause
	old.stopRenewal()
	pending := two.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 4)})
	within(t, p.paused, "the old central's batch of round 2 reaching its commit")
	standby, stopStandby := context.WithCancel(context.Background())
	defer stopStandby()
	var next *Store
	select {
	case next = <-openAsync(standby, url, "next", nil):
	case <-time.After(30 * time.Second):
		t.Fatal("the standby did not take over within 30 s")
	}
	if next == nil {
		t.Fatal("the standby failed to take over")
	}
	defer next.Close(context.Background())
	p.release()
	if err := pending.Wait(); err == nil {
		t.Fatal("the paused central committed a batch of round 2 after the standby took over")
	}
	if _, err := old.Round(3); !errors.Is(err, ErrFenced) {
		t.Fatalf("the fenced central opened round 3: %v, want ErrFenced", err)
	}

	if n := latestOf(t, next); n != 2 {
		t.Fatalf("the standby's latest round is %d, want 2", n)
	}
	carried := mustRound(t, next, 2)
	if got := scanRound(t, carried); !slices.Equal(got, []lottery.Bet{bet(1, 2), bet(2, 3)}) {
		t.Fatalf("the standby's round 2 reads %v, want the bets the first central committed in it, once", got)
	}
	if fmt.Sprint(carried.Ended()) != "[2]" || carried.Drawn() {
		t.Fatalf("the standby's round 2: ended %v, drawn %v; want [2], not drawn", carried.Ended(), carried.Drawn())
	}
	if !next.Drawn() || len(scanAll(t, next)) != 1 {
		t.Fatalf("the standby's round 1: drawn %v, %d bets; want drawn, 1", next.Drawn(), len(scanAll(t, next)))
	}
	submitTo(t, carried, bet(1, 4)) // the agency sends the refused batch again
	if got := scanRound(t, carried); !slices.Equal(got, []lottery.Bet{bet(1, 2), bet(2, 3), bet(1, 4)}) {
		t.Fatalf("round 2 reads %v after the batch was sent again", got)
	}
}

func TestEveryRoundsTransactionIsFencedAndCountedInTheLease(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	direct := connect(t, url)
	commits := func() int64 {
		t.Helper()
		var n int64
		if err := direct.QueryRow(context.Background(), `SELECT commits FROM central_lease`).Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	two := mustRound(t, s, 2)
	for i, write := range []struct {
		name string
		run  func() error
	}{
		{"round 1's batch", func() error { return s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait() }},
		{"round 2's batch", func() error { return two.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 2)}).Wait() }},
		{"round 2's end", func() error { return two.RecordEnd(1) }},
		{"round 1's draw", s.RecordDraw},
		{"round 2's closing instant", func() error { _, err := two.FixClosing(time.Now().Add(time.Hour)); return err }},
	} {
		if err := write.run(); err != nil {
			t.Fatalf("%s: %v", write.name, err)
		}
		// Round 2's opening was the epoch's first commit.
		if got := commits(); got != int64(i+2) {
			t.Fatalf("after %s, the lease counts %d commits, want %d", write.name, got, i+2)
		}
	}
	// Another central takes the lease: no round of this one writes again.
	if _, err := direct.Exec(context.Background(), `UPDATE central_lease SET epoch = epoch + 1, holder = 'new', commits = 0`); err != nil {
		t.Fatal(err)
	}
	within(t, s.Lost(), "the central noticing it lost the lease")
	for name, err := range map[string]error{
		"round 2's batch": two.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 3)}).Wait(),
		"round 2's draw":  two.RecordDraw(),
	} {
		if !errors.Is(err, ErrFenced) {
			t.Errorf("%s after the lease was lost: %v, want ErrFenced", name, err)
		}
	}
	if got := commits(); got != 0 {
		t.Fatalf("the new epoch counts %d commits of the fenced central", got)
	}
}

func TestClosingOneRoundLeavesTheStoreAndItsOtherRoundsOpen(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	two := mustRound(t, s, 2)
	submitTo(t, two, bet(1, 1))
	if err := two.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := two.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 2)}).Wait(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a batch of the closed round: %v, want ErrClosed", err)
	}
	if err := two.RecordEnd(1); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("an end of the closed round: %v, want ErrClosed", err)
	}
	submitTo(t, s, bet(1, 3))
	submitTo(t, mustRound(t, s, 3), bet(1, 4))
	if s.fenced() {
		t.Fatal("closing a round gave the lease up")
	}
	if got := scanRound(t, two); !slices.Equal(got, []lottery.Bet{bet(1, 1)}) {
		t.Fatalf("the closed round reads %v", got)
	}
}

func TestOpeningARoundClosesThoseBeforeTheOneBeforeItAndAClosedOneOpensAfresh(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	submitTo(t, s, bet(1, 1))
	two := mustRound(t, s, 2)
	mustRound(t, s, 3)
	if err := s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 2)}).Wait(); !errors.Is(err, store.ErrClosed) {
		t.Fatalf("round 1, with round 3 open: %v, want ErrClosed", err)
	}
	submitTo(t, two, bet(1, 3))
	// The rounds left open are the newest two: round 1 asked for again is
	// a store of its own, which opening round 3 did not close.
	again := mustRound(t, s, 1)
	submitTo(t, again, bet(1, 4))
	if got := scanRound(t, again); !slices.Equal(got, []lottery.Bet{bet(1, 1), bet(1, 4)}) {
		t.Fatalf("round 1 opened afresh reads %v", got)
	}
	if n := latestOf(t, s); n != 3 {
		t.Fatalf("the latest round is %d after round 1 was opened again, want 3", n)
	}
}

func TestASchemaOfVersionThreeIsMigratedWithItsRecordsAsRound1s(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	// A database as a central of version 3 left it: a round with its
	// bets, an end, the draw and its closing instant.
	leftByVersion(t, url, 3,
		`INSERT INTO bets (agency, first_name, last_name, document, birthdate, number) VALUES (1, 'Ana', 'Pérez', 7, '1990-01-02', 7)`,
		`INSERT INTO ends (agency) VALUES (1)`,
		`INSERT INTO draw (announced_at) VALUES ('2026-12-01 21:00:03+00')`,
		`INSERT INTO closing (closes_at) VALUES ('2026-12-01 21:00:00+00')`,
	)
	s := open(t, url, "new", nil)
	closes, err := s.FixedClosing()
	if err != nil {
		t.Fatal(err)
	}
	if got := scanAll(t, s); !slices.Equal(got, []lottery.Bet{{Agency: 1, FirstName: "Ana", LastName: "Pérez", Document: 7, Birthdate: "1990-01-02", Number: 7}}) ||
		fmt.Sprint(s.Ended()) != "[1]" || !s.Drawn() ||
		!s.DrawTime().Equal(time.Date(2026, 12, 1, 21, 0, 3, 0, time.UTC)) || !closes.Equal(time.Date(2026, 12, 1, 21, 0, 0, 0, time.UTC)) {
		t.Fatalf("after the migration round 1 holds %v, ended %v, drawn %v at %v, closing at %v; want the old round's",
			got, s.Ended(), s.Drawn(), s.DrawTime(), closes)
	}
	if n := latestOf(t, s); n != 1 {
		t.Fatalf("the migrated database's latest round is %d, want 1", n)
	}
	two := mustRound(t, s, 2)
	if got := scanRound(t, two); len(got) != 0 || len(two.Ended()) != 0 || two.Drawn() {
		t.Fatalf("round 2 of the migrated database holds %v, ended %v, drawn %v", got, two.Ended(), two.Drawn())
	}
}

// BenchmarkIngestLaterRound is BenchmarkIngest in round 2, whose rows
// carry their round.
func BenchmarkIngestLaterRound(b *testing.B) {
	s, err := Open(context.Background(), freshDatabase(b, nil), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	two, err := s.Round(2)
	if err != nil {
		b.Fatal(err)
	}
	ingest(b, two)
}

func TestASchemaOfVersionFourHasItsBetsMovedIntoBatchesInOrder(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	// A database as a central of version 4 left it: a row a bet, two
	// rounds, three agencies' bets interleaved, agency 1 with more than a
	// batch of them in round 1.
	direct := leftByVersion(t, url, 4,
		`INSERT INTO bets (round, agency, first_name, last_name, document, birthdate, number)
			SELECT 1 + (g % 7 = 0)::int, 1 + g % 3, 'Añá', 'O''Brien-Pérez', 1000 - g, date '1950-01-01' + g, g
			FROM generate_series(1, 400) g ORDER BY g`,
	)
	s := open(t, url, "new", nil)
	two := mustRound(t, s, 2)
	want := map[int][]lottery.Bet{}
	for g := 1; g <= 400; g++ {
		round := 1
		if g%7 == 0 {
			round = 2
		}
		want[round] = append(want[round], lottery.Bet{Agency: uint16(1 + g%3), FirstName: "Añá", LastName: "O'Brien-Pérez",
			Document: uint32(1000 - g), Birthdate: time.Date(1950, 1, 1+g, 0, 0, 0, 0, time.UTC).Format(time.DateOnly), Number: uint16(g)})
	}
	for round, got := range map[int][]lottery.Bet{1: scanAll(t, s), 2: scanRound(t, two)} {
		if !slices.Equal(byAgency(got), byAgency(want[round])) {
			t.Errorf("round %d after the migration holds %d bets, want %d in each agency's order", round, len(got), len(want[round]))
		}
	}
	var batches, largest int
	if err := direct.QueryRow(context.Background(), `SELECT count(*), max(bets) FROM batches`).Scan(&batches, &largest); err != nil {
		t.Fatal(err)
	}
	// Round 1: 343 bets of three agencies (115, 114, 114), round 2: 57.
	if batches != 2+2+2+3 || largest != 63 {
		t.Errorf("the migration made %d batches of at most %d bets, want 9 of at most 63", batches, largest)
	}
}

func TestASchemaOfVersionFiveHasItsLinesRewrittenAsNamesAndFixedFieldsInPlace(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	// A database as a central of version 5 left it: rows of lines of text,
	// in two rounds, with the extremes of each field; the last batch
	// deleted, so that the identity's next value is past the largest id;
	// and an operator's index on the batches and view on the bets.
	direct := leftByVersion(t, url, 5,
		`INSERT INTO batches (round, agency, bets, lines) VALUES
			(1, 1, 2, E'Añá\tO''Brien-Pérez\t4294967295\t0001-01-01\t9999\nA\tB\t0\t2000-02-29\t0\n'),
			(2, 65535, 1, E'Zoë\tD''Arc\t16777216\t1999-12-31\t256\n'),
			(1, 2, 1, E'José María\tLópez\t30904465\t1999-03-17\t2201\n'),
			(1, 3, 1, E'Deleted\tBatch\t1\t1999-03-17\t1\n')`,
		`DELETE FROM batches WHERE id = 4`,
		`CREATE INDEX operators_index ON batches (agency)`,
		`CREATE VIEW operators_view AS SELECT document FROM bets WHERE number = 9999`,
	)
	s := open(t, url, "new", nil)
	want := []lottery.Bet{
		{Agency: 1, FirstName: "Añá", LastName: "O'Brien-Pérez", Document: lottery.MaxDocument, Birthdate: "0001-01-01", Number: 9999},
		{Agency: 1, FirstName: "A", LastName: "B", Document: 0, Birthdate: "2000-02-29", Number: 0},
		{Agency: 2, FirstName: "José María", LastName: "López", Document: 30904465, Birthdate: "1999-03-17", Number: 2201},
	}
	wantTwo := []lottery.Bet{{Agency: 65535, FirstName: "Zoë", LastName: "D'Arc", Document: 16777216, Birthdate: "1999-12-31", Number: 256}}
	if got, gotTwo := scanAll(t, s), scanRound(t, mustRound(t, s, 2)); !slices.Equal(got, want) || !slices.Equal(gotTwo, wantTwo) {
		t.Fatalf("after the migration round 1 holds %v and round 2 %v, want %v and %v", got, gotTwo, want, wantTwo)
	}
	added := lottery.Bet{Agency: 3, FirstName: "N", LastName: "M", Document: 1, Birthdate: "1980-05-06", Number: 1}
	if err := s.NewStream().Submit(context.Background(), []lottery.Bet{added}).Wait(); err != nil {
		t.Fatal(err)
	}
	rows, err := direct.Query(context.Background(), `SELECT id, round, agency, first_name, last_name, document, to_char(birthdate, 'YYYY-MM-DD'), number FROM bets ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var id int64
		var round int
		var b lottery.Bet
		if err := rows.Scan(&id, &round, &b.Agency, &b.FirstName, &b.LastName, &b.Document, &b.Birthdate, &b.Number); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(id, " ", round, " ", b))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	// Batch ids 1 to 3 as before, and the new batch after the deleted 4.
	wantRows := []string{
		fmt.Sprint(1*65536+1, " 1 ", want[0]), fmt.Sprint(1*65536+2, " 1 ", want[1]), fmt.Sprint(2*65536+1, " 2 ", wantTwo[0]),
		fmt.Sprint(3*65536+1, " 1 ", want[2]), fmt.Sprint(5*65536+1, " 1 ", added),
	}
	if !slices.Equal(got, wantRows) {
		t.Fatalf("view bets after the migration reads\n%v\nwant\n%v", strings.Join(got, "\n"), strings.Join(wantRows, "\n"))
	}
	var index, document string
	if err := direct.QueryRow(context.Background(), `SELECT (SELECT indexname FROM pg_indexes WHERE tablename = 'batches'), (SELECT document::text FROM operators_view)`).Scan(&index, &document); err != nil || index != "operators_index" || document != "4294967295" {
		t.Fatalf("after the migration the operator's index is %q and view reads %q (%v), want them kept", index, document, err)
	}
}

func TestALineOfVersionFiveThatIsNotABetStopsTheMigrationNamingItsBatch(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ agency, bets, lines, want string }{
		{"1", "1", `A\tB\t4294967296\t1990-01-02\t1\n`, `batch id 2, line 1: "A\tB\t4294967296\t1990-01-02\t1" is not a bet`},
		{"1", "1", `A\tB\t1\t1990-01-02\t65536\n`, `batch id 2, line 1: "A\tB\t1\t1990-01-02\t65536" is not a bet`},
		{"1", "2", `A\tB\t1\t1990-01-02\t1\nA\tB\t-1\t1990-01-02\t1\n`, `batch id 2, line 2: "A\tB\t-1\t1990-01-02\t1" is not a bet`},
		{"1", "1", `A\tB\t1\t1990-01-02\t1\t9\n`, `batch id 2, line 1: "A\tB\t1\t1990-01-02\t1\t9" is not a bet`},
		{"1", "1", `A\tB\tabc\t1990-01-02\t1\n`, `batch id 2, line 1: "A\tB\tabc\t1990-01-02\t1" is not a bet`},
		{"1", "1", `A\tB\t1\t2001-02-29\t1\n`, `batch id 2, line 1: "A\tB\t1\t2001-02-29\t1" is not a bet`},
		{"1", "1", `A\tB\t1\t1990-13-01\t1\n`, `batch id 2, line 1: "A\tB\t1\t1990-13-01\t1" is not a bet`},
		{"1", "1", `A\x01\tB\t1\t1990-01-02\t1\n`, "batch id 2, line 1: \"A\x01\\tB\\t1\\t1990-01-02\\t1\" is not a bet"},
		{"1", "1", `A\tB\t1\t1990-01-02\t1`, `batch id 2: its lines do not end with a line break`},
		{"1", "2", `A\tB\t1\t1990-01-02\t1\n`, `batch id 2: it holds 1 lines, and its column bets says 2`},
		{"70000", "1", `A\tB\t1\t1990-01-02\t1\n`, `batch id 2: its agency 70000 is not within 0..65535`},
	} {
		url := freshDatabase(t, nil)
		leftByVersion(t, url, 5, `INSERT INTO batches (agency, bets, lines) VALUES (1, 1, E'A\tB\t1\t1990-01-02\t1\n'), (`+tt.agency+`, `+tt.bets+`, E'`+tt.lines+`')`)
		s, err := Open(context.Background(), url, Options{Lease: testLease})
		if err == nil {
			s.Close(context.Background())
		}
		if err == nil || !strings.Contains(err.Error(), "migrating the schema") || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("opening a database of version 5 holding %q: %v, want an error saying %q", tt.lines, err, tt.want)
		}
	}
}

func TestViewBetsReadsBackEveryBetStoredInItsOrder(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	two := mustRound(t, s, 2)
	var want []string
	for round, st := range []store.Store{s, two} {
		stream := st.NewStream()
		for batch := range 3 {
			var bets []lottery.Bet
			for i := range 40 {
				b := lottery.Bet{Agency: uint16(7 + round), FirstName: "Zoë", LastName: "D'Arc", Document: lottery.MaxDocument - uint32(batch*100+i),
					Birthdate: []string{"2000-02-29", "1901-01-01", "0001-12-31"}[i%3], Number: uint16(round*9000 + batch*40 + i)}
				bets = append(bets, b)
				want = append(want, fmt.Sprint(round+1, b))
			}
			if err := stream.Submit(context.Background(), bets).Wait(); err != nil {
				t.Fatal(err)
			}
		}
	}
	rows, err := connect(t, url).Query(context.Background(),
		`SELECT round, agency, first_name, last_name, document, to_char(birthdate, 'YYYY-MM-DD'), number FROM bets ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for rows.Next() {
		var round int
		var b lottery.Bet
		if err := rows.Scan(&round, &b.Agency, &b.FirstName, &b.LastName, &b.Document, &b.Birthdate, &b.Number); err != nil {
			t.Fatal(err)
		}
		got = append(got, fmt.Sprint(round, b))
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("view bets reads %d rows:\n%v\nwant %d:\n%v", len(got), got, len(want), want)
	}
}

// byAgency is bets with each agency's together, each in its order.
func byAgency(bets []lottery.Bet) []lottery.Bet {
	bets = slices.Clone(bets)
	slices.SortStableFunc(bets, func(a, b lottery.Bet) int { return int(a.Agency) - int(b.Agency) })
	return bets
}
