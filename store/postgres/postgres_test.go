package postgres

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"quiniela/lottery"
	"quiniela/store"
	"quiniela/store/postgres/pgcluster"
	"quiniela/store/storetest"
)

// The package's tests share one throwaway cluster, a database each; a test
// that restarts the database has a cluster of its own.
var shared pgcluster.Shared

func TestMain(m *testing.M) {
	code := m.Run()
	if err := shared.Remove(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	os.Exit(code)
}

// freshDatabase creates a new database in c (the shared cluster when nil)
// and returns its URL; it skips the test where PostgreSQL is not
// installed, and under -short.
func freshDatabase(t testing.TB, c *pgcluster.Cluster) string {
	t.Helper()
	pgcluster.SkipShort(t)
	if c == nil {
		var err error
		if c, err = shared.Get(); errors.Is(err, pgcluster.ErrNotInstalled) {
			t.Skip("SKIP: ", err)
		} else if err != nil {
			t.Fatal(err)
		}
	}
	url, err := c.NewDatabase(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return url
}

// testLease keeps the tests that wait for a lease to expire short.
const testLease = 300 * time.Millisecond

func open(t *testing.T, url string, holder string, log *slog.Logger) *Store {
	t.Helper()
	s, err := Open(context.Background(), url, Options{Holder: holder, Lease: testLease, Log: log})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s
}

func bet(agency uint16, doc uint32) lottery.Bet { return storetest.Bet(agency, doc) }

func scanAll(t *testing.T, s *Store) []lottery.Bet {
	t.Helper()
	var got []lottery.Bet
	if err := s.Scan(func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestThePostgreSQLStoreMeetsTheStoreContract(t *testing.T) {
	t.Parallel()
	pgcluster.SkipShort(t) // here too, so that the summary names one skip, not each subtest's
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		url := freshDatabase(t, nil)
		return func() (store.Store, error) {
			return Open(context.Background(), url, Options{Lease: testLease})
		}
	})
}

// events is a log handler that hands each record (its action, result and
// details) to a channel, so that a test waits for an event instead of
// sleeping.
type events struct{ ch chan event }

// event is a log record: its action and its details as text.
type event struct {
	action string
	attrs  map[string]string
}

func newEvents() *events { return &events{ch: make(chan event, 100)} }

func (e *events) Enabled(context.Context, slog.Level) bool { return true }
func (e *events) Handle(_ context.Context, r slog.Record) error {
	ev := event{action: r.Message, attrs: map[string]string{}}
	var add func(a slog.Attr) bool
	add = func(a slog.Attr) bool {
		if a.Value.Kind() == slog.KindGroup && a.Key == "" { // an address's two keys
			for _, g := range a.Value.Group() {
				add(g)
			}
			return true
		}
		ev.attrs[a.Key] = a.Value.String()
		return true
	}
	r.Attrs(add)
	select {
	case e.ch <- ev:
	default:
	}
	return nil
}
func (e *events) WithAttrs([]slog.Attr) slog.Handler { return e }
func (e *events) WithGroup(string) slog.Handler      { return e }

// await waits up to 30 s for an event of the action, and fails the test
// without it. It must be called from the test's goroutine (it may call
// t.Fatal); elsewhere, use wait.
func (e *events) await(t *testing.T, action string) {
	t.Helper()
	e.awaitWhere(t, action, nil)
}

// awaitWhere waits up to 30 s for an event of the action whose details
// match (any, when match is nil), fails the test without it, and returns
// its details.
func (e *events) awaitWhere(t *testing.T, action string, match func(attrs map[string]string) bool) map[string]string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	attrs, err := e.waitWhere(ctx, action, match)
	if err != nil {
		t.Fatal(err)
	}
	return attrs
}

// wait waits for an event of the action, or returns an error once ctx
// ends. It is safe on any goroutine.
func (e *events) wait(ctx context.Context, action string) error {
	_, err := e.waitWhere(ctx, action, nil)
	return err
}

func (e *events) waitWhere(ctx context.Context, action string, match func(attrs map[string]string) bool) (map[string]string, error) {
	for {
		select {
		case got := <-e.ch:
			if got.action == action && (match == nil || match(got.attrs)) {
				return got.attrs, nil
			}
		case <-ctx.Done():
			return nil, fmt.Errorf("no %s event: %w", action, ctx.Err())
		}
	}
}

// openAsync opens a second central's store in the background.
func openAsync(ctx context.Context, url, holder string, log *slog.Logger) <-chan *Store {
	opened := make(chan *Store, 1)
	go func() {
		s, err := Open(ctx, url, Options{Holder: holder, Lease: testLease, Log: log})
		if err != nil {
			s = nil
		}
		opened <- s
	}()
	return opened
}

func TestASecondCentralStandsByUntilTheActiveOneClosesAndThenTakesOver(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	active := open(t, url, "a", nil)
	if err := active.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait(); err != nil {
		t.Fatal(err)
	}
	standbyLog := newEvents()
	opened := openAsync(context.Background(), url, "b", slog.New(standbyLog))
	standbyLog.await(t, "standby")
	select {
	case <-opened:
		t.Fatal("the second central took over while the first renewed its lease")
	default:
	}
	if err := active.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	next := <-opened
	if next == nil {
		t.Fatal("the standby failed to open")
	}
	defer next.Close(context.Background())
	if next.Epoch() != active.Epoch()+1 {
		t.Fatalf("epochs %d then %d, want consecutive", active.Epoch(), next.Epoch())
	}
	if got := scanAll(t, next); !slices.Equal(got, []lottery.Bet{bet(1, 1)}) {
		t.Fatalf("the new central reads %v", got)
	}
}

func TestAStandbyGivesUpWhenItsContextEnds(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	open(t, url, "a", nil)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	log := newEvents()
	// The wait runs beside Open, so it reports to the test's goroutine
	// rather than fail the test itself.
	standingBy := make(chan error, 1)
	go func() {
		waitCtx, stop := context.WithTimeout(ctx, 30*time.Second)
		defer stop()
		err := log.wait(waitCtx, "standby")
		cancel() // the standby gives up now, or, without its event, the test does
		standingBy <- err
	}()
	_, err := Open(ctx, url, Options{Holder: "b", Lease: testLease, Log: slog.New(log)})
	cancel()
	if werr := <-standingBy; werr != nil && errors.Is(err, context.Canceled) {
		t.Fatalf("the second central never stood by: %v", werr)
	}
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("a standby whose context ended: %v", err)
	}
}

