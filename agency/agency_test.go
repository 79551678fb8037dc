package agency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
)

// fakeCentral answers an agency as the central would, storing every batch
// it takes. refuse, when set, is the code every batch gets (only the one
// received in place refuseNth, counted from 1, when that is set); once the
// agency has ended, every batch gets "bets after end" (-6); endAfter, when
// set, has a stray end arrive right after that many batches are stored;
// stall makes it read the first batch and answer nothing more until the
// test ends. It stops with
// its test: the listener and every connection closed, every goroutine
// returned.
type fakeCentral struct {
	ln        net.Listener
	mu        sync.Mutex
	batches   [][]lottery.Bet
	ended     bool
	refuse    protocol.Code
	refuseNth int
	endAfter  int
	received  int // batches received, stored or not
	stall     bool
	gotOne    chan struct{}
	pending   int // winners queries answered -1 before the draw

	stop    chan struct{} // closed when the test ends
	conns   map[net.Conn]bool
	dialled int  // under mu: connections accepted in all
	stopped bool // under mu: a connection accepted now is closed at once
	wg      sync.WaitGroup
}

func startCentral(t *testing.T, fc *fakeCentral) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc.ln = ln
	fc.gotOne = make(chan struct{})
	fc.stop = make(chan struct{})
	fc.conns = map[net.Conn]bool{}
	t.Cleanup(fc.close)
	fc.wg.Add(1)
	go func() {
		defer fc.wg.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			fc.mu.Lock()
			if fc.stopped {
				fc.mu.Unlock()
				conn.Close()
				return
			}
			fc.conns[conn] = true
			fc.dialled++
			fc.wg.Add(1) // the accept loop's own count keeps the group open
			fc.mu.Unlock()
			go func() {
				defer fc.wg.Done()
				fc.serve(conn)
			}()
		}
	}()
	return ln.Addr().String()
}

// close stops the central and waits for its goroutines: the accept loop
// wakes on the closed listener, a reader on its closed connection, and a
// stalled answer on stop.
func (fc *fakeCentral) close() {
	fc.ln.Close()
	close(fc.stop)
	fc.mu.Lock()
	fc.stopped = true
	for conn := range fc.conns {
		conn.Close()
	}
	fc.mu.Unlock()
	fc.wg.Wait()
}

func (fc *fakeCentral) serve(conn net.Conn) {
	defer conn.Close()
	r := protocol.NewReader(conn)
	for {
		req, err := r.ReadRequest()
		if err != nil {
			return
		}
		var out []byte
		switch req.Action {
		case protocol.ActionBatch:
			bets, err := protocol.DecodeBatch(nil, req.Body)
			if err != nil {
				return
			}
			fc.mu.Lock()
			fc.received++
			first := fc.received == 1
			code := fc.refuse
			if fc.refuseNth > 0 && fc.received != fc.refuseNth {
				code = protocol.CodeOK
			}
			if fc.ended {
				code = protocol.CodeAfterEnd
			}
			if code == protocol.CodeOK {
				fc.batches = append(fc.batches, bets)
				fc.ended = len(fc.batches) == fc.endAfter
			}
			fc.mu.Unlock()
			if first {
				close(fc.gotOne)
			}
			if fc.stall {
				<-fc.stop // no answer; the agency must not hang on it past cancellation
				return
			}
			out = protocol.AppendCode(nil, code)
		case protocol.ActionStatus:
			fc.mu.Lock()
			n := 0
			for _, b := range fc.batches {
				n += len(b)
			}
			out = protocol.AppendRoundStatus(nil, protocol.Status{Stored: uint32(n), Ended: fc.ended, Round: 1})
			if req.Count != protocol.RoundSize {
				out = protocol.AppendStatus(nil, protocol.Status{Stored: uint32(n), Ended: fc.ended})
			}
			fc.mu.Unlock()
		case protocol.ActionEnd:
			fc.mu.Lock()
			fc.ended = true
			fc.mu.Unlock()
			out = protocol.AppendCode(nil, protocol.CodeOK)
		case protocol.ActionWinners:
			fc.mu.Lock()
			if fc.pending > 0 {
				fc.pending--
				out = protocol.AppendCode(nil, protocol.CodeDrawPending)
			} else {
				var docs []uint32
				for _, batch := range fc.batches {
					for _, b := range batch {
						if b.Won() {
							docs = append(docs, b.Document)
						}
					}
				}
				out, _ = protocol.AppendWinners(nil, docs)
			}
			fc.mu.Unlock()
		}
		if _, err := conn.Write(out); err != nil {
			return
		}
	}
}

