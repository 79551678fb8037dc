// Package supervisor is the lottery central: a suture tree whose root holds
// the acceptor (the listener) and a child supervisor with one service per
// agency session, what the sessions share (the round: stored counts,
// winners, ends and the draw barrier), and the order in which it all shuts
// down. It is handed its settings and a store.Store; it never reads
// configuration itself, and knows no store backend.
//
// Its rooms: server.go (the Server, its settings and Serve, which runs the
// jobs below in turn), restore.go (the round restored from the store),
// startup.go (the connection bound and the start-up warnings), tree.go (the
// suture tree and its events), shutdown.go (the shutdown order), const.go
// (the limits and defaults, with their reasons), service.go (what every
// service of the tree shares), acceptor.go (taking connections), sessions.go
// (the keyed map of sessions and replacement), session.go (one
// connection's lifecycle and deadlines), pipeline.go (the reader and acker
// goroutines of a session), requests.go (the rules of each request),
// round.go (the round's state and the draw barrier), ratelimit.go (keeping
// a flood of warnings out of the log), admin.go (the admin endpoint) with
// metrics.go (/metrics), status.go (/status and the page's data) and
// rate.go (the bets stored per second over the round).
//
// Shutdown follows net/http's: mark shutting down, close the listener, let
// every session finish the frame in hand (a batch being stored is stored
// and acknowledged), close the connections, wait for the tree, and return,
// every wait bounded; the caller closes the store last.
package supervisor

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"time"

	"quiniela/lottery/logattr"
	"quiniela/protocol"
	"quiniela/store"
)

// Config holds the central's settings.
type Config struct {
	Agencies int // agencies that must end before the draw: 1..Agencies
	// FrameTimeout bounds how long the rest of a frame may take once its
	// first byte has arrived, and how long a reply may take to write.
	FrameTimeout time.Duration
	// ShutdownTimeout bounds the whole shutdown after the signal.
	ShutdownTimeout time.Duration
	// IdleTimeout closes a connection that sends no frame for this long,
	// before its first frame or between two (0: never).
	IdleTimeout time.Duration
	// MaxConnections bounds the open connections (0: as many as the
	// open-files limit leaves room for, which also caps a larger value).
	// When full, a new connection evicts the oldest one that does not
	// speak for an agency, or is refused if there is none. Under TLS, one
	// certificate's agency holds at most maxIdlePerIdentity connections
	// that do not speak for it.
	MaxConnections int
	// TLS, when set, makes every connection complete a TLS handshake within
	// FrameTimeout before its first frame. A peer whose certificate names
	// an agency (PeerAgency) acts for that agency only; a peer without one
	// may only echo.
	TLS        *tls.Config
	PeerAgency func(tls.ConnectionState) (uint16, error)
	// Admin, when set, is the listener of the admin endpoint: /metrics,
	// /healthz, /readyz, /status and a page for people at /.
	Admin net.Listener
	// Version is the build's, and Store what the store is (a CSV file's
	// path, or a database's URL, whose password is never shown): both for
	// the operator, on /metrics, /status and the page.
	Version string
	Store   string
	// WinnersHold is how long a winners query of an agency that has ended
	// may wait for the draw before the answer "not yet" (-1).
	WinnersHold time.Duration
	// Closing, when set, closes betting and runs the draw at its instant
	// even if some agency has not ended.
	Closing Closing
}

// Server is the central. Create it with New and run it with Serve.
type Server struct {
	cfg    Config
	stores store.Rounds
	// continuous: after each draw the next round opens at once, in a
	// store of its own (NewContinuous); else the central serves one round.
	continuous bool
	log        *slog.Logger
	book       *book // the open round, and the rounds drawn before it
	conns      *sessions
	metrics    *metrics

	// strangers limits the WARN lines of connections that have not spoken
	// for an agency: a flood of them shares one budget.
	strangers *logLimit
	// identityLimited limits the lines of connections evicted at the bound
	// of one certificate's agency.
	identityLimited *logLimit

	shuttingDown atomic.Bool
	ready        chan struct{} // closed once the listener is open
	addr         net.Addr

	// beforeHandle and beforeReply, when set by tests, run before each
	// request is handled and before each batch's reply is written (to
	// inject panics in the reader and in the acker).
	beforeHandle func(agency uint16, req protocol.Request)
	beforeReply  func(agency uint16)
}

// New returns a central that serves one round, stored into st (which its
// caller closes), and logs to log.
func New(cfg Config, st store.Store, log *slog.Logger) *Server {
	return newServer(cfg, single{st}, false, log)
}

// NewContinuous returns a central that serves one round after another,
// each in its own store of rounds (which its caller closes): when a round
// is drawn, the next opens at once. A closing time, if any, must be daily:
// each round closes at the first such time after it opened.
func NewContinuous(cfg Config, rounds store.Rounds, log *slog.Logger) *Server {
	return newServer(cfg, rounds, true, log)
}

func newServer(cfg Config, rounds store.Rounds, continuous bool, log *slog.Logger) *Server {
	if cfg.WinnersHold == 0 {
		cfg.WinnersHold = DefaultWinnersHold
	}
	s := &Server{
		cfg:             cfg,
		stores:          rounds,
		continuous:      continuous,
		log:             log,
		book:            newBook(),
		conns:           newSessions(cfg.MaxConnections),
		strangers:       newLogLimit(),
		identityLimited: newLogLimit(),
		ready:           make(chan struct{}),
	}
	s.metrics = newMetrics(s)
	return s
}

// Addr waits until the listener is open (or ctx ends) and returns its
// address: tests listen on port 0.
func (s *Server) Addr(ctx context.Context) (net.Addr, error) {
	select {
	case <-s.ready:
		return s.addr, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Serve restores the round from the store, serves agencies on ln (made by
// Listen) until ctx ends, then shuts down in order. It returns nil, or the
// error that kept it from serving or made the tree fail (the listener lost,
// say), after shutting down what was left. It closes ln.
//
// Each of its jobs is a function of its own: restoreRound (restore.go),
// fitConnections and announceListen (startup.go), startTree and wait
// (tree.go), and shutdown (shutdown.go).
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	if err := s.restoreRound(); err != nil {
		// Nothing was served: Serve still closes what it was given.
		ln.Close()
		if s.cfg.Admin != nil {
			s.cfg.Admin.Close()
		}
		s.log.Error(logattr.RestoreState, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
		return err
	}

	s.addr = ln.Addr()
	openFiles := s.fitConnections()
	s.announceListen(openFiles)

	tree := s.startTree(ln)
	defer tree.stop()
	close(s.ready)

	failed, treeErr := tree.wait(ctx)
	if failed {
		// The tree stops by itself only when it failed: shut down what is
		// left, and say why.
		s.log.Error(logattr.Supervisor, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, treeErr)
	}
	s.shutdown(ln, tree)
	if treeErr != nil {
		return fmt.Errorf("the central's supervisor tree failed: %w", treeErr)
	}
	return nil
}