// pauser blocks a store's writes at one stage until released, as a central
// stopped by SIGSTOP would be.
type pauser struct {
	stage       string
	once        sync.Once
	paused      chan struct{}
	released    chan struct{}
	releaseOnce sync.Once
}

// release lets the paused store go on; it may be called more than once.
func (p *pauser) release() { p.releaseOnce.Do(func() { close(p.released) }) }

func newPauser(stage string) *pauser {
	return &pauser{stage: stage, paused: make(chan struct{}), released: make(chan struct{})}
}

func (p *pauser) pause(stage string) {
	if stage != p.stage {
		return
	}
	p.once.Do(func() {
		close(p.paused)
		<-p.released
	})
}

func TestACentralPausedWhileAnotherTookOverCannotCommit(t *testing.T) {
	pgcluster.SkipShort(t)
	for _, tt := range []struct {
		name  string
		stage string
	}{
		{"paused before its transaction", "begin"},
		{"paused between its fence and its commit", "commit"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			url := freshDatabase(t, nil)
			old := open(t, url, "old", nil)
			if err := old.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait(); err != nil {
				t.Fatal(err)
			}
			p := newPauser(tt.stage)
			old.pause = p.pause
			// The old central's renewals stop with it: a paused process
			// renews nothing.
			old.stopRenewal()

			stream := old.NewStream()
			pending := stream.Submit(context.Background(), []lottery.Bet{bet(1, 2), bet(1, 3)})
			<-p.paused
			takeover := <-openAsync(context.Background(), url, "new", nil)
			if takeover == nil {
				t.Fatal("the standby failed to take over")
			}
			defer takeover.Close(context.Background())
			close(p.released)

			if err := pending.Wait(); err == nil {
				t.Fatal("the paused central committed a batch after the new one took over")
			}
			if err := old.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 4)}).Wait(); err == nil {
				t.Fatal("the fenced central stored a later batch")
			}
			if err := old.RecordEnd(1); err == nil {
				t.Fatal("the fenced central recorded an end")
			}
			if got := scanAll(t, takeover); !slices.Equal(got, []lottery.Bet{bet(1, 1)}) {
				t.Fatalf("the database holds %v, want only the batch committed before the takeover", got)
			}
			if takeover.Ended() != nil && len(takeover.Ended()) != 0 {
				t.Fatalf("ends %v", takeover.Ended())
			}
		})
	}
}

func TestAFencedCentralLearnsItLostTheLease(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	old := open(t, url, "old", nil)
	// Another central takes the lease as if the old one's had expired.
	if _, err := old.pool.Exec(context.Background(), `UPDATE central_lease SET epoch = epoch + 1, holder = 'new'`); err != nil {
		t.Fatal(err)
	}
	within(t, old.Lost(), "the old central noticing it lost the lease")
	if !errors.Is(old.LostErr(), errTakenOver) {
		t.Fatalf("LostErr %v", old.LostErr())
	}
	err := old.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait()
	if !errors.Is(err, ErrFenced) || !errors.Is(err, store.ErrClosed) {
		t.Fatalf("a batch after the lease was lost: %v, want ErrFenced (a store.ErrClosed)", err)
	}
}

func TestTheStoreOutlivesADatabaseRestart(t *testing.T) {
	t.Parallel()
	pgcluster.SkipShort(t)
	own, err := pgcluster.Start()
	if errors.Is(err, pgcluster.ErrNotInstalled) {
		t.Skip("SKIP: ", err)
	}
	if err != nil {
		t.Fatal(err)
	}
	defer own.Remove()
	url := freshDatabase(t, own)
	s := open(t, url, "a", nil)
	stream := s.NewStream()
	if err := stream.Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait(); err != nil {
		t.Fatal(err)
	}
	if err := own.Restart(); err != nil {
		t.Fatal(err)
	}
	// The connections the store held are gone: what fails meanwhile is
	// refused whole, and a new stream (an agency's new session) stores.
	var stored []lottery.Bet = []lottery.Bet{bet(1, 1)}
	for doc := uint32(2); len(stored) < 3; doc++ {
		if doc > 100 {
			t.Fatal("no batch stored after the restart")
		}
		if err := s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, doc)}).Wait(); err == nil {
			stored = append(stored, bet(1, doc))
		}
	}
	if got := scanAll(t, s); !slices.Equal(got, stored) {
		t.Fatalf("read back %v, want %v", got, stored)
	}
	if err := s.RecordEnd(1); err != nil {
		t.Fatal(err)
	}
}

func TestABetWhoseBirthdateIsNotADateIsRefusedWhole(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	bad := bet(1, 2)
	bad.Birthdate = "1990-02-30"
	err := s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1), bad}).Wait()
	if err == nil || !strings.Contains(err.Error(), "1990-02-30") {
		t.Fatalf("a batch with 1990-02-30: %v", err)
	}
	if got := scanAll(t, s); len(got) != 0 {
		t.Fatalf("stored %v", got)
	}
}

