package postgres

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	neturl "net/url"
	"os"
	"regexp"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgconn"

	"quiniela/lottery/logattr"
)

// What the store makes of the database's failures: which ones a central
// waits out, how they read in the log, and the one warning an outage
// gets when it begins and the one when it ends.

// IsUnavailable reports whether err, an error of this store's, is the
// database being out of reach or going away (restarting, failing over to
// a replica, refusing connections while it starts): a central waits such
// a failure out. Any other error (a refused password, a missing table, a
// row out of range) is an answer, and waiting would not change it.
func IsUnavailable(err error) bool {
	var ours *dbError
	return errors.As(err, &ours) && unavailable(ours.err)
}

// unavailable is IsUnavailable for an error of pgx.
func unavailable(err error) bool {
	if err == nil {
		return false
	}
	var pgErr *pgconn.PgError
	if !errors.As(err, &pgErr) {
		// No answer at all: the connection failed or broke, or a timeout
		// ran out waiting for one.
		var connFailure interface{ SafeToRetry() bool } // pgconn's errors of the connection
		var connectErr *pgconn.ConnectError
		var netErr net.Error
		return errors.As(err, &connFailure) || errors.As(err, &connectErr) || errors.As(err, &netErr) ||
			errors.Is(err, pgconn.ErrConnClosed) || errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
			errors.Is(err, context.DeadlineExceeded) || pgconn.Timeout(err)
	}
	switch pgErr.Code[:min(2, len(pgErr.Code))] {
	case "08", // connection exception
		"57", // operator intervention: shutting down, in recovery, starting up, terminated
		"53", // insufficient resources: too many connections, out of memory or disk
		"58", // system error
		"40": // transaction rollback: serialization failure, deadlock
		return true
	}
	// A read-only transaction: the address reached a replica (a primary
	// demoted, or a replica not yet promoted).
	return pgErr.Code == "25006"
}

// describe puts the database's own error first: its message and SQLSTATE
// when it answered, else what each address attempted said, without the
// refused TLS attempt of sslmode=prefer when a plain attempt followed it.
func describe(err error) string {
	var pgErr *pgconn.PgError
	if errors.As(err, &pgErr) {
		return pgErr.Error()
	}
	var connErr *pgconn.ConnectError
	if !errors.As(err, &connErr) {
		return err.Error()
	}
	inner := errors.Unwrap(connErr)
	if inner == nil {
		return connErr.Error()
	}
	attempts := []error{inner}
	if joined, ok := inner.(interface{ Unwrap() []error }); ok {
		attempts = joined.Unwrap()
	}
	var said []string
	for _, a := range attempts {
		if msg := a.Error(); len(attempts) == 1 || !strings.Contains(msg, "server refused TLS connection") {
			said = append(said, msg)
		}
	}
	return strings.Join(said, "; ")
}

// dbError is an error of the database, read with the database's own words
// first and then what the store was doing.
type dbError struct {
	doing string
	err   error
}

func (e *dbError) Error() string { return describe(e.err) + " (store: " + e.doing + ")" }
func (e *dbError) Unwrap() error { return e.err }

func dbErr(doing string, err error) error { return &dbError{doing: doing, err: err} }

// outage logs one warning when the database stops answering and one when
// it answers again, with how long it was away: a central reaches its
// database from several goroutines (the lease's renewals, the writer, the
// standby's polls), and an operator wants one pair of lines per outage,
// not one line per failed attempt. The database counts as back once it
// has answered and nothing failed for outageSettle: while a server shuts
// down, a session it has not ended yet still answers, and one that starts
// refuses for a while.
type outage struct {
	log *slog.Logger
	// forget, called as an outage begins, drops the connections made
	// before it: after a restart each would fail once more when next used,
	// as if the database were lost again.
	forget func()

	mu         sync.Mutex
	since      time.Time // when the database stopped answering; zero while it answers
	lastFail   time.Time // the outage's last failure
	answeredAt time.Time // the first answer after lastFail; zero if none yet
}

