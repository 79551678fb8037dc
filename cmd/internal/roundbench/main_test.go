package main

import (
	"bytes"
	"errors"
	"regexp"
	"testing"

	"quiniela/store/postgres/pgcluster"
)

// The floor table's whole code path on tiny rounds: the floor server and
// agencies, the proxy, the real central and agencies (every agency's
// winners checked), and the table. Its numbers are not looked at.
func TestTheQuickFloorTableMeasuresEveryRowBesideItsFloor(t *testing.T) {
	var out bytes.Buffer
	if err := run(options{root: "../../..", floorRuns: 1, floor: true, quick: true, out: &out}); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| quick[^|]* \| [\d,]+ \| \d+\.\d{3} \| \d+\.\d{3} \| \d+\.\d× \| 1 \|$`)
	if got, want := len(row.FindAllString(out.String(), -1)), len(floorSizes(true)); got != want {
		t.Fatalf("%d rows of %d measured:\n%s", got, want, out.String())
	}
	if !regexp.MustCompile(`the proxy's own cost .*: the floor \d+\.\d{3} s straight, \d+\.\d{3} s through the proxy`).MatchString(out.String()) {
		t.Fatalf("no line on the proxy's own cost:\n%s", out.String())
	}
}

// The stores table's code path on a tiny round: the same round on the file
// and on a throwaway PostgreSQL cluster, alternating, every agency's
// winners checked, and the table.
func TestTheQuickStoresTablePlaysTheRoundOnBothStores(t *testing.T) {
	pgcluster.SkipShort(t)
	if _, err := pgcluster.BinDir(); errors.Is(err, pgcluster.ErrNotInstalled) {
		t.Skip("SKIP: ", err)
	}
	var out bytes.Buffer
	if err := run(options{root: "../../..", runs: 1, stores: true, quick: true, out: &out}); err != nil {
		t.Fatal(err)
	}
	row := regexp.MustCompile(`(?m)^\| quick \| 300 \| \d+\.\d{3} \| \d+\.\d{3} \| \d+\.\d{2}× \| 1 \|$`)
	if !row.MatchString(out.String()) {
		t.Fatalf("no row of the quick round on both stores:\n%s", out.String())
	}
}

func TestOnlyAndQuickAskForTheTablesTheySayOrAreRefused(t *testing.T) {
	tests := []struct {
		only                  string
		quick                 bool
		floor, rounds, stores bool
		refused               bool
	}{
		{only: "", floor: true, rounds: true, stores: true},
		{only: "floor", floor: true},
		{only: "rounds", rounds: true},
		{only: "stores", stores: true},
		{only: "", quick: true, floor: true},
		{only: "floor", quick: true, floor: true},
		{only: "stores", quick: true, stores: true},
		{only: "rounds", quick: true, refused: true},
		{only: "store", refused: true},
		{only: "bogus", quick: true, refused: true},
	}
	for _, tt := range tests {
		o, err := optionsOf(tt.only, tt.quick)
		if tt.refused {
			if err == nil {
				t.Errorf("-only %q -quick=%v was taken, want it refused", tt.only, tt.quick)
			}
			continue
		}
		if err != nil || o.floor != tt.floor || o.rounds != tt.rounds || o.stores != tt.stores {
			t.Errorf("-only %q -quick=%v: floor %v, rounds %v, stores %v, %v; want %v, %v, %v", tt.only, tt.quick, o.floor, o.rounds, o.stores, err, tt.floor, tt.rounds, tt.stores)
		}
	}
}
