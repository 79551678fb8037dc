package csvfile

import (
	"bytes"
	"context"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"quiniela/lottery/logattr"
)

func TestARoundsFileIsNamedBesideTheFirstWithItsNumberBeforeTheExtension(t *testing.T) {
	for _, tt := range []struct {
		name, path string
		n          int
		want       string
	}{
		{"round 1 is the path itself", "data/bets.csv", 1, "data/bets.csv"},
		{"round 2 is numbered before the extension", "data/bets.csv", 2, "data/bets.round-2.csv"},
		{"a round past 9 keeps every digit", "data/bets.csv", 12, "data/bets.round-12.csv"},
		{"a path without an extension ends with the number", "data/bets", 3, "data/bets.round-3"},
		{"a dot in a folder's name is no extension", "da.ta/bets", 2, "da.ta/bets.round-2"},
		{"only the last extension follows the number", "bets.tar.gz", 2, "bets.tar.round-2.gz"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			if got := RoundPath(tt.path, tt.n); got != tt.want {
				t.Fatalf("RoundPath(%q, %d) = %q, want %q", tt.path, tt.n, got, tt.want)
			}
		})
	}
}

func TestTheLatestRoundIsTheHighestRoundFileAndNothingElseCounts(t *testing.T) {
	for _, tt := range []struct {
		name  string
		base  string   // the rounds' path, in the folder
		files []string // beside it
		want  int
	}{
		{"no file at all is round 1", "bets.csv", nil, 1},
		{"round 1's file alone is round 1", "bets.csv", []string{"bets.csv", "bets.csv.ends"}, 1},
		{"the highest numbered file is the latest", "bets.csv", []string{"bets.csv", "bets.round-2.csv", "bets.round-10.csv", "bets.round-3.csv"}, 10},
		{"a round's ends journal alone is no round", "bets.csv", []string{"bets.round-2.csv", "bets.round-5.csv.ends"}, 2},
		{"a number that is not a round's is no round", "bets.csv", []string{"bets.round-x.csv", "bets.round-.csv", "bets.round-1.csv", "bets.round--3.csv", "bets.round-+4.csv", "bets.round-99999999999999999999.csv"}, 1},
		{"a number written with a leading zero is no round", "bets.csv", []string{"bets.round-02.csv", "bets.round-2.csv"}, 2},
		{"another store's or extension's rounds are not these", "bets.csv", []string{"other.round-7.csv", "bets.round-6.txt", "bets.round-8.csv.bak", "xbets.round-9.csv"}, 1},
		{"a file named only by a number is no round", "bets.csv", []string{"7.csv", "round-7.csv", ".round-7.csv"}, 1},
		{"without an extension, the number ends the name", "bets", []string{"bets.round-4", "bets.round-5.ends", "bets.round-6.csv", "8"}, 4},
	} {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			for _, f := range tt.files {
				if err := os.WriteFile(filepath.Join(dir, f), nil, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			got, err := OpenRounds(filepath.Join(dir, tt.base), nil).Latest()
			if err != nil || got != tt.want {
				t.Fatalf("latest round beside %s among %q: %d (%v), want %d", tt.base, tt.files, got, err, tt.want)
			}
		})
	}
}

func TestTheLatestRoundOfAFolderNotYetMadeIsRound1(t *testing.T) {
	got, err := OpenRounds(filepath.Join(t.TempDir(), "not-yet", "bets.csv"), nil).Latest()
	if err != nil || got != 1 {
		t.Fatalf("latest round in a folder not yet made: %d (%v), want 1", got, err)
	}
}

func TestARoundTwoBehindIsClosedWithoutTheShutdownsLines(t *testing.T) {
	var logs bytes.Buffer
	path := filepath.Join(t.TempDir(), "bets.csv")
	r := OpenRounds(path, slog.New(slog.NewTextHandler(&logs, nil)))
	for n := 1; n <= 3; n++ {
		if _, err := r.Round(n); err != nil {
			t.Fatal(err)
		}
	}
	if strings.Contains(logs.String(), "msg="+logattr.FlushStore) || strings.Contains(logs.String(), "msg="+logattr.UnlockStore) {
		t.Fatalf("round 1, closed as round 3 opened, logged the shutdown's lines:\n%s", logs.String())
	}
	if err := r.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, n := range []int{2, 3} {
		if !strings.Contains(logs.String(), "msg="+logattr.UnlockStore+" result=success path="+RoundPath(path, n)) {
			t.Errorf("round %d's close at shutdown is not logged:\n%s", n, logs.String())
		}
	}
	// Round 1 was closed for good: its lock is free.
	f, err := Open(path, nil)
	if err != nil {
		t.Fatalf("round 1 still locked: %v", err)
	}
	f.Close(context.Background())
}
