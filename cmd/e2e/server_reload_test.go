package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// writeEnv writes a settings file, whole, as an operator editing it would.
func writeEnv(t *testing.T, path string, lines ...string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
}

func hangUp(t *testing.T, p *proctest.Process) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGHUP); err != nil {
		t.Fatal(err)
	}
}

// stop sends SIGTERM and checks the whole shutdown: every close line, and
// exit 0.
func stop(t *testing.T, p *proctest.Process) {
	t.Helper()
	if err := p.Cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code, _ := p.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit code %d after SIGTERM, want 0:\n%s", code, p.Log())
	}
	for _, want := range []string{"action: close_listener | result: success", "action: flush_store | result: success", "action: unlock_store | result: success", "action: shutdown | result: success"} {
		if !strings.Contains(p.Log(), want) {
			t.Errorf("no %q line after SIGTERM:\n%s", want, p.Log())
		}
	}
}

func batch(t *testing.T, agency uint16, documents ...uint32) []byte {
	t.Helper()
	bets := make([]lottery.Bet, len(documents))
	for i, d := range documents {
		bets[i] = lottery.Bet{Agency: agency, FirstName: "Ana", LastName: "Paz", Document: d, Birthdate: "1990-01-01", Number: uint16(d)}
	}
	frame, err := protocol.AppendBatch(nil, agency, bets)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}

func echoes(conn net.Conn, msg string) error {
	frame, _ := protocol.AppendEcho(nil, 0, []byte(msg))
	if _, err := conn.Write(frame); err != nil {
		return err
	}
	_, got, err := protocol.ReadEcho(conn)
	if err == nil && string(got) != msg {
		err = fmt.Errorf("echo %q came back %q", msg, got)
	}
	return err
}

func TestSIGHUPNoLongerStopsTheCentral(t *testing.T) {
	t.Parallel()
	p, addr := proctest.StartServer(t, bins["server"], t.TempDir())
	hangUp(t, p)
	p.WaitFor(t, `INFO +action: reload \| result: success \| changed: none \| restart_needed: none \| logging_level: INFO \| tls_certificate_expires: none`)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if err := echoes(conn, "still here"); err != nil {
		t.Fatal(err)
	}
	stop(t, p)
}

func TestSIGHUPAppliesTheLogLevelAndNamesWhatNeedsARestart(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	settings := filepath.Join(dir, "central.env")
	writeEnv(t, settings, "LOGGING_LEVEL=INFO", "SERVER_IDLE_TIMEOUT=2m")
	p, addr := proctest.StartServerWithFile(t, bins["server"], dir, settings)
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	if code := ask(t, conn, batch(t, 1, 1, 2)); code != protocol.CodeOK {
		t.Fatalf("a batch at INFO: %v", code)
	}
	p.WaitFor(t, `action: apuesta_recibida \| result: success \| cantidad: 2`)
	if strings.Contains(p.Log(), "apuesta_almacenada") {
		t.Fatalf("DEBUG lines at INFO:\n%s", p.Log())
	}

	writeEnv(t, settings, "LOGGING_LEVEL=DEBUG", "SERVER_IDLE_TIMEOUT=3m")
	hangUp(t, p)
	p.WaitFor(t, `WARNING +action: reload \| result: success \| changed: logging_level \| restart_needed: SERVER_IDLE_TIMEOUT \| logging_level: DEBUG`)
	// The connection made before the reload goes on, and logs at DEBUG.
	if code := ask(t, conn, batch(t, 1, 3)); code != protocol.CodeOK {
		t.Fatalf("a batch at DEBUG: %v", code)
	}
	p.WaitFor(t, `DEBUG +action: apuesta_almacenada \| result: success \| dni: 3 \| numero: 3`)

	// Settings that do not load change nothing.
	writeEnv(t, settings, "LOGGING_LEVEL=LOUD")
	hangUp(t, p)
	p.WaitFor(t, `ERROR +action: reload \| result: fail \| error: .*LOGGING_LEVEL`)
	if code := ask(t, conn, batch(t, 1, 4)); code != protocol.CodeOK {
		t.Fatalf("a batch after a failed reload: %v", code)
	}
	p.WaitFor(t, `DEBUG +action: apuesta_almacenada \| result: success \| dni: 4`)
	stop(t, p)
}

func TestSIGHUPDuringTheShutdownIsNoSecondSignal(t *testing.T) {
	t.Parallel()
	// A frame left half-sent keeps the shutdown waiting for it (as in
	// TestASecondSignalExitsAtOnce); the SIGHUP lands meanwhile, and the
	// shutdown then ends as usual once the frame is whole.
	p, addr := proctest.StartServer(t, bins["server"], t.TempDir(), "SERVER_SHUTDOWN_TIMEOUT=60s", "SERVER_FRAME_TIMEOUT=60s")
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	echo, _ := protocol.AppendEcho(nil, 0, []byte("ping"))
	frame := batch(t, 1, 1)
	if _, err := conn.Write(append(echo, frame[:20]...)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := protocol.ReadEcho(conn); err != nil {
		t.Fatal(err)
	}
	p.Cmd.Process.Signal(syscall.SIGTERM)
	p.WaitForLine(t, logattr.CloseListener, logattr.Success)
	// The echo's answer does not prove that the session has begun the
	// half frame: one that has not closes at once, and the central may end
	// before the SIGHUP. So the first of the two lines is waited for, and
	// the reload line is required where the frame was held (answered).
	p.Cmd.Process.Signal(syscall.SIGHUP)
	first := p.WaitFor(t, `action: reload \| result: success|action: shutdown \| result: (success|fail)`)
	conn.Write(frame[20:])
	_, readErr := protocol.ReadCode(conn)
	if code, _ := p.Wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit code %d, want 0:\n%s", code, p.Log())
	}
	if len(p.Find(t, logattr.Shutdown, logattr.Success)) == 0 || strings.Contains(p.Log(), "second signal") {
		t.Fatalf("not the usual shutdown:\n%s", p.Log())
	}
	switch {
	case readErr != nil:
		t.Logf("the session had not begun the frame when the shutdown came (%v): the central may have ended before the SIGHUP", readErr)
	case !strings.Contains(first, "action: reload"):
		t.Fatalf("a central holding a frame in its shutdown did not reload on SIGHUP:\n%s", p.Log())
	}
}