// stored is how many bets the central holds.
func (fc *fakeCentral) stored() int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	n := 0
	for _, b := range fc.batches {
		n += len(b)
	}
	return n
}

func (fc *fakeCentral) sizes() []int {
	fc.mu.Lock()
	defer fc.mu.Unlock()
	var s []int
	for _, b := range fc.batches {
		s = append(s, len(b))
	}
	return s
}

func writeLines(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agency.csv")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\r\n")+"\r\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func betLines(n int) []string {
	lines := make([]string, n)
	for i := range lines {
		num := i % 10000
		if i%7 == 0 {
			num = lottery.WinningNumber
		} else if num == lottery.WinningNumber {
			num = 1
		}
		lines[i] = fmt.Sprintf("Ana,Álvarez,%d,1990-01-0%d,%d", 1000+i, 1+i%9, num)
	}
	return lines
}

func testConfig(addr, file string, batch int) Config {
	return Config{ID: 2, ServerAddresses: []string{addr}, BatchMaxAmount: batch, DataFile: file,
		ConnectTimeout: 5 * time.Second, WinnersTimeout: 10 * time.Second, IOTimeout: 5 * time.Second}
}

func quiet() (*slog.Logger, *bytes.Buffer) {
	var buf bytes.Buffer
	return slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})), &buf
}

func TestBatchesHoldTheMaximumExceptPossiblyTheLast(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		max, total int
		want       []int
	}{
		{"fifty bets in sevens leave one over", 7, 50, []int{7, 7, 7, 7, 7, 7, 7, 1}},
		{"an exact multiple has no short batch", 5, 15, []int{5, 5, 5}},
		{"fewer bets than the maximum make one batch", 63, 10, []int{10}},
		{"a maximum above 63 is capped to fit 8 KiB", 100, 130, []int{63, 63, 4}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fc := &fakeCentral{}
			addr := startCentral(t, fc)
			log, _ := quiet()
			res, err := New(testConfig(addr, writeLines(t, betLines(tt.total)...), tt.max), log).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if got := fc.sizes(); fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Fatalf("batches of %v, want %v", got, tt.want)
			}
			if res.Sent != tt.total || !fc.ended {
				t.Fatalf("sent %d (want %d), ended %v", res.Sent, tt.total, fc.ended)
			}
		})
	}
}

func TestMalformedLinesAreReportedAndSkippedAndTheRestArrives(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{pending: 2}
	addr := startCentral(t, fc)
	lines := betLines(6)
	lines[1] = "Ana,Álvarez,not-a-number,1990-01-01,5"
	lines[3] = "only,three,fields"
	lines[4] = "Ana,Álvarez,77,1990-02-30,5"
	log, logs := quiet()
	res, err := New(testConfig(addr, writeLines(t, lines...), 63), log).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 3 || res.Skipped != 3 {
		t.Fatalf("sent %d skipped %d, want 3 and 3", res.Sent, res.Skipped)
	}
	for _, want := range []string{"line=2 error=\"invalid document", "line=4 error=\"3 fields", "line=5 error=\"invalid birthdate"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs)
		}
	}
	if len(res.Winners) != 1 || res.Winners[0] != 1000 {
		t.Fatalf("winners %v, want [1000] after two not-yet answers", res.Winners)
	}
}

