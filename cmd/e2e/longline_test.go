package e2e

import (
	"bufio"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
)

// writeHugeLine writes an agency file of a winning bet, a 50 MB line that
// begins with start and goes on with filler, a malformed line, and 100
// more bets, without holding the long line in memory.
func writeHugeLine(t *testing.T, path, start string, filler byte) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	w.WriteString("Name,Surname,00000000,2000-01-01,7574\n" + start)
	chunk := []byte(strings.Repeat(string(filler), 64<<10))
	for range 50 << 20 / len(chunk) {
		w.Write(chunk)
	}
	w.WriteString("\nonly,three,fields\n")
	for i := 1; i <= 100; i++ {
		fmt.Fprintf(w, "Name,Surname,%08d,2000-01-01,%d\n", i, 1000+i)
	}
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestAHugeLineCostsTheAgencyLittleMemoryAndTheBetsAfterItAreSent(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Memory is measured without the race detector, which multiplies it.
	plain, err := proctest.BuildPlain("../..", dir, "client")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name   string
		start  string
		filler byte
	}{
		{"a 50 MB line of commas", "", ','},
		{"an unclosed quote followed by 50 MB of text", `"Name,`, 'x'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "agency-1.csv")
			writeHugeLine(t, file, tt.start, tt.filler)
			// A second agency never comes: this one, its file sent and its
			// end recorded, waits for the draw while its memory is read.
			// (Its exit status would not do: a child's peak RSS counts the
			// test binary's from before the exec.)
			server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=2")
			c := proctest.Start(t, plain["client"], dir, clientEnv(1, addr, "CLI_DATA_FILE="+file)...)
			server.WaitForLine(t, logattr.FinApuestas, logattr.Success)
			const limit = 64 << 10 // KiB
			peak := procStatus(t, c.Cmd.Process.Pid, "VmHWM")
			if peak >= limit {
				t.Errorf("the agency's peak RSS was %d KiB, want under %d", peak, limit)
			}
			t.Logf("the agency's peak RSS: %d KiB", peak)
			c.Cmd.Process.Signal(syscall.SIGTERM)
			if code, _ := c.Wait(t, 10*time.Second); code != 0 {
				t.Fatalf("the agency exited %d:\n%s", code, c.Log())
			}
			for _, want := range []string{
				"action: apuesta_invalida | result: fail | file: " + file + " | line: 2 | error: line too long (over 64 KiB)",
				"action: apuesta_invalida | result: fail | file: " + file + " | line: 3 | error: 3 fields",
				"action: shutdown | result: success | reason: signal | enviadas: 101 | ya_almacenadas: 0 | rechazadas: 0 | salteadas: 2",
			} {
				if !strings.Contains(c.Log(), want) {
					t.Errorf("no %q in:\n%s", want, c.Log())
				}
			}
		})
	}
}
