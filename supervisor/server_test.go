package supervisor

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
	"quiniela/store/csvfile"
)

func TestFiveAgenciesEachGetExactlyTheirOwnWinnersAfterOneDraw(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	const perAgency = 3000
	type result struct {
		agency  uint16
		sent    []lottery.Bet
		winners []uint32
		err     error
	}
	results := make(chan result, 5)
	var wg sync.WaitGroup
	for a := uint16(1); a <= 5; a++ {
		c := dial(t, ts.addr) // on the test's goroutine: dial may end the test
		wg.Go(func() {
			r := result{agency: a, sent: bets(a, uint32(a)*1_000_000, perAgency)}
			r.winners, r.err = playRound(c.conn, a, r.sent)
			results <- r
		})
	}
	wg.Wait()
	close(results)
	for r := range results {
		if r.err != nil {
			t.Fatal(r.err)
		}
		want := winnersAmong(r.sent)
		if !slices.Equal(r.winners, want) {
			t.Errorf("agency %d got %d winners, want its own %d", r.agency, len(r.winners), len(want))
		}
	}
	if n := ts.logs.count("sorteo", "result=success"); n != 1 {
		t.Fatalf("the draw was logged %d times, want once", n)
	}
	if got := len(ts.storedBets(t)); got != 5*perAgency {
		t.Fatalf("stored %d bets, want %d", got, 5*perAgency)
	}
}

// playRound plays an agency's round on conn, off the test's goroutine (so
// it returns errors rather than failing the test): its bets in full
// batches, its end, then winners queries until the draw.
func playRound(conn net.Conn, agency uint16, all []lottery.Bet) ([]uint32, error) {
	ask := func(frame []byte) (protocol.Code, error) {
		if _, err := conn.Write(frame); err != nil {
			return 0, err
		}
		return protocol.ReadCode(conn)
	}
	for i := 0; i < len(all); i += protocol.MaxBatchCount {
		frame, err := protocol.AppendBatch(nil, agency, all[i:min(i+protocol.MaxBatchCount, len(all))])
		if err != nil {
			return nil, err
		}
		if code, err := ask(frame); err != nil || code != protocol.CodeOK {
			return nil, fmt.Errorf("agency %d batch at %d: %v %v", agency, i, code, err)
		}
	}
	if code, err := ask(protocol.AppendEnd(nil, agency)); err != nil || code != protocol.CodeOK {
		return nil, fmt.Errorf("agency %d end: %v %v", agency, code, err)
	}
	for {
		if _, err := conn.Write(protocol.AppendWinnersQuery(nil, agency)); err != nil {
			return nil, err
		}
		code, docs, err := protocol.ReadWinners(conn)
		switch {
		case err != nil:
			return nil, fmt.Errorf("agency %d winners: %w", agency, err)
		case code == protocol.CodeOK:
			return docs, nil
		case code != protocol.CodeDrawPending:
			return nil, fmt.Errorf("agency %d winners: %v", agency, code)
		}
	}
}