func TestBetsTheCentralRefusesForGoodFailTheRoundSayingHowManyWereNotStored(t *testing.T) {
	t.Parallel()
	single := []string{"Santiago Lionel", "Lorca", "30904465", "1999-03-17", "7574"}
	tests := []struct {
		name            string
		central         *fakeCentral
		lines           []string
		single          []string
		code            protocol.Code
		held, sent, not int
		skipped         int
	}{
		{"a central that refuses every batch as invalid stores none of the file",
			&fakeCentral{refuse: protocol.CodeInvalidBet}, betLines(10), nil, protocol.CodeInvalidBet, 0, 0, 10, 0},
		{"a stray end before the agency began leaves its whole file unstored",
			&fakeCentral{ended: true}, betLines(100), nil, protocol.CodeAfterEnd, 0, 0, 100, 0},
		{"a stray end after three batches leaves the rest unstored, malformed lines aside",
			&fakeCentral{endAfter: 3}, append(betLines(100), "only,three,fields"), nil, protocol.CodeAfterEnd, 0, 30, 70, 1},
		{"a file that grew after the agency's end fails for its new bets",
			&fakeCentral{ended: true, batches: [][]lottery.Bet{make([]lottery.Bet, 5)}}, betLines(8), nil, protocol.CodeAfterEnd, 5, 0, 3, 0},
		{"a single bet after a stray end is not stored",
			&fakeCentral{ended: true}, nil, single, protocol.CodeAfterEnd, 0, 0, 1, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			addr := startCentral(t, tt.central)
			cfg := testConfig(addr, "/nonexistent", 10)
			if tt.single != nil {
				cfg.SingleBet = tt.single
			} else {
				cfg.DataFile = writeLines(t, tt.lines...)
			}
			log, logs := quiet()
			res, err := New(cfg, log).Run(context.Background())
			var refused *RefusedError
			if !errors.As(err, &refused) || refused.Code != tt.code || !errors.Is(err, ErrRefused) {
				t.Fatalf("got %v, want a refusal with code %d; log:\n%s", err, tt.code, logs)
			}
			if res.Held != tt.held || res.Sent != tt.sent || res.NotStored != tt.not || res.Skipped != tt.skipped {
				t.Fatalf("held %d sent %d not stored %d skipped %d, want %d, %d, %d and %d",
					res.Held, res.Sent, res.NotStored, res.Skipped, tt.held, tt.sent, tt.not, tt.skipped)
			}
			if res.Rejected < 1 || res.Rejected > res.NotStored {
				t.Fatalf("%d bets of refused batches, want 1 to the %d not stored", res.Rejected, res.NotStored)
			}
			if want := fmt.Sprintf("%d of the agency's %d valid bets were not stored", tt.not, tt.held+tt.sent+tt.not); !strings.Contains(err.Error(), want) {
				t.Fatalf("the error does not say %q: %v", want, err)
			}
			if strings.Contains(logs.String(), "consulta_ganadores") || strings.Contains(logs.String(), "ronda_anterior") {
				t.Fatalf("a failed round asked for or announced winners:\n%s", logs)
			}
			if got := tt.central.stored(); got != tt.held+tt.sent {
				t.Fatalf("the central holds %d bets, want %d", got, tt.held+tt.sent)
			}
		})
	}
}

func TestBatchesStoredAfterARefusedOneAreCountedAsStored(t *testing.T) {
	t.Parallel()
	// The central refuses the second batch and stores the others it reads;
	// the agency stops sending at the refusal, and reads the replies of
	// the batches already on their way.
	fc := &fakeCentral{refuse: protocol.CodeTooManyWinners, refuseNth: 2}
	addr := startCentral(t, fc)
	log, _ := quiet()
	res, err := New(testConfig(addr, writeLines(t, betLines(100)...), 10), log).Run(context.Background())
	var refused *RefusedError
	if !errors.As(err, &refused) || refused.Code != protocol.CodeTooManyWinners {
		t.Fatalf("got %v, want the refusal of too many winners", err)
	}
	stored := fc.stored()
	if res.Sent != stored || res.NotStored != 100-stored || res.Rejected != 10 {
		t.Fatalf("sent %d, not stored %d, rejected %d; the central holds %d of the 100 and refused one batch of 10",
			res.Sent, res.NotStored, res.Rejected, stored)
	}
	if stored < 30 {
		t.Fatalf("the central holds %d bets, want the batches around the refused one (the first four go out together)", stored)
	}
}

func TestSingleBetModeSendsExactlyThatBet(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{}
	addr := startCentral(t, fc)
	cfg := testConfig(addr, "/nonexistent", 63)
	cfg.SingleBet = []string{"Santiago Lionel", "Lorca", "30904465", "1999-03-17", "7574"}
	log, logs := quiet()
	res, err := New(cfg, log).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := lottery.Bet{Agency: 2, FirstName: "Santiago Lionel", LastName: "Lorca", Document: 30904465, Birthdate: "1999-03-17", Number: 7574}
	if len(fc.batches) != 1 || len(fc.batches[0]) != 1 || fc.batches[0][0] != want {
		t.Fatalf("the central got %+v", fc.batches)
	}
	if res.Sent != 1 || len(res.Winners) != 1 || !strings.Contains(logs.String(), "msg=apuesta_enviada result=success dni=30904465 numero=7574") {
		t.Fatalf("got %+v; log:\n%s", res, logs)
	}
}

