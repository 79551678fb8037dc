package supervisor

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
	"quiniela/store"
	"quiniela/store/csvfile"
)

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// count counts the log lines with msg=action that contain every part.
func (b *syncBuffer) count(action string, parts ...string) int {
	n := 0
	for _, line := range strings.Split(b.String(), "\n") {
		if !strings.Contains(line, "msg="+action+" ") {
			continue
		}
		all := true
		for _, p := range parts {
			all = all && strings.Contains(line, p)
		}
		if all {
			n++
		}
	}
	return n
}

type testServer struct {
	srv   *Server
	store *csvfile.File
	addr  string
	logs  *syncBuffer
	stop  func() // cancels Serve and waits for it
}

func testConfig() Config {
	return Config{
		Agencies:     5,
		FrameTimeout: 5 * time.Second, ShutdownTimeout: 1500 * time.Millisecond,
	}
}

// startServer runs a central on a free loopback port with a new store.
func startServer(t testing.TB, cfg Config, hook func(uint16, protocol.Request)) *testServer {
	t.Helper()
	return startServerAt(t, cfg, filepath.Join(t.TempDir(), "bets.csv"), hook)
}

// startServerAt runs a central on a free loopback port with the store at
// path.
func startServerAt(t testing.TB, cfg Config, path string, hook func(uint16, protocol.Request)) *testServer {
	t.Helper()
	logs := &syncBuffer{}
	level := slog.LevelDebug
	if _, bench := t.(*testing.B); bench {
		level = slog.LevelInfo // measure the central, not a line per bet
	}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: level}))
	st, err := csvfile.Open(path, log)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, cfg, st, log, logs, hook)
	ts.store = st
	return ts
}

// startServerWith runs a central on a free loopback port with store st,
// closed when the test ends.
func startServerWith(t testing.TB, cfg Config, st store.Store, log *slog.Logger, logs *syncBuffer, hook func(uint16, protocol.Request)) *testServer {
	t.Helper()
	return serveTest(t, New(cfg, st, log), st, logs, hook)
}

// serveTest runs srv on a free loopback port, and closes st (its store,
// or its rounds) once it has stopped, when the test ends.
func serveTest(t testing.TB, srv *Server, st interface{ Close(context.Context) error }, logs *syncBuffer, hook func(uint16, protocol.Request)) *testServer {
	t.Helper()
	srv.beforeHandle = hook
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	ln, err := Listen("127.0.0.1:0", 128)
	if err != nil {
		t.Fatal(err)
	}
	go func() { served <- srv.Serve(ctx, ln) }()
	wait, cancelWait := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelWait()
	addr, err := srv.Addr(wait)
	if err != nil {
		t.Fatal(err)
	}
	var once sync.Once
	ts := &testServer{srv: srv, addr: addr.String(), logs: logs}
	ts.stop = func() {
		once.Do(func() {
			cancel()
			if err := <-served; err != nil {
				t.Errorf("Serve: %v", err)
			}
			if err := st.Close(context.Background()); err != nil {
				t.Errorf("closing the store: %v", err)
			}
		})
	}
	t.Cleanup(ts.stop)
	return ts
}

func (ts *testServer) storedBets(t testing.TB) []lottery.Bet {
	t.Helper()
	var bets []lottery.Bet
	if err := ts.store.Scan(func(b lottery.Bet) error { bets = append(bets, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return bets
}

// agencyConn speaks the wire protocol as an agency would.
type agencyConn struct {
	t    testing.TB
	conn net.Conn
}

func dial(t testing.TB, addr string) *agencyConn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	return &agencyConn{t: t, conn: conn}
}

func (c *agencyConn) send(frame []byte) {
	c.t.Helper()
	if _, err := c.conn.Write(frame); err != nil {
		c.t.Fatalf("sending: %v", err)
	}
}

func (c *agencyConn) code() protocol.Code {
	c.t.Helper()
	code, err := protocol.ReadCode(c.conn)
	if err != nil {
		c.t.Fatalf("reading a reply: %v", err)
	}
	return code
}

func (c *agencyConn) batch(agency uint16, bets []lottery.Bet) protocol.Code {
	c.t.Helper()
	frame, err := protocol.AppendBatch(nil, agency, bets)
	if err != nil {
		c.t.Fatal(err)
	}
	c.send(frame)
	return c.code()
}

func (c *agencyConn) end(agency uint16) protocol.Code {
	c.t.Helper()
	c.send(protocol.AppendEnd(nil, agency))
	return c.code()
}

func (c *agencyConn) status(agency uint16) (protocol.Code, protocol.Status) {
	c.t.Helper()
	c.send(protocol.AppendStatusQuery(nil, agency))
	code, st, err := protocol.ReadStatus(c.conn)
	if err != nil {
		c.t.Fatalf("reading status: %v", err)
	}
	return code, st
}

func (c *agencyConn) winners(agency uint16) (protocol.Code, []uint32) {
	c.t.Helper()
	c.send(protocol.AppendWinnersQuery(nil, agency))
	code, docs, err := protocol.ReadWinners(c.conn)
	if err != nil {
		c.t.Fatalf("reading winners: %v", err)
	}
	return code, docs
}

// closedByServer reports whether the server has closed the connection: a
// read returns EOF (or a reset) rather than data or a timeout.
func (c *agencyConn) closedByServer() bool {
	c.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	var b [1]byte
	_, err := c.conn.Read(b[:])
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		return false
	}
	return err != nil
}

// bets makes n valid bets of an agency, documents from first on; every
// tenth plays the winning number.
func bets(agency uint16, first uint32, n int) []lottery.Bet {
	out := make([]lottery.Bet, n)
	for i := range out {
		doc := first + uint32(i)
		num := uint16(doc % 10000)
		if doc%10 == 0 {
			num = lottery.WinningNumber
		} else if num == lottery.WinningNumber {
			num++
		}
		out[i] = lottery.Bet{Agency: agency, FirstName: fmt.Sprintf("Nombre %d", doc), LastName: "Fornerón",
			Document: doc, Birthdate: "1990-05-17", Number: num}
	}
	return out
}

func winnersAmong(bs []lottery.Bet) []uint32 {
	var w []uint32
	for _, b := range bs {
		if b.Won() {
			w = append(w, b.Document)
		}
	}
	return w
}