func TestTheSchemaIsVersionedAndANewerOneIsRefused(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	var version int
	if err := s.pool.QueryRow(context.Background(), `SELECT version FROM schema_version`).Scan(&version); err != nil || version != len(migrations) {
		t.Fatalf("schema version %d (%v), want %d", version, err, len(migrations))
	}
	if _, err := s.pool.Exec(context.Background(), `UPDATE schema_version SET version = 99`); err != nil {
		t.Fatal(err)
	}
	s.Close(context.Background())
	_, err := Open(context.Background(), url, Options{Lease: testLease})
	if err == nil || !strings.Contains(err.Error(), "version 99") {
		t.Fatalf("opening a database of schema version 99: %v", err)
	}
}

// BenchmarkIngest stores b.N bets from 100 concurrent streams of 63-bet
// batches, several in flight each, as a large round's sessions do.
func BenchmarkIngest(b *testing.B) {
	s, err := Open(context.Background(), freshDatabase(b, nil), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	ingest(b, s)
}

// ingest stores b.N bets in s from 100 concurrent streams of 63-bet
// batches, several in flight each, and reports the rate.
func ingest(b *testing.B, s store.Store) {
	const streams, batch, inFlight = 100, 63, 8
	b.ResetTimer()
	var wg sync.WaitGroup
	for i := range streams {
		wg.Go(func() {
			st := s.NewStream()
			var pending []store.Pending
			for doc := uint32(i); doc < uint32(b.N); doc += streams * batch {
				bets := make([]lottery.Bet, 0, batch)
				for d := doc; d < doc+streams*batch && d < uint32(b.N); d += streams {
					bets = append(bets, bet(uint16(i+1), d))
				}
				pending = append(pending, st.Submit(context.Background(), bets))
				if len(pending) == inFlight {
					if err := pending[0].Wait(); err != nil {
						b.Error(err)
						return
					}
					pending = pending[1:]
				}
			}
			for _, p := range pending {
				if err := p.Wait(); err != nil {
					b.Error(err)
				}
			}
		})
	}
	wg.Wait()
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "bets/s")
}

// BenchmarkScanMillion reads back a million bets, as a central taking over
// a large round does before it serves.
func BenchmarkScanMillion(b *testing.B) {
	s, err := Open(context.Background(), freshDatabase(b, nil), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close(context.Background())
	// 100 agencies' batches of 63 bets, as a round stores them.
	_, err = s.pool.Exec(context.Background(), `INSERT INTO batches (agency, bets, names, fixed)
		SELECT 1 + b % 100, count(*), string_agg(E'Ana\tPérez\n', '' ORDER BY g),
			string_agg(int4send(g) || int4send(19900102) || substring(int4send(g % 10000) FROM 3), '' ORDER BY g)
		FROM generate_series(0, 999999) g, LATERAL (SELECT g / 63 AS b) AS batch GROUP BY b ORDER BY b`)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for range b.N {
		n := 0
		if err := s.Scan(func(lottery.Bet) error { n++; return nil }); err != nil || n != 1000000 {
			b.Fatal(err, n)
		}
	}
}

func TestAStandbyTakesOverFromADeadCentralBeforeItsLeaseExpires(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	const lease = 10 * time.Second // renewed every 0.83 s: stale after 1.7 s
	dead, err := Open(context.Background(), url, Options{Holder: "dead", Lease: lease})
	if err != nil {
		t.Fatal(err)
	}
	// The process dies: its connections close, its lease stays as it was.
	dead.stopRenewal()
	dead.pool.Close()
	// Well before the lease's 10 s are over, or the standby waited for it.
	ctx, cancel := context.WithTimeout(context.Background(), lease*8/10)
	defer cancel()
	next, err := Open(ctx, url, Options{Holder: "next", Lease: lease})
	if err != nil {
		t.Fatalf("the standby did not take over from a dead central before its lease expired: %v", err)
	}
	next.Close(context.Background())
}

func TestABatchWrittenByHandThatDoesNotReadBackStopsTheRestoreWithItsID(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	s := open(t, url, "a", nil)
	// A bet's fixed fields: document 1, birthdate 1990-01-02, number 1.
	const bet = `\x00000001012fa6c60001`
	for _, tt := range []struct{ agency, bets, names, fixed, want string }{
		{"70000", "1", `Ana\tPérez\n`, bet, "batch id 1: agency 70000 is out of range"},
		{"1", "2", `Ana\tPérez\nAna\tPérez\n`, bet + `00000001ffffffff0001`, "batch id 2: bet 2: birthdate 4294967295 is not a day as YYYYMMDD"},
		{"1", "1", `Ana\tPérez\n`, `\x00000001012fa7460001`, "batch id 3: bet 1: birthdate \"1990-02-30\" is not a calendar date"},
		{"1", "1", `Ana Pérez\n`, bet, "batch id 4: line 1 of its names is not a first and a last name separated by a tab"},
		{"1", "1", `Ana\tPérez\t1\n`, bet, "batch id 5: bet 1: last name \"Pérez\\t1\" holds a control character"},
		{"1", "1", `Ana\tPérez`, bet, "batch id 6: line 1 of its names is not a first and a last name separated by a tab and ended by a line break"},
		{"1", "2", `Ana\tPérez\n`, bet + `00000001012fa6c60001`, "batch id 7: it holds names for 1 bets, and its column bets says 2"},
		{"1", "1", `Ana\tPérez\nAna\tPérez\n`, bet, "batch id 8: it holds names for more bets than its column bets says (1)"},
		{"1", "2", `Ana\tPérez\nAna\tPérez\n`, bet, "batch id 9: its column fixed holds 10 bytes, and its column bets says 2 bets (20 bytes)"},
		{"1", "65536", `A\tB\n`, bet, "batch id 10: its column bets says 65536, more than a row of this store ever holds (65535"},
		{"1", "-1", `A\tB\n`, bet, "batch id 11: its column bets says -1"},
	} {
		if _, err := s.pool.Exec(context.Background(), `TRUNCATE batches`); err != nil {
			t.Fatal(err)
		}
		if _, err := s.pool.Exec(context.Background(), `INSERT INTO batches (agency, bets, names, fixed) VALUES (`+tt.agency+`, `+tt.bets+`, E'`+tt.names+`', '`+tt.fixed+`')`); err != nil {
			t.Fatal(err)
		}
		err := s.Scan(func(lottery.Bet) error { return nil })
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("scanning %q and %s: %v, want %q", tt.names, tt.fixed, err, tt.want)
		}
	}
}

