package main

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
)

func TestSettingsThatCannotWorkStopTheAgencyAtStart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "agency-1.csv"), 0o755); err != nil {
		t.Fatal(err)
	}
	bets := filepath.Join(dir, "bets.csv")
	proctest.CourseFile(t, bets, 3)
	// Nothing answers at this address: an agency that got past its start
	// would log its connection attempts. (Single-bet mode, which reads no
	// file, starts without one: see
	// TestASingleBetWithDocumentZeroIsTheSameDocumentOnBothSides.)
	central := "CLI_SERVER_ADDRESS=127.0.0.1:" + proctest.FreePort(t)
	tests := []struct {
		name string
		env  []string
		says string
	}{
		{"a folder as the bets file", []string{"CLI_DATA_FILE=" + filepath.Join(dir, "agency-1.csv")},
			`CLI_DATA_FILE=".*/agency-1.csv" - is a directory, not a regular file - the agency reads its bets from it`},
		{"a bets file that does not exist", []string{"CLI_DATA_FILE=" + filepath.Join(dir, "agency-2.csv")},
			`CLI_DATA_FILE=".*/agency-2.csv" - no such file - the agency reads its bets from it`},
		{"the default bets file when it does not exist", nil,
			`CLI_DATA_FILE="./.data/agency-1.csv" - no such file`},
		{"a reply timeout shorter than the central's winners hold", []string{"CLI_DATA_FILE=" + bets, "CLI_IO_TIMEOUT=1s"},
			`CLI_IO_TIMEOUT="1s" - must be at least 2s - it must outlast the central's hold of a winners query`},
		{"a reply timeout of a nanosecond", []string{"CLI_DATA_FILE=" + bets, "CLI_IO_TIMEOUT=1ns"},
			`CLI_IO_TIMEOUT="1ns" - must be at least 2s`},
		{"a connect timeout that gives up before dialling", []string{"CLI_DATA_FILE=" + bets, "CLI_CONNECT_TIMEOUT=1ns"},
			`CLI_CONNECT_TIMEOUT="1ns" - must be at least 1s`},
		{"a winners wait shorter than one held query", []string{"CLI_DATA_FILE=" + bets, "CLI_WINNERS_TIMEOUT=1ns"},
			`CLI_WINNERS_TIMEOUT="1ns" - must be at least 1s`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// The bound only stops an agency that started after all.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bins["client"], "--env-file", os.DevNull)
			cmd.Dir = t.TempDir()
			cmd.Env = append([]string{proctest.RaceNoExitSleep, "CLI_ID=1", central}, tt.env...)
			out, _ := cmd.Output()
			want := regexp.MustCompile(`action: config \| result: fail \| error: .*` + tt.says)
			if cmd.ProcessState.ExitCode() != 2 || !want.Match(out) {
				t.Fatalf("exit %d, output:\n%s\nwant exit 2 and %q", cmd.ProcessState.ExitCode(), out, want)
			}
			if strings.Contains(string(out), "action: connect") {
				t.Errorf("an agency that refused its settings still tried the central:\n%s", out)
			}
		})
	}
}
