package supervisor

import (
	"bufio"
	"context"
	"crypto/tls"
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

	"quiniela/lottery/logattr"
	"quiniela/protocol"
	"quiniela/store"
)

// reasonPeerClosed is the close reason of a connection its peer closed.
const reasonPeerClosed = "peer closed the connection"

// errShutdown ends a session because the central is shutting down or the
// agency's session was replaced by a newer connection.
var errShutdown = errors.New("session stopped")

// errIdle ends a session that sent no frame for IdleTimeout.
var errIdle = errors.New("no frame within the idle timeout")

// session is the suture service of one connection, for its agency's whole
// session. This file holds its lifecycle: start, restart after a panic,
// end, and the connection's deadlines. Its frames go through the pipeline
// (pipeline.go) and are answered by the request rules (requests.go). The
// first batch, end, winners or status frame binds the connection to its
// agency; a newer connection of the same agency replaces this one.
//
// A panic while handling a frame reaches suture, which calls Serve again:
// the frame had been read whole, so the stream is still at a frame
// boundary, and the restarted session answers that frame CodeInternal and
// carries on.
type session struct {
	srv      *Server
	conn     net.Conn
	peer     string
	accepted time.Time
	drain    time.Duration
	deadlines

	agency     atomic.Uint32               // bound agency, 0 until the first agency frame
	certAgency atomic.Uint32               // under TLS, the agency its certificate names (0: none)
	log        atomic.Pointer[slog.Logger] // the server's logger with this session's agency and peer

	warnings *logLimit // this connection's WARN lines, at most a few a second

	inFlightWinners atomic.Int64 // winners of batches submitted and not yet settled

	// The pipeline's state (pipeline.go), made once the first frame begins:
	// a connection that never sends one costs no more than its goroutine.
	first    *bufio.Reader // a small reader, until the connection speaks for an agency
	round    *round        // the round this connection's requests are about, nil until it names or joins one
	batches  store.Stream  // what this connection submits to its round: once one batch is refused, no later one is stored
	br       *bufio.Reader
	rd       *protocol.Reader
	out      []byte                // the acker's reply buffer
	decoder  protocol.BatchDecoder // the reader's: a batch's bets are valid until the next one
	handling *protocol.Header      // the frame being handled, for a restart after a panic

	closeOnce sync.Once
	closed    atomic.Bool   // closeConn has begun
	done      chan struct{} // closed when the session has ended for good
}

func newSession(srv *Server, conn net.Conn, drain time.Duration) *session {
	s := &session{
		srv: srv, conn: conn, peer: conn.RemoteAddr().String(), accepted: time.Now(), drain: drain,
		deadlines: deadlines{conn: conn, frameTimeout: srv.cfg.FrameTimeout, idleTimeout: srv.cfg.IdleTimeout},
		warnings:  newLogLimit(),
		first:     bufio.NewReaderSize(conn, 16),
		done:      make(chan struct{}),
	}
	s.log.Store(srv.log.With(logattr.AgencyKey, 0, logattr.Addr("peer", s.peer)))
	return s
}

// String names the session in suture's events: agency-3@127.0.0.1:4123
// once it has spoken for an agency, session@127.0.0.1:4123 before.
func (s *session) String() string {
	if a := s.agency.Load(); a != 0 {
		return "agency-" + strconv.Itoa(int(a)) + "@" + s.peer
	}
	return "session@" + s.peer
}

// logger returns the server's logger with this session's agency and peer.
func (s *session) logger() *slog.Logger { return s.log.Load() }

// warn logs a WARN line of this connection, within its rate limit; the
// connections that never spoke for an agency share one.
func (s *session) warn(action logattr.Action, args ...any) {
	limit := s.warnings
	if s.agency.Load() == 0 {
		limit = s.srv.strangers
	}
	limit.log(s.logger(), slog.LevelWarn, action, args...)
}