// replyDropper forwards connections to a database, and once armed cuts
// the first connection whose database says COMMIT, before that reply goes
// back: the transaction is committed, and its client cannot know.
type replyDropper struct {
	ln      net.Listener
	target  string
	armed   atomic.Bool
	dropped atomic.Bool
}

func startReplyDropper(t *testing.T, target string) *replyDropper {
	t.Helper()
	d := &replyDropper{target: target}
	d.ln = serveProxy(t, func(client net.Conn) { d.forward(client) })
	t.Cleanup(func() { d.ln.Close() })
	return d
}

// serveProxy listens on a loopback port and hands every connection to
// forward, on a goroutine of its own, until the listener is closed.
func serveProxy(t *testing.T, forward func(client net.Conn)) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go func() {
		for {
			client, err := ln.Accept()
			if err != nil {
				return
			}
			go forward(client)
		}
	}()
	return ln
}

func (d *replyDropper) forward(client net.Conn) {
	defer client.Close()
	server, err := net.Dial("tcp", d.target)
	if err != nil {
		return
	}
	defer server.Close()
	done := make(chan struct{}, 2)
	go func() {
		io.Copy(server, client)
		done <- struct{}{}
	}()
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if err != nil {
				break
			}
			// CommandComplete's tag of a committed transaction.
			if d.armed.Load() && bytes.Contains(buf[:n], []byte("COMMIT\x00")) && d.dropped.CompareAndSwap(false, true) {
				break
			}
			if _, err := client.Write(buf[:n]); err != nil {
				break
			}
		}
		done <- struct{}{}
	}()
	<-done
}

func TestACommitWhoseReplyWasLostIsAskedAboutAndAcknowledgedOnce(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startReplyDropper(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	log := newEvents()
	s := open(t, u.String(), "a", slog.New(log))
	proxy.armed.Store(true)
	batch := []lottery.Bet{bet(1, 1), bet(1, 2)}
	if err := s.NewStream().Submit(context.Background(), batch).Wait(); err != nil {
		t.Fatalf("a batch committed whose reply was lost: %v, want it acknowledged", err)
	}
	if !proxy.dropped.Load() {
		t.Fatal("the proxy cut no commit: the test tested nothing")
	}
	log.await(t, "store_commit") // in_progress: asking the database
	if got := scanAll(t, s); !slices.Equal(got, batch) {
		t.Fatalf("the database holds %v, want the batch once", got)
	}
}

func TestACentralReachesItsDatabaseOverAUnixSocket(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	// The cluster's socket is in its folder, named after its port.
	c, _ := shared.Get()
	q := u.Query()
	q.Set("host", c.Dir)
	q.Set("port", u.Port())
	u.Host, u.RawQuery = "", q.Encode()
	s := open(t, u.String(), "a", nil)
	if err := s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait(); err != nil {
		t.Fatalf("over %s: %v", u, err)
	}
}

// silencer forwards connections to a database and, while armed, makes
// silent the first connection on which a client sends marker: it forwards
// nothing more on it, either way, and keeps it open, as a database that
// stopped answering does.
type silencer struct {
	ln       net.Listener
	target   string
	marker   []byte
	armed    atomic.Bool
	silenced chan struct{} // closed at the first connection made silent
	once     sync.Once
	mu       sync.Mutex
	conns    []net.Conn
	silent   []net.Conn // both ends of the connections made silent
	closed   bool
}

func startSilencer(t *testing.T, target, marker string) *silencer {
	t.Helper()
	s := &silencer{target: target, marker: []byte(marker), silenced: make(chan struct{})}
	s.ln = serveProxy(t, s.forward)
	t.Cleanup(s.close)
	return s
}

// close stops the silencer and closes every connection it forwards, so
// that nothing waits on a silent one.
func (s *silencer) close() {
	s.ln.Close()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closed = true
	for _, c := range s.conns {
		c.Close()
	}
	s.conns = nil
}

// wake closes the connections made silent: the client learns they are
// gone, rather than wait for them (pgx waits up to 15 s for a reply to its
// last words on a connection it gave up).
func (s *silencer) wake() {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, c := range s.silent {
		c.Close()
	}
	s.silent = nil
}

func (s *silencer) forward(client net.Conn) {
	server, err := net.Dial("tcp", s.target)
	if err != nil {
		client.Close()
		return
	}
	s.mu.Lock()
	closed := s.closed
	s.conns = append(s.conns, client, server)
	s.mu.Unlock()
	if closed {
		client.Close()
		server.Close()
		return
	}
	defer client.Close()
	defer server.Close()
	var silent atomic.Bool
	go func() {
		buf := make([]byte, 64<<10)
		for {
			n, err := server.Read(buf)
			if err != nil {
				break
			}
			if silent.Load() {
				continue
			}
			if _, err := client.Write(buf[:n]); err != nil {
				break
			}
		}
		// A database that closes the connection says so; a silent one
		// says nothing, not even that (the server ends a session idle in
		// a transaction, as the silent one is).
		if !silent.Load() {
			client.Close()
		}
	}()
	buf := make([]byte, 64<<10)
	for {
		n, err := client.Read(buf)
		if err != nil {
			return
		}
		if s.armed.Load() && bytes.Contains(buf[:n], s.marker) && s.armed.CompareAndSwap(true, false) {
			silent.Store(true)
			s.mu.Lock()
			s.silent = append(s.silent, client, server)
			s.mu.Unlock()
			s.once.Do(func() { close(s.silenced) })
		}
		if silent.Load() {
			continue
		}
		if _, err := server.Write(buf[:n]); err != nil {
			return
		}
	}
}

func TestAnEndOrTheDrawIsRefusedWithinTheRecordTimeoutWhenTheDatabaseStopsAnswering(t *testing.T) {
	t.Parallel()
	pgcluster.SkipShort(t)
	tests := []struct {
		name   string
		insert string // what the database stops answering at
		record func(s *Store) error
		stored func(s *Store) bool
	}{
		{"an end", "INSERT INTO ends", func(s *Store) error { return s.RecordEnd(5) },
			func(s *Store) bool { return slices.Contains(s.Ended(), 5) }},
		{"the draw", "INSERT INTO draw", (*Store).RecordDraw, (*Store).Drawn},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			u, err := neturl.Parse(freshDatabase(t, nil))
			if err != nil {
				t.Fatal(err)
			}
			silencer := startSilencer(t, u.Host, tt.insert)
			u.Host = silencer.ln.Addr().String()
			s := open(t, u.String(), "a", nil)
			// The record must be cut short by its timeout while its
			// insert goes unanswered, not before it was sent (a slow
			// BEGIN on a busy machine): a short timeout is doubled until
			// the insert was sent.
			for timeout := 250 * time.Millisecond; ; timeout *= 2 {
				if timeout > 10*time.Second {
					t.Fatal("no record sent its insert within its timeout: the test tested nothing")
				}
				s.recordTimeout = timeout
				silencer.armed.Store(true)
				done := make(chan error, 1)
				go func() { done <- tt.record(s) }()
				select {
				case err := <-done:
					if !errors.Is(err, context.DeadlineExceeded) {
						t.Fatalf("a record the database did not answer: %v, want it refused at the record timeout", err)
					}
				case <-time.After(30 * time.Second):
					silencer.close() // ends the record, and the test
					<-done
					t.Fatalf("a record the database did not answer was still waiting 30 s later, with a record timeout of %v", timeout)
				}
				select {
				case <-silencer.silenced:
				default:
					continue
				}
				break
			}
			if tt.stored(s) {
				t.Fatal("a refused record counts as stored")
			}
			// With the database answering, the same record is stored,
			// within the record timeout of a central: the short one was
			// for the silence, and a loaded machine may take longer than
			// it to connect again.
			silencer.armed.Store(false)
			silencer.wake()
			s.recordTimeout = recordTimeout
			if err := tt.record(s); err != nil || !tt.stored(s) {
				t.Fatalf("the record once the database answers: %v (stored %v)", err, tt.stored(s))
			}
		})
	}
}

