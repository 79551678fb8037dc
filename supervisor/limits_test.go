package supervisor

import (
	"bytes"
	"io"
	"regexp"
	"strconv"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/protocol"
)

func TestASilentConnectionIsClosedAfterTheIdleTimeoutAndAnAskingAgencyIsNot(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	// A second: enough margin that a loaded machine's scheduling pauses
	// (the whole suite runs beside this test) never look like an idle
	// agency.
	cfg.IdleTimeout = time.Second
	cfg.WinnersHold = 10 * time.Millisecond
	ts := startServer(t, cfg, nil)
	silent := dial(t, ts.addr)
	asking := dial(t, ts.addr)
	// The asking agency polls the winners as agencies do, more often than
	// the idle timeout, for longer than it.
	for range 12 {
		if code, _ := asking.winners(1); code != protocol.CodeDrawPending {
			t.Fatalf("winners: %v", code)
		}
		time.Sleep(cfg.IdleTimeout / 4) // the agency's pace, not a synchronisation
	}
	if !silent.closedByServer() {
		t.Fatal("a connection that never sent a frame was kept open")
	}
	if code, _ := asking.winners(1); code != protocol.CodeDrawPending {
		t.Fatal("an agency asking for its winners was cut off as idle")
	}
	if ts.logs.count("close_connection", "reason=idle", "agency=0") != 1 {
		t.Fatalf("the idle close was not logged:\n%s", ts.logs)
	}
}

func TestAFrameDrippedSlowerThanTheFrameTimeoutIsCutOff(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.FrameTimeout = 200 * time.Millisecond
	ts := startServer(t, cfg, nil)
	c := dial(t, ts.addr)
	header := protocol.AppendEnd(nil, 1)
	start := time.Now()
	for _, b := range header[:len(header)-1] {
		c.conn.Write([]byte{b})
		time.Sleep(cfg.FrameTimeout / 2) // the peer's pace: the header takes twice the frame timeout
	}
	if !c.closedByServer() {
		t.Fatal("a header dripped byte by byte kept its connection")
	}
	if took := time.Since(start); took > 10*cfg.FrameTimeout {
		t.Fatalf("cut off after %v", took)
	}
	if ts.logs.count("session", "result=fail", "frame not completed within 200ms") != 1 {
		t.Fatalf("no line says why:\n%s", ts.logs)
	}
}

func TestAtTheConnectionLimitSilentPeersMakeRoomAndAgenciesStay(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.MaxConnections = 3
	ts := startServer(t, cfg, nil)
	agency := dial(t, ts.addr)
	if code, _ := agency.status(1); code != protocol.CodeOK {
		t.Fatalf("status: %v", code)
	}
	// A flood of silent sockets: each one evicts the oldest silent one,
	// never the agency.
	var silent []*agencyConn
	for range 10 {
		silent = append(silent, dial(t, ts.addr))
	}
	for i, c := range silent[:8] {
		if !c.closedByServer() {
			t.Fatalf("silent connection %d was not evicted", i)
		}
	}
	if code := agency.batch(1, bets(1, 1, 3)); code != protocol.CodeOK {
		t.Fatalf("the agency after the flood: %v", code)
	}
	// Once every connection has spoken for an agency, a new one is refused.
	for i, c := range silent[8:] {
		if code, _ := c.status(uint16(2 + i)); code != protocol.CodeOK {
			t.Fatalf("agency %d: %v", 2+i, code)
		}
	}
	if !dial(t, ts.addr).closedByServer() {
		t.Fatal("a connection beyond the limit was taken while every one had spoken for an agency")
	}
	for a, c := range map[uint16]*agencyConn{1: agency, 2: silent[8], 3: silent[9]} {
		if code, _ := c.status(a); code != protocol.CodeOK {
			t.Fatalf("agency %d lost its connection to the limit", a)
		}
	}
	if n := ts.logs.count("connection_limit"); n < 1 || n > logBurst+1 {
		t.Fatalf("%d connection_limit lines, want at least one and at most the burst:\n%s", n, ts.logs)
	}
}

func TestRepeatedWarningsOfAConnectionAreRateLimitedAndCounted(t *testing.T) {
	t.Parallel()
	ts := startServer(t, testConfig(), nil)
	c := dial(t, ts.addr)
	bad := bets(1, 1, 1)
	bad[0].Birthdate = "2999-01-01"
	const sent = 300
	for range sent {
		if code := c.batch(1, bad); code != protocol.CodeInvalidBet {
			t.Fatalf("an invalid bet got %v", code)
		}
	}
	c.conn.Close()
	ts.stop()
	logged := ts.logs.count("apuesta_recibida", "result=fail")
	suppressed := 0
	for _, m := range regexp.MustCompile(`msg=log_suppressed .*suppressed=(\d+)`).FindAllStringSubmatch(ts.logs.String(), -1) {
		n, _ := strconv.Atoi(m[1])
		suppressed += n
	}
	if logged+suppressed != sent || logged > sent/10 {
		t.Fatalf("%d lines logged and %d counted as suppressed for %d refusals", logged, suppressed, sent)
	}
}

func TestABatchIsRefusedWhenItsAgencysWinnersWouldNotFitAReply(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.Agencies = 1
	ts := startServer(t, cfg, nil)
	c := dial(t, ts.addr)
	winning := func(first uint32, n int) []lottery.Bet {
		out := bets(1, first, n)
		for i := range out {
			out[i].Number = lottery.WinningNumber
		}
		return out
	}
	stored := 0
	for stored < protocol.MaxWinners {
		n := min(protocol.MaxBatchCount, protocol.MaxWinners-stored)
		if code := c.batch(1, winning(uint32(stored), n)); code != protocol.CodeOK {
			t.Fatalf("after %d winners: %v", stored, code)
		}
		stored += n
	}
	if code := c.batch(1, winning(1_000_000, 1)); code != protocol.CodeTooManyWinners {
		t.Fatalf("winner number %d got %v, want %v", protocol.MaxWinners+1, code, protocol.CodeTooManyWinners)
	}
	losing := bets(1, 2_000_000, 1)
	losing[0].Number = 1
	if code := c.batch(1, losing); code != protocol.CodeOK {
		t.Fatalf("a losing bet after the limit: %v", code)
	}
	if c.end(1) != protocol.CodeOK {
		t.Fatal("end")
	}
	if code, docs := c.winners(1); code != protocol.CodeOK || len(docs) != protocol.MaxWinners {
		t.Fatalf("winners: %v, %d documents, want all %d", code, len(docs), protocol.MaxWinners)
	}
}

func TestALargeReplyAfterALongIdleIsWrittenWithAFreshDeadline(t *testing.T) {
	t.Parallel()
	cfg := testConfig()
	cfg.FrameTimeout = 100 * time.Millisecond
	ts := startServer(t, cfg, nil)
	c := dial(t, ts.addr)
	c.conn.SetDeadline(time.Now().Add(10 * time.Second))
	for round := range 2 {
		if round == 1 {
			// The state under test: idle for longer than FrameTimeout.
			time.Sleep(3 * cfg.FrameTimeout)
		}
		frame, _ := protocol.AppendEcho(nil, 1, bytes.Repeat([]byte{'x'}, 1000))
		c.send(frame)
		got := make([]byte, len(frame))
		if _, err := io.ReadFull(c.conn, got); err != nil || !bytes.Equal(got, frame) {
			t.Fatalf("round %d: a 1,000-byte echo came back as %d bytes (%v):\n%s", round, len(got), err, ts.logs)
		}
	}
}
