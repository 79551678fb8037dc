package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
)

// livenessLock is the advisory lock the active central holds for as long
// as its process lives.
const livenessLock = 0x71756e69656c62

// liveness is a session-level advisory lock held on a connection of its
// own. PostgreSQL releases it the moment that connection closes, as it
// does when the process holding it dies: so a standby that can take the
// lock knows the active central is gone without waiting for its lease to
// expire. It is only a hint: the lease and its epoch decide who is active,
// and a lock lost with a healthy central (its connection cut) costs a
// needless takeover at worst. Owned by one goroutine at a time.
type liveness struct {
	cfg  *pgx.ConnConfig
	conn *pgx.Conn
	held bool
}

// hold takes the lock, or checks that it still holds it, and reports
// whether it does.
func (l *liveness) hold(ctx context.Context) bool {
	ctx, cancel := context.WithTimeout(ctx, livenessTimeout)
	defer cancel()
	if l.conn != nil && l.held {
		if l.conn.Ping(ctx) == nil {
			return true
		}
		l.drop()
	}
	if l.conn == nil {
		conn, err := pgx.ConnectConfig(ctx, l.cfg)
		if err != nil {
			return false
		}
		l.conn = conn
	}
	if err := l.conn.QueryRow(ctx, `SELECT pg_try_advisory_lock($1)`, int64(livenessLock)).Scan(&l.held); err != nil {
		l.drop()
	}
	return l.held
}

// release gives the lock up and keeps the connection: a standby that took
// it but not the lease must not hide the active central's death.
func (l *liveness) release() {
	if !l.held {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), livenessTimeout)
	defer cancel()
	if _, err := l.conn.Exec(ctx, `SELECT pg_advisory_unlock_all()`); err != nil {
		l.drop()
	}
	l.held = false
}

// livenessTimeout bounds each exchange of the liveness connection.
const livenessTimeout = 5 * time.Second

// drop closes the connection, and with it releases the lock.
func (l *liveness) drop() {
	if l.conn != nil {
		l.conn.Close(context.Background())
	}
	l.conn, l.held = nil, false
}