// connect opens a connection of the test's own to url, closed when the
// test ends.
func connect(t *testing.T, url string) *pgx.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close(context.Background()) })
	return conn
}

// crash kills every process of c's server at once, as a power cut would
// (what the server had not yet written out of its memory is lost; what it
// had handed to the kernel survives, as a machine's disk cache would not,
// so only the first is a loss here), then starts it again: it recovers
// from its log.
func crash(t *testing.T, c *pgcluster.Cluster, conn *pgx.Conn) {
	t.Helper()
	// The server's processes share the postmaster's process group; the
	// postmaster is a session's parent.
	var backend int
	if err := conn.QueryRow(context.Background(), `SELECT pg_backend_pid()`).Scan(&backend); err != nil {
		t.Fatal(err)
	}
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", backend))
	if err != nil {
		t.Fatal(err)
	}
	fields := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
	postmaster, err := strconv.Atoi(fields[1])
	if err != nil {
		t.Fatal(err)
	}
	// Killed until none is left: the postmaster may have been forking a
	// child that the first signal missed, and a child left alive holds
	// the shared memory, which keeps a new server from starting.
	for deadline := time.Now().Add(30 * time.Second); len(liveInGroup(postmaster)) > 0; {
		if time.Now().After(deadline) {
			t.Fatalf("processes %v of the killed server still run after 30 s", liveInGroup(postmaster))
		}
		syscall.Kill(-postmaster, syscall.SIGKILL)
		runtime.Gosched()
	}
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
}

// liveInGroup lists the processes of process group pgid that have not
// exited (a zombie has).
func liveInGroup(pgid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var live []int
	for _, path := range stats {
		stat, err := os.ReadFile(path)
		if err != nil {
			continue
		}
		f := strings.Fields(string(stat[bytes.LastIndexByte(stat, ')')+1:]))
		if len(f) > 2 && f[0] != "Z" && f[0] != "X" && f[2] == strconv.Itoa(pgid) {
			pid, _ := strconv.Atoi(filepath.Base(filepath.Dir(path)))
			live = append(live, pid)
		}
	}
	return live
}

// superuser runs statements on c's maintenance database.
func superuser(t *testing.T, c *pgcluster.Cluster, statements ...string) {
	t.Helper()
	conn := connect(t, c.URL("postgres"))
	for _, sql := range statements {
		if _, err := conn.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	conn.Close(context.Background())
}

// within waits for ch up to 30 s, and fails the test without it.
func within(t *testing.T, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30 s", what)
	}
}

// succeedsWithin waits up to 30 s for the error of what, sent on ch, and
// fails the test without it or when it is not nil.
func succeedsWithin(t *testing.T, ch <-chan error, what string) {
	t.Helper()
	select {
	case err := <-ch:
		if err != nil {
			t.Fatalf("%s: %v", what, err)
		}
	case <-time.After(30 * time.Second):
		t.Fatalf("%s: not within 30 s", what)
	}
}

