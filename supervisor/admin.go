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
	"regexp"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/thejerf/suture/v4"

	"quiniela/protocol"
)

// metrics are the central's Prometheus series (SPEC §7's /metrics).
type metrics struct {
	registry      *prometheus.Registry
	betsStored    *prometheus.CounterVec
	batches       *prometheus.CounterVec
	bytesIn       prometheus.Counter
	connsLimited  *prometheus.CounterVec
	fsyncSeconds  prometheus.Histogram
	batchAckDelay prometheus.Histogram
}

// queueReporter and syncReporter are what a store may offer the metrics:
// the bytes it has queued, and each fsync's duration.
type (
	queueReporter interface{ QueuedBytes() int64 }
	syncReporter  interface{ ObserveSyncs(func(time.Duration)) }
)

func newMetrics(s *Server) *metrics {
	m := &metrics{
		registry: prometheus.NewRegistry(),
		betsStored: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quiniela_bets_stored_total", Help: "Bets stored, by agency.",
		}, []string{"agency"}),
		batches: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quiniela_batches_total", Help: "Batches answered, by reply code (0 stored, negative refused).",
		}, []string{"code"}),
		bytesIn: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "quiniela_received_bytes_total", Help: "Bytes of frames read from agencies and peers.",
		}),
		connsLimited: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "quiniela_connections_limited_total", Help: "Connections refused or evicted at SERVER_MAX_CONNECTIONS.",
		}, []string{"outcome"}),
		fsyncSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quiniela_store_fsync_seconds", Help: "Duration of the store's fsyncs of bets.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
		batchAckDelay: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "quiniela_batch_ack_seconds", Help: "From reading a batch to its acknowledgement being ready.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 16),
		}),
	}
	m.registry.MustRegister(m.betsStored, m.batches, m.bytesIn, m.connsLimited, m.fsyncSeconds, m.batchAckDelay,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quiniela_sessions_open", Help: "Connections open."},
			func() float64 { return float64(s.conns.count()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quiniela_agencies_ended", Help: "Agencies whose end is recorded."},
			func() float64 { return float64(s.round.endedCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quiniela_draw_done", Help: "1 once the draw has happened."},
			func() float64 {
				if s.round.done() {
					return 1
				}
				return 0
			}),
		// go_gc_heap_live_bytes, the heap the last GC kept: what a leak
		// grows, unlike the heap in use, which swings with every GC.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if q, ok := s.store.(queueReporter); ok {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "quiniela_store_queue_bytes", Help: "Bytes of rows waiting for the store's writer."},
			func() float64 { return float64(q.QueuedBytes()) }))
	}
	if r, ok := s.store.(syncReporter); ok {
		r.ObserveSyncs(func(d time.Duration) { m.fsyncSeconds.Observe(d.Seconds()) })
	}
	return m
}

func (m *metrics) batch(code protocol.Code) {
	m.batches.WithLabelValues(strconv.Itoa(int(code))).Inc()
}

// statusJSON is /status (SPEC §7): per agency its bets stored, its end,
// whether a connection speaks for it and when it last sent a frame; the
// draw, its time, and each agency's number of winners once drawn (never
// their documents).
type statusJSON struct {
	Agencies []agencyJSON     `json:"agencies"`
	DrawDone bool             `json:"draw_done"`
	DrawTime *time.Time       `json:"draw_time,omitempty"`
	Winners  map[string]int   `json:"winners,omitempty"`
	Totals   map[string]int64 `json:"totals"`
}

type agencyJSON struct {
	Agency    uint16     `json:"agency"`
	Stored    uint32     `json:"stored"`
	Ended     bool       `json:"ended"`
	Connected bool       `json:"connected"`
	LastSeen  *time.Time `json:"last_seen,omitempty"`
}

func (s *Server) status() statusJSON {
	states, drawn, drawTime := s.round.snapshot()
	st := statusJSON{DrawDone: drawn, Totals: map[string]int64{"stored": 0, "ended": 0}}
	if drawn {
		st.DrawTime = &drawTime
		st.Winners = map[string]int{}
	}
	for _, a := range states {
		j := agencyJSON{Agency: a.Agency, Stored: a.Stored, Ended: a.Ended, Connected: s.conns.speaksFor(a.Agency)}
		if !a.LastSeen.IsZero() {
			seen := a.LastSeen
			j.LastSeen = &seen
		}
		st.Agencies = append(st.Agencies, j)
		st.Totals["stored"] += int64(a.Stored)
		if a.Ended {
			st.Totals["ended"]++
		}
		if drawn {
			st.Winners[strconv.Itoa(int(a.Agency))] = a.Winners
		}
	}
	return st
}

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
		limited.log(a.srv.log, slog.LevelWarn, "admin_limit", "result", "in_progress", "peer", peer.String(),
			"max_admin_connections", maxAdminConns, "error", "evicted, the oldest admin connection, to make room for a new one")
	}}
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		// The lottery goes on without its operator's view.
		a.srv.log.Error("admin_listen", "result", "fail", "error", err)
		return fmt.Errorf("%w: admin endpoint: %w", suture.ErrDoNotRestart, err)
	case <-ctx.Done():
	}
	stop, cancel := context.WithTimeout(context.Background(), a.srv.cfg.ShutdownTimeout/3)
	defer cancel()
	if err := hs.Shutdown(stop); err != nil && !errors.Is(err, http.ErrServerClosed) {
		hs.Close()
	}
	return fmt.Errorf("%w: admin endpoint closed", suture.ErrDoNotRestart)
}

// maxAdminConns bounds the admin endpoint's open connections: a scraper
// and a few browsers need a handful. Past it the oldest connection is
// closed to make room, so that the admin port never takes the file
// descriptors the agencies' connections count on, and a peer holding the
// bound's worth of connections cannot keep the operator out.
const maxAdminConns = 64

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
