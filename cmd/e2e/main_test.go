package e2e

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery/logattr"
)

var bins map[string]string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "round-bins")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	bins, err = proctest.Build("../..", dir, "server", "client", "datagen", "healthcheck", "certs", "status")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if err := postgresCluster.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

var winnersLine = regexp.MustCompile(`action: consulta_ganadores \| result: success \| cant_ganadores: (\d+)`)

// readRows returns the rows of an agency file or a store file, sorted, as
// "agency,line" strings, so that two sets of bets can be compared.
func readRows(t *testing.T, path string, agency int) []string {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var rows []string
	for _, line := range strings.Split(strings.ReplaceAll(string(raw), "\r\n", "\n"), "\n") {
		if line == "" {
			continue
		}
		if agency > 0 {
			line = strconv.Itoa(agency) + "," + line
		}
		rows = append(rows, line)
	}
	sort.Strings(rows)
	return rows
}

func clientEnv(id int, addr string, extra ...string) []string {
	return append([]string{"CLI_ID=" + strconv.Itoa(id), "CLI_SERVER_ADDRESS=" + addr}, extra...)
}

// Single-bet mode and an agency without its id are scripts:
// testdata/single_bet.txtar and refused_settings.txtar.

func TestAWholeRoundWithFiveAgencyProcesses(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if out, err := exec.Command(bins["datagen"], "-out", data, "-seed", "7", "-bets", "3000", "-winners", "4").CombinedOutput(); err != nil {
		t.Fatalf("datagen: %v\n%s", err, out)
	}
	server, addr := proctest.StartServer(t, bins["server"], dir)
	var clients []*proctest.Process
	for i := 1; i <= 5; i++ {
		clients = append(clients, proctest.Start(t, bins["client"], dir,
			clientEnv(i, addr, fmt.Sprintf("CLI_DATA_FILE=%s/agency-%d.csv", data, i))...))
	}
	for i, c := range clients {
		if code, _ := c.Wait(t, time.Minute); code != 0 {
			t.Fatalf("agency %d exited %d:\n%s", i+1, code, c.Log())
		}
		m := winnersLine.FindStringSubmatch(c.Log())
		if m == nil || m[1] != "4" {
			t.Errorf("agency %d: winners line %v, want 4 winners", i+1, m)
		}
	}
	server.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := server.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("server exited %d", code)
	}
	if n := len(server.Find(t, logattr.Sorteo, logattr.Success)); n != 1 {
		t.Fatalf("%d draws, want 1", n)
	}
	// The draw came after every bet: the last batch is logged before it.
	log := server.Log()
	if strings.LastIndex(log, "action: apuesta_recibida | result: success") > strings.Index(log, "action: sorteo") {
		t.Fatal("a batch was stored after the draw")
	}
	var want []string
	for i := 1; i <= 5; i++ {
		want = append(want, readRows(t, fmt.Sprintf("%s/agency-%d.csv", data, i), i)...)
	}
	sort.Strings(want)
	if got := readRows(t, filepath.Join(dir, "bets.csv"), 0); strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("the store holds %d rows, want exactly the %d generated bets once each", len(got), len(want))
	}
}

func TestAClientStartedBeforeTheServerStillCompletes(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	port := proctest.FreePort(t)
	file := filepath.Join(dir, "agency.csv")
	os.WriteFile(file, []byte("Ana,Pérez,1,1990-01-01,7574\r\nBo,Li,2,1990-01-01,3\r\n"), 0o644)
	c := proctest.Start(t, bins["client"], dir, clientEnv(1, "127.0.0.1:"+port,
		"CLI_DATA_FILE="+file, "CLI_LOG_LEVEL=DEBUG", "CLI_CONNECT_TIMEOUT=30s")...)
	// Two failed attempts prove it started first; then the central comes up.
	c.WaitForLine(t, logattr.Connect, logattr.InProgress)
	c.WaitForLine(t, logattr.Connect, logattr.InProgress)
	server := proctest.Start(t, bins["server"], dir, "SERVER_IP=127.0.0.1", "SERVER_PORT="+port, "AGENCIES=1",
		"STORAGE_FILEPATH="+filepath.Join(dir, "bets.csv"))
	if code, _ := c.Wait(t, time.Minute); code != 0 {
		t.Fatalf("client exited %d:\n%s", code, c.Log())
	}
	if !strings.Contains(c.Log(), "cant_ganadores: 1") {
		t.Fatalf("no winner in:\n%s", c.Log())
	}
	server.Cmd.Process.Signal(syscall.SIGTERM)
	server.Wait(t, 10*time.Second)
}

func TestSIGTERMToAClientMidRoundExitsZeroAndClosesEverything(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	// Two agencies are expected and only one comes: the client keeps asking
	// for winners until it is told to stop.
	_, addr := proctest.StartServer(t, bins["server"], dir, "AGENCIES=2")
	file := filepath.Join(dir, "agency.csv")
	os.WriteFile(file, []byte("Ana,Pérez,1,1990-01-01,7574\n"), 0o644)
	c := proctest.Start(t, bins["client"], dir, clientEnv(1, addr, "CLI_DATA_FILE="+file)...)
	c.WaitForLine(t, logattr.CloseFile, logattr.Success)
	c.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := c.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("client exited %d:\n%s", code, c.Log())
	}
	for _, want := range []string{"action: close_connection | result: success", "action: shutdown | result: success"} {
		if !strings.Contains(c.Log(), want) {
			t.Errorf("no %q in:\n%s", want, c.Log())
		}
	}
}

func TestHealthcheckPassesAgainstTheCentralAndFailsWithoutIt(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	server, addr := proctest.StartServer(t, bins["server"], dir)
	ok := proctest.Start(t, bins["healthcheck"], dir, "HEALTHCHECK_ADDRESS="+addr, "HEALTHCHECK_MESSAGE=¿hay alguien?")
	if code, _ := ok.Wait(t, 10*time.Second); code != 0 || len(ok.Find(t, logattr.TestEchoServer, logattr.Success)) == 0 {
		t.Fatalf("against the central: exit %d:\n%s", code, ok.Log())
	}
	server.Cmd.Process.Signal(syscall.SIGTERM)
	server.Wait(t, 10*time.Second)
	fail := proctest.Start(t, bins["healthcheck"], dir, "HEALTHCHECK_ADDRESS="+addr, "HEALTHCHECK_TIMEOUT=500ms")
	if code, _ := fail.Wait(t, 10*time.Second); code != 1 || len(fail.Find(t, logattr.TestEchoServer, logattr.Fail)) == 0 {
		t.Fatalf("without a central: exit %d:\n%s", code, fail.Log())
	}
}