func TestACommitLostWithItsReplyInACrashIsNotAcknowledgedThoughItsTransactionIDWentToAnother(t *testing.T) {
	t.Parallel()
	c := pgcluster.Own(t)
	// A crash must lose a committed transaction, as a replica promoted
	// without it does: the store's sessions commit without waiting for the
	// log to be flushed (synchronous_commit=off, in their URL), the WAL
	// writer writes it out only every 10 s, and the background writer,
	// which would write the log out before a data page, writes none.
	superuser(t, c, `ALTER SYSTEM SET wal_writer_delay = '10s'`, `ALTER SYSTEM SET wal_writer_flush_after = '1GB'`,
		`ALTER SYSTEM SET bgwriter_lru_maxpages = 0`)
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	url := freshDatabase(t, c)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startReplyDropper(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	q := u.Query()
	q.Set("synchronous_commit", "off")
	u.RawQuery = q.Encode()
	log := newEvents()
	s := open(t, u.String(), "a", slog.New(log))
	s.stopRenewal() // the lease is kept by its epoch alone: a renewal lost in the crash changes nothing here
	resolving := newPauser("resolve")
	s.pause = resolving.pause
	t.Cleanup(resolving.release) // before the store closes, if the test ends early
	// The test's own sessions commit durably (synchronous_commit is on by
	// default): this one's first commit makes the store's lease, taken
	// before, durable.
	direct := connect(t, url)
	if _, err := direct.Exec(context.Background(), `CREATE TABLE flushed ()`); err != nil {
		t.Fatal(err)
	}

	proxy.armed.Store(true)
	batch := []lottery.Bet{bet(1, 1), bet(1, 2)}
	pending := s.NewStream().Submit(context.Background(), batch)
	within(t, resolving.paused, "the store asking what became of a commit whose reply was cut")
	if !proxy.dropped.Load() {
		t.Fatal("the proxy cut no commit: the test tested nothing")
	}
	// The store logged the transaction's id when its COMMIT broke.
	attrs := log.awaitWhere(t, "store_commit", func(a map[string]string) bool { return a["result"] == "in_progress" })
	xid, err := strconv.ParseUint(attrs["xid"], 10, 64)
	if err != nil {
		t.Fatalf("store_commit in_progress names no transaction id: %v", attrs)
	}

	crash(t, c, direct)
	direct = connect(t, url)
	var stored int
	if err := direct.QueryRow(context.Background(), `SELECT count(*) FROM bets`).Scan(&stored); err != nil {
		t.Fatal(err)
	}
	if stored != 0 {
		// The WAL writer wrote it out in the instant before the crash.
		t.Fatalf("the crash kept the committed batch (%d bets): the test tested nothing", stored)
	}
	// The recovered database hands the lost transaction's id to another
	// one, which commits: pg_xact_status, the store's former way to learn
	// a commit's outcome, now calls that id committed.
	for i := 0; ; i++ {
		if i == 100000 {
			t.Fatalf("no transaction took id %d", xid)
		}
		var next uint64
		if err := direct.QueryRow(context.Background(), `SELECT pg_current_xact_id()::text::bigint`).Scan(&next); err != nil {
			t.Fatal(err)
		}
		if next >= xid {
			break
		}
	}
	var status *string
	if err := direct.QueryRow(context.Background(), `SELECT pg_xact_status($1::text::xid8)`, strconv.FormatUint(xid, 10)).Scan(&status); err != nil {
		t.Fatal(err)
	}
	if status == nil || *status != "committed" {
		t.Fatalf("pg_xact_status(%d) = %v after the id was handed out again, want committed: the test tested nothing", xid, status)
	}

	resolving.release()
	err = pending.Wait()
	if err == nil {
		t.Fatal("the store acknowledged a batch the crash lost")
	}
	if errors.Is(err, store.ErrInDoubt) {
		t.Fatalf("the store could tell (its lease is its own) and said it could not: %v", err)
	}
	log.awaitWhere(t, "store_commit", func(a map[string]string) bool { return a["result"] == "fail" })
	// The agency, told the batch was not stored, sends it again: stored
	// once.
	if err := s.NewStream().Submit(context.Background(), batch).Wait(); err != nil {
		t.Fatalf("the batch sent again: %v", err)
	}
	if got := scanAll(t, s); !slices.Equal(got, batch) {
		t.Fatalf("the database holds %v, want the batch once", got)
	}
}

func TestAStandbyRidesOutItsDatabasesRestartAndItsSessionsTerminated(t *testing.T) {
	t.Parallel()
	c := pgcluster.Own(t)
	url := freshDatabase(t, c)
	// Another central holds the lease for an hour: the standby waits for
	// it through everything below, and no liveness hint hurries it.
	first := open(t, url, "first", nil)
	direct := connect(t, url)
	if _, err := direct.Exec(context.Background(), `UPDATE central_lease SET epoch = epoch + 1, holder = 'elsewhere', expires_at = now() + interval '1 hour'`); err != nil {
		t.Fatal(err)
	}
	first.Close(context.Background())
	direct.Close(context.Background())

	log := newEvents()
	opened := make(chan error, 1)
	var standby *Store
	go func() {
		var err error
		standby, err = Open(context.Background(), url, Options{Holder: "standby", Lease: testLease, Log: slog.New(log)})
		opened <- err
	}()
	log.awaitWhere(t, "standby", func(a map[string]string) bool { return a["active"] == "elsewhere" })

	// A restart: every session is ended (57P01), then nothing answers
	// for a while. One warning when the database goes, one when it is
	// back, however many polls failed between.
	if err := c.Restart(); err != nil {
		t.Fatal(err)
	}
	lost := log.awaitWhere(t, "database", func(a map[string]string) bool { return a["result"] == "fail" })
	back := log.awaitWhere(t, "database", nil)
	if back["result"] != "success" {
		t.Fatalf("after the database went (%v), a second warning before it was back: %v", lost, back)
	}
	if ms, err := strconv.ParseFloat(back["outage_ms"], 64); err != nil || ms <= 0 {
		t.Fatalf("the database's return does not say how long it was away: %v", back)
	}
	t.Logf("the standby saw the database go (%s) and come back after %s ms", lost["error"], back["outage_ms"])

	// Its sessions ended by an operator (57P01), the database staying up.
	direct = connect(t, url)
	var ended int
	if err := direct.QueryRow(context.Background(), `SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity
		WHERE application_name = 'quiniela central standby' AND pid <> pg_backend_pid()`).Scan(&ended); err != nil || ended == 0 {
		t.Fatalf("terminating the standby's sessions: %d ended, %v", ended, err)
	}
	terminated := log.awaitWhere(t, "database", func(a map[string]string) bool { return a["result"] == "fail" })
	if !strings.Contains(terminated["error"], "57P01") {
		t.Fatalf("the standby's sessions were ended with 57P01; it logged %v", terminated)
	}
	log.awaitWhere(t, "database", func(a map[string]string) bool { return a["result"] == "success" })
	select {
	case err := <-opened:
		t.Fatalf("the standby stopped standing by: %v", err)
	default:
	}

	// Still a standby: it takes over once the lease is free.
	if _, err := direct.Exec(context.Background(), `UPDATE central_lease SET expires_at = '-infinity'`); err != nil {
		t.Fatal(err)
	}
	succeedsWithin(t, opened, "the standby taking the free lease")
	defer standby.Close(context.Background())
	if err := standby.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)}).Wait(); err != nil {
		t.Fatal(err)
	}
}

