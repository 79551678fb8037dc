package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"strings"
	"time"

	"quiniela/lottery/logattr"
)

// The lease: which central is active. A standby polls until the lease is
// free or its holder gone, and takes it with the next epoch; the active
// central renews it, and loses it (Lost) when another one took it over.

// The lease's rhythm: the active central renews it every renewEvery, a
// standby asks every standbyPoll whether it may take it.
func (s *Store) renewEvery() time.Duration  { return s.lease / 12 }
func (s *Store) standbyPoll() time.Duration { return s.lease / 15 }

// takeLease waits until the lease is free or expired, or the active
// central is gone (its liveness lock free, its last renewal two renewals
// old), and takes it with the next epoch. A database that cannot be
// reached, or goes away (a restart, a failover), is waited for, with one
// warning when it goes and one when it is back: a standby outlives its
// database's restart.
func (s *Store) takeLease(ctx context.Context, onStandby func()) error {
	start := time.Now()
	// The lines name the store they wait on (a central may be given
	// another one than its pair by mistake).
	where := slog.Any("storage_url", logattr.DatabaseURL(s.pool.Config().ConnString()))
	var lastHolder string
	wait := s.standbyPoll()
	for {
		var holder string
		var left time.Duration
		// Each poll is bounded: a database that froze (or a path to it
		// that stalled) keeps its connections open and silent, and a poll
		// waiting on one for ever would keep this standby from ever taking
		// over. Past the bound the database counts as away, the pool is
		// emptied, and the next poll connects afresh (to the new primary,
		// with a multi-host URL).
		poll, stopPoll := context.WithTimeout(ctx, standbyPollTimeout)
		err := s.pool.QueryRow(poll, takeSQL, s.holder, s.lease, s.live.hold(ctx), 2*s.renewEvery()).Scan(&s.epoch, &holder, &left)
		stopPoll()
		if err == nil {
			s.down.answered()
			wait = s.standbyPoll()
			if s.epoch != 0 {
				s.log.Info(logattr.Leadership, logattr.ResultKey, logattr.Success, logattr.EpochKey, s.epoch, holderAttr("holder", s.holder),
					logattr.Millis("waited_ms", time.Since(start).Round(time.Millisecond)), where)
				return nil
			}
		}
		s.live.release()
		if onStandby != nil {
			onStandby()
			onStandby = nil
		}
		switch {
		case err == nil && holder != lastHolder:
			lastHolder = holder
			s.log.Info(logattr.Standby, logattr.ResultKey, logattr.InProgress, holderAttr("active", holder),
				logattr.Millis("lease_left_ms", left.Round(time.Millisecond)), where)
		case err != nil && ctx.Err() != nil:
		case err != nil && !unavailable(err):
			return dbErr("taking the lease", err)
		case err != nil:
			s.down.lost("standing by", err)
			wait = min(2*wait, maxRetryWait)
		}
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("store: standing by: %w", err)
		}
	}
}

// holderAttr is a lease holder for a log line: a central names itself
// "host/pid address" (Options.Holder), so it is logged as key (the name)
// and the address's key_ip and key_port (see logattr); a holder without an
// address is logged whole.
func holderAttr(key, holder string) slog.Attr {
	name, addr, found := strings.Cut(holder, " ")
	if _, _, err := net.SplitHostPort(addr); !found || err != nil {
		return slog.String(key, holder)
	}
	return slog.Group("", slog.String(key, name), logattr.Addr(key, addr))
}

// standbyPollTimeout bounds one poll of a standby: the poll is one short
// statement, so far more than it takes even on a loaded machine.
const standbyPollTimeout = 2 * time.Second

