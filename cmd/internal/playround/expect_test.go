package main

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/datagen"
)

// TestFindAgenciesExpectsWhatItKnows: an agency's winners are expected
// from winners.json when it describes that very file, else from the
// official set when the file is that agency's official one, else not at
// all. The official set here is a stand-in made of files the test writes:
// the course's files are not part of the repository (TestMakeRun plays
// them when QUINIELA_OFFICIAL_DATA names a folder holding them).
func TestFindAgenciesExpectsWhatItKnows(t *testing.T) {
	t.Parallel()
	// Three distinct files, by name: their bets, and the lines (from 0)
	// that play the winning number.
	type content struct {
		bets    int
		winning []int
	}
	contents := map[string]content{
		"A": {20, []int{3}},
		"B": {30, []int{1, 2}},
		"C": {30, []int{1, 2, 4}},
	}
	tests := []struct {
		name     string
		files    []string // agency-1.csv, agency-2.csv, …
		summary  []string // the files winners.json describes, agency by agency (nil: no winners.json)
		official []string // the files of the stand-in official set, agency by agency
		want     []string // where each agency's expectation comes from
	}{
		{"a file winners.json describes is expected to win as it says",
			[]string{"A"}, []string{"A"}, nil, []string{"winners.json"}},
		{"the official file of its agency is expected to win as the official set says",
			[]string{"A", "B"}, nil, []string{"A", "B"}, []string{"official", "official"}},
		{"an official file played by another agency is not expected to win anything",
			[]string{"B", "A"}, nil, []string{"A", "B"}, []string{"none", "none"}},
		{"a file one byte away from the official one is not expected to win anything",
			[]string{"A", "B'"}, nil, []string{"A", "B"}, []string{"official", "none"}},
		{"a file that is neither is not expected to win anything",
			[]string{"C"}, []string{"A"}, []string{"B"}, []string{"none"}},
		{"a winners.json left from other files leaves the official files expected",
			[]string{"A", "B"}, []string{"C", "C"}, []string{"A", "B"}, []string{"official", "official"}},
		{"winners.json comes first where both describe a file",
			[]string{"A", "B"}, []string{"A"}, []string{"A", "B"}, []string{"winners.json", "official"}},
	}
	// A name with a prime (B') is that file with its first byte changed.
	write := func(t *testing.T, path, name string) {
		base := strings.TrimSuffix(name, "'")
		proctest.CourseFile(t, path, contents[base].bets, contents[base].winning...)
		if base != name {
			f, err := os.OpenFile(path, os.O_WRONLY, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if _, err := f.Write([]byte("M")); err != nil { // Name → Mame
				t.Fatal(err)
			}
		}
	}
	sums := map[string]string{}
	for name := range contents {
		path := filepath.Join(t.TempDir(), name+".csv")
		write(t, path, name)
		sum, err := datagen.FileSHA256(path)
		if err != nil {
			t.Fatal(err)
		}
		sums[name] = sum
	}
	facts := func(names []string) datagen.Summary {
		var s datagen.Summary
		for i, name := range names {
			s.Agencies = append(s.Agencies, datagen.AgencyFacts{Agency: i + 1, Bets: contents[name].bets, Winners: len(contents[name].winning), SHA256: sums[name]})
		}
		return s
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			data := t.TempDir()
			for i, name := range tt.files {
				write(t, filepath.Join(data, fmt.Sprintf("agency-%d.csv", i+1)), name)
			}
			if tt.summary != nil {
				raw, err := json.Marshal(facts(tt.summary))
				if err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(data, datagen.SummaryFile), raw, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			found, err := findAgencies(data, facts(tt.official))
			if err != nil {
				t.Fatal(err)
			}
			if len(found) != len(tt.want) {
				t.Fatalf("%d agencies found, want %d", len(found), len(tt.want))
			}
			for i, f := range found {
				from := "none"
				switch {
				case f.official:
					from = "official"
				case f.expected:
					from = "winners.json"
				}
				if from != tt.want[i] {
					t.Errorf("agency %d: expectation from %s, want %s", f.id, from, tt.want[i])
				}
				if winners := len(contents[strings.TrimSuffix(tt.files[i], "'")].winning); f.expected && (f.expect.Agency != f.id || f.expect.Winners != winners) {
					t.Errorf("agency %d: expected %+v, the file has %d winners", f.id, f.expect, winners)
				}
			}
		})
	}
}