func TestBadRequestsGetTheirCodeAndLeaveTheStoreUnchanged(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	good := bets(1, 100, 3)

	c := dial(t, ts.addr)
	if code, _ := c.winners(1); code != protocol.CodeDrawPending {
		t.Fatalf("winners before the draw: %v, want %v", code, protocol.CodeDrawPending)
	}
	if code := c.batch(1, good); code != protocol.CodeOK {
		t.Fatalf("a good batch: %v", code)
	}

	future := bets(1, 200, 2)
	future[1].Birthdate = "2999-01-01"
	otherAgency := bets(1, 300, 2)
	otherAgency[0].Agency = 2
	tests := []struct {
		name  string
		frame func() []byte
		want  protocol.Code
	}{
		{"a batch with one invalid bet is refused whole", func() []byte { f, _ := protocol.AppendBatch(nil, 1, future); return f }, protocol.CodeInvalidBet},
		{"a bet of another agency in the batch is a mismatch", func() []byte { f, _ := protocol.AppendBatch(nil, 1, otherAgency); return f }, protocol.CodeAgencyMismatch},
		{"a header of another agency on this connection is a mismatch", func() []byte { f, _ := protocol.AppendBatch(nil, 2, bets(2, 1, 1)); return f }, protocol.CodeAgencyMismatch},
		{"an agency beyond AGENCIES is unknown", func() []byte { return protocol.AppendEnd(nil, 6) }, protocol.CodeUnknownAgency},
		{"agency zero is unknown", func() []byte { return protocol.AppendWinnersQuery(nil, 0) }, protocol.CodeUnknownAgency},
		{"a malformed record is malformed", func() []byte {
			f, _ := protocol.AppendBatch(nil, 1, bets(1, 400, 1))
			f[protocol.HeaderSize] = 'X'
			return f
		}, protocol.CodeMalformed},
	}
	for _, tt := range tests {
		c.send(tt.frame())
		if got := c.code(); got != tt.want {
			t.Errorf("%s: got %v, want %v", tt.name, got, tt.want)
		}
	}
	if code := c.end(1); code != protocol.CodeOK {
		t.Fatalf("end: %v", code)
	}
	if code := c.end(1); code != protocol.CodeOK {
		t.Fatalf("a repeated end: %v", code)
	}
	if code := c.batch(1, bets(1, 500, 1)); code != protocol.CodeAfterEnd {
		t.Fatalf("bets after end: %v, want %v", code, protocol.CodeAfterEnd)
	}
	// A framing error is answered, then the connection is closed.
	c.send([]byte{'B', 0, 1, 0, 64})
	if got := c.code(); got != protocol.CodeMalformed {
		t.Fatalf("oversized count: %v", got)
	}
	if !c.closedByServer() {
		t.Fatal("the connection stayed open after an oversized count")
	}
	// A truncated frame is never stored: its connection ends mid-frame.
	t2 := dial(t, ts.addr)
	frame, _ := protocol.AppendBatch(nil, 2, bets(2, 600, 5))
	t2.send(frame[:len(frame)-10])
	t2.conn.(*net.TCPConn).CloseWrite()
	if !t2.closedByServer() {
		t.Fatal("a truncated frame did not end its connection")
	}

	ts.stop()
	stored := ts.storedBets(t)
	if !slices.Equal(stored, good) {
		t.Fatalf("the store holds %d bets, want only the %d of the good batch", len(stored), len(good))
	}
}

func TestAWinnersQueryHeldBeforeTheDrawIsAnsweredWhenItHappens(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 2
	cfg.WinnersHold = time.Minute // long, so that only the draw can answer
	asked := make(chan struct{}, 1)
	// The line of agency 2's end is held, before any handler takes it,
	// until agency 1's winners are logged, or for a second: a central that
	// released the held query before logging the draw logs its winners
	// meanwhile, and its lines read out of order.
	answered := make(chan struct{})
	var answeredOnce sync.Once
	logs := &syncBuffer{}
	log := slog.New(&holdingHandler{inner: slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}), before: func(attrs []slog.Attr, r slog.Record) {
		agency := ""
		for _, a := range attrs {
			if a.Key == logattr.AgencyKey {
				agency = a.Value.String()
			}
		}
		switch {
		case r.Message == string(logattr.ConsultaGanadores) && agency == "1":
			answeredOnce.Do(func() { close(answered) })
		case r.Message == string(logattr.FinApuestas) && agency == "2":
			select {
			case <-answered:
			case <-time.After(time.Second): // a bounded wait for what must not come
			}
		}
	}})
	st, err := csvfile.Open(filepath.Join(t.TempDir(), "bets.csv"), log)
	if err != nil {
		t.Fatal(err)
	}
	ts := startServerWith(t, cfg, st, log, logs, func(agency uint16, req protocol.Request) {
		if req.Action == protocol.ActionWinners && agency == 1 {
			asked <- struct{}{}
		}
	})
	first, second := dial(t, ts.addr), dial(t, ts.addr)
	mine := bets(1, 10, 20)
	if first.batch(1, mine) != protocol.CodeOK || first.end(1) != protocol.CodeOK {
		t.Fatal("agency 1 could not send")
	}
	first.send(protocol.AppendWinnersQuery(nil, 1))
	<-asked
	if second.end(2) != protocol.CodeOK {
		t.Fatal("agency 2 could not end")
	}
	code, docs, err := protocol.ReadWinners(first.conn)
	if err != nil || code != protocol.CodeOK || !slices.Equal(docs, winnersAmong(mine)) {
		t.Fatalf("held query got %v %v %v, want agency 1's winners", code, docs, err)
	}
	// Read by people and tools in order: the end that ran the draw, the
	// draw, then the winners it released.
	all := logs.String()
	end := strings.Index(all, "msg=fin_apuestas agency=2 ")
	draw := strings.Index(all, "msg=sorteo ")
	winners := strings.Index(all, "msg=consulta_ganadores agency=1 ")
	if end < 0 || draw < end || winners < draw {
		t.Fatalf("the log does not read end of agency 2, sorteo, then agency 1's winners:\n%s", all)
	}
}

