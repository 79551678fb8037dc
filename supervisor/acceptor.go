package supervisor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"time"

	"github.com/thejerf/suture/v4"

	"quiniela/lottery/logattr"
)

// acceptor holds the listener and hands each connection to a new session in
// the agencies supervisor. The Server closes the listener on shutdown; an
// Accept error after that is the normal way out. Other Accept errors (out
// of file descriptors, an aborted handshake) back off and retry, never
// stopping the service of the agencies already connected; a listener
// closed by anyone but the shutdown ends the tree, whose failure the
// Server returns.
type acceptor struct {
	srv      *Server
	ln       net.Listener
	agencies *suture.Supervisor
	drain    time.Duration
	limited  *logLimit // the lines of refused and evicted connections
}

func (a *acceptor) String() string { return "acceptor@" + a.ln.Addr().String() }

func (a *acceptor) Serve(ctx context.Context) error {
	// Closing the listener is the Server's job (it orders the shutdown);
	// here cancellation must only wake Accept, which a past deadline does.
	if dl, ok := a.ln.(interface{ SetDeadline(time.Time) error }); ok {
		stop := context.AfterFunc(ctx, func() { dl.SetDeadline(time.Unix(1, 0)) })
		defer stop()
	}
	backoff := minAcceptBackoff
	for {
		conn, err := a.ln.Accept()
		if err != nil {
			if a.srv.shuttingDown.Load() || ctx.Err() != nil {
				return doneForGood(errors.New("listener closed"))
			}
			if errors.Is(err, net.ErrClosed) {
				a.srv.log.Error(logattr.Accept, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
				return fmt.Errorf("%w: the listener was closed outside the shutdown: %w", suture.ErrTerminateSupervisorTree, err)
			}
			a.srv.log.Warn(logattr.Accept, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err, logattr.Millis("retry_in_ms", backoff))
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return doneForGood(errors.New("listener closed"))
			}
			backoff = min(2*backoff, maxAcceptBackoff)
			continue
		}
		backoff = minAcceptBackoff
		a.start(conn)
	}
}

// start registers a session for conn before handing it to the supervisor,
// so that the shutdown's last step finds and closes it whatever happens:
// Add on a stopping supervisor silently does nothing. At the connection
// bound it evicts the oldest connection that has not spoken for an agency,
// or refuses conn when every one has.
func (a *acceptor) start(conn net.Conn) {
	if tcp, ok := conn.(*net.TCPConn); ok {
		tcp.SetWriteBuffer(sendBuffer)
	}
	if a.srv.cfg.TLS != nil {
		conn = tls.Server(conn, a.srv.cfg.TLS) // the session completes the handshake
	}
	s := newSession(a.srv, conn, a.drain)
	evicted, ok := a.srv.conns.admit(s)
	if !ok {
		a.srv.metrics.connsLimited.WithLabelValues("refused").Inc()
		a.limited.log(a.srv.log, slog.LevelWarn, logattr.ConnectionLimit, logattr.ResultKey, logattr.Fail, logattr.NetAddr("peer", conn.RemoteAddr()),
			"max_connections", a.srv.cfg.MaxConnections, logattr.ErrorKey, "every connection has spoken for an agency; this one is refused")
		s.closeConn(a.srv.log, "refused at the connection limit")
		return
	}
	if evicted != nil {
		a.srv.metrics.connsLimited.WithLabelValues("evicted").Inc()
		a.limited.log(a.srv.log, slog.LevelWarn, logattr.ConnectionLimit, logattr.ResultKey, logattr.InProgress, logattr.Addr("peer", evicted.peer),
			"max_connections", a.srv.cfg.MaxConnections, logattr.ErrorKey, "evicted, the oldest connection that had not spoken for an agency")
		evicted.closeConn(a.srv.log, "evicted at the connection limit")
	}
	if a.srv.shuttingDown.Load() {
		s.closeConn(a.srv.log, "shutting down")
		a.srv.conns.remove(s)
		return
	}
	a.srv.log.Debug(logattr.Accept, logattr.ResultKey, logattr.Success, logattr.NetAddr("peer", conn.RemoteAddr()))
	a.srv.conns.started(s, a.agencies.Add(s))
}