func TestAnUnreachableCentralFailsAfterTheConnectTimeout(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close() // nothing listens there now
	cfg := testConfig(addr, writeLines(t, betLines(1)...), 63)
	cfg.ConnectTimeout = 300 * time.Millisecond
	log, _ := quiet()
	_, err := New(cfg, log).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "central unreachable at "+addr) {
		t.Fatalf("got %v", err)
	}
}

func TestAFileThatCannotBeReadFailsAtOnceRatherThanBeingRetried(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{}
	addr := startCentral(t, fc)
	cfg := testConfig(addr, t.TempDir(), 63) // a folder: every read fails with EISDIR
	cfg.ConnectTimeout = time.Minute
	log, _ := quiet()
	_, err := New(cfg, log).Run(context.Background())
	var pathErr *fs.PathError
	if !errors.As(err, &pathErr) {
		t.Fatalf("got %v, want the file's own error", err)
	}
	fc.mu.Lock()
	defer fc.mu.Unlock()
	if fc.dialled != 1 {
		t.Fatalf("the agency connected %d times: a file error is not the central's, and no new connection mends it", fc.dialled)
	}
}

func TestCancellationMidSendStopsAtOnceAndClosesEverything(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{stall: true}
	addr := startCentral(t, fc)
	cfg := testConfig(addr, writeLines(t, betLines(500)...), 63)
	cfg.IOTimeout = time.Minute
	log, logs := quiet()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := New(cfg, log).Run(ctx)
		done <- err
	}()
	<-fc.gotOne
	cancel()
	if err := <-done; !errors.Is(err, context.Canceled) {
		t.Fatalf("got %v, want context.Canceled", err)
	}
	for _, want := range []string{"msg=close_connection result=success", "msg=close_file result=success"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("no %q in the log:\n%s", want, logs)
		}
	}
}

func TestCheckEchoPassesOnlyWhenTheSameBytesComeBack(t *testing.T) {
	t.Parallel()
	echo, _ := net.Listen("tcp", "127.0.0.1:0")
	t.Cleanup(func() { echo.Close() })
	go func() {
		for {
			conn, err := echo.Accept()
			if err != nil {
				return
			}
			go func() {
				defer conn.Close()
				h, p, err := protocol.ReadEcho(conn)
				if err != nil {
					return
				}
				if string(p) == "garble me" {
					p = []byte("garbled!!")
				}
				out, _ := protocol.AppendEcho(nil, h.Agency, p)
				conn.Write(out)
			}()
		}
	}()
	if err := CheckEcho(context.Background(), echo.Addr().String(), nil, []byte("hola central"), 5*time.Second); err != nil {
		t.Fatalf("a faithful echo failed: %v", err)
	}
	if err := CheckEcho(context.Background(), echo.Addr().String(), nil, []byte("garble me"), 5*time.Second); err == nil {
		t.Fatal("a different echo passed")
	}
	silent, _ := net.Listen("tcp", "127.0.0.1:0") // accepts (in the kernel) and never answers
	t.Cleanup(func() { silent.Close() })
	if err := CheckEcho(context.Background(), silent.Addr().String(), nil, []byte("x"), 200*time.Millisecond); err == nil {
		t.Fatal("a silent server passed")
	}
}

func TestAFileWithABOMSpacesAndZeroPaddedDocumentsIsReadWhole(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{}
	addr := startCentral(t, fc)
	path := filepath.Join(t.TempDir(), "agency.csv")
	content := "\uFEFFName,Surname,00000000,2000-01-01,7574\n" +
		"  Ana , Pérez ,00000001 , 1990-05-17 , 12\n" +
		"Bo,Li,4294967295,1990-05-17,7574\n"
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	log, logs := quiet()
	res, err := New(testConfig(addr, path, 63), log).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	want := []lottery.Bet{
		{Agency: 2, FirstName: "Name", LastName: "Surname", Document: 0, Birthdate: "2000-01-01", Number: 7574},
		{Agency: 2, FirstName: "Ana", LastName: "Pérez", Document: 1, Birthdate: "1990-05-17", Number: 12},
		{Agency: 2, FirstName: "Bo", LastName: "Li", Document: 4294967295, Birthdate: "1990-05-17", Number: 7574},
	}
	if len(fc.batches) != 1 || fmt.Sprint(fc.batches[0]) != fmt.Sprint(want) {
		t.Fatalf("the central got %+v, want %+v", fc.batches, want)
	}
	if res.Sent != 3 || res.Skipped != 0 || fmt.Sprint(res.Winners) != "[0 4294967295]" {
		t.Fatalf("got %+v; log:\n%s", res, logs)
	}
}

