package supervisor

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thejerf/suture/v4"
	"golang.org/x/sync/errgroup"

	"quiniela/lottery"
	"quiniela/protocol"
	"quiniela/store"
)

// reasonPeerClosed is the close reason of a connection its peer closed.
const reasonPeerClosed = "peer closed the connection"

// errShutdown ends a session because the central is shutting down or the
// agency's session was replaced by a newer connection.
var errShutdown = errors.New("session stopped")

// session serves one agency's connection for its whole session: batches,
// end, winners, status and echo, with replies in request order (see
// pipeline). The first batch, end, winners or status frame binds the
// connection to its agency; a newer connection of the same agency replaces
// this one.
//
// A panic while handling a frame reaches suture, which calls Serve again:
// the frame had been read whole, so the stream is still at a frame
// boundary, and the restarted session answers that frame CodeInternal and
// carries on.
type session struct {
	srv   *Server
	conn  net.Conn
	peer  string
	drain time.Duration

	agency atomic.Uint32               // bound agency, 0 until the first agency frame
	log    atomic.Pointer[slog.Logger] // the server's logger with this session's agency and peer

	br       *bufio.Reader
	rd       *protocol.Reader
	out      []byte           // the acker's reply buffer
	bets     []lottery.Bet    // the reader's decoding buffer
	handling *protocol.Header // the frame being handled, for a restart after a panic

	mu       sync.Mutex
	idle     bool      // waiting for the first byte of a frame
	stopping bool      // interrupted: finish the frame in hand, then end
	stopBy   time.Time // when stopping, the deadline for that frame

	closeOnce sync.Once
	done      chan struct{} // closed when the session has ended for good
}

func newSession(srv *Server, conn net.Conn, drain time.Duration) *session {
	br := bufio.NewReaderSize(conn, readBuffer)
	s := &session{
		srv: srv, conn: conn, peer: conn.RemoteAddr().String(), drain: drain,
		br: br, rd: protocol.NewReader(br),
		out:  make([]byte, 0, 64),
		done: make(chan struct{}),
	}
	s.log.Store(srv.log.With("peer", s.peer))
	return s
}

// String names the session in suture's events, e.g. agency-3@127.0.0.1:4123.
func (s *session) String() string {
	if a := s.agency.Load(); a != 0 {
		return "agency-" + strconv.Itoa(int(a)) + "@" + s.peer
	}
	return "session@" + s.peer
}

// logger returns the server's logger with this session's agency and peer.
func (s *session) logger() *slog.Logger { return s.log.Load() }

func (s *session) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.interrupt(s.drain) })
	defer stop()
	if h := s.handling; h != nil {
		s.handling = nil
		s.logger().Error("request", "result", "fail", "action", h.Action.String(), "code", int(protocol.CodeInternal), "error", "handler panicked; session restarted")
		s.armWrite()
		if _, err := s.conn.Write(protocol.AppendCode(nil, protocol.CodeInternal)); err != nil {
			return s.end(fmt.Errorf("writing reply: %w", err))
		}
	}
	err := s.pipeline(ctx)
	var p *panicked
	if errors.As(err, &p) {
		panic(p.value) // to suture, which logs it and restarts this service
	}
	return s.end(err)
}

// readBuffer holds several whole frames, so that one read takes in all the
// batches an agency has in flight.
const readBuffer = 32 << 10

// maxInFlight bounds the frames read ahead of their replies, and so a
// session's memory: an agency may keep this many batches in flight.
const maxInFlight = 32

// ack is one reply in the making, in request order: a batch being stored,
// a ready reply, or a barrier that the reader waits on so that a request
// that reads the agency's state sees every earlier batch settled.
type ack struct {
	pending *store.Pending
	batch   protocol.Header // of the batch being stored
	winners []uint32        // documents of its winning bets, recorded once stored
	logged  []lottery.Bet   // its bets, kept only when DEBUG logs each one
	reply   []byte
	barrier chan struct{}
}

// panicked carries a panic out of a pipeline goroutine, which suture does
// not watch, back to Serve's goroutine, which it does.
type panicked struct{ value any }

func (p *panicked) Error() string { return fmt.Sprint("panic: ", p.value) }

