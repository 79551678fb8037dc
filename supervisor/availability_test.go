package supervisor

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"quiniela/protocol"
	"quiniela/store/csvfile"
)

// testPKI is a CA, the central's certificate for 127.0.0.1, and a client
// certificate per agency, named "agency-N" as the real ones are.
type testPKI struct {
	server *tls.Config
	pool   *x509.CertPool
	caCert *x509.Certificate
	caKey  *ecdsa.PrivateKey
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "test CA"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{pool: x509.NewCertPool(), caCert: ca, caKey: caKey}
	p.pool.AddCert(ca)
	serverCert := p.issue(t, "central", x509.ExtKeyUsageServerAuth)
	p.server = &tls.Config{Certificates: []tls.Certificate{serverCert}, ClientCAs: p.pool,
		ClientAuth: tls.VerifyClientCertIfGiven, MinVersion: tls.VersionTLS13}
	return p
}

func (p *testPKI) issue(t testing.TB, name string, usage x509.ExtKeyUsage) tls.Certificate {
	t.Helper()
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		ExtKeyUsage: []x509.ExtKeyUsage{usage}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.caCert, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// agencyTLS is the client side of agency n (0: no certificate, as the
// health check).
func (p *testPKI) agencyTLS(t testing.TB, n int) *tls.Config {
	cfg := &tls.Config{RootCAs: p.pool, ServerName: "127.0.0.1", MinVersion: tls.VersionTLS13}
	if n > 0 {
		cfg.Certificates = []tls.Certificate{p.issue(t, "agency-"+strconv.Itoa(n), x509.ExtKeyUsageClientAuth)}
	}
	return cfg
}

// testPeerAgency reads "agency-N" from a verified peer certificate.
func testPeerAgency(st tls.ConnectionState) (uint16, error) {
	if len(st.VerifiedChains) == 0 {
		return 0, errors.New("no certificate")
	}
	n, err := strconv.ParseUint(strings.TrimPrefix(st.VerifiedChains[0][0].Subject.CommonName, "agency-"), 10, 16)
	return uint16(n), err
}

// startQuietServer is startServer logging at INFO only, so that the log
// buffer does not grow with every connection.
func startQuietServer(t *testing.T, cfg Config) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	st, err := csvfile.Open(filepath.Join(t.TempDir(), "bets.csv"), log)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, cfg, st, log, logs, nil)
	ts.store = st
	return ts
}

// waitForNoConnections waits until the central has forgotten every
// connection (the peer sees its close a moment before the bookkeeping).
func waitForNoConnections(t *testing.T, ts *testServer) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for ts.srv.conns.count() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still registered", ts.srv.conns.count())
		}
		runtime.Gosched()
		time.Sleep(time.Millisecond) // polling a condition, not a synchronisation by time
	}
}

func heapAfterGC() uint64 {
	var m runtime.MemStats
	runtime.GC()
	runtime.GC()
	runtime.ReadMemStats(&m)
	return m.HeapAlloc
}

// echoAndClose opens a connection, has one echo answered and closes it, as
// a health check does.
func echoAndClose(addr string, tlsConfig *tls.Config) error {
	var (
		conn net.Conn
		err  error
	)
	d := &net.Dialer{Timeout: 5 * time.Second}
	if tlsConfig != nil {
		conn, err = tls.DialWithDialer(d, "tcp", addr, tlsConfig)
	} else {
		conn, err = d.Dial("tcp", addr)
	}
	if err != nil {
		return err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(10 * time.Second))
	frame, _ := protocol.AppendEcho(nil, 0, []byte("ping"))
	if _, err := conn.Write(frame); err != nil {
		return err
	}
	_, payload, err := protocol.ReadEcho(conn)
	if err != nil || string(payload) != "ping" {
		return fmt.Errorf("echo: %q, %v", payload, err)
	}
	return nil
}

func TestClosedConnectionsLeaveNoMemoryBehind(t *testing.T) {
	pki := newTestPKI(t)
	for _, tc := range []struct {
		name        string
		tls         bool
		warm, count int
	}{
		{"over plain TCP", false, 500, 3000},
		{"over TLS", true, 200, 1000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig()
			var client *tls.Config
			if tc.tls {
				cfg.TLS, cfg.PeerAgency = pki.server, testPeerAgency
				client = pki.agencyTLS(t, 0)
			}
			ts := startQuietServer(t, cfg)
			connect := func(n int) {
				for i := range n {
					if err := echoAndClose(ts.addr, client); err != nil {
						t.Fatalf("connection %d: %v", i, err)
					}
				}
				waitForNoConnections(t, ts)
			}
			connect(tc.warm) // pools, maps and buffers at their working size
			before := heapAfterGC()
			connect(tc.count)
			after := heapAfterGC()
			perConn := (float64(after) - float64(before)) / float64(tc.count)
			t.Logf("heap %d → %d bytes after %d connections: %.0f bytes each", before, after, tc.count, perConn)
			if perConn > 1024 {
				t.Fatalf("each closed connection left %.0f bytes of heap behind (at most 1 KiB)", perConn)
			}
		})
	}
}

