package supervisor

import (
	"regexp"
	"runtime"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"quiniela/protocol"
	"quiniela/store"
)

// metrics are the central's Prometheus series, served on /metrics.
type metrics struct {
	registry      *prometheus.Registry
	betsStored    *prometheus.CounterVec
	batches       *prometheus.CounterVec
	bytesIn       prometheus.Counter
	connsLimited  *prometheus.CounterVec
	fsyncSeconds  prometheus.Histogram
	batchAckDelay prometheus.Histogram

	queueOnce sync.Once // the queue's gauge, once a store offers one
	srv       *Server
}

// queueReporter and syncReporter are what a store may offer the metrics:
// the bytes it has queued, and each fsync's duration.
type (
	queueReporter interface{ QueuedBytes() int64 }
	syncReporter  interface{ ObserveSyncs(func(time.Duration)) }
)

func newMetrics(s *Server) *metrics {
	m := &metrics{
		srv:      s,
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
			func() float64 { return float64(s.book.open().endedCount()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quiniela_draw_done", Help: "1 once the open round's draw has happened."},
			func() float64 {
				if s.book.open().done() {
					return 1
				}
				return 0
			}),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "quiniela_round", Help: "The open round's number: 1, 2, … (always 1 with one round per store)."},
			func() float64 { return float64(s.book.open().number) }),
		// go_gc_heap_live_bytes, the heap the last GC kept: what a leak
		// grows, unlike the heap in use, which swings with every GC.
		collectors.NewGoCollector(collectors.WithGoCollectorRuntimeMetrics(
			collectors.GoRuntimeMetricsRule{Matcher: regexp.MustCompile(`^/gc/heap/live:bytes$`)})),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		// quiniela_build_info, always 1: which build answers, for joins
		// and for seeing a deployment roll.
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "quiniela_build_info", Help: "The central's build: its version and Go's; always 1.",
			ConstLabels: prometheus.Labels{"version": s.version(), "goversion": runtime.Version()},
		}, func() float64 { return 1 }),
	)
	return m
}

// observeStore has the metrics follow a round's store: its fsyncs, and its
// queue while it is the open round's.
func (m *metrics) observeStore(st store.Store) {
	if r, ok := st.(syncReporter); ok {
		r.ObserveSyncs(func(d time.Duration) { m.fsyncSeconds.Observe(d.Seconds()) })
	}
	if _, ok := st.(queueReporter); !ok {
		return
	}
	m.queueOnce.Do(func() {
		m.registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "quiniela_store_queue_bytes", Help: "Bytes of rows waiting for the store's writer."},
			func() float64 {
				if q, ok := m.srv.book.open().store.(queueReporter); ok {
					return float64(q.QueuedBytes())
				}
				return 0
			}))
	})
}

func (m *metrics) batch(code protocol.Code) {
	m.batches.WithLabelValues(strconv.Itoa(int(code))).Inc()
}
