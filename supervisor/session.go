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
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/thejerf/suture/v4"

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
// end, winners and echo, one frame at a time. The first batch, end or
// winners frame binds the connection to its agency; a newer connection of
// the same agency replaces this one.
//
// A panic while handling a frame is recovered by suture, which calls Serve
// again: the frame had been read whole, so the stream is still at a frame
// boundary, and the restarted session answers that frame CodeInternal and
// carries on.
type session struct {
	srv   *Server
	conn  net.Conn
	peer  string
	drain time.Duration

	agency atomic.Uint32 // bound agency, 0 until the first agency frame

	br       *bufio.Reader
	rd       *protocol.Reader
	out      []byte
	bets     []lottery.Bet
	handling *protocol.Header // the frame being handled, for a restart after a panic

	mu       sync.Mutex
	idle     bool      // waiting for the first byte of a frame
	stopping bool      // interrupted: finish the frame in hand, then end
	stopBy   time.Time // when stopping, the deadline for that frame

	closeOnce sync.Once
	done      chan struct{} // closed when the session has ended for good
}

func newSession(srv *Server, conn net.Conn, drain time.Duration) *session {
	br := bufio.NewReaderSize(conn, protocol.MaxFrameSize)
	return &session{
		srv: srv, conn: conn, peer: conn.RemoteAddr().String(), drain: drain,
		br: br, rd: protocol.NewReader(br),
		out:  make([]byte, 0, 64),
		bets: make([]lottery.Bet, 0, protocol.MaxBatchCount),
		done: make(chan struct{}),
	}
}

// String names the session in suture's events, e.g. agency-3@127.0.0.1:4123.
func (s *session) String() string {
	if a := s.agency.Load(); a != 0 {
		return "agency-" + strconv.Itoa(int(a)) + "@" + s.peer
	}
	return "session@" + s.peer
}

// logger returns the server's logger with this session's agency and peer.
func (s *session) logger() *slog.Logger {
	if a := s.agency.Load(); a != 0 {
		return s.srv.log.With("agency", a, "peer", s.peer)
	}
	return s.srv.log.With("peer", s.peer)
}