func TestOneCertificatesSilentConnectionsCannotLockOtherAgenciesOut(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	cfg := testConfig()
	cfg.TLS, cfg.PeerAgency = pki.server, testPeerAgency
	cfg.MaxConnections = 10
	ts := startServer(t, cfg, nil)

	agency2 := pki.agencyTLS(t, 2)
	var silent []*tls.Conn
	for i := range 40 {
		c, err := tls.Dial("tcp", ts.addr, agency2)
		if err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		t.Cleanup(func() { c.Close() })
		c.SetDeadline(time.Now().Add(30 * time.Second))
		if err := c.Handshake(); err != nil {
			t.Fatalf("silent connection %d: %v", i, err)
		}
		silent = append(silent, c)
	}
	// The server evicts while the flood goes on; each of these connections
	// learns it once it reads.
	open := 0
	for _, c := range silent {
		c.SetReadDeadline(time.Now().Add(200 * time.Millisecond))
		var b [1]byte
		if _, err := c.Read(b[:]); errors.Is(err, syscall.ECONNRESET) || errors.Is(err, io.EOF) {
			continue
		}
		open++
	}
	if open > maxIdlePerIdentity {
		t.Fatalf("%d silent connections of agency 2's certificate are still open, want at most %d", open, maxIdlePerIdentity)
	}
	// Every agency, agency 2 itself included, still gets in and plays.
	for _, agency := range []uint16{1, 2, 3, 4, 5} {
		conn, err := tls.Dial("tcp", ts.addr, pki.agencyTLS(t, int(agency)))
		if err != nil {
			t.Fatalf("agency %d: %v", agency, err)
		}
		t.Cleanup(func() { conn.Close() })
		conn.SetDeadline(time.Now().Add(30 * time.Second))
		c := &agencyConn{t: t, conn: conn}
		if code := c.batch(agency, bets(agency, 1, 5)); code != protocol.CodeOK {
			t.Fatalf("agency %d after the flood: %v\n%s", agency, code, ts.logs)
		}
	}
	if ts.logs.count("connection_limit", "agency=2", "max_idle_per_agency=4") == 0 {
		t.Fatalf("no line says why agency 2's connections were evicted:\n%s", ts.logs)
	}
}