// outageSettle is how long the database must go without a failure, once
// it answers, before it counts as back.
const outageSettle = time.Second

// lost notes a failure of the database while doing something; the first
// of an outage is logged.
func (o *outage) lost(doing string, err error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.lastFail, o.answeredAt = time.Now(), time.Time{}
	if !o.since.IsZero() {
		return
	}
	o.since = o.lastFail
	if o.forget != nil {
		o.forget()
	}
	o.log.Warn(logattr.Database, logattr.ResultKey, logattr.Fail, "while", doing, logattr.ErrorKey, describe(err), "retrying", "until it answers")
}

// answered notes that the database answered; the answer that ends an
// outage is logged, with the outage's length, once nothing has failed for
// outageSettle (the next answer after that logs it).
func (o *outage) answered() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() {
		return
	}
	now := time.Now()
	if o.answeredAt.IsZero() {
		o.answeredAt = now
	}
	if now.Sub(o.lastFail) < outageSettle {
		return
	}
	o.log.Warn(logattr.Database, logattr.ResultKey, logattr.Success, logattr.Millis("outage_ms", o.answeredAt.Sub(o.since).Round(time.Millisecond)))
	o.since = time.Time{}
}

// closed ends the outage's record as the store closes (a central that
// stepped down, say): an outage the database answered after is logged as
// over, so that no warning of a lost database is left without its end.
func (o *outage) closed() {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.since.IsZero() || o.answeredAt.IsZero() {
		return
	}
	o.log.Warn(logattr.Database, logattr.ResultKey, logattr.Success, logattr.Millis("outage_ms", o.answeredAt.Sub(o.since).Round(time.Millisecond)))
	o.since = time.Time{}
}

// plainOnThisMachine drops the TLS attempt that sslmode=prefer, libpq's
// default, makes before each plain connection, when the host is this
// machine (a loopback address or localhost; a Unix socket never tries TLS)
// and nothing asked for an sslmode: PostgreSQL's default configuration
// has no TLS, so the attempt is refused every time, and every connection
// error then begins with "server refused TLS connection" before its real
// cause. An sslmode in the URL or in PGSSLMODE is kept as asked.
func plainOnThisMachine(cfg *pgconn.Config, url string) {
	if sslModeAsked(url) {
		return
	}
	all := append([]*pgconn.FallbackConfig{{Host: cfg.Host, Port: cfg.Port, TLSConfig: cfg.TLSConfig}}, cfg.Fallbacks...)
	kept := make([]*pgconn.FallbackConfig, 0, len(all))
	for i, fb := range all {
		// prefer's pair: TLS, then plain, to the same address.
		prefer := fb.TLSConfig != nil && i+1 < len(all) && all[i+1].TLSConfig == nil &&
			all[i+1].Host == fb.Host && all[i+1].Port == fb.Port
		if prefer && onThisMachine(fb.Host) {
			continue
		}
		kept = append(kept, fb)
	}
	cfg.Host, cfg.Port, cfg.TLSConfig = kept[0].Host, kept[0].Port, kept[0].TLSConfig
	cfg.Fallbacks = kept[1:]
}

func onThisMachine(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// sslModeKey finds sslmode, or ssl, set in a keyword/value connection
// string.
var sslModeKey = regexp.MustCompile(`(^|\s)(sslmode|ssl|service)\s*=`)

// sslModeAsked reports whether the URL (or keyword/value string), or the
// environment, sets the sslmode (or names a service file entry, which may).
func sslModeAsked(url string) bool {
	if os.Getenv("PGSSLMODE") != "" || os.Getenv("PGSERVICE") != "" {
		return true
	}
	if strings.HasPrefix(url, "postgres://") || strings.HasPrefix(url, "postgresql://") {
		// Only the query: a multi-host URL's host list is no URL host.
		_, query, _ := strings.Cut(url, "?")
		q, err := neturl.ParseQuery(query)
		if err != nil {
			return true // pgx read it; keep whatever it made of it
		}
		return q.Has("sslmode") || q.Has("ssl") || q.Has("service")
	}
	return sslModeKey.MatchString(url)
}