func (s *session) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.interrupt(s.drain) })
	defer stop()
	if h := s.handling; h != nil {
		s.handling = nil
		s.logger().Error("request", "result", "fail", "action", h.Action.String(), "code", int(protocol.CodeInternal), "error", "handler panicked; session restarted")
		if err := s.reply(protocol.AppendCode(s.out[:0], protocol.CodeInternal)); err != nil {
			return s.end(err)
		}
	}
	for {
		if err := s.serveFrame(ctx); err != nil {
			return s.end(err)
		}
	}
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
		l := log.With("peer", s.peer)
		level := slog.LevelInfo
		if a := s.agency.Load(); a != 0 {
			l = log.With("agency", a, "peer", s.peer)
		} else if reason == reasonPeerClosed {
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

// armDeadline bounds the next read or write: by FrameTimeout normally, by
// the drain deadline once stopping. It reports whether the session is
// stopping.
func (s *session) armDeadline() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.stopping {
		s.conn.SetDeadline(s.stopBy)
		return true
	}
	s.conn.SetDeadline(time.Now().Add(s.srv.cfg.FrameTimeout))
	return false
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

// serveFrame reads one frame, handles it and writes the reply.
func (s *session) serveFrame(ctx context.Context) error {
	if err := s.waitForFrame(); err != nil {
		return err
	}
	s.armDeadline()
	req, err := s.rd.ReadRequest()
	if err != nil {
		if errors.Is(err, protocol.ErrUnknownAction) || errors.Is(err, protocol.ErrCount) {
			// The stream cannot be resynchronised: say why, then hang up.
			s.logger().Warn("request", "result", "fail", "code", int(protocol.CodeMalformed), "error", err)
			s.reply(protocol.AppendCode(s.out[:0], protocol.CodeMalformed))
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
	out := s.handle(ctx, req)
	s.handling = nil
	if err := s.reply(out); err != nil {
		return err
	}
	if s.stoppingNow() {
		return errShutdown
	}
	return nil
}

func (s *session) stoppingNow() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.stopping
}

// reply writes a whole reply, bounded by the frame deadline.
func (s *session) reply(out []byte) error {
	s.armDeadline()
	if _, err := s.conn.Write(out); err != nil {
		return fmt.Errorf("writing reply: %w", err)
	}
	return nil
}

// handle carries out one request and returns the reply to write.
func (s *session) handle(ctx context.Context, req protocol.Request) []byte {
	out := s.out[:0]
	if req.Action == protocol.ActionEcho {
		out = protocol.AppendHeader(out, req.Header)
		return append(out, req.Body...)
	}
	if code, err := s.checkAgency(ctx, req.Agency); err != nil {
		s.logger().Warn(actionName(req), "result", "fail", "cantidad", int(req.Count), "code", int(code), "error", err)
		return protocol.AppendCode(out, code)
	}
	switch req.Action {
	case protocol.ActionBatch:
		return protocol.AppendCode(out, s.storeBatch(req))
	case protocol.ActionStatus:
		stored, ended := s.srv.draw.status(req.Agency)
		s.logger().Info("consulta_estado", "result", "success", "almacenadas", stored, "finalizo", ended)
		return protocol.AppendStatus(out, protocol.Status{Stored: stored, Ended: ended})
	case protocol.ActionEnd:
		// On disk first: a restarted central must know this agency is done.
		if err := s.srv.store.RecordEnd(req.Agency); err != nil {
			code := protocol.CodeStorage
			if errors.Is(err, store.ErrClosed) {
				code = protocol.CodeShuttingDown
			}
			s.logger().Error("fin_apuestas", "result", "fail", "code", int(code), "error", err)
			return protocol.AppendCode(out, code)
		}
		ran, winners := s.srv.draw.finish(req.Agency)
		s.logger().Info("fin_apuestas", "result", "success")
		if ran {
			s.srv.log.Info("sorteo", "result", "success", "agencias", s.srv.cfg.Agencies, "ganadores", winners)
		}
		return protocol.AppendCode(out, protocol.CodeOK)
	case protocol.ActionWinners:
		docs, ok := s.srv.draw.winnersOf(ctx, req.Agency, s.srv.cfg.WinnersHold)
		if !ok {
			code := protocol.CodeDrawPending
			if ctx.Err() != nil {
				code = protocol.CodeShuttingDown
			}
			s.logger().Debug("consulta_ganadores", "result", "in_progress", "code", int(code))
			return protocol.AppendCode(out, code)
		}
		reply, err := protocol.AppendWinners(out, docs)
		if err != nil {
			s.logger().Error("consulta_ganadores", "result", "fail", "error", err)
			return protocol.AppendCode(out, protocol.CodeInternal)
		}
		s.logger().Info("consulta_ganadores", "result", "success", "cant_ganadores", len(docs))
		return reply
	}
	return protocol.AppendCode(out, protocol.CodeMalformed) // unreachable: the reader checks actions
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

// storeBatch validates a whole batch and stores it, or none of it.
func (s *session) storeBatch(req protocol.Request) protocol.Code {
	log := s.logger()
	fail := func(code protocol.Code, err error) protocol.Code {
		log.Warn("apuesta_recibida", "result", "fail", "cantidad", int(req.Count), "code", int(code), "error", err)
		return code
	}
	if s.srv.draw.hasFinished(req.Agency) {
		return fail(protocol.CodeAfterEnd, errors.New("the agency has already sent its end"))
	}
	bets, err := protocol.DecodeBatch(s.bets[:0], req.Body)
	if err != nil {
		return fail(protocol.CodeMalformed, err)
	}
	today := time.Now()
	for i, b := range bets {
		if b.Agency != req.Agency {
			return fail(protocol.CodeAgencyMismatch, fmt.Errorf("bet %d: agency %d in a batch of agency %d", i+1, b.Agency, req.Agency))
		}
		if err := b.Validate(uint16(s.srv.cfg.Agencies), today); err != nil {
			return fail(protocol.CodeInvalidBet, fmt.Errorf("bet %d (document %d): %w", i+1, b.Document, err))
		}
	}
	if err := s.srv.store.Append(bets); err != nil {
		if errors.Is(err, store.ErrClosed) {
			return fail(protocol.CodeShuttingDown, err)
		}
		return fail(protocol.CodeStorage, err)
	}
	s.srv.draw.record(bets)
	if log.Enabled(context.Background(), slog.LevelDebug) {
		for _, b := range bets {
			log.Debug("apuesta_almacenada", "result", "success", "dni", b.Document, "numero", b.Number)
		}
	}
	log.Info("apuesta_recibida", "result", "success", "cantidad", len(bets))
	return protocol.CodeOK
}
