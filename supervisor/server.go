// Package supervisor is the lottery central: a suture tree whose root holds
// the acceptor (the listener) and a child supervisor with one service per
// agency session, what the sessions share (the round: stored counts,
// winners, ends and the draw barrier), and the order in which it all shuts
// down. It is handed its settings and a store.Store; it never reads
// configuration itself, and knows no store backend.
//
// Its rooms: server.go (the tree and the shutdown), acceptor.go (taking
// connections), sessions.go (the keyed map of sessions and replacement),
// session.go (one connection's lifecycle and deadlines), pipeline.go (the
// reader and acker goroutines of a session), requests.go (the rules of each
// request), round.go (the round's state and the draw barrier),
// ratelimit.go (keeping a flood of warnings out of the log), admin.go (the
// admin endpoint) with metrics.go (/metrics), status.go (/status and the
// page's data) and rate.go (the bets stored per second over the round).
//
// Shutdown follows net/http's: mark shutting down, close the listener, let
// every session finish the frame in hand (a batch being stored is stored
// and acknowledged), close the connections, wait for the tree, and return,
// every wait bounded; the caller closes the store last.
package supervisor

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/thejerf/suture/v4"

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
}

// Server is the central. Create it with New and run it with Serve.
type Server struct {
	cfg     Config
	store   store.Store
	log     *slog.Logger
	round   *round
	conns   *sessions
	metrics *metrics

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

// New returns a central that stores into st and logs to log.
func New(cfg Config, st store.Store, log *slog.Logger) *Server {
	if cfg.WinnersHold == 0 {
		cfg.WinnersHold = DefaultWinnersHold
	}
	s := &Server{
		cfg:             cfg,
		store:           st,
		log:             log,
		round:           newRound(cfg.Agencies),
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
func (s *Server) Serve(ctx context.Context, ln net.Listener) error {
	// A central restarted on an existing store carries on the same round.
	ended := s.store.Ended()
	bets, drawn, err := s.round.restore(s.store.Scan, ended)
	if err != nil {
		ln.Close()
		if s.cfg.Admin != nil {
			s.cfg.Admin.Close()
		}
		s.log.Error("restore_state", "result", "fail", "error", err)
		return err
	}
	if bets > 0 || len(ended) > 0 {
		s.log.Info("restore_state", "result", "success", "bets", bets, "agencies_finished", len(ended), "draw_done", drawn)
	}
	if drawn {
		// Right after a crash this is the same round; on a deployment brought
		// up for a new one, it is the old round's store, and the operator
		// must hear of it rather than see old winners reported.
		s.log.Warn("round_finished", "result", "success", "bets", bets,
			"aviso", "this store holds a round whose draw is done, so agencies get its winners and no new bet is taken",
			"hint", "to start a new round, stop the central and empty its store (make docker-storage-reset in the Docker deployment, or remove STORAGE_FILEPATH and the .ends file beside it)")
	}
	if drawn && !s.store.Drawn() {
		// Every end was on disk, but the central stopped before the draw's
		// announcement was recorded: announce it (again, if it stopped
		// between the line and the record), marked as after a restart.
		s.announceDraw(s.round.winnersTotal(), true)
	}

	s.addr = ln.Addr()
	// Go raises the soft limit of open files to the hard one at start. The
	// agencies' connections keep their share of it whatever else happens:
	// their bound is lowered to what the limit leaves beside the reserve
	// and the admin endpoint's connections, so that at worst a connection
	// is refused or evicted, and the listener never runs out of files.
	var files syscall.Rlimit
	syscall.Getrlimit(syscall.RLIMIT_NOFILE, &files)
	room := int(min(files.Cur, 1<<30)) - filesReserve - maxAdminConns
	if s.cfg.MaxConnections == 0 || s.cfg.MaxConnections > room {
		s.conns.max = max(room, 1)
		s.log.Warn("connection_limit", "result", "in_progress", "max_connections", s.conns.max, "configured", s.cfg.MaxConnections, "open_files_limit", files.Cur,
			"error", "lowered to fit the open-files limit (raise the hard limit, ulimit -Hn, for more)")
	}
	s.log.Info("listen", "result", "success", logattr.NetAddr("", s.addr), "max_connections", s.conns.max, "open_files_limit", files.Cur)
	if tcp, ok := s.addr.(*net.TCPAddr); ok && s.cfg.TLS == nil && !tcp.IP.IsLoopback() {
		s.log.Warn("tls_disabled", "result", "in_progress", logattr.NetAddr("", s.addr),
			"error", "listening beyond loopback without TLS: any peer can act as any agency (set SERVER_TLS_CERT, SERVER_TLS_KEY and SERVER_TLS_CLIENT_CA)")
	}

	// Suture's timeouts nest inside the shutdown bound: sessions drain first,
	// the agencies supervisor waits a little longer, the root longer still.
	drain := s.cfg.ShutdownTimeout / 2
	agencies := suture.New("agencies", suture.Spec{
		EventHook:      s.eventHook,
		Timeout:        drain + s.cfg.ShutdownTimeout/6,
		FailureBackoff: 250 * time.Millisecond,
	})
	root := suture.New("central", suture.Spec{
		EventHook: s.eventHook,
		Timeout:   drain + s.cfg.ShutdownTimeout/3,
	})
	root.Add(&acceptor{srv: s, ln: ln, agencies: agencies, drain: drain, limited: newLogLimit()})
	root.Add(agencies)
	if s.cfg.Admin != nil {
		root.Add(&adminServer{srv: s, ln: s.cfg.Admin})
		s.log.Info("admin_listen", "result", "success", logattr.NetAddr("", s.cfg.Admin.Addr()))
	}

	treeCtx, stopTree := context.WithCancel(context.Background())
	defer stopTree()
	treeDone := root.ServeBackground(treeCtx)
	close(s.ready)

	var treeErr error
	select {
	case <-ctx.Done():
	case treeErr = <-treeDone:
		// The tree stops by itself only when it failed: shut down what is
		// left, and say why.
		s.log.Error("supervisor", "result", "fail", "error", treeErr)
		treeDone = nil
	}

	// 1. Mark: from here on, no new session starts and no new frame is taken.
	s.shuttingDown.Store(true)
	// 2. Close the listener: wakes Accept.
	if err := ln.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
		s.log.Error("close_listener", "result", "fail", "listener", "agencies", logattr.NetAddr("", s.addr), "error", err)
	} else {
		s.log.Info("close_listener", "result", "success", "listener", "agencies", logattr.NetAddr("", s.addr))
	}
	// 3. Stop the tree: each session finishes the frame in hand, then closes
	// its connection; suture bounds the wait.
	stopTree()
	if treeDone != nil {
		<-treeDone
	}
	// 4. Whatever session did not stop in time loses its connection now.
	s.conns.closeAll(s.log)
	if treeErr != nil {
		return fmt.Errorf("the central's supervisor tree failed: %w", treeErr)
	}
	return nil
}