func TestAnUnknownCommitIsInDoubtWhenAnotherCentralTookTheLeaseMeanwhile(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	proxy := startReplyDropper(t, u.Host)
	u.Host = proxy.ln.Addr().String()
	s := open(t, u.String(), "a", nil)
	resolving := newPauser("resolve")
	s.pause = resolving.pause
	t.Cleanup(resolving.release)
	proxy.armed.Store(true)
	pending := s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 1)})
	within(t, resolving.paused, "the store asking what became of a commit whose reply was cut")
	// Another central takes the lease, starting its own count of commits:
	// this one's can no longer be read back.
	direct := connect(t, url)
	if _, err := direct.Exec(context.Background(), `UPDATE central_lease SET epoch = epoch + 1, holder = 'b', commits = 0`); err != nil {
		t.Fatal(err)
	}
	resolving.release()
	err = pending.Wait()
	if !errors.Is(err, store.ErrInDoubt) || !errors.Is(err, ErrFenced) {
		t.Fatalf("a commit that could not be read back: %v, want store.ErrInDoubt and ErrFenced", err)
	}
	within(t, s.Lost(), "the central learning it lost the lease")
}

func TestAConnectionErrorOnThisMachineNamesItsCauseWithoutATLSAttempt(t *testing.T) {
	t.Parallel()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	for _, url := range []string{
		"postgres://lottery@" + addr + "/quiniela",
		"postgres://lottery@localhost:" + addr[strings.LastIndexByte(addr, ':')+1:] + "/quiniela?connect_timeout=5",
		"host=127.0.0.1 port=" + addr[strings.LastIndexByte(addr, ':')+1:] + " user=lottery dbname=quiniela",
	} {
		_, err := Open(context.Background(), url, Options{Lease: testLease})
		if err == nil {
			t.Fatalf("%s: opened a database nothing listens for", url)
		}
		msg := err.Error()
		if strings.Contains(msg, "TLS") || strings.Contains(msg, "tls") || !strings.HasPrefix(msg, "127.0.0.1:") && !strings.HasPrefix(msg, "[::1]:") ||
			!strings.Contains(msg, "connection refused") {
			t.Errorf("%s: %s; want the refused connection first, and no TLS attempt", url, msg)
		}
	}
}

