package agency

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
)

// fakeCentral answers an agency as the central would, recording every batch.
// refuse, when set, is the code every batch gets; stall makes it read the
// first batch and never answer.
type fakeCentral struct {
	ln      net.Listener
	mu      sync.Mutex
	batches [][]lottery.Bet
	ended   bool
	refuse  protocol.Code
	stall   bool
	gotOne  chan struct{}
	pending int // winners queries answered -1 before the draw
}

func startCentral(t *testing.T, fc *fakeCentral) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fc.ln = ln
	fc.gotOne = make(chan struct{})
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			go fc.serve(conn)
		}
	}()
	return ln.Addr().String()
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
			first := len(fc.batches) == 0
			fc.batches = append(fc.batches, bets)
			fc.mu.Unlock()
			if first {
				close(fc.gotOne)
			}
			if fc.stall {
				select {} // never answer; the agency must not hang on it past cancellation
			}
			out = protocol.AppendCode(nil, fc.refuse)
		case protocol.ActionStatus:
			fc.mu.Lock()
			n := 0
			for _, b := range fc.batches {
				n += len(b)
			}
			if fc.refuse != protocol.CodeOK {
				n = 0 // refused batches were not stored
			}
			out = protocol.AppendStatus(nil, protocol.Status{Stored: uint32(n), Ended: fc.ended})
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
	return Config{ID: 2, ServerAddress: addr, BatchMaxAmount: batch, DataFile: file,
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

func TestARefusedBatchFailsTheRound(t *testing.T) {
	t.Parallel()
	fc := &fakeCentral{refuse: protocol.CodeInvalidBet}
	addr := startCentral(t, fc)
	log, _ := quiet()
	res, err := New(testConfig(addr, writeLines(t, betLines(10)...), 4), log).Run(context.Background())
	if !errors.Is(err, ErrRefused) || res.Sent != 0 || res.Rejected != 4 {
		t.Fatalf("got %+v, %v", res, err)
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
	if err := CheckEcho(context.Background(), echo.Addr().String(), []byte("hola central"), 5*time.Second); err != nil {
		t.Fatalf("a faithful echo failed: %v", err)
	}
	if err := CheckEcho(context.Background(), echo.Addr().String(), []byte("garble me"), 5*time.Second); err == nil {
		t.Fatal("a different echo passed")
	}
	silent, _ := net.Listen("tcp", "127.0.0.1:0") // accepts (in the kernel) and never answers
	t.Cleanup(func() { silent.Close() })
	if err := CheckEcho(context.Background(), silent.Addr().String(), []byte("x"), 200*time.Millisecond); err == nil {
		t.Fatal("a silent server passed")
	}
}
