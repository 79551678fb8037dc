package supervisor

import (
	"container/list"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"quiniela/lottery/logattr"
)

//go:embed status.html
var statusPage []byte

// adminHandler serves /metrics, /healthz, /readyz, /status and the page at /.
func (s *Server) adminHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", promhttp.HandlerFor(s.metrics.registry, promhttp.HandlerOpts{}))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) { fmt.Fprintln(w, "ok") })
	mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		select {
		case <-s.ready:
		default:
			http.Error(w, "not listening yet", http.StatusServiceUnavailable)
			return
		}
		if s.shuttingDown.Load() {
			http.Error(w, "shutting down", http.StatusServiceUnavailable)
			return
		}
		if r := s.book.open(); s.continuous && r.done() {
			// Between a draw and the next round: a new run of an agency
			// has no round to join, and is told to come back.
			http.Error(w, fmt.Sprintf("round %d is drawn and round %d has not opened yet", r.number, r.number+1), http.StatusServiceUnavailable)
			return
		}
		fmt.Fprintln(w, "ok")
	})
	mux.HandleFunc("GET /status", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(s.status())
	})
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/html; charset=utf-8")
		w.Write(statusPage)
	})
	return mux
}

// adminServer is the service of the admin endpoint.
type adminServer struct {
	srv *Server
	ln  net.Listener
}

func (a *adminServer) String() string { return "admin@" + a.ln.Addr().String() }

func (a *adminServer) Serve(ctx context.Context) error {
	hs := &http.Server{
		Handler: a.srv.adminHandler(),
		// A peer that holds a connection open, silent or kept alive, lets
		// go of it within these.
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       30 * time.Second,
		MaxHeaderBytes:    16 << 10,
	}
	limited := newLogLimit()
	ln := &boundedListener{Listener: a.ln, max: maxAdminConns, evicted: func(peer net.Addr) {
		limited.log(a.srv.log, slog.LevelWarn, logattr.AdminLimit, logattr.ResultKey, logattr.InProgress, logattr.NetAddr("peer", peer),
			"max_admin_connections", maxAdminConns, logattr.ErrorKey, "evicted, the oldest admin connection, to make room for a new one")
	}}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		// The lottery goes on without its operator's view.
		a.srv.log.Error(logattr.AdminListen, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
		return doneForGood(fmt.Errorf("admin endpoint: %w", err))
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.Background(), a.srv.cfg.ShutdownTimeout/3)
	defer cancel()
	if err := hs.Shutdown(stop); err != nil && !errors.Is(err, http.ErrServerClosed) {
		hs.Close()
	}
	a.srv.log.Info(logattr.CloseListener, logattr.ResultKey, logattr.Success, logattr.ListenerKey, "admin", logattr.NetAddr("", a.ln.Addr()))
	return doneForGood(errors.New("admin endpoint closed"))
}

// boundedListener keeps at most max connections open: accepting one more
// closes the oldest. Each connection's send buffer is small, so a peer
// that asks and never reads pins little.
type boundedListener struct {
	net.Listener
	max     int
	evicted func(peer net.Addr)

	mu   sync.Mutex
	open list.List // of *boundedConn, oldest first
}

func (l *boundedListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	if tcp, ok := c.(*net.TCPConn); ok {
		tcp.SetWriteBuffer(sendBuffer)
	}
	bc := &boundedConn{Conn: c, l: l}
	var oldest *boundedConn
	l.mu.Lock()
	if l.open.Len() >= l.max {
		oldest = l.open.Remove(l.open.Front()).(*boundedConn)
		oldest.e = nil
	}
	bc.e = l.open.PushBack(bc)
	l.mu.Unlock()
	if oldest != nil {
		l.evicted(oldest.RemoteAddr()) // said before it is done, so a peer never sees the close first
		oldest.Conn.Close()            // its server goroutine ends on the closed socket
	}
	return bc, nil
}

// boundedConn leaves its listener's list when it is closed.
type boundedConn struct {
	net.Conn
	l *boundedListener
	e *list.Element // nil once out of the list
}

func (c *boundedConn) Close() error {
	c.l.mu.Lock()
	if c.e != nil {
		c.l.open.Remove(c.e)
		c.e = nil
	}
	c.l.mu.Unlock()
	return c.Conn.Close()
}
