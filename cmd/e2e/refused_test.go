package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/protocol"
)

// strayEnd sends the end of agency 1 from a connection of its own, as a
// second process configured with its number, or a hostile peer, would.
func strayEnd(t *testing.T, addr, _, _ string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := conn.Write(protocol.AppendEnd(nil, 1)); err != nil {
		t.Fatal(err)
	}
	if code, err := protocol.ReadCode(conn); err != nil || code != protocol.CodeOK {
		t.Fatalf("the stray end got %v, %v", code, err)
	}
}

// playedBefore has agency 1 play a whole round with the first n bets of
// its file, before the run under test.
func playedBefore(n int) func(t *testing.T, addr, dir, file string) {
	return func(t *testing.T, addr, dir, file string) {
		t.Helper()
		first := filepath.Join(dir, "first.csv")
		proctest.CourseFile(t, first, n, 0)
		c := proctest.Start(t, bins["client"], dir, clientEnv(1, addr, "CLI_DATA_FILE="+first)...)
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("the earlier run exited %d:\n%s", code, c.Log())
		}
	}
}

func TestAnAgencyWhoseBetsTheCentralDoesNotHoldAndWillNotTakeFails(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		before func(t *testing.T, addr, dir, file string)
		exit   int
		want   []string // lines of the agency's log
		stored int      // bets in the central's store afterwards
	}{
		{"a stray end before the agency began leaves all its bets unstored and fails it",
			strayEnd, 1,
			[]string{"ERROR    action: resumen | result: fail | no_almacenadas: 500 | motivo: bets after end | error: 500 of the agency's 500 valid bets were not stored"},
			0},
		{"a file that grew after the agency's end fails it for the new bets",
			playedBefore(300), 1,
			[]string{"action: reanudar | result: success | almacenadas: 300 | finalizo: true",
				"ERROR    action: resumen | result: fail | no_almacenadas: 200 | motivo: bets after end | error: 200 of the agency's 500 valid bets were not stored"},
			300},
		{"an agency run again with all its bets stored reports the earlier round at INFO and succeeds",
			playedBefore(500), 0,
			[]string{"INFO     action: ronda_anterior | result: success | almacenadas: 500 | en_archivo: 500",
				"INFO     action: resumen | result: success | enviadas: 0 | ya_almacenadas: 500"},
			500},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=1")
			file := filepath.Join(dir, "agency-1.csv")
			proctest.CourseFile(t, file, 500, 0)
			tt.before(t, addr, dir, file)

			c := proctest.Start(t, bins["client"], dir, clientEnv(1, addr, "CLI_DATA_FILE="+file)...)
			code, _ := c.Wait(t, time.Minute)
			if code != tt.exit {
				t.Fatalf("the agency exited %d, want %d:\n%s", code, tt.exit, c.Log())
			}
			for _, want := range tt.want {
				if !strings.Contains(c.Log(), want) {
					t.Errorf("no %q in:\n%s", want, c.Log())
				}
			}
			if tt.exit != 0 && strings.Contains(c.Log(), "result: success | cant_ganadores") {
				t.Errorf("a failed agency announced winners:\n%s", c.Log())
			}
			stopServer(t, server)
			raw, err := os.ReadFile(filepath.Join(dir, "bets.csv"))
			if err != nil {
				t.Fatal(err)
			}
			if n := strings.Count(string(raw), "\n"); n != tt.stored {
				t.Fatalf("the store holds %d bets, want %d", n, tt.stored)
			}
		})
	}
}