// tlsCentral is a central speaking mutual TLS with the certificates in
// certs, for agency 1; old keeps a copy of the set it started with.
type tlsCentral struct {
	certs, old, addr string
	p                *proctest.Process
}

func startTLSCentral(t *testing.T) *tlsCentral {
	t.Helper()
	dir := t.TempDir()
	c := &tlsCentral{certs: filepath.Join(dir, "certs"), old: filepath.Join(dir, "old")}
	for _, d := range []string{c.old, c.certs} {
		if err := tlsfiles.Generate(d, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	// old is a copy of the set the central starts with.
	for _, name := range []string{"ca.crt", "server.crt", "server.key", "agency-1.crt", "agency-1.key"} {
		raw, err := os.ReadFile(filepath.Join(c.certs, name))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(c.old, name), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	c.p, c.addr = proctest.StartServer(t, bins["server"], dir, "AGENCIES=1",
		"SERVER_TLS_CERT="+filepath.Join(c.certs, "server.crt"), "SERVER_TLS_KEY="+filepath.Join(c.certs, "server.key"),
		"SERVER_TLS_CLIENT_CA="+filepath.Join(c.certs, "ca.crt"))
	return c
}

// dial connects as agency 1 with its certificate from agencySet and the
// CA from caSet, and proves the handshake done on both sides with an echo
// (under TLS 1.3 the central refuses a certificate after the agency's side
// of the handshake has completed).
func (c *tlsCentral) dial(t *testing.T, agencySet, caSet string) (*tls.Conn, error) {
	t.Helper()
	cfg, err := tlsfiles.Client(filepath.Join(agencySet, "agency-1.crt"), filepath.Join(agencySet, "agency-1.key"), filepath.Join(caSet, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", c.addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	return conn, echoes(conn, "hello")
}

func TestSIGHUPRotatesTheCentralsCertificatesForNewHandshakes(t *testing.T) {
	t.Parallel()
	c := startTLSCentral(t)
	before, err := c.dial(t, c.certs, c.certs)
	if err != nil {
		t.Fatalf("agency 1 before the rotation: %v", err)
	}
	// A new CA, central certificate and agency certificates, in the same
	// files.
	if err := tlsfiles.Generate(c.certs, 1, ""); err != nil {
		t.Fatal(err)
	}
	hangUp(t, c.p)
	c.p.WaitFor(t, `INFO +action: reload \| result: success \| changed: tls_certificate,tls_client_ca \| restart_needed: none`)

	if _, err := c.dial(t, c.old, c.certs); err == nil {
		t.Fatal("a certificate of the old CA is accepted after the rotation")
	}
	if _, err := c.dial(t, c.certs, c.old); err == nil {
		t.Fatal("the central still presents its old certificate after the rotation")
	}
	// An agency with its new certificate plays its whole session: a batch
	// with a winner, its end, and its winners once drawn.
	conn, err := c.dial(t, c.certs, c.certs)
	if err != nil {
		t.Fatalf("agency 1 with its new certificate: %v", err)
	}
	if code := ask(t, conn, batch(t, 1, 7574, 10)); code != protocol.CodeOK {
		t.Fatalf("batch: %v", code)
	}
	if code := ask(t, conn, protocol.AppendEnd(nil, 1)); code != protocol.CodeOK {
		t.Fatalf("end: %v", code)
	}
	for {
		if _, err := conn.Write(protocol.AppendWinnersQuery(nil, 1)); err != nil {
			t.Fatal(err)
		}
		code, winners, err := protocol.ReadWinners(conn)
		if err != nil {
			t.Fatal(err)
		}
		if code == protocol.CodeDrawPending {
			continue // the central holds the query up to a second
		}
		if code != protocol.CodeOK || len(winners) != 1 || winners[0] != 7574 {
			t.Fatalf("winners: %v %v", code, winners)
		}
		break
	}
	// The connection made before the rotation goes on.
	if err := echoes(before, "still here"); err != nil {
		t.Fatalf("the connection made before the rotation: %v", err)
	}
	stop(t, c.p)
}

func TestSIGHUPWithABrokenKeyKeepsTheFilesInForce(t *testing.T) {
	t.Parallel()
	c := startTLSCentral(t)
	if err := os.WriteFile(filepath.Join(c.certs, "server.key"), []byte("not a key\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	hangUp(t, c.p)
	c.p.WaitFor(t, `ERROR +action: reload \| result: fail \| error: loading the central's certificate .*server.key`)
	conn, err := c.dial(t, c.certs, c.certs)
	if err != nil {
		t.Fatalf("agency 1 after the failed reload: %v", err)
	}
	if code := ask(t, conn, batch(t, 1, 1)); code != protocol.CodeOK {
		t.Fatalf("batch after the failed reload: %v", code)
	}
	stop(t, c.p)
}
