package e2e

import (
	"fmt"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/logline"
	"quiniela/cmd/internal/proctest"
)

// courseChecks are what the course's black-box checks demand of a round's
// logs: no line with result: fail, every stored batch before the draw, the
// batches summing to the bets sent, and each agency's cant_ganadores.
func courseChecks(t *testing.T, server *proctest.Process, clients map[int]*proctest.Process, bets, winners map[int]int) {
	t.Helper()
	all := server.Lines(t)
	for _, c := range clients {
		all = append(all, c.Lines(t)...)
	}
	for _, l := range all {
		if l.Result == "fail" {
			t.Errorf("a line says result: fail: %s %v", l.Action, l.Values)
		}
	}
	sum, drawAt, lastBatchAt := 0, -1, -1
	for i, l := range server.Lines(t) {
		switch {
		case l.Action == "apuesta_recibida" && l.Result == "success":
			n, _ := strconv.Atoi(l.Values["cantidad"])
			sum += n
			lastBatchAt = i
		case l.Action == "sorteo" && l.Result == "success":
			if drawAt >= 0 {
				t.Errorf("a second draw")
			}
			drawAt = i
		}
	}
	if drawAt < 0 || lastBatchAt > drawAt {
		t.Errorf("draw at line %d, last stored batch at line %d: every batch must come before the draw", drawAt, lastBatchAt)
	}
	total := 0
	for id, n := range bets {
		total += n
		got := ""
		for _, l := range clients[id].Lines(t) {
			if l.Action == "consulta_ganadores" && l.Result == "success" {
				got = l.Values["cant_ganadores"]
			}
		}
		if got != strconv.Itoa(winners[id]) {
			t.Errorf("agency %d: cant_ganadores %q, want %d", id, got, winners[id])
		}
	}
	if sum != total {
		t.Errorf("the stored batches sum to %d bets, want %d", sum, total)
	}
}

// batchSizes are the sizes of the batches the central stored, in order.
func batchSizes(t *testing.T, server *proctest.Process) []int {
	var sizes []int
	for _, l := range server.Lines(t) {
		if l.Action == "apuesta_recibida" && l.Result == "success" {
			n, _ := strconv.Atoi(l.Values["cantidad"])
			sizes = append(sizes, n)
		}
	}
	return sizes
}

func stopServer(t *testing.T, server *proctest.Process) {
	t.Helper()
	server.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := server.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the central exited %d:\n%s", code, server.Log())
	}
}

func TestACourseStyleAgencySendsFullBatchesButTheLast(t *testing.T) {
	t.Parallel()
	const bets = 50
	for _, max := range []int{1, 7, 10, 50, 63, 100} {
		t.Run(fmt.Sprintf("CLI_BATCH_MAX_AMOUNT=%d", max), func(t *testing.T) {
			t.Parallel()
			dir := t.TempDir()
			file := filepath.Join(dir, "agency-1.csv")
			proctest.CourseFile(t, file, bets, 0, 33)
			server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=1")
			c := proctest.Start(t, bins["client"], dir, clientEnv(1, addr, "CLI_DATA_FILE="+file, "CLI_BATCH_MAX_AMOUNT="+strconv.Itoa(max))...)
			if code, _ := c.Wait(t, time.Minute); code != 0 {
				t.Fatalf("the agency exited %d:\n%s", code, c.Log())
			}
			stopServer(t, server)
			courseChecks(t, server, map[int]*proctest.Process{1: c}, map[int]int{1: bets}, map[int]int{1: 2})
			full := min(max, 63)
			sizes := batchSizes(t, server)
			for i, n := range sizes {
				if i < len(sizes)-1 && n != full || n < 1 || n > full {
					t.Fatalf("batches of %v: every batch but the last must hold %d", sizes, full)
				}
			}
			if want := (bets + full - 1) / full; len(sizes) != want {
				t.Fatalf("%d batches, want %d", len(sizes), want)
			}
		})
	}
}

func TestCourseStyleAgenciesGetTheirChosenWinners(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	bets := map[int]int{1: 20, 2: 35, 3: 64, 4: 8}
	chosen := map[int][]int{1: {0, 5}, 2: nil, 3: {1, 2, 63}, 4: {7}}
	winners := map[int]int{}
	server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=4", "LOGGING_LEVEL=DEBUG")
	clients := map[int]*proctest.Process{}
	for id, n := range bets {
		file := filepath.Join(dir, fmt.Sprintf("agency-%d.csv", id))
		proctest.CourseFile(t, file, n, chosen[id]...)
		winners[id] = len(chosen[id])
		clients[id] = proctest.Start(t, bins["client"], dir, clientEnv(id, addr, "CLI_DATA_FILE="+file, "CLI_LOG_LEVEL=DEBUG")...)
	}
	for id, c := range clients {
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("agency %d exited %d:\n%s", id, code, c.Log())
		}
	}
	stopServer(t, server)
	courseChecks(t, server, clients, bets, winners)

	// Document 00000000 is logged as the same canonical dni on both sides:
	// the central stores it, and agency 1, whose line 0 wins, hears of it.
	var stored []string
	for _, l := range server.Lines(t) {
		if l.Action == "apuesta_almacenada" && l.Values["agency"] == "1" {
			stored = append(stored, l.Values["dni"])
		}
	}
	if len(stored) != 20 || stored[0] != "0" || stored[19] != "19" {
		t.Errorf("agency 1's stored documents: %v", stored)
	}
	var won []string
	for _, l := range clients[1].Lines(t) {
		if l.Action == "ganador" {
			won = append(won, l.Values["dni"])
		}
	}
	if slices.Sort(won); strings.Join(won, ",") != "0,5" {
		t.Errorf("agency 1 heard of winners %v, want documents 0 and 5", won)
	}
}

func TestASingleBetWithDocumentZeroIsTheSameDocumentOnBothSides(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=1", "LOGGING_LEVEL=DEBUG")
	c := proctest.Start(t, bins["client"], dir, clientEnv(1, addr,
		"NOMBRE=Name", "APELLIDO=Surname", "DOCUMENTO=00000000", "NACIMIENTO=2000-01-01", "NUMERO=7574")...)
	if code, _ := c.Wait(t, time.Minute); code != 0 {
		t.Fatalf("the agency exited %d:\n%s", code, c.Log())
	}
	stopServer(t, server)
	for p, want := range map[*proctest.Process]string{
		c:      "action: apuesta_enviada | result: success | dni: 0 | numero: 7574",
		server: "action: apuesta_almacenada | result: success | dni: 0 | numero: 7574",
	} {
		if !strings.Contains(p.Log(), want) {
			t.Errorf("no %q in:\n%s", want, p.Log())
		}
	}
	courseChecks(t, server, map[int]*proctest.Process{1: c}, map[int]int{1: 1}, map[int]int{1: 1})
}

// roleLines parses every line of the processes of one binary and checks
// that each action's success lines share one shape.
func roleLines(t *testing.T, role string, procs ...*proctest.Process) int {
	t.Helper()
	var lines []logline.Line
	for _, p := range procs {
		lines = append(lines, p.Lines(t)...)
	}
	for _, problem := range logline.Shapes(lines) {
		t.Errorf("%s: %s", role, problem)
	}
	return len(lines)
}