// handshake completes a TLS connection's handshake within FrameTimeout and
// learns which agency its certificate names, if any. A plain connection
// has none to do.
func (s *session) handshake(ctx context.Context) error {
	tc, ok := s.conn.(*tls.Conn)
	if !ok {
		return nil
	}
	tc.SetDeadline(time.Now().Add(s.frameTimeout))
	if err := tc.HandshakeContext(ctx); err != nil {
		if s.stoppingNow() {
			return errShutdown
		}
		return fmt.Errorf("TLS handshake: %w", err)
	}
	tc.SetDeadline(time.Time{})
	agency, err := s.srv.cfg.PeerAgency(tc.ConnectionState())
	if err != nil {
		s.logger().Debug(logattr.TLSIdentity, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err) // it may only echo
		return nil
	}
	s.certAgency.Store(uint32(agency))
	if evicted := s.srv.conns.identified(s, agency); evicted != nil {
		s.srv.metrics.connsLimited.WithLabelValues("evicted_identity").Inc()
		s.srv.identityLimited.log(s.srv.log, slog.LevelWarn, logattr.ConnectionLimit, logattr.ResultKey, logattr.InProgress, logattr.Addr("peer", evicted.peer),
			logattr.AgencyKey, agency, "max_idle_per_agency", maxIdlePerIdentity,
			logattr.ErrorKey, "evicted, the oldest connection of this agency's certificate that does not speak for it")
		evicted.closeConn(s.srv.log, "evicted at the agency's connection limit")
	}
	return nil
}

// bindAgency makes the session speak for agency from now on.
func (s *session) bindAgency(agency uint16) {
	s.agency.Store(uint32(agency))
	s.log.Store(s.srv.log.With(logattr.AgencyKey, agency, logattr.Addr("peer", s.peer)))
}

func (s *session) Serve(ctx context.Context) error {
	stop := context.AfterFunc(ctx, func() { s.interrupt(s.drain) })
	defer stop()
	if h := s.handling; h != nil {
		s.handling = nil
		s.logger().Error(logattr.Request, logattr.ResultKey, logattr.Fail, "action", h.Action.String(), logattr.CodeKey, int(protocol.CodeInternal), logattr.ErrorKey, "handler panicked; session restarted")
		s.armWrite()
		if _, err := s.conn.Write(protocol.AppendCode(nil, protocol.CodeInternal)); err != nil {
			return s.end(fmt.Errorf("writing reply: %w", err))
		}
	}
	if s.br == nil {
		if err := s.handshake(ctx); err != nil {
			return s.end(err)
		}
		// The pipeline's buffers and goroutines wait for a first frame.
		if err := s.waitForFrame(s.first); err != nil {
			return s.end(err)
		}
		// Until it speaks for an agency a connection reads through the
		// small reader (a peer that only echoes costs little); readFrame
		// gives an agency's connection readBuffer once it binds.
		s.br = s.first
		s.rd = protocol.NewReader(s.br)
		s.out = make([]byte, 0, 64)
	}
	err := s.pipeline(ctx)
	var p *panicked
	if errors.As(err, &p) {
		panic(p.value) // to suture, which restarts this service
	}
	return s.end(err)
}

// end closes the session for good and tells suture not to restart it,
// keeping the cause in the error's chain.
func (s *session) end(cause error) error {
	reason := "error"
	switch {
	case errors.Is(cause, io.EOF):
		reason = reasonPeerClosed
	case errors.Is(cause, errShutdown):
		reason = "stopped"
	case errors.Is(cause, errIdle):
		reason = "idle"
	}
	// A connection closed from outside (evicted at a bound, or at the end
	// of the shutdown) fails its read or handshake for that reason alone.
	if reason == "error" && !s.closed.Load() {
		s.warn(logattr.Session, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, cause)
	}
	s.warnings.flush(s.logger())
	s.closeConn(s.srv.log, reason)
	s.srv.conns.remove(s)
	close(s.done)
	return doneForGood(cause)
}

