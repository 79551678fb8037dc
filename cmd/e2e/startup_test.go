package e2e

import (
	"bytes"
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

func TestEveryBinaryRefusesAnArgumentItDoesNotTake(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		args []string
		env  []string
		// stdout holds the config fail line for a binary with settings;
		// one without says it on stderr.
		stdout, stderr string
	}{
		{"server", []string{"--env-file", os.DevNull, "extra-arg"}, []string{"SERVER_IP=127.0.0.1", "SERVER_PORT=0"},
			`action: config \| result: fail \| error: unexpected argument "extra-arg" - server takes no arguments, only flags; .*\(server -h lists both\)`, ""},
		{"client", []string{"--env-file", os.DevNull, "CLI_ID=1"}, []string{"CLI_ID=1", "CLI_SERVER_ADDRESS=127.0.0.1:1"},
			`action: config \| result: fail \| error: unexpected argument "CLI_ID=1" - client takes no arguments, only flags; its settings come from the environment or --env-file`, ""},
		{"healthcheck", []string{"--env-file", os.DevNull, "127.0.0.1:12345"}, []string{"HEALTHCHECK_ADDRESS=127.0.0.1:1"},
			`action: config \| result: fail \| error: unexpected argument "127.0.0.1.12345" - healthcheck takes no arguments`, ""},
		{"datagen", []string{"-out", "data", "extra-arg"}, nil,
			"", `datagen: unexpected argument "extra-arg": datagen takes no arguments, only flags (datagen -h lists them)`},
		{"certs", []string{"-out", "certs", "server.example"}, nil,
			"", `certs: unexpected argument "server.example": certs takes no arguments`},
		{"status", []string{"127.0.0.1:1"}, nil,
			"", `status: unexpected argument "127.0.0.1:1": status takes no arguments`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bins[tt.name], tt.args...)
			cmd.Dir = t.TempDir()
			cmd.Env = append([]string{proctest.RaceNoExitSleep}, tt.env...)
			var stderr bytes.Buffer
			cmd.Stderr = &stderr
			out, _ := cmd.Output()
			code := cmd.ProcessState.ExitCode()
			if code != 2 || !regexp.MustCompile(tt.stdout).Match(out) || !strings.Contains(stderr.String(), tt.stderr) {
				t.Fatalf("exit %d, stdout:\n%s\nstderr:\n%s\nwant exit 2, %q on stdout and %q on stderr", code, out, &stderr, tt.stdout, tt.stderr)
			}
			// Refused before doing anything: nothing written, nothing dialled.
			if entries, _ := os.ReadDir(cmd.Dir); len(entries) > 0 {
				t.Errorf("%s wrote %s before refusing its arguments", tt.name, entries[0].Name())
			}
			if strings.Contains(string(out), "result: success") {
				t.Errorf("%s went on past its arguments:\n%s", tt.name, out)
			}
		})
	}
}
