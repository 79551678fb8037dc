package e2e

import (
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// TestEveryLineOfARoundReadsRightToTheCoursesParser plays a round that
// makes every binary print what it can, at every level, failures included:
// an agency started before the central and a file with malformed lines, an
// agency the central does not know, a hostile peer sending an invalid bet
// and a garbage frame, health checks that pass and fail, a second central
// on a locked store, bad settings, and the shutdown. Every line must read
// right the way the course's parser reads it (no value taken for a key),
// and each action's success lines must share one shape.
func TestEveryLineOfARoundReadsRightToTheCoursesParser(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := proctest.FreePort(t)
	addr := "127.0.0.1:" + port

	dirty := filepath.Join(dir, "agency-1.csv")
	os.WriteFile(dirty, []byte("\uFEFFName,Surname,00000000,2000-01-01,7574\n"+
		"Ana,Pérez,12x,1990-01-01,5\n"+ // not a number
		"Ana,Pérez,7,1990-02-30,5\n"+ // not a date
		"only,three,fields\n"+
		"\"Ana,Pérez,8,1990-01-01,5\n"+ // an unterminated quote spoils its own line
		"Bo,Li,9,1990-01-01,1\n"), 0o644)
	clean := filepath.Join(dir, "agency-2.csv")
	proctest.CourseFile(t, clean, 70, 3, 69)

	debug := "CLI_LOG_LEVEL=DEBUG"
	early := proctest.Start(t, bins["client"], dir, clientEnv(1, addr, "CLI_DATA_FILE="+dirty, debug)...)
	early.WaitForLine(t, logattr.Connect, logattr.InProgress)

	store := filepath.Join(dir, "bets.csv")
	server := proctest.Start(t, bins["server"], dir, "SERVER_IP=127.0.0.1", "SERVER_PORT="+port, "AGENCIES=2",
		"STORAGE_FILEPATH="+store, "LOGGING_LEVEL=DEBUG")
	server.WaitForLine(t, logattr.Listen, logattr.Success)

	hostile(t, addr)
	unknown := proctest.Start(t, bins["client"], dir, clientEnv(3, addr, "CLI_DATA_FILE="+clean, debug)...)
	second := proctest.Start(t, bins["client"], dir, clientEnv(2, addr, "CLI_DATA_FILE="+clean, debug, "CLI_BATCH_MAX_AMOUNT=100")...)
	health := proctest.Start(t, bins["healthcheck"], dir, "HEALTHCHECK_ADDRESS="+addr, "HEALTHCHECK_MESSAGE=¿hay alguien? | a: b")
	deadAddr := "127.0.0.1:" + proctest.FreePort(t)
	sick := proctest.Start(t, bins["healthcheck"], dir, "HEALTHCHECK_ADDRESS="+deadAddr, "HEALTHCHECK_TIMEOUT=300ms")

	for _, c := range []*proctest.Process{early, second, health} {
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("%s exited %d:\n%s", c.Cmd.Path, code, c.Log())
		}
	}
	for _, c := range []*proctest.Process{unknown, sick} {
		if code, _ := c.Wait(t, time.Minute); code != 1 {
			t.Fatalf("%s exited %d, want 1:\n%s", c.Cmd.Path, code, c.Log())
		}
	}
	locked := proctest.Start(t, bins["server"], dir, "SERVER_IP=127.0.0.1", "SERVER_PORT=0", "STORAGE_FILEPATH="+store)
	badServer := proctest.Start(t, bins["server"], dir, "SERVER_PORT=http", "LOGGING_LEVEL=chatty")
	badClient := proctest.Start(t, bins["client"], dir, "CLI_ID=0", "CLI_SERVER_ADDRESS=nowhere")
	for _, p := range []*proctest.Process{locked, badServer, badClient} {
		p.Wait(t, 10*time.Second)
	}
	stopServer(t, server)

	// What the round must have made them print, so that the check below
	// covers it.
	for p, wants := range map[*proctest.Process][]string{
		early:     {"action: connect | result: in_progress", "action: apuesta_invalida | result: fail", "action: ganador | result: success | dni: 0"},
		second:    {"action: cap_batch_max_amount | result: success", "action: consulta_ganadores | result: success | cant_ganadores: 2"},
		unknown:   {"action: resumen | result: fail"},
		server:    {"action: apuesta_recibida | result: fail", "action: request | result: fail", "action: sorteo | result: success", "action: unlock_store | result: success"},
		sick:      {"action: test_echo_server | result: fail"},
		locked:    {"action: open_store | result: fail"},
		badServer: {"action: config | result: fail"},
		badClient: {"action: config | result: fail"},
	} {
		for _, w := range wants {
			if !strings.Contains(p.Log(), w) {
				t.Errorf("%s did not print %q:\n%s", filepath.Base(p.Cmd.Path), w, p.Log())
			}
		}
	}
	n := roleLines(t, "server", server, locked, badServer)
	n += roleLines(t, "client", early, second, unknown, badClient)
	n += roleLines(t, "healthcheck", health, sick)
	t.Logf("%d lines read as the course's parser reads them", n)
}

// hostile speaks for agency 2 before the real one comes: a batch with a bet
// born in the future (refused, with a reason full of colons), then a frame
// with an unknown action, after which the central hangs up.
func hostile(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	bad := lottery.Bet{Agency: 2, FirstName: "Ana: la | otra", LastName: "Pérez", Document: 5, Birthdate: "2999-01-01", Number: 1}
	frame, err := protocol.AppendBatch(nil, 2, []lottery.Bet{bad})
	if err != nil {
		t.Fatal(err)
	}
	conn.Write(frame)
	if code, err := protocol.ReadCode(conn); err != nil || code != protocol.CodeInvalidBet {
		t.Fatalf("an invalid bet got %v, %v", code, err)
	}
	conn.Write([]byte{'Z', 0, 2, 0, 0})
	if code, err := protocol.ReadCode(conn); err != nil || code != protocol.CodeMalformed {
		t.Fatalf("a garbage frame got %v, %v", code, err)
	}
}