func TestAResumedAgencyTellsWhatItSentFromWhatTheCentralHeld(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{}
	addr := startCentral(t, fc)
	file := writeLines(t, betLines(100)...)
	log, _ := quiet()
	if _, err := New(testConfig(addr, file, 63), log).Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	// A second run finds everything stored and the end recorded.
	log, logs := quiet()
	res, err := New(testConfig(addr, file, 63), log).Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 0 || res.Held != 100 || len(res.Winners) != 15 {
		t.Fatalf("got sent %d held %d winners %d, want 0, 100 and 15", res.Sent, res.Held, len(res.Winners))
	}
	if !strings.Contains(logs.String(), "level=INFO msg=ronda_anterior result=success almacenadas=100 en_archivo=100") {
		t.Fatalf("the earlier end was not reported at INFO:\n%s", logs)
	}
}

func TestAStoreFromAnotherRoundIsReportedWithTheWayToStartAfresh(t *testing.T) {
	t.Parallel()
	t.Run("an ended agency whose file has fewer bets than the central holds is warned about", func(t *testing.T) {
		t.Parallel()
		fc := &fakeCentral{ended: true, batches: [][]lottery.Bet{make([]lottery.Bet, 20)}}
		addr := startCentral(t, fc)
		log, logs := quiet()
		res, err := New(testConfig(addr, writeLines(t, betLines(8)...), 63), log).Run(context.Background())
		if err != nil || res.Held != 20 || res.Sent != 0 || fc.received != 0 {
			t.Fatalf("got %+v, %v, %d batches sent", res, err, fc.received)
		}
		for _, want := range []string{"level=WARN msg=ronda_anterior result=success almacenadas=20 en_archivo=8", "make docker-storage-reset"} {
			if !strings.Contains(logs.String(), want) {
				t.Errorf("no %q in:\n%s", want, logs)
			}
		}
	})
	t.Run("a file with fewer valid bets than the central holds fails with the hint", func(t *testing.T) {
		t.Parallel()
		fc := &fakeCentral{batches: [][]lottery.Bet{make([]lottery.Bet, 20)}}
		addr := startCentral(t, fc)
		log, logs := quiet()
		_, err := New(testConfig(addr, writeLines(t, betLines(8)...), 63), log).Run(context.Background())
		if err == nil || !strings.Contains(err.Error(), "holds 20 bets of agency 2") || !strings.Contains(err.Error(), "make docker-storage-reset") {
			t.Fatalf("got %v", err)
		}
		if !strings.Contains(logs.String(), "level=WARN msg=ronda_anterior result=fail almacenadas=20 en_archivo=8") {
			t.Errorf("no warning in:\n%s", logs)
		}
		if fc.ended {
			t.Error("the agency ended on a store it does not match")
		}
	})
}

func TestWaitingForTheCentralIsLoggedAtInfoWithTheTimeLeft(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := ln.Addr().String()
	ln.Close()
	cfg := testConfig(addr, writeLines(t, betLines(1)...), 63)
	cfg.ConnectTimeout = 300 * time.Millisecond
	var buf bytes.Buffer
	log := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))
	if _, err := New(cfg, log).Run(context.Background()); err == nil {
		t.Fatal("no central, yet the round succeeded")
	}
	host, port, _ := net.SplitHostPort(addr)
	first := regexp.MustCompile(`level=INFO msg=connect result=in_progress host=` + regexp.QuoteMeta(host) + ` port=` + port + ` attempt=1 time_left_ms=\d+ error=`)
	if !first.MatchString(buf.String()) {
		t.Fatalf("the first failure is not at INFO with the address and time left:\n%s", buf.String())
	}
	if n := strings.Count(buf.String(), "msg=connect result=in_progress"); n != 1 {
		t.Fatalf("%d INFO retry lines within 300 ms, want 1 (then one every %s)", n, retryReport)
	}
}

