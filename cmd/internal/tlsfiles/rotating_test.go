package tlsfiles

import (
	"crypto/tls"
	"io"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// echoServer serves cfg on a loopback port: each connection that completes
// the handshake has its bytes echoed, and is told its peer's agency first
// (0 for none).
func echoServer(t *testing.T, cfg *tls.Config) string {
	t.Helper()
	ln, err := tls.Listen("tcp", "127.0.0.1:0", cfg)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	t.Cleanup(func() { ln.Close(); <-done })
	go func() {
		defer close(done)
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				tc := conn.(*tls.Conn)
				tc.SetDeadline(time.Now().Add(10 * time.Second))
				if tc.Handshake() != nil {
					return
				}
				agency, _ := PeerAgency(tc.ConnectionState())
				tc.Write([]byte{byte(agency)})
				io.Copy(tc, tc)
			}()
		}
	}()
	return ln.Addr().String()
}

// dial connects to addr as agency 1 with its certificate in certs and the
// CA in caDir, and returns the connection once the central has told it its
// agency (the handshake done on both sides: under TLS 1.3 the central
// refuses a certificate only after the agency's side of the handshake has
// completed).
func dial(t *testing.T, addr, certs, caDir string) (*tls.Conn, error) {
	t.Helper()
	cfg, err := Client(filepath.Join(certs, "agency-1.crt"), filepath.Join(certs, "agency-1.key"), filepath.Join(caDir, "ca.crt"))
	if err != nil {
		t.Fatal(err)
	}
	cfg.ServerName = "localhost"
	conn, err := tls.DialWithDialer(&net.Dialer{Timeout: 5 * time.Second}, "tcp", addr, cfg)
	if err != nil {
		return nil, err
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	agency := make([]byte, 1)
	if _, err := io.ReadFull(conn, agency); err != nil {
		return nil, err
	}
	if agency[0] != 1 {
		t.Fatalf("the central read agency %d from agency 1's certificate", agency[0])
	}
	return conn, nil
}

func echo(t *testing.T, conn *tls.Conn, msg string) {
	t.Helper()
	if _, err := conn.Write([]byte(msg)); err != nil {
		t.Fatal(err)
	}
	got := make([]byte, len(msg))
	if _, err := io.ReadFull(conn, got); err != nil || string(got) != msg {
		t.Fatalf("echo of %q: %q, %v", msg, got, err)
	}
}

// copyDir copies the files of a certificate set.
func copyDir(t *testing.T, from, to string) {
	t.Helper()
	if err := os.MkdirAll(to, 0o755); err != nil {
		t.Fatal(err)
	}
	entries, err := os.ReadDir(from)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(from, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(to, e.Name()), raw, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

func TestARotationServesTheNewFilesToNewHandshakesOnly(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	certs, old := filepath.Join(dir, "certs"), filepath.Join(dir, "old")
	if err := Generate(certs, 1, ""); err != nil {
		t.Fatal(err)
	}
	copyDir(t, certs, old)
	files := []string{filepath.Join(certs, "server.crt"), filepath.Join(certs, "server.key"), filepath.Join(certs, "ca.crt")}
	r, err := NewRotating(files[0], files[1], files[2])
	if err != nil {
		t.Fatal(err)
	}
	addr := echoServer(t, r.Config())
	before, err := dial(t, addr, certs, certs)
	if err != nil {
		t.Fatalf("before the rotation: %v", err)
	}
	echo(t, before, "before")

	// The same files read again change nothing.
	if change, err := r.Reload(files[0], files[1], files[2]); err != nil || change != (Change{}) {
		t.Fatalf("reloading the same files: %+v, %v", change, err)
	}
	// A new set in the same files: a new CA, certificates signed by it.
	if err := Generate(certs, 1, ""); err != nil {
		t.Fatal(err)
	}
	change, err := r.Reload(files[0], files[1], files[2])
	if err != nil || change != (Change{Certificate: true, ClientCA: true}) {
		t.Fatalf("reloading a new set: %+v, %v", change, err)
	}
	after, err := dial(t, addr, certs, certs)
	if err != nil {
		t.Fatalf("the new set after the rotation: %v", err)
	}
	echo(t, after, "after")
	if _, err := dial(t, addr, old, certs); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("agency 1's certificate from the old CA after the rotation: %v, want refused", err)
	}
	if _, err := dial(t, addr, certs, old); err == nil {
		t.Fatal("the central still presents its old certificate")
	}
	echo(t, before, "the connection made before the rotation goes on")

	// A key that does not load, and a certificate out of its validity,
	// leave the new set in force.
	if err := os.WriteFile(files[1], []byte("not a key"), 0o600); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(files[0], files[1], files[2]); err == nil || !strings.Contains(err.Error(), "server.key") {
		t.Fatalf("a broken key: %v", err)
	}
	expired := filepath.Join(dir, "expired")
	if err := generate(expired, 1, "", time.Now().Add(-2*validity)); err != nil {
		t.Fatal(err)
	}
	if _, err := r.Reload(filepath.Join(expired, "server.crt"), filepath.Join(expired, "server.key"), filepath.Join(expired, "ca.crt")); err == nil || !strings.Contains(err.Error(), "not now") {
		t.Fatalf("an expired certificate: %v", err)
	}
	if _, err := dial(t, addr, certs, certs); err != nil {
		t.Fatalf("after the failed reloads: %v", err)
	}
}
