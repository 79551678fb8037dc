package e2e

import (
	"bytes"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"quiniela/cmd/internal/proctest"
	"quiniela/cmd/internal/tlsfiles"
	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// tlsRound is a central speaking mutual TLS, with certificates for
// agencies 1..n made by the certs tool.
type tlsRound struct {
	dir, certs, addr string
	server           *proctest.Process
}

func startTLSRound(t *testing.T, agencies int, extra ...string) *tlsRound {
	t.Helper()
	r := &tlsRound{dir: t.TempDir()}
	r.certs = filepath.Join(r.dir, "certs")
	if out, err := exec.Command(bins["certs"], "-out", r.certs, "-agencies", fmt.Sprint(agencies+1)).CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	r.server, r.addr = proctest.StartServer(t, bins["server"], r.dir, append([]string{
		fmt.Sprintf("AGENCIES=%d", agencies),
		"SERVER_TLS_CERT=" + r.cert("server.crt"), "SERVER_TLS_KEY=" + r.cert("server.key"), "SERVER_TLS_CLIENT_CA=" + r.cert("ca.crt"),
	}, extra...)...)
	return r
}

func (r *tlsRound) cert(name string) string { return filepath.Join(r.certs, name) }

// agencyEnv is agency id's settings, with the certificate of agency as.
func (r *tlsRound) agencyEnv(id, as int, extra ...string) []string {
	return clientEnv(id, r.addr, append([]string{
		fmt.Sprintf("CLI_TLS_CERT=%s", r.cert(fmt.Sprintf("agency-%d.crt", as))),
		fmt.Sprintf("CLI_TLS_KEY=%s", r.cert(fmt.Sprintf("agency-%d.key", as))),
		"CLI_TLS_CA=" + r.cert("ca.crt"),
	}, extra...)...)
}

// dialAs opens a TLS connection presenting agency as's certificate (0:
// none).
func (r *tlsRound) dialAs(t *testing.T, as int) *tls.Conn {
	t.Helper()
	cert, key := "", ""
	if as > 0 {
		cert, key = r.cert(fmt.Sprintf("agency-%d.crt", as)), r.cert(fmt.Sprintf("agency-%d.key", as))
	}
	cfg, err := tlsfiles.Client(cert, key, r.cert("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", r.addr, cfg)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	t.Cleanup(func() { conn.Close() })
	return conn
}

func ask(t *testing.T, conn net.Conn, frame []byte) protocol.Code {
	t.Helper()
	if _, err := conn.Write(frame); err != nil {
		t.Fatal(err)
	}
	code, err := protocol.ReadCode(conn)
	if err != nil {
		t.Fatal(err)
	}
	return code
}

func TestARoundOverMutualTLS(t *testing.T) {
	t.Parallel()
	r := startTLSRound(t, 3)
	var clients []*proctest.Process
	for i := 1; i <= 3; i++ {
		file := filepath.Join(r.dir, fmt.Sprintf("agency-%d.csv", i))
		proctest.CourseFile(t, file, 100*i, 3, 50)
		clients = append(clients, proctest.Start(t, bins["client"], r.dir, r.agencyEnv(i, i, "CLI_DATA_FILE="+file)...))
	}
	for i, c := range clients {
		if code, _ := c.Wait(t, time.Minute); code != 0 || !strings.Contains(c.Log(), "cant_ganadores: 2") {
			t.Fatalf("agency %d exited %d:\n%s", i+1, code, c.Log())
		}
	}
	ok := proctest.Start(t, bins["healthcheck"], r.dir, "HEALTHCHECK_ADDRESS="+r.addr, "HEALTHCHECK_TLS_CA="+r.cert("ca.crt"))
	if code, _ := ok.Wait(t, 10*time.Second); code != 0 {
		t.Fatalf("the health check over TLS failed:\n%s", ok.Log())
	}
	plain := proctest.Start(t, bins["healthcheck"], r.dir, "HEALTHCHECK_ADDRESS="+r.addr, "HEALTHCHECK_TIMEOUT=1s")
	if code, _ := plain.Wait(t, 10*time.Second); code != 1 {
		t.Fatalf("a plain health check against a TLS central passed:\n%s", plain.Log())
	}
	stopServer(t, r.server)
	if n := len(r.server.Find(t, logattr.Sorteo, logattr.Success)); n != 1 {
		t.Fatalf("%d draws", n)
	}
}

func TestUnderTLSAConnectionActsOnlyForItsCertificatesAgency(t *testing.T) {
	t.Parallel()
	r := startTLSRound(t, 3)
	victim := r.dialAs(t, 2)
	if code := ask(t, victim, mustBatch(t, 2, 1, 10)); code != protocol.CodeOK {
		t.Fatalf("agency 2's own batch: %v", code)
	}
	// Agency 1's certificate, speaking for agency 2: every request refused.
	mallory := r.dialAs(t, 1)
	for name, frame := range map[string][]byte{
		"a batch":          mustBatch(t, 2, 100, 5),
		"an end":           protocol.AppendEnd(nil, 2),
		"a status query":   protocol.AppendStatusQuery(nil, 2),
		"a winners query":  protocol.AppendWinnersQuery(nil, 2),
		"agency 3's batch": mustBatch(t, 3, 200, 5),
	} {
		if code := ask(t, mallory, frame); code != protocol.CodeAgencyMismatch {
			t.Errorf("%s for another agency got %v, want %v", name, code, protocol.CodeAgencyMismatch)
		}
	}
	// Nothing changed for agency 2, and its session was not replaced.
	if code := ask(t, victim, mustBatch(t, 2, 11, 1)); code != protocol.CodeOK {
		t.Fatalf("agency 2 after the impersonation attempts: %v", code)
	}
	if _, err := victim.Write(protocol.AppendStatusQuery(nil, 2)); err != nil {
		t.Fatal(err)
	}
	code, st, err := protocol.ReadStatus(victim)
	if err != nil || code != protocol.CodeOK || st.Stored != 11 || st.Ended {
		t.Fatalf("agency 2's status: %v %+v %v, want 11 stored and not ended", code, st, err)
	}
	// A peer with no certificate may echo, and nothing else.
	anonymous := r.dialAs(t, 0)
	echo, _ := protocol.AppendEcho(nil, 0, []byte("hola"))
	if _, err := anonymous.Write(echo); err != nil {
		t.Fatal(err)
	}
	back := make([]byte, len(echo))
	if _, err := io.ReadFull(anonymous, back); err != nil || !bytes.Equal(back, echo) {
		t.Fatalf("an anonymous echo: %q %v", back, err)
	}
	if code := ask(t, anonymous, protocol.AppendStatusQuery(nil, 1)); code != protocol.CodeAgencyMismatch {
		t.Fatalf("an anonymous status query got %v", code)
	}
	stopServer(t, r.server)
	if got := strings.Count(r.server.Log(), "action: session_replaced"); got != 0 {
		t.Fatalf("a session was replaced %d times", got)
	}
}

func TestUnderTLSAPlainOrForeignPeerNeverReachesAFrame(t *testing.T) {
	t.Parallel()
	r := startTLSRound(t, 1, "SERVER_FRAME_TIMEOUT=1s") // the floor: the silent peer waits it out
	// Plain TCP speaking the protocol: the handshake fails, nothing is read
	// as a frame.
	conn, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	conn.Write(mustBatch(t, 1, 1, 1))
	if _, err := io.ReadAll(conn); err != nil {
		t.Fatalf("reading until the central hangs up: %v", err)
	}
	// A silent plain connection is cut off by the handshake timeout.
	silent, err := net.Dial("tcp", r.addr)
	if err != nil {
		t.Fatal(err)
	}
	defer silent.Close()
	silent.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := io.ReadAll(silent); err != nil {
		t.Fatalf("a silent connection was not closed by the handshake timeout: %v", err)
	}
	// A certificate from another CA is refused at the handshake.
	other := filepath.Join(t.TempDir(), "other")
	if out, err := exec.Command(bins["certs"], "-out", other, "-agencies", "1").CombinedOutput(); err != nil {
		t.Fatalf("certs: %v\n%s", err, out)
	}
	cfg, err := tlsfiles.Client(filepath.Join(other, "agency-1.crt"), filepath.Join(other, "agency-1.key"), r.cert("ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "127.0.0.1"
	foreign, err := tls.Dial("tcp", r.addr, cfg)
	if err == nil {
		foreign.SetDeadline(time.Now().Add(10 * time.Second))
		// TLS 1.3 reports the client certificate's refusal on first use.
		_, err = foreign.Write(protocol.AppendStatusQuery(nil, 1))
		if err == nil {
			_, err = protocol.ReadCode(foreign)
		}
		foreign.Close()
	}
	if err == nil {
		t.Fatal("a certificate from another CA was accepted")
	}
	stopServer(t, r.server)
	if strings.Contains(r.server.Log(), "action: apuesta_recibida") {
		t.Fatalf("a frame was read from a peer that never completed the handshake:\n%s", r.server.Log())
	}
}

func TestOpenSSLSpeaksToTheCentralAsAnAgency(t *testing.T) {
	t.Parallel()
	if _, err := exec.LookPath("openssl"); err != nil {
		t.Skip("SKIP: openssl is not installed")
	}
	// The central hangs up on the idle session once the replies are out,
	// which is what ends openssl (-quiet waits for the peer to close).
	r := startTLSRound(t, 1, "SERVER_IDLE_TIMEOUT=2s") // the floor
	// Another TLS stack: a batch of one bet and a status query, answered 0
	// and then 0, 1 stored, not ended.
	frames := append(mustBatch(t, 1, 7, 1), protocol.AppendStatusQuery(nil, 1)...)
	cmd := exec.Command("openssl", "s_client", "-quiet", "-verify_return_error", "-verify_ip", "127.0.0.1", "-connect", r.addr,
		"-cert", r.cert("agency-1.crt"), "-key", r.cert("agency-1.key"), "-CAfile", r.cert("ca.crt"))
	cmd.Stdin = bytes.NewReader(frames)
	out, err := cmd.Output()
	want := append(protocol.AppendCode(nil, protocol.CodeOK), protocol.AppendStatus(nil, protocol.Status{Stored: 1})...)
	if !bytes.Equal(out, want) {
		t.Fatalf("openssl got %x (%v), want %x", out, err, want)
	}
}

func mustBatch(t *testing.T, agency uint16, first uint32, n int) []byte {
	t.Helper()
	var bets []lottery.Bet
	for i := range n {
		bets = append(bets, lottery.Bet{Agency: agency, FirstName: "Ana", LastName: "Pérez", Document: first + uint32(i), Birthdate: "1990-01-01", Number: 1})
	}
	frame, err := protocol.AppendBatch(nil, agency, bets)
	if err != nil {
		t.Fatal(err)
	}
	return frame
}