func TestTLSIsLeftAsAskedAndTriedFirstOnlyBeyondThisMachine(t *testing.T) {
	for _, tt := range []struct {
		url  string
		want string // each attempt: host, and whether it tries TLS
	}{
		{"postgres://u@127.0.0.1:5432/db", "127.0.0.1 plain"},
		{"postgres://u@localhost:5432,db.example:5432/db", "localhost plain, db.example tls, db.example plain"},
		{"postgres://u@127.0.0.1:5432,[::1]:5433/db?target_session_attrs=read-write", "127.0.0.1 plain, ::1 plain"},
		{"postgres://u@127.0.0.1:5432/db?sslmode=prefer", "127.0.0.1 tls, 127.0.0.1 plain"},
		{"postgres://u@127.0.0.1:5432/db?sslmode=require", "127.0.0.1 tls"},
		{"host=127.0.0.1 sslmode=prefer user=u", "127.0.0.1 tls, 127.0.0.1 plain"},
		{"postgres://u@/db?host=/var/run/postgresql", "/var/run/postgresql plain"},
	} {
		cfg, err := pgconn.ParseConfig(tt.url)
		if err != nil {
			t.Fatal(err)
		}
		plainOnThisMachine(cfg, tt.url)
		var got []string
		for _, fb := range append([]*pgconn.FallbackConfig{{Host: cfg.Host, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...) {
			mode := "plain"
			if fb.TLSConfig != nil {
				mode = "tls"
			}
			got = append(got, fb.Host+" "+mode)
		}
		if strings.Join(got, ", ") != tt.want {
			t.Errorf("%s: attempts %q, want %q", tt.url, strings.Join(got, ", "), tt.want)
		}
	}
}

// leftByVersion makes the database at url as a central of schema version
// left it, then runs statements in it, and returns a connection to it.
func leftByVersion(t *testing.T, url string, version int, statements ...string) *pgx.Conn {
	t.Helper()
	direct := connect(t, url)
	for _, sql := range append(slices.Clone(migrations[:version]),
		append([]string{
			`CREATE TABLE schema_version (version integer NOT NULL)`,
			`INSERT INTO schema_version VALUES (` + strconv.Itoa(version) + `)`,
		}, statements...)...) {
		if _, err := direct.Exec(context.Background(), sql); err != nil {
			t.Fatalf("%s: %v", sql, err)
		}
	}
	return direct
}

func TestASchemaOfVersionOneIsMigratedAndItsLeaseKept(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	// A database as a central of version 1 left it, active in epoch 4.
	direct := leftByVersion(t, url, 1,
		`UPDATE central_lease SET epoch = 4, holder = 'old', expires_at = '-infinity'`,
		`INSERT INTO bets (agency, first_name, last_name, document, birthdate, number) VALUES (1, 'Ana', 'Pérez', 7, '1990-01-02', 1)`,
	)
	log := newEvents()
	s := open(t, url, "new", slog.New(log))
	migrated := log.awaitWhere(t, "migrate_store", nil)
	if migrated["from_version"] != "1" || migrated["to_version"] != strconv.Itoa(len(migrations)) {
		t.Fatalf("migration %v, want from 1 to %d", migrated, len(migrations))
	}
	if s.Epoch() != 5 {
		t.Fatalf("epoch %d after the old central's 4", s.Epoch())
	}
	if err := s.NewStream().Submit(context.Background(), []lottery.Bet{bet(1, 8)}).Wait(); err != nil {
		t.Fatal(err)
	}
	var commits int64
	if err := direct.QueryRow(context.Background(), `SELECT commits FROM central_lease`).Scan(&commits); err != nil || commits != 1 {
		t.Fatalf("the lease counts %d commits of epoch 5 (%v), want 1", commits, err)
	}
	if got := len(scanAll(t, s)); got != 2 {
		t.Fatalf("%d bets after the migration, want 2", got)
	}
}

func TestAStandbyWhosePollGoesUnansweredStillTakesOver(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	active := open(t, url, "active", nil)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	// The standby's first poll goes unanswered on a connection that stays
	// open, as on a database whose machine froze; later connections work.
	silencer := startSilencer(t, u.Host, "WITH taken AS")
	u.Host = silencer.ln.Addr().String()
	silencer.armed.Store(true)
	took := make(chan error, 1)
	go func() {
		s, err := Open(context.Background(), u.String(), Options{Holder: "standby", Lease: testLease})
		if err == nil {
			// Not waiting for the silent connection pgx gave up on.
			closing, cancel := context.WithTimeout(context.Background(), time.Second)
			s.Close(closing)
			cancel()
		}
		took <- err
	}()
	<-silencer.silenced
	if err := active.Close(context.Background()); err != nil { // the lease is given up: any standby may take it
		t.Fatal(err)
	}
	// Without the poll's bound, it waits on a connection that never answers.
	succeedsWithin(t, took, "the standby taking over")
}

func TestACentralStartedWhileOnlyAReplicaAnswersWaitsForAPrimary(t *testing.T) {
	t.Parallel()
	url := freshDatabase(t, nil)
	u, err := neturl.Parse(url)
	if err != nil {
		t.Fatal(err)
	}
	db := strings.TrimPrefix(u.Path, "/")
	admin, err := pgx.Connect(context.Background(), url)
	if err != nil {
		t.Fatal(err)
	}
	defer admin.Close(context.Background())
	// Every new session of the database is read-only, as on a replica not
	// yet promoted: a read-write URL refuses it.
	if _, err := admin.Exec(context.Background(), `ALTER DATABASE "`+db+`" SET default_transaction_read_only = on`); err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("target_session_attrs", "read-write")
	u.RawQuery = q.Encode()
	opened := make(chan error, 1)
	ev := newEvents()
	go func() {
		s, err := Open(context.Background(), u.String(), Options{Holder: "early", Lease: testLease, Log: slog.New(ev)})
		if err == nil {
			s.Close(context.Background())
		}
		opened <- err
	}()
	// It waits: the database answered, only not as a primary.
	waiting := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_, err := ev.waitWhere(ctx, "database", func(a map[string]string) bool { return a["result"] == "fail" })
		waiting <- err
	}()
	select {
	case err := <-opened:
		t.Fatalf("the central gave up on a database that answered as a replica: %v", err)
	case err := <-waiting:
		if err != nil {
			t.Fatal(err)
		}
	}
	// The primary is back: the central opens the store.
	if _, err := admin.Exec(context.Background(), `ALTER DATABASE "`+db+`" SET default_transaction_read_only = off`); err != nil {
		t.Fatal(err)
	}
	succeedsWithin(t, opened, "the central opening the store once the database took writes")
}

func TestAnOutageTheDatabaseAnsweredAfterIsLoggedAsOverWhenTheStoreCloses(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		answered bool
		want     int // success lines of the database
	}{
		{"a store closed after the database answered logs the outage's end", true, 1},
		{"a store closed while the database has not answered logs no end", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			ev := newEvents()
			o := &outage{log: slog.New(ev)}
			o.lost("writing", errors.New("conn closed"))
			if tt.answered {
				o.answered() // within the settling second: not logged yet
			}
			o.closed()
			back := 0
			for len(ev.ch) > 0 { // the handler has run: every line is in the channel
				if got := <-ev.ch; got.action == "database" && got.attrs["result"] == "success" {
					back++
				}
			}
			if back != tt.want {
				t.Fatalf("%d lines of the database back, want %d", back, tt.want)
			}
		})
	}
}