// pipeline serves the connection with two goroutines that finish together:
// the reader reads, checks and submits frames without waiting for the disk,
// and the acker writes each reply in order once its batch is stored, so an
// agency can keep several batches in flight and they share fsyncs.
func (s *session) pipeline(ctx context.Context) error {
	acks := make(chan ack, maxInFlight)
	var g errgroup.Group
	g.Go(func() (err error) {
		defer close(acks)
		defer func() {
			if r := recover(); r != nil {
				err = &panicked{r}
			}
		}()
		for {
			if err := s.readFrame(ctx, acks); err != nil {
				return err
			}
		}
	})
	var ackErr error
	g.Go(func() error { ackErr = s.writeAcks(acks); return ackErr })
	err := g.Wait()
	if _, crashed := err.(*panicked); !crashed && ackErr != nil {
		return ackErr // the reader stopped because the acker failed: say why
	}
	return err
}

// writeAcks writes the replies in order. Every stored batch is counted even
// after a write has failed, so that the agency's status stays exact for
// its next connection.
func (s *session) writeAcks(acks <-chan ack) error {
	w := bufio.NewWriterSize(s.conn, 512)
	var writeErr error
	for a := range acks {
		var reply []byte
		switch {
		case a.barrier != nil:
			close(a.barrier)
			continue
		case a.pending != nil:
			reply = protocol.AppendCode(s.out[:0], s.settleBatch(a))
		default:
			reply = a.reply
		}
		if writeErr != nil {
			continue
		}
		w.Write(reply)
		if len(acks) == 0 { // nothing else ready: send what we have
			s.armWrite()
			if err := w.Flush(); err != nil {
				writeErr = fmt.Errorf("writing reply: %w", err)
				s.interrupt(0) // stop the reader: nobody hears us
			}
		}
	}
	if writeErr == nil && w.Buffered() > 0 {
		s.armWrite()
		if err := w.Flush(); err != nil {
			writeErr = fmt.Errorf("writing reply: %w", err)
		}
	}
	return writeErr
}

// settleBatch waits for a submitted batch and returns its reply code.
func (s *session) settleBatch(a ack) protocol.Code {
	log := s.logger()
	if err := a.pending.Wait(); err != nil {
		code := protocol.CodeStorage
		if errors.Is(err, store.ErrClosed) {
			code = protocol.CodeShuttingDown
		}
		log.Warn("apuesta_recibida", "result", "fail", "cantidad", int(a.batch.Count), "code", int(code), "error", err)
		return code
	}
	s.srv.draw.record(a.batch.Agency, int(a.batch.Count), a.winners)
	for _, b := range a.logged {
		log.Debug("apuesta_almacenada", "result", "success", "dni", b.Document, "numero", b.Number)
	}
	log.Info("apuesta_recibida", "result", "success", "cantidad", int(a.batch.Count))
	return protocol.CodeOK
}

// end closes the session for good and tells suture not to restart it.
func (s *session) end(cause error) error {
	reason := "error"
	switch {
	case errors.Is(cause, io.EOF):
		reason = reasonPeerClosed
	case errors.Is(cause, errShutdown):
		reason = "stopped"
	}
	if reason == "error" {
		s.logger().Warn("session", "result", "fail", "error", cause)
	}
	s.closeConn(s.srv.log, reason)
	s.srv.conns.remove(s)
	close(s.done)
	return fmt.Errorf("%w: %v", suture.ErrDoNotRestart, cause)
}

// closeConn closes the connection once and logs it (SPEC §3). A connection
// that never spoke for an agency and was closed by its peer (a health
// check, every few seconds) is logged at DEBUG only, to keep the log
// readable.
func (s *session) closeConn(log *slog.Logger, reason string) {
	s.closeOnce.Do(func() {
		// Every success line of one action has the same keys (SPEC §3):
		// agency 0 is a connection that never spoke for an agency.
		a := s.agency.Load()
		l := log.With("agency", a, "peer", s.peer)
		level := slog.LevelInfo
		if a == 0 && reason == reasonPeerClosed {
			level = slog.LevelDebug
		}
		if err := s.conn.Close(); err != nil {
			l.Error("close_connection", "result", "fail", "reason", reason, "error", err)
			return
		}
		l.Log(context.Background(), level, "close_connection", "result", "success", "reason", reason)
	})
}

// interrupt asks the session to end: at once if it is waiting for a frame,
// or once the frame in hand is done, within grace.
func (s *session) interrupt(grace time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		return
	}
	s.stopping = true
	s.stopBy = time.Now().Add(grace)
	if s.idle {
		s.conn.SetReadDeadline(time.Unix(1, 0))
		return
	}
	s.conn.SetDeadline(s.stopBy)
}