func TestTheAdminEndpointHoldsFewConnectionsAndAnswersANewOneEvenSo(t *testing.T) {
	t.Parallel()
	admin, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cfg := testConfig()
	cfg.Admin = admin
	ts := startServer(t, cfg, nil)
	// Far more held connections than the endpoint keeps: each one beyond
	// its bound closes the oldest. Half of them ask for the metrics and
	// never read the answers, as a pipelining peer does.
	var held []net.Conn
	for i := range 3 * maxAdminConns {
		c, err := net.Dial("tcp", admin.Addr().String())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		if i%2 == 0 {
			c.Write([]byte(strings.Repeat("GET /metrics HTTP/1.1\r\nHost: central\r\n\r\n", 50)))
		}
		held = append(held, c)
	}
	// While every one of them is still held, the endpoint answers.
	client := &http.Client{Timeout: 10 * time.Second}
	resp, err := client.Get("http://" + admin.Addr().String() + "/healthz")
	if err != nil {
		t.Fatalf("healthz beside %d held connections: %v", len(held), err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("healthz beside the held connections: %s", resp.Status)
	}
	closed := 0
	for _, c := range held[:2*maxAdminConns] {
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := io.Copy(io.Discard, c); err == nil || !isTimeout(err) {
			closed++ // EOF or a reset: the central closed it
		}
	}
	if closed < 2*maxAdminConns-1 {
		t.Fatalf("%d of the %d oldest held admin connections were closed, want them all", closed, 2*maxAdminConns)
	}
	if ts.logs.count("admin_limit", "result=in_progress", "max_admin_connections=64") == 0 {
		t.Fatalf("no admin_limit line:\n%s", ts.logs)
	}
	// The lottery port is untouched.
	if code := dial(t, ts.addr).batch(1, bets(1, 1, 1)); code != protocol.CodeOK {
		t.Fatalf("batch during the admin flood: %v", code)
	}
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func TestEachConnectionsSendBufferIsSmall(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	c := dial(t, ts.addr)
	if code, _ := c.status(1); code != protocol.CodeOK {
		t.Fatalf("status: %v", code)
	}
	ts.srv.conns.mu.Lock()
	var conns []net.Conn
	for s := range ts.srv.conns.all {
		conns = append(conns, s.conn)
	}
	ts.srv.conns.mu.Unlock()
	if len(conns) != 1 {
		t.Fatalf("%d connections registered, want 1", len(conns))
	}
	raw, err := conns[0].(*net.TCPConn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var size int
	raw.Control(func(fd uintptr) { size, err = syscall.GetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_SNDBUF) })
	if err != nil {
		t.Fatal(err)
	}
	if size > 2*sendBuffer { // the kernel doubles what it is asked for
		t.Fatalf("SO_SNDBUF is %d bytes, want at most %d", size, 2*sendBuffer)
	}
}

// A peer that sends echoes and never reads is cut once the little it may
// leave unread is full, and an agency beside it is served all along.
func TestPeersThatNeverReadAreCutSoonAndAgenciesCarryOn(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.FrameTimeout = 300 * time.Millisecond
	ts := startServer(t, cfg, nil)
	frame, _ := protocol.AppendEcho(nil, 1, bytes.Repeat([]byte{'x'}, protocol.MaxEchoPayload))
	const peers = 20
	cut := make(chan int, peers)
	for range peers {
		c := dial(t, ts.addr)
		go func() {
			c.conn.SetWriteDeadline(time.Now().Add(60 * time.Second))
			sent := 0
			for ; sent < 20000; sent++ {
				if _, err := c.conn.Write(frame); err != nil {
					break
				}
			}
			cut <- sent
		}()
	}
	agency := dial(t, ts.addr)
	for i := range 20 {
		if code := agency.batch(1, bets(1, uint32(i)*10, 10)); code != protocol.CodeOK {
			t.Fatalf("batch %d beside the peers: %v", i, code)
		}
	}
	most := 0
	for range peers {
		n := <-cut
		if n == 20000 {
			t.Fatal("a peer that never reads was never cut")
		}
		most = max(most, n)
	}
	// Strangers share one budget of WARN lines; every close is logged, a
	// moment after the peer sees it: the central has logged them all once
	// it has stopped.
	ts.stop()
	if n := ts.logs.count("close_connection", "agency=0", "reason=error"); n != peers {
		t.Fatalf("%d connections closed on an error, want %d:\n%s", n, peers, ts.logs)
	}
	if ts.logs.count("session", "result=fail", "writing reply") == 0 {
		t.Fatalf("no line says the replies went unread:\n%s", ts.logs)
	}
	t.Logf("each peer was cut after at most %d echoes of 8 KiB", most)
}

func TestPeersThatSendEchoesAndNeverReadCostTheCentralLittleHeap(t *testing.T) {
	cfg := testConfig()
	cfg.FrameTimeout = time.Minute // held, not cut, while the heap is measured
	ts := startQuietServer(t, cfg)
	frame, _ := protocol.AppendEcho(nil, 0, bytes.Repeat([]byte{'x'}, protocol.MaxEchoPayload))
	before := heapAfterGC()
	const peers = 40
	full := make(chan error, peers)
	for range peers {
		c := dial(t, ts.addr)
		go func() {
			// Echoes until the central stops taking them: every buffer
			// between the two is full, and the central holds what it will.
			for {
				c.conn.SetWriteDeadline(time.Now().Add(500 * time.Millisecond))
				if _, err := c.conn.Write(frame); err != nil {
					if isTimeout(err) {
						err = nil
					}
					full <- err
					return
				}
			}
		}()
	}
	for range peers {
		if err := <-full; err != nil {
			t.Fatalf("a peer was cut while the central should hold it: %v", err)
		}
	}
	perPeer := (float64(heapAfterGC()) - float64(before)) / peers
	t.Logf("%.0f bytes of heap for each peer that sends echoes and never reads", perPeer)
	if perPeer > 64<<10 {
		t.Fatalf("each never-reading peer holds %.0f KiB of the central's heap, want at most 64 KiB", perPeer/1024)
	}
}