func TestACentralThatCannotStoreIsRetriedUntilNoProgressForTheConnectTimeout(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{refuse: protocol.CodeStorage}
	addr := startCentral(t, fc)
	cfg := testConfig(addr, writeLines(t, betLines(10)...), 4)
	// Long enough that a loaded machine still dials within it: at 300 ms
	// the first dial itself timed out with two cores kept busy.
	cfg.ConnectTimeout = 2 * time.Second
	log, logs := quiet()
	_, err := New(cfg, log).Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "no progress with the central for 2s") || !strings.Contains(err.Error(), "storage failure") {
		t.Fatalf("got %v", err)
	}
	if n := strings.Count(logs.String(), "msg=reconnect"); n < 2 {
		t.Fatalf("%d reconnections, want the storage failure retried:\n%s", n, logs)
	}
}

func TestProgressIsReportedAsTheFileGoesOut(t *testing.T) {
	t.Parallel()
	t.Run("as INFO lines when nobody draws a bar", func(t *testing.T) {
		t.Parallel()
		fc := &fakeCentral{}
		cfg := testConfig(startCentral(t, fc), writeLines(t, betLines(500)...), 50)
		cfg.ProgressEvery = time.Nanosecond // every batch, for the test
		log, logs := quiet()
		if _, err := New(cfg, log).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		lines := regexp.MustCompile(`msg=progreso result=in_progress enviadas=(\d+) leido_pct=(\d+) apuestas_por_seg=\d+ restante_ms=\d+`).FindAllStringSubmatch(logs.String(), -1)
		if len(lines) != 10 { // after each of the ten batches
			t.Fatalf("%d progreso lines, want 10:\n%s", len(lines), logs)
		}
		if pct, _ := strconv.Atoi(lines[9][2]); lines[0][1] != "50" || lines[9][1] != "500" || pct < 99 {
			t.Fatalf("first %v, last %v", lines[0], lines[9])
		}
	})
	t.Run("to a callback, ending at the whole file", func(t *testing.T) {
		t.Parallel()
		fc := &fakeCentral{}
		cfg := testConfig(startCentral(t, fc), writeLines(t, betLines(300)...), 63)
		var last Progress
		calls := 0
		cfg.OnProgress = func(p Progress) { last, calls = p, calls+1 }
		log, logs := quiet()
		if _, err := New(cfg, log).Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if calls < 1 || last.Sent != 300 || last.Share() != 1 || last.Left() != 0 {
			t.Fatalf("%d calls, last %+v (share %v)", calls, last, last.Share())
		}
		if strings.Contains(logs.String(), "msg=progreso") {
			t.Fatal("progreso lines beside the callback")
		}
	})
}

func TestTheAgencyMovesOnToTheNextCentralWhenOneIsDownOrStopsAnswering(t *testing.T) {
	t.Parallel()
	ln, _ := net.Listen("tcp", "127.0.0.1:0")
	down := ln.Addr().String()
	ln.Close() // nothing listens there now
	stalled := startCentral(t, &fakeCentral{stall: true})
	standby := &fakeCentral{}
	active := startCentral(t, standby)

	cfg := testConfig("", writeLines(t, betLines(20)...), 5)
	cfg.ServerAddresses = []string{stalled, down, active}
	cfg.IOTimeout = 300 * time.Millisecond
	log, logs := quiet()
	res, err := New(cfg, log).Run(context.Background())
	if err != nil {
		t.Fatalf("%v\n%s", err, logs)
	}
	if got := fmt.Sprint(standby.sizes()); got != "[5 5 5 5]" {
		t.Fatalf("the central that answered got batches %s, want the whole file", got)
	}
	if len(res.Winners) != 3 || !standby.ended {
		t.Fatalf("winners %v, ended %v", res.Winners, standby.ended)
	}
	hostPort := func(addr string) string { h, p, _ := net.SplitHostPort(addr); return "host=" + h + " port=" + p }
	for _, want := range []string{hostPort(stalled), hostPort(down), "msg=connect result=success " + hostPort(active)} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("no %q in the log:\n%s", want, logs)
		}
	}
}