// closeConn closes the connection once and logs it (docs/logs.md). A connection
// that never spoke for an agency and was closed by its peer (a health
// check, every few seconds) is logged at DEBUG only, to keep the log
// readable.
func (s *session) closeConn(log *slog.Logger, reason string) {
	s.closeOnce.Do(func() {
		s.closed.Store(true)
		// Every success line of one action has the same keys (docs/logs.md):
		// agency 0 is a connection that never spoke for an agency.
		a := s.agency.Load()
		l := log.With(logattr.AgencyKey, a, logattr.Addr("peer", s.peer))
		// A connection that never spoke for an agency (a health check, a
		// port scan, a flood) closes at DEBUG, to keep the log readable.
		level := slog.LevelInfo
		if a == 0 && reason != "stopped" && reason != "forced" {
			level = slog.LevelDebug
		}
		if err := closeSocket(s.conn); err != nil {
			l.Error(logattr.CloseConnection, logattr.ResultKey, logattr.Fail, logattr.ReasonKey, reason, logattr.ErrorKey, err)
			return
		}
		l.Log(context.Background(), level, logattr.CloseConnection, logattr.ResultKey, logattr.Success, logattr.ReasonKey, reason)
	})
}

// closeSocket closes a connection's socket. A TLS connection is closed
// without its close_notify alert: to a peer that has gone, the alert fails
// (after the socket is closed all the same), and to one that does not read
// it blocks for up to five seconds, in the shutdown's last step too. The
// protocol's frames carry their own lengths, so a cut reply is seen anyway.
func closeSocket(conn net.Conn) error {
	if tc, ok := conn.(*tls.Conn); ok {
		return tc.NetConn().Close()
	}
	return conn.Close()
}

// deadlines owns when a session's connection may block: IdleTimeout while
// it waits for the first byte of a frame (an agency waiting for the draw
// asks every second), FrameTimeout once a frame begins and for every
// reply, and the drain deadline once the session is asked to stop.
type deadlines struct {
	conn         net.Conn
	frameTimeout time.Duration
	idleTimeout  time.Duration // 0: wait for a frame for ever

	mu       sync.Mutex
	idle     bool      // waiting for the first byte of a frame
	stopping bool      // interrupted: finish the frame in hand, then end
	stopBy   time.Time // when stopping, the deadline for that frame
}

// interrupt asks the session to end: at once if it is waiting for a frame,
// or once the frame in hand is done, within grace.
func (d *deadlines) interrupt(grace time.Duration) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		return
	}
	d.stopping = true
	d.stopBy = time.Now().Add(grace)
	if d.idle {
		d.conn.SetReadDeadline(time.Unix(1, 0))
		return
	}
	d.conn.SetDeadline(d.stopBy)
}

// armRead bounds the rest of a frame by FrameTimeout, or by the drain
// deadline once stopping.
func (d *deadlines) armRead() { d.arm(d.conn.SetReadDeadline) }

// armWrite bounds a reply's write the same way.
func (d *deadlines) armWrite() { d.arm(d.conn.SetWriteDeadline) }

func (d *deadlines) arm(set func(time.Time) error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.stopping {
		set(d.stopBy)
		return
	}
	set(time.Now().Add(d.frameTimeout))
}

// waitForFrame blocks until the first byte of a frame arrives in br, for
// at most IdleTimeout.
func (d *deadlines) waitForFrame(br *bufio.Reader) error {
	d.mu.Lock()
	if d.stopping {
		d.mu.Unlock()
		return errShutdown
	}
	d.idle = true
	var idleBy time.Time
	if d.idleTimeout > 0 {
		idleBy = time.Now().Add(d.idleTimeout)
	}
	d.conn.SetReadDeadline(idleBy)
	d.mu.Unlock()

	_, err := br.Peek(1)

	d.mu.Lock()
	d.idle = false
	stopping := d.stopping
	d.mu.Unlock()
	if stopping {
		return errShutdown // a frame that began after the stop is not taken
	}
	if errors.Is(err, os.ErrDeadlineExceeded) {
		return fmt.Errorf("%w (%s)", errIdle, d.idleTimeout)
	}
	return err
}

func (d *deadlines) stoppingNow() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stopping
}