// armRead bounds the rest of a frame by FrameTimeout, or by the drain
// deadline once stopping.
func (s *session) armRead() { s.arm(s.conn.SetReadDeadline) }

// armWrite bounds a reply's write the same way.
func (s *session) armWrite() { s.arm(s.conn.SetWriteDeadline) }

func (s *session) arm(set func(time.Time) error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		set(s.stopBy)
		return
	}
	set(time.Now().Add(s.srv.cfg.FrameTimeout))
}

// waitForFrame blocks, with no deadline, until the first byte of a frame
// arrives: an agency may be idle for long, but once a frame begins it must
// arrive within FrameTimeout.
func (s *session) waitForFrame() error {
	s.mu.Lock()
	if s.stopping {
		s.mu.Unlock()
		return errShutdown
	}
	s.idle = true
	s.conn.SetReadDeadline(time.Time{})
	s.mu.Unlock()

	_, err := s.br.Peek(1)

	s.mu.Lock()
	s.idle = false
	stopping := s.stopping
	s.mu.Unlock()
	if stopping {
		return errShutdown // a frame that began after the stop is not taken
	}
	return err
}

// readFrame reads one frame, handles it, and queues its reply.
func (s *session) readFrame(ctx context.Context, acks chan<- ack) error {
	if err := s.waitForFrame(); err != nil {
		return err
	}
	s.armRead()
	req, err := s.rd.ReadRequest()
	if err != nil {
		if errors.Is(err, protocol.ErrUnknownAction) || errors.Is(err, protocol.ErrCount) {
			// The stream cannot be resynchronised: say why, then hang up.
			s.logger().Warn("request", "result", "fail", "code", int(protocol.CodeMalformed), "error", err)
			acks <- ack{reply: protocol.AppendCode(nil, protocol.CodeMalformed)}
			return err
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() || errors.Is(err, os.ErrDeadlineExceeded) {
			if s.stoppingNow() {
				return errShutdown
			}
			return fmt.Errorf("frame not completed within %s: %w", s.srv.cfg.FrameTimeout, err)
		}
		return err
	}
	h := req.Header
	s.handling = &h
	if s.srv.beforeHandle != nil {
		s.srv.beforeHandle(uint16(s.agency.Load()), req)
	}
	a := s.handle(ctx, req, acks)
	s.handling = nil
	acks <- a
	if s.stoppingNow() {
		return errShutdown
	}
	return nil
}

// settle waits until the acker has settled (and counted) every batch queued
// before it, so that what follows sees the agency's state whole.
func settle(acks chan<- ack) {
	done := make(chan struct{})
	acks <- ack{barrier: done}
	<-done
}

func (s *session) stoppingNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// handle carries out one request and returns its reply in the making.
func (s *session) handle(ctx context.Context, req protocol.Request, acks chan<- ack) ack {
	if req.Action == protocol.ActionEcho {
		out := protocol.AppendHeader(make([]byte, 0, protocol.HeaderSize+len(req.Body)), req.Header)
		return ack{reply: append(out, req.Body...)}
	}
	reply := func(c protocol.Code) ack { return ack{reply: protocol.AppendCode(nil, c)} }
	if code, err := s.checkAgency(ctx, req.Agency); err != nil {
		s.logger().Warn(actionName(req), "result", "fail", "cantidad", int(req.Count), "code", int(code), "error", err)
		return reply(code)
	}
	if req.Action == protocol.ActionBatch {
		return s.submitBatch(req)
	}
	settle(acks) // the requests below read what earlier batches changed
	switch req.Action {
	case protocol.ActionStatus:
		stored, ended := s.srv.draw.status(req.Agency)
		s.logger().Info("consulta_estado", "result", "success", "almacenadas", stored, "finalizo", ended)
		return ack{reply: protocol.AppendStatus(nil, protocol.Status{Stored: stored, Ended: ended})}
	case protocol.ActionEnd:
		// On disk first: a restarted central must know this agency is done.
		if err := s.srv.store.RecordEnd(req.Agency); err != nil {
			code := protocol.CodeStorage
			if errors.Is(err, store.ErrClosed) {
				code = protocol.CodeShuttingDown
			}
			s.logger().Error("fin_apuestas", "result", "fail", "code", int(code), "error", err)
			return reply(code)
		}
		ran, winners := s.srv.draw.finish(req.Agency)
		s.logger().Info("fin_apuestas", "result", "success")
		if ran {
			s.srv.announceDraw(winners, false)
		}
		return reply(protocol.CodeOK)
	case protocol.ActionWinners:
		docs, ok := s.srv.draw.winnersOf(ctx, req.Agency, s.srv.cfg.WinnersHold)
		if !ok {
			code := protocol.CodeDrawPending
			if ctx.Err() != nil {
				code = protocol.CodeShuttingDown
			}
			s.logger().Debug("consulta_ganadores", "result", "in_progress", "code", int(code))
			return reply(code)
		}
		out, err := protocol.AppendWinners(nil, docs)
		if err != nil {
			s.logger().Error("consulta_ganadores", "result", "fail", "error", err)
			return reply(protocol.CodeInternal)
		}
		s.logger().Info("consulta_ganadores", "result", "success", "cant_ganadores", len(docs))
		return ack{reply: out}
	}
	return reply(protocol.CodeMalformed) // unreachable: the reader checks actions
}

func actionName(req protocol.Request) string {
	switch req.Action {
	case protocol.ActionBatch:
		return "apuesta_recibida"
	case protocol.ActionEnd:
		return "fin_apuestas"
	case protocol.ActionStatus:
		return "consulta_estado"
	}
	return "consulta_ganadores"
}

// checkAgency checks the header's agency and binds the connection to it on
// its first agency frame, replacing an older connection of that agency.
func (s *session) checkAgency(ctx context.Context, agency uint16) (protocol.Code, error) {
	if agency < 1 || int(agency) > s.srv.cfg.Agencies {
		return protocol.CodeUnknownAgency, fmt.Errorf("agency %d is not within 1..%d", agency, s.srv.cfg.Agencies)
	}
	bound := uint16(s.agency.Load())
	if bound == agency {
		return protocol.CodeOK, nil
	}
	if bound != 0 {
		return protocol.CodeAgencyMismatch, fmt.Errorf("header says agency %d on the connection of agency %d", agency, bound)
	}
	s.agency.Store(uint32(agency))
	s.log.Store(s.srv.log.With("agency", agency, "peer", s.peer))
	if old := s.srv.conns.bind(agency, s); old != nil {
		s.logger().Info("session_replaced", "result", "success", "older_peer", old.peer)
		old.interrupt(s.drain)
		select {
		case <-old.done:
		case <-ctx.Done():
		case <-time.After(s.drain + s.srv.cfg.FrameTimeout):
		}
	}
	return protocol.CodeOK, nil
}

// submitBatch validates a whole batch and submits it to the store, or
// refuses all of it.
func (s *session) submitBatch(req protocol.Request) ack {
	fail := func(code protocol.Code, err error) ack {
		s.logger().Warn("apuesta_recibida", "result", "fail", "cantidad", int(req.Count), "code", int(code), "error", err)
		return ack{reply: protocol.AppendCode(nil, code)}
	}
	if s.srv.draw.hasFinished(req.Agency) {
		return fail(protocol.CodeAfterEnd, errors.New("the agency has already sent its end"))
	}
	bets, err := protocol.DecodeBatch(s.bets[:0], req.Body)
	s.bets = bets
	if err != nil {
		return fail(protocol.CodeMalformed, err)
	}
	today := lottery.DayOf(time.Now())
	for i, b := range bets {
		if b.Agency != req.Agency {
			return fail(protocol.CodeAgencyMismatch, fmt.Errorf("bet %d: agency %d in a batch of agency %d", i+1, b.Agency, req.Agency))
		}
		if err := b.Validate(uint16(s.srv.cfg.Agencies), today); err != nil {
			return fail(protocol.CodeInvalidBet, fmt.Errorf("bet %d (document %d): %w", i+1, b.Document, err))
		}
	}
	// Only what the acker needs is kept: Submit encodes the rows before it
	// returns, so the bets buffer is free again. Submit comes last, so that
	// a batch is never stored without its ack to count it.
	a := ack{batch: req.Header}
	for _, b := range bets {
		if b.Won() {
			a.winners = append(a.winners, b.Document)
		}
	}
	if s.logger().Enabled(context.Background(), slog.LevelDebug) {
		a.logged = slices.Clone(bets)
	}
	a.pending = s.srv.store.Submit(bets)
	return a
}