// holdingHandler calls before with each record and the attributes its
// logger was built with, then hands the record on.
type holdingHandler struct {
	inner  slog.Handler
	attrs  []slog.Attr
	before func(attrs []slog.Attr, r slog.Record)
}

func (h *holdingHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return h.inner.Enabled(ctx, l)
}

func (h *holdingHandler) Handle(ctx context.Context, r slog.Record) error {
	h.before(h.attrs, r)
	return h.inner.Handle(ctx, r)
}

func (h *holdingHandler) WithAttrs(attrs []slog.Attr) slog.Handler {
	return &holdingHandler{inner: h.inner.WithAttrs(attrs), attrs: append(slices.Clone(h.attrs), attrs...), before: h.before}
}

func (h *holdingHandler) WithGroup(name string) slog.Handler {
	return &holdingHandler{inner: h.inner.WithGroup(name), attrs: h.attrs, before: h.before}
}

func TestAPanickingSessionIsRestartedAndOthersCarryOn(t *testing.T) {
	t.Parallel()
	var once sync.Once
	ts := startServer(t, testConfig(), func(agency uint16, req protocol.Request) {
		if agency == 2 && req.Action == protocol.ActionBatch {
			once.Do(func() { panic("injected fault") })
		}
	})
	one, two := dial(t, ts.addr), dial(t, ts.addr)
	if code := one.batch(1, bets(1, 1, 5)); code != protocol.CodeOK {
		t.Fatalf("agency 1: %v", code)
	}
	// Bind agency 2 first, so that its next batch reaches the hook.
	if code, _ := two.winners(2); code != protocol.CodeDrawPending {
		t.Fatalf("agency 2 winners: %v", code)
	}
	if code := two.batch(2, bets(2, 1, 5)); code != protocol.CodeInternal {
		t.Fatalf("the batch that panicked got %v, want %v", code, protocol.CodeInternal)
	}
	if code := two.batch(2, bets(2, 1, 5)); code != protocol.CodeOK {
		t.Fatalf("agency 2 after the restart: %v", code)
	}
	if code := one.batch(1, bets(1, 6, 5)); code != protocol.CodeOK {
		t.Fatalf("agency 1 after agency 2's panic: %v", code)
	}
	if n := ts.logs.count("session_panic", "agency=2", "goroutine=reader", "panic=\"injected fault\"", "stack=\"goroutine "); n != 1 {
		t.Fatalf("logged %d panics with their agency and stack, want 1:\n%s", n, ts.logs)
	}
	if n := ts.logs.count("service_panic", "service=agency-2@"); n != 1 {
		t.Fatalf("suture's panic event does not name the agency:\n%s", ts.logs)
	}
	if got := len(ts.storedBets(t)); got != 15 {
		t.Fatalf("stored %d bets, want 15", got)
	}
}

