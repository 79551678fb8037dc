package e2e

import (
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
	"quiniela/store/csvfile"
)

func TestSIGTERMMidIngestLosesNoAcknowledgedBatch(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	p, addr := proctest.StartServer(t, bins["server"], dir)
	const agencies = 5
	var (
		mu    sync.Mutex
		acked = map[uint32]bool{} // documents of acknowledged bets
		wg    sync.WaitGroup
	)
	enough := make(chan struct{})
	var enoughOnce sync.Once
	for a := uint16(1); a <= agencies; a++ {
		wg.Go(func() {
			conn, err := net.Dial("tcp", addr)
			if err != nil {
				t.Error(err)
				return
			}
			defer conn.Close()
			for i := 0; ; i++ {
				batch := make([]lottery.Bet, protocol.MaxBatchCount)
				for j := range batch {
					doc := uint32(a)*10_000_000 + uint32(i*protocol.MaxBatchCount+j) + 1
					batch[j] = lottery.Bet{Agency: a, FirstName: "Ana", LastName: "Álvarez, hija", Document: doc, Birthdate: "1985-01-31", Number: 1}
				}
				frame, _ := protocol.AppendBatch(nil, a, batch)
				conn.SetDeadline(time.Now().Add(10 * time.Second))
				if _, err := conn.Write(frame); err != nil {
					return
				}
				code, err := protocol.ReadCode(conn)
				if err != nil || code != protocol.CodeOK {
					return // the server is going away: this batch was not acknowledged
				}
				mu.Lock()
				for _, b := range batch {
					acked[b.Document] = true
				}
				if len(acked) >= 200*protocol.MaxBatchCount {
					enoughOnce.Do(func() { close(enough) })
				}
				mu.Unlock()
			}
		})
	}
	stopped := make(chan struct{})
	go func() { wg.Wait(); close(stopped) }()
	select {
	case <-enough:
	case <-stopped:
		t.Fatalf("every agency stopped before %d batches were acknowledged:\n%s", 200, p.Log())
	}
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	code, took := p.Wait(t, 10*time.Second)
	wg.Wait()
	t.Logf("exited %d, %v after SIGTERM, with %d bets acknowledged", code, took, len(acked))
	if code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, p.Log())
	}
	logs := p.Log()
	// Within its bound means no step had to be cut short: no session
	// forced closed, no service that suture gave up waiting for.
	for _, bad := range []string{"reason: forced", "action: stop_service", "action: flush_store | result: fail"} {
		if strings.Contains(logs, bad) {
			t.Errorf("the shutdown was cut short (%q) after %v:\n%s", bad, took, logs)
		}
	}
	for _, want := range []struct{ action, result string }{{logattr.CloseListener, logattr.Success}, {logattr.CloseConnection, logattr.Success}, {logattr.FlushStore, logattr.Success}, {logattr.UnlockStore, logattr.Success}, {logattr.Shutdown, logattr.Success}} {
		if len(p.Find(t, want.action, want.result)) == 0 {
			t.Errorf("no %s %s line in:\n%s", want.action, want.result, logs)
		}
	}

	f, err := os.Open(filepath.Join(dir, "bets.csv"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	stored := map[uint32]bool{}
	err = csvfile.Read(f, func(b lottery.Bet) error {
		if stored[b.Document] {
			return fmt.Errorf("document %d stored twice", b.Document)
		}
		stored[b.Document] = true
		return nil
	})
	if err != nil {
		t.Fatalf("the store does not read back whole: %v", err)
	}
	for doc := range acked {
		if !stored[doc] {
			t.Fatalf("acknowledged bet %d is not in the store", doc)
		}
	}
	raw, _ := os.ReadFile(filepath.Join(dir, "bets.csv"))
	if len(raw) > 0 && raw[len(raw)-1] != '\n' {
		t.Fatal("the store ends in a partial row")
	}
}

func TestASecondSignalExitsAtOnce(t *testing.T) {
	t.Parallel()
	// A long shutdown bound and a frame left half-sent keep the first
	// shutdown waiting, so the second signal surely lands during it. The
	// half frame rides in one write behind an echo: once the echo is
	// answered, the session has almost surely begun the half frame; on a
	// loaded machine it may not have, and the first shutdown ends at once
	// (its success line says so): then the scenario is played again.
	for attempt := 1; ; attempt++ {
		p, addr := proctest.StartServer(t, bins["server"], t.TempDir(), "SERVER_SHUTDOWN_TIMEOUT=60s", "SERVER_FRAME_TIMEOUT=60s")
		conn, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		echo, _ := protocol.AppendEcho(nil, 0, []byte("ping"))
		frame, _ := protocol.AppendBatch(nil, 1, []lottery.Bet{{Agency: 1, FirstName: "a", LastName: "b", Document: 1, Birthdate: "1990-01-01"}})
		if _, err := conn.Write(append(echo, frame[:20]...)); err != nil {
			t.Fatal(err)
		}
		if _, _, err := protocol.ReadEcho(conn); err != nil {
			t.Fatal(err)
		}
		p.Cmd.Process.Signal(syscall.SIGTERM)
		p.WaitForLine(t, logattr.CloseListener, logattr.Success)
		p.Cmd.Process.Signal(syscall.SIGTERM)
		code, _ := p.Wait(t, 10*time.Second)
		conn.Close()
		if len(p.Find(t, logattr.Shutdown, logattr.Success)) > 0 && attempt < 5 {
			t.Logf("attempt %d: the session had not begun the half frame; the first shutdown ended before the second signal", attempt)
			continue
		}
		if code == 0 {
			t.Fatalf("exit code 0 after a second signal:\n%s", p.Log())
		}
		return
	}
}

func TestStartupFailuresNameTheirCause(t *testing.T) {
	t.Parallel()
	firstDir := t.TempDir()
	first, firstAddr := proctest.StartServer(t, bins["server"], firstDir)
	_, busyPort, _ := net.SplitHostPort(firstAddr)
	// A store whose ends journal is a folder: the store could not record
	// any agency's end.
	journalDir := t.TempDir()
	if err := os.Mkdir(filepath.Join(journalDir, "bets.csv"+csvfile.EndsSuffix), 0o755); err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		env  []string
		code int
		says string
	}{
		{"a malformed setting", []string{"SERVER_LISTEN_BACKLOG=many"}, 2, `action: config \| result: fail \| error: .*SERVER_LISTEN_BACKLOG="many" - not a whole number`},
		{"a store held by another server", []string{"STORAGE_FILEPATH=" + filepath.Join(firstDir, "bets.csv")}, 1, `action: open_store \| result: fail .*locked by another process`},
		{"a busy port", []string{"SERVER_PORT=" + busyPort}, 1, `action: listen \| result: fail \| ip: 127\.0\.0\.1 \| port: ` + busyPort + ` \| error: .*address already in use`},
		{"an address not on this machine", []string{"SERVER_IP=192.0.2.1"}, 1, `action: listen \| result: fail .*cannot assign requested address`},
		{"a database that does not answer", []string{"STORAGE_URL=postgres://lottery:s3cret@127.0.0.1:" + closedPort(t) + "/quiniela"}, 1,
			`action: open_store \| result: fail \| storage_url: host=127\.0\.0\.1 port=\d+ user=lottery password=xxxxx dbname=quiniela \| error: .*connect`},
		{"a URL that is not PostgreSQL's", []string{"STORAGE_URL=mysql://db/quiniela"}, 2, `STORAGE_URL="mysql.//db/quiniela" - want a PostgreSQL URL`},
		{"a frame timeout no frame can meet", []string{"SERVER_FRAME_TIMEOUT=1ns"}, 2,
			`action: config \| result: fail \| error: .*SERVER_FRAME_TIMEOUT="1ns" - must be at least 1s - it bounds a whole frame`},
		{"an idle timeout that cuts off agencies waiting for the draw", []string{"SERVER_IDLE_TIMEOUT=1s"}, 2,
			`action: config \| result: fail \| error: .*SERVER_IDLE_TIMEOUT="1s" - must be at least 2s - an agency waiting for the draw`},
		{"a shutdown timeout no stop can meet", []string{"SERVER_SHUTDOWN_TIMEOUT=1ns"}, 2,
			`action: config \| result: fail \| error: .*SERVER_SHUTDOWN_TIMEOUT="1ns" - must be at least 500ms`},
		{"a store at /dev/null, which keeps nothing", []string{"STORAGE_FILEPATH=/dev/null"}, 2,
			`action: config \| result: fail \| error: .*STORAGE_FILEPATH="/dev/null" - is a character device, not a regular file`},
		{"a store at /dev/full, which refuses every batch", []string{"STORAGE_FILEPATH=/dev/full"}, 2,
			`action: config \| result: fail \| error: .*STORAGE_FILEPATH="/dev/full" - is a character device, not a regular file`},
		{"a store whose ends journal is a folder", []string{"STORAGE_FILEPATH=" + filepath.Join(journalDir, "bets.csv")}, 2,
			`action: config \| result: fail \| error: .*STORAGE_FILEPATH=".*/bets.csv" - its ends journal .*/bets.csv.ends is a directory`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// The bound only stops a central that started after all.
			ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
			defer cancel()
			cmd := exec.CommandContext(ctx, bins["server"])
			cmd.Dir = t.TempDir()
			cmd.Env = append([]string{proctest.RaceNoExitSleep, "SERVER_IP=127.0.0.1", "SERVER_PORT=0"}, tt.env...)
			out, _ := cmd.Output()
			if cmd.ProcessState.ExitCode() != tt.code || !regexp.MustCompile(tt.says).Match(out) {
				t.Fatalf("exit %d, output:\n%s\nwant exit %d and %q", cmd.ProcessState.ExitCode(), out, tt.code, tt.says)
			}
			if strings.Contains(string(out), "s3cret") {
				t.Errorf("the output shows the database's password:\n%s", out)
			}
			if strings.Contains(string(out), "<nil>") {
				t.Errorf("the output names a nil error:\n%s", out)
			}
			if _, err := os.Stat(filepath.Join(cmd.Dir, "bets.csv")); err == nil && tt.code == 1 {
				t.Errorf("a central that could not start left a store behind")
			}
			if tt.code == 2 && strings.Contains(string(out), "action: listen") {
				t.Errorf("a central refused its settings and still listened:\n%s", out)
			}
		})
	}
	first.Cmd.Process.Signal(syscall.SIGTERM)
	if code, _ := first.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d", code)
	}
}

func TestAnArgumentTheCentralDoesNotTakeStopsItAtStart(t *testing.T) {
	t.Parallel()
	// Before, the argument was ignored and the central served on every
	// address.
	// The bound only stops a central that started after all.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, bins["server"], "--env-file", os.DevNull, "extra-arg")
	cmd.Dir = t.TempDir()
	cmd.Env = []string{proctest.RaceNoExitSleep, "SERVER_IP=127.0.0.1", "SERVER_PORT=0"}
	out, _ := cmd.Output()
	want := regexp.MustCompile(`action: config \| result: fail \| error: unexpected argument "extra-arg" - server takes no arguments, only flags; .*\(server -h lists both\)`)
	if cmd.ProcessState.ExitCode() != 2 || !want.Match(out) || strings.Contains(string(out), "action: listen") {
		t.Fatalf("exit %d, output:\n%s\nwant exit 2 and %q, and no listener", cmd.ProcessState.ExitCode(), out, want)
	}
}

// closedPort is a loopback port nothing listens on.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	ln.Close()
	return port
}
