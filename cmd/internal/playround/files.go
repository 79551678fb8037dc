package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"quiniela/lottery/datagen"
	"quiniela/lottery/logattr"
	"strconv"
)

// The round's agency files: which are in the data folder, what is known
// of their winners, and what each agency's run said of them.

// agencyFile is one agency of the round and what is expected of it.
type agencyFile struct {
	id       int
	path     string
	expect   datagen.AgencyFacts
	expected bool
	official bool // the expectation is that of the course's official file
}

// findAgencies lists agency-1.csv, agency-2.csv, … up to the first missing,
// each expected to win as the data folder's winners.json says when it
// describes that very file, or else as official says (datagen.Official,
// the course's set) when it is that file.
func findAgencies(data string, official datagen.Summary) ([]agencyFile, error) {
	summary, err := datagen.ReadSummary(filepath.Join(data, datagen.SummaryFile))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	var files []agencyFile
	for id := 1; ; id++ {
		path := filepath.Join(data, fmt.Sprintf("agency-%d.csv", id))
		if _, err := os.Stat(path); err != nil {
			break
		}
		f := agencyFile{id: id, path: path}
		if f.expect, f.expected = summary.Expect(id, path); !f.expected {
			f.expect, f.expected = official.Expect(id, path)
			f.official = f.expected
		}
		files = append(files, f)
	}
	if len(files) == 0 {
		return nil, fmt.Errorf("no agency files in %s: unzip the course's dataset.zip there, or run make data to generate some", data)
	}
	return files, nil
}

// describeData is the line that says which files of the round have an
// expectation, and from where.
func describeData(data string, files []agencyFile) string {
	described, official := 0, 0
	for _, f := range files {
		switch {
		case f.official:
			official++
		case f.expected:
			described++
		}
	}
	line := fmt.Sprintf("data: %d agency files in %s, %d of them described by %s", len(files), data, described, datagen.SummaryFile)
	if official > 0 {
		line += fmt.Sprintf(", %d of them the course's official files", official)
	}
	return line + " (their winners are checked)"
}

// report prints how agency f's run ended and whether it is as expected.
func report(f agencyFile, a *process) bool {
	if code := a.ExitCode(); code != 0 {
		fmt.Printf("agency %d failed (exit %d): %s\n", f.id, code, lastFailure(a.log))
		return false
	}
	winners := find(a.log, logattr.ConsultaGanadores, logattr.Success)
	summary := find(a.log, logattr.Resumen, logattr.Success)
	if len(winners) == 0 || len(summary) == 0 {
		fmt.Printf("agency %d exited 0 without its winners or summary (log in %s)\n", f.id, a.log)
		return false
	}
	got := winners[len(winners)-1].Values["cant_ganadores"]
	sent := summary[len(summary)-1].Values["enviadas"]
	switch {
	case !f.expected:
		fmt.Printf("agency %d: %s bets sent, %s winners (no expectation for this file: not checked)\n", f.id, sent, got)
	case got == strconv.Itoa(f.expect.Winners):
		fmt.Printf("agency %d: %s bets sent, %s winners, as expected%s\n", f.id, sent, got, f.from())
	default:
		fmt.Printf("agency %d: %s winners, want %d%s\n", f.id, got, f.expect.Winners, f.from())
		return false
	}
	return true
}

// from says where an expectation comes from when it is not winners.json.
func (f agencyFile) from() string {
	if f.official {
		return fmt.Sprintf(" (the course's official agency-%d.csv)", f.expect.Agency)
	}
	return ""
}