func TestAPanicWritingRepliesEndsTheSessionAndCountsEveryStoredBatch(t *testing.T) {
	t.Parallel()
	var once sync.Once
	ts := startServer(t, testConfig(), nil)
	ts.srv.beforeReply = func(agency uint16) {
		if agency == 2 {
			once.Do(func() { panic("injected fault") })
		}
	}
	one, two := dial(t, ts.addr), dial(t, ts.addr)
	if code := one.batch(1, bets(1, 1, 5)); code != protocol.CodeOK {
		t.Fatalf("agency 1: %v", code)
	}
	frame, err := protocol.AppendBatch(nil, 2, bets(2, 1, 5))
	if err != nil {
		t.Fatal(err)
	}
	two.send(frame)
	if _, err := protocol.ReadCode(two.conn); err == nil {
		t.Fatal("the reply whose writer panicked arrived")
	}
	// The batch was stored before the panic: a new connection must be told
	// so, or the agency would send it twice.
	again := dial(t, ts.addr)
	if code, st := again.status(2); code != protocol.CodeOK || st.Stored != 5 {
		t.Fatalf("agency 2's status after the panic: %v %+v, want 5 stored", code, st)
	}
	if code := one.batch(1, bets(1, 6, 5)); code != protocol.CodeOK {
		t.Fatalf("agency 1 after agency 2's panic: %v", code)
	}
	if n := ts.logs.count("session_panic", "agency=2", "goroutine=acker", "stack="); n != 1 {
		t.Fatalf("logged %d acker panics, want 1:\n%s", n, ts.logs)
	}
}