// takeSQL takes the lease with the next epoch if it has expired ($4: or
// if the active central's liveness lock was free, $3, and its last renewal
// is older than $4), and says who holds it and for how long.
const takeSQL = `
	WITH taken AS (
		UPDATE central_lease SET epoch = epoch + 1, holder = $1, expires_at = clock_timestamp() + $2::interval, commits = 0
		WHERE expires_at < clock_timestamp()
			OR ($3 AND expires_at < clock_timestamp() + $2::interval - $4::interval)
		RETURNING epoch)
	SELECT coalesce((SELECT epoch FROM taken), 0), holder, greatest(expires_at, clock_timestamp()) - clock_timestamp() FROM central_lease`

// Epoch is the lease's epoch this central holds.
func (s *Store) Epoch() int64 { return s.epoch }

// Lost is closed when this central has lost the lease: another one took
// it over, so nothing more of this one is stored. LostErr says why.
func (s *Store) Lost() <-chan struct{} { return s.lost }

// LostErr is why the lease was lost, once Lost is closed.
func (s *Store) LostErr() error {
	select {
	case <-s.lost:
		return s.lostErr
	default:
		return nil
	}
}

func (s *Store) loseLease(why error) {
	s.lostOnce.Do(func() {
		s.lostErr = why
		s.log.Error(logattr.Leadership, logattr.ResultKey, logattr.Fail, logattr.EpochKey, s.epoch, logattr.ErrorKey, why)
		close(s.lost)
	})
}

func (s *Store) fenced() bool {
	select {
	case <-s.lost:
		return true
	default:
		return false
	}
}

// renewLoop renews the lease every renewEvery, and keeps the liveness
// lock. A database that cannot be reached is no reason to stop: commits
// fail meanwhile, and the epoch decides once it is back.
func (s *Store) renewLoop() {
	defer close(s.renewDone)
	defer s.live.drop()
	tick := time.NewTicker(s.renewEvery())
	defer tick.Stop()
	var lastReport time.Time
	for {
		select {
		case <-s.renewStop:
			return
		case <-tick.C:
		}
		ctx, cancel := context.WithTimeout(s.closing, s.lease)
		tag, err := s.pool.Exec(ctx, renewSQL, s.epoch, s.lease)
		if err == nil && tag.RowsAffected() > 0 {
			s.live.hold(ctx) // taken again if it was lost, or first held by a paused predecessor
		}
		cancel()
		switch {
		case err == nil && tag.RowsAffected() == 0:
			s.down.answered()
			s.loseLease(errTakenOver)
			return
		case err == nil:
			s.down.answered()
		case s.closing.Err() != nil:
		case unavailable(err):
			s.down.lost("renewing the lease", err)
		case time.Since(lastReport) >= 5*time.Second:
			lastReport = time.Now()
			s.log.Warn(logattr.LeaseRenew, logattr.ResultKey, logattr.Fail, logattr.EpochKey, s.epoch, logattr.ErrorKey, describe(err))
		}
	}
}

// stopRenewal stops the renewals and waits for the last one.
func (s *Store) stopRenewal() {
	s.stopRenewing.Do(func() { close(s.renewStop) })
	<-s.renewDone
}

var errTakenOver = errors.New("another central took over the lease")

// renewSQL renews the lease if its epoch is still $1; in a transaction
// that writes, it is the fence.
const renewSQL = `UPDATE central_lease SET expires_at = clock_timestamp() + $2::interval WHERE epoch = $1`

// releaseLease gives the lease up, so that a standby takes over at once
// rather than when it expires.
func (s *Store) releaseLease(ctx context.Context) {
	if _, err := s.pool.Exec(ctx, `UPDATE central_lease SET expires_at = '-infinity' WHERE epoch = $1`, s.epoch); err != nil {
		// Not a failure of the round: the lease expires on its own.
		s.log.Warn(logattr.ReleaseLease, logattr.ResultKey, logattr.Fail, logattr.EpochKey, s.epoch, logattr.ErrorKey, err)
		return
	}
	s.log.Info(logattr.ReleaseLease, logattr.ResultKey, logattr.Success, logattr.EpochKey, s.epoch)
}