func TestTransientAcceptErrorsAreRetriedAndALostListenerFailsTheTree(t *testing.T) {
	t.Parallel()
	st, err := csvfile.Open(filepath.Join(t.TempDir(), "bets.csv"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close(context.Background())
	logs := &syncBuffer{}
	srv := New(testConfig(), st, slog.New(slog.NewTextHandler(logs, nil)))
	real, err := Listen("127.0.0.1:0", 16)
	if err != nil {
		t.Fatal(err)
	}
	ln := &flakyListener{Listener: real, failures: 3}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(context.Background(), ln) }()
	if c := dial(t, real.Addr().String()); c.batch(1, bets(1, 1, 3)) != protocol.CodeOK {
		t.Fatal("no agency served after transient accept errors")
	}
	if n := logs.count("accept", "result=fail", "too many open files"); n != 3 {
		t.Fatalf("%d accept failures logged, want 3:\n%s", n, logs)
	}
	real.Close() // not by the shutdown: the tree must fail, and say why
	select {
	case err := <-served:
		if !errors.Is(err, net.ErrClosed) {
			t.Fatalf("Serve returned %v, want the lost listener's error", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Serve did not return after its listener was closed")
	}
}

// flakyListener fails its first Accepts as a process out of file
// descriptors would.
type flakyListener struct {
	net.Listener
	mu       sync.Mutex
	failures int
}

func (l *flakyListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	fail := l.failures > 0
	l.failures--
	l.mu.Unlock()
	if fail {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

func TestEchoReturnsTheIdenticalBytes(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	c := dial(t, ts.addr)
	for _, payload := range [][]byte{nil, []byte("hola"), bytes.Repeat([]byte{0xA5}, protocol.MaxEchoPayload)} {
		frame, _ := protocol.AppendEcho(nil, 9, payload)
		c.send(frame)
		got := make([]byte, len(frame))
		if _, err := io.ReadFull(c.conn, got); err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("echo of %d bytes came back as %d bytes (%v)", len(payload), len(got), err)
		}
	}
}

func TestANewerConnectionOfAnAgencyReplacesTheOlder(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	older := dial(t, ts.addr)
	if older.batch(3, bets(3, 1, 2)) != protocol.CodeOK {
		t.Fatal("older connection could not send")
	}
	newer := dial(t, ts.addr)
	if code := newer.batch(3, bets(3, 3, 2)); code != protocol.CodeOK {
		t.Fatalf("newer connection: %v", code)
	}
	if !older.closedByServer() {
		t.Fatal("the older connection was not closed")
	}
	if ts.logs.count("session_replaced") != 1 {
		t.Fatalf("no session_replaced line:\n%s", ts.logs)
	}
}

func TestAStalledFrameIsCutWithoutAffectingOthers(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.FrameTimeout = 200 * time.Millisecond
	ts := startServer(t, cfg, nil)
	staller := dial(t, ts.addr)
	staller.send([]byte{'B', 0, 1}) // half a header, then nothing
	other := dial(t, ts.addr)
	if code := other.batch(2, bets(2, 1, 3)); code != protocol.CodeOK {
		t.Fatalf("another agency while one stalls: %v", code)
	}
	if !staller.closedByServer() {
		t.Fatal("the stalled connection was not closed")
	}
	if code := other.batch(2, bets(2, 4, 3)); code != protocol.CodeOK {
		t.Fatalf("another agency after the stall: %v", code)
	}
}

func TestHundredsOfSimultaneousConnectionsAreServed(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	const n = 300
	conns := make([]*agencyConn, n)
	for i := range conns {
		conns[i] = dial(t, ts.addr)
	}
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i, c := range conns {
		wg.Go(func() {
			frame, _ := protocol.AppendEcho(nil, 0, []byte(fmt.Sprint("conn ", i)))
			if _, err := c.conn.Write(frame); err != nil {
				errs <- err
				return
			}
			_, p, err := protocol.ReadEcho(c.conn)
			if err != nil || string(p) != fmt.Sprint("conn ", i) {
				errs <- fmt.Errorf("conn %d: %q %v", i, p, err)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestShutdownClosesListenerThenConnectionsPromptly(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	idle := dial(t, ts.addr)
	if idle.batch(4, bets(4, 1, 1)) != protocol.CodeOK {
		t.Fatal("could not send")
	}
	start := time.Now()
	ts.stop()
	took := time.Since(start)
	if !idle.closedByServer() {
		t.Fatal("an idle agency's connection survived the shutdown")
	}
	if _, err := net.DialTimeout("tcp", ts.addr, time.Second); err == nil {
		t.Fatal("the listener still accepts after the shutdown")
	}
	logs := ts.logs.String()
	order := []string{"msg=close_listener", "msg=close_connection", "msg=flush_store"}
	last := -1
	for _, l := range order {
		i := bytes.Index([]byte(logs), []byte(l))
		if i <= last {
			t.Fatalf("%s missing or out of order in:\n%s", l, logs)
		}
		last = i
	}
	// Promptly means without waiting out a bound: the idle session closed
	// itself at once, nothing had to be forced, and suture timed nothing out.
	if ts.logs.count("close_connection", "agency=4", "reason=stopped") != 1 || strings.Contains(logs, "reason=forced") ||
		strings.Contains(logs, "msg=stop_service") {
		t.Fatalf("the idle session did not stop by itself:\n%s", logs)
	}
	t.Logf("shutdown with an idle agency took %v", took)
}

func TestTheBacklogReallySetsTheAcceptQueue(t *testing.T) {
	t.Parallel()
	const backlog = 2
	ln, err := Listen("127.0.0.1:0", backlog)
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	// Nothing accepts: the kernel queues backlog+1 handshakes, then drops
	// SYNs, so later dials cannot complete.
	var conns []net.Conn
	defer func() {
		for _, c := range conns {
			c.Close()
		}
	}()
	for range backlog + 1 {
		c, err := net.DialTimeout("tcp", ln.Addr().String(), 5*time.Second)
		if err != nil {
			t.Fatalf("dial %d within the queue: %v", len(conns)+1, err)
		}
		conns = append(conns, c)
	}
	c, err := net.DialTimeout("tcp", ln.Addr().String(), 300*time.Millisecond)
	if err == nil {
		c.Close()
		t.Fatalf("a dial beyond backlog %d completed: the backlog was not applied", backlog)
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		var ne net.Error
		if !errors.As(err, &ne) || !ne.Timeout() {
			t.Fatalf("dial beyond the queue: %v, want a timeout", err)
		}
	}
}

func TestARestartedCentralCarriesOnTheSameRound(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 2
	path := filepath.Join(t.TempDir(), "bets.csv")
	one, two := bets(1, 1, 100), bets(2, 1000, 50)

	first := startServerAt(t, cfg, path, nil)
	c := dial(t, first.addr)
	if code, st := c.status(1); code != protocol.CodeOK || st != (protocol.Status{}) {
		t.Fatalf("status of a new agency: %v %+v", code, st)
	}
	if c.batch(1, one[:63]) != protocol.CodeOK || c.batch(1, one[63:]) != protocol.CodeOK || c.end(1) != protocol.CodeOK {
		t.Fatal("agency 1 could not send")
	}
	c2 := dial(t, first.addr)
	if c2.batch(2, two) != protocol.CodeOK {
		t.Fatal("agency 2 could not send")
	}
	first.stop()

	second := startServerAt(t, cfg, path, nil)
	c = dial(t, second.addr)
	if code, st := c.status(1); code != protocol.CodeOK || st != (protocol.Status{Stored: 100, Ended: true}) {
		t.Fatalf("agency 1 after the restart: %v %+v", code, st)
	}
	if code := c.batch(1, bets(1, 500, 1)); code != protocol.CodeAfterEnd {
		t.Fatalf("bets after a restored end: %v", code)
	}
	c2 = dial(t, second.addr)
	if code, st := c2.status(2); code != protocol.CodeOK || st != (protocol.Status{Stored: 50}) {
		t.Fatalf("agency 2 after the restart: %v %+v", code, st)
	}
	if c2.end(2) != protocol.CodeOK {
		t.Fatal("agency 2 could not end")
	}
	code, docs := c.winners(1)
	if code != protocol.CodeOK || !slices.Equal(docs, winnersAmong(one)) {
		t.Fatalf("agency 1 winners after the restart: %v %v", code, docs)
	}
	second.stop()

	// After the draw, a restart reopens it without running it again.
	third := startServerAt(t, cfg, path, nil)
	code, docs = dial(t, third.addr).winners(2)
	if code != protocol.CodeOK || !slices.Equal(docs, winnersAmong(two)) {
		t.Fatalf("agency 2 winners after a restart past the draw: %v %v", code, docs)
	}
	if n := third.logs.count("sorteo"); n != 0 {
		t.Fatalf("the draw ran again after the restart")
	}
	if third.logs.count("restore_state", "draw_done=true", "bets=150") != 1 {
		t.Fatalf("no restore line:\n%s", third.logs)
	}
	if third.logs.count("round_finished", "level=WARN", "bets=150", "make docker-storage-reset") != 1 {
		t.Fatalf("a store holding a finished round was not warned about:\n%s", third.logs)
	}
	if second.logs.count("round_finished") != 0 {
		t.Fatalf("a round still open was called finished")
	}
}

func TestGarbageFromOneConnectionDoesNotDisturbOthers(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	garbage := dial(t, ts.addr)
	good := dial(t, ts.addr)
	garbage.send([]byte("GET / HTTP/1.1\r\nHost: central\r\n\r\n"))
	if code := good.batch(1, bets(1, 1, 10)); code != protocol.CodeOK {
		t.Fatalf("a good agency beside garbage: %v", code)
	}
	if got := garbage.code(); got != protocol.CodeMalformed {
		t.Fatalf("garbage got %v, want %v", got, protocol.CodeMalformed)
	}
	if !garbage.closedByServer() {
		t.Fatal("the garbage connection stayed open")
	}
}

// BenchmarkIngest sends full batches from N agencies over loopback, each
// keeping its batches in flight as the real agency does (a writer and a
// reader per connection), and reports bets/s and fsyncs per batch.
func BenchmarkIngest(b *testing.B) {
	for _, agencies := range []int{1, 5, 20} {
		b.Run(fmt.Sprintf("agencies=%d", agencies), func(b *testing.B) {
			cfg := testConfig()
			cfg.Agencies = agencies
			ts := startServer(b, cfg, nil)
			frames := make([][]byte, agencies)
			conns := make([]*agencyConn, agencies)
			for i := range agencies {
				// No winners: the same frame sent for a second would give its
				// agency more than a winners reply can carry, and the central
				// refuses the batch that would.
				batch := bets(uint16(i+1), 1, protocol.MaxBatchCount)
				for j := range batch {
					batch[j].Number = lottery.WinningNumber + 1
				}
				frames[i], _ = protocol.AppendBatch(nil, uint16(i+1), batch)
				conns[i] = dial(b, ts.addr)
				conns[i].conn.SetDeadline(time.Now().Add(5 * time.Minute))
			}
			per := b.N/agencies + 1
			b.ResetTimer()
			var wg sync.WaitGroup
			for i := range agencies {
				c := conns[i].conn
				wg.Go(func() {
					for range per {
						if _, err := c.Write(frames[i]); err != nil {
							b.Error(err)
							return
						}
					}
				})
				wg.Go(func() {
					for range per {
						if code, err := protocol.ReadCode(c); err != nil || code != protocol.CodeOK {
							b.Error(code, err)
							return
						}
					}
				})
			}
			wg.Wait()
			b.StopTimer()
			st := ts.store.Stats()
			b.ReportMetric(float64(st.Bets)/b.Elapsed().Seconds(), "bets/s")
			b.ReportMetric(float64(st.Syncs)/float64(st.Batches), "fsyncs/batch")
		})
	}
}

// BenchmarkDraw measures the draw with a million bets stored by a hundred
// agencies: the last end runs it, and every agency then reads its winners.
// Winners are collected as batches are stored, so no file is read; the
// setup lays out what a million recorded bets leave in the barrier.
func BenchmarkDraw(b *testing.B) {
	const agencies, perAgency = 100, 10_000
	winners := make([][]uint32, agencies+1)
	for a := 1; a <= agencies; a++ {
		winners[a] = winnersAmong(bets(uint16(a), uint32(a)*100_000, perAgency))
	}
	for b.Loop() {
		b.StopTimer()
		d := newRound(agencies, 1, nil)
		for a := uint16(1); a <= agencies; a++ {
			d.stored[a], d.winners[a] = perAgency, winners[a]
			if a < agencies {
				d.finished[a] = true
			}
		}
		b.StartTimer()
		if !d.finish(agencies, func(int, []uint16) {}) {
			b.Fatal("the last end did not run the draw")
		}
		for a := uint16(1); a <= agencies; a++ {
			if docs, ok := d.winnersOf(context.Background(), a, 0); !ok || len(docs) != perAgency/10 {
				b.Fatalf("agency %d: %d winners, %v", a, len(docs), ok)
			}
		}
	}
}

func TestADrawCutShortByACrashIsAnnouncedOnceOnRestart(t *testing.T) {
	t.Parallel()
	// Every end is on disk, but the central died before announcing the draw.
	path := filepath.Join(t.TempDir(), "bets.csv")
	os.WriteFile(path, []byte("1,Ana,Pérez,10,1990-01-02,7574\n2,Bo,Li,20,1990-01-02,1\n"), 0o644)
	os.WriteFile(path+csvfile.EndsSuffix, []byte("1\n2\n"), 0o644)
	cfg := testConfig()
	cfg.Agencies = 2

	first := startServerAt(t, cfg, path, nil)
	code, docs := dial(t, first.addr).winners(1)
	if code != protocol.CodeOK || !slices.Equal(docs, []uint32{10}) {
		t.Fatalf("winners after the restart: %v %v", code, docs)
	}
	first.stop()
	if n := first.logs.count("sorteo", "ganadores=1", "tras_reinicio=true"); n != 1 {
		t.Fatalf("the interrupted draw was announced %d times, want once:\n%s", n, first.logs)
	}

	second := startServerAt(t, cfg, path, nil)
	second.stop()
	if n := second.logs.count("sorteo"); n != 0 {
		t.Fatalf("a draw already announced was announced again:\n%s", second.logs)
	}
}

// BenchmarkHeldWinnersAnswer times, over loopback, how long after the last
// agency's end a winners query held by the barrier gets its answer (the
// contract asks for under 50 ms).
func BenchmarkHeldWinnersAnswer(b *testing.B) {
	cfg := testConfig()
	cfg.Agencies = 2
	cfg.WinnersHold = time.Minute
	var worst time.Duration
	for b.Loop() {
		b.StopTimer()
		asked := make(chan struct{}, 1)
		ts := startServer(b, cfg, func(agency uint16, req protocol.Request) {
			if req.Action == protocol.ActionWinners && agency == 1 {
				asked <- struct{}{}
			}
		})
		first, second := dial(b, ts.addr), dial(b, ts.addr)
		if first.batch(1, bets(1, 10, 20)) != protocol.CodeOK || first.end(1) != protocol.CodeOK {
			b.Fatal("agency 1 could not send")
		}
		first.send(protocol.AppendWinnersQuery(nil, 1))
		<-asked
		second.send(protocol.AppendEnd(nil, 2))
		start := time.Now()
		b.StartTimer()
		code, _, err := protocol.ReadWinners(first.conn)
		took := time.Since(start)
		b.StopTimer()
		if err != nil || code != protocol.CodeOK {
			b.Fatalf("held query: %v %v", code, err)
		}
		worst = max(worst, took)
		second.code()
		ts.stop()
		b.StartTimer()
	}
	b.ReportMetric(float64(worst.Microseconds())/1000, "worst-ms")
}
