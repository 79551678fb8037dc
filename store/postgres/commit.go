package postgres

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"quiniela/lottery/logattr"
	"quiniela/store"
)

// Fenced commits: every writing transaction renews the lease in the
// statement that counts it among the epoch's commits, so that it commits
// only while this central holds the lease, and a commit whose outcome is
// unknown is resolved by reading that count back.

// fenceSQL is renewSQL in a transaction that writes: it renews the lease
// if its epoch is still $1, and counts the transaction among the epoch's
// commits. It returns that count, which the row holds once (and only if)
// the transaction commits, and the transaction's id, for the log.
const fenceSQL = `UPDATE central_lease SET expires_at = clock_timestamp() + $2::interval, commits = commits + 1
	WHERE epoch = $1 RETURNING commits, pg_current_xact_id()::text`

// fencedTx runs fn in a transaction that commits only if this central
// still holds the lease; fn runs its statements with the ctx it is given,
// so that ctx bounds the whole transaction. When the commit's outcome is
// unknown (the connection broke while committing), it reads back what the
// transaction wrote (resolve), so that nothing is ever reported refused
// that was stored, or stored that was refused.
func (s *Store) fencedTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.pause != nil {
		s.pause("begin")
	}
	if s.fenced() {
		return ErrFenced
	}
	select {
	case s.txTurn <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("store: waiting for the transaction before this one: %w", ctx.Err())
	}
	defer func() { <-s.txTurn }()
	if s.fenced() { // while this one waited its turn
		return ErrFenced
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return s.failed("beginning a transaction", err)
	}
	defer func() {
		// Bounded too, and apart from ctx, which may have ended: a
		// rollback that fails closes the connection, which ends the
		// transaction as well.
		ctx, cancel := context.WithTimeout(context.Background(), rollbackTimeout)
		defer cancel()
		tx.Rollback(ctx)
	}()
	if err := fn(ctx, tx); err != nil {
		return s.failed("writing", err)
	}
	var commit int64
	var xid string
	err = tx.QueryRow(ctx, fenceSQL, s.epoch, s.lease).Scan(&commit, &xid)
	if errors.Is(err, pgx.ErrNoRows) {
		// The database answered, after an outage perhaps: its end is
		// logged when the store closes, as the central steps down.
		s.down.answered()
		s.loseLease(errTakenOver)
		return ErrFenced
	}
	if err != nil {
		return s.failed("renewing the lease", err)
	}
	if s.pause != nil {
		s.pause("commit")
	}
	err = tx.Commit(ctx)
	// Only the database's own ERROR says the transaction was not committed.
	// Anything else may have come after the commit: even pgx's "conn
	// closed", which it reports as safe to retry, when the connection
	// broke while the COMMIT's reply was on its way (TestACommitWhoseReply…).
	var pgErr *pgconn.PgError
	switch {
	case err == nil:
		s.down.answered()
		return nil
	case errors.As(err, &pgErr) && pgErr.Severity == "ERROR":
		return fmt.Errorf("store: committing: %w", err)
	}
	return s.resolve(commit, xid, err)
}

// failed is the error of a transaction that failed before its commit, and
// so was not committed; an outage it reveals is noted.
func (s *Store) failed(doing string, err error) error {
	if unavailable(err) && s.closing.Err() == nil {
		s.down.lost(doing, err)
	}
	return dbErr(doing, err)
}

// resolve finds out whether the transaction that counted itself as the
// epoch's commit number commit, and whose COMMIT broke with commitErr, was
// committed: by reading the count back, in a transaction that renews the
// lease, so that it waits for the first transaction's lock on the lease's
// row to be let go (it then reads what that transaction left), and so
// that its own commit, which follows the first one's in the database's
// log, is flushed and, where replication is synchronous, replicated
// before the answer is believed. This central runs one writing
// transaction at a time (txTurn): the count is commit if that transaction
// was committed, and one less if it was not. A database that is away
// (restarting, failing over) is waited for. If another central took the
// lease meanwhile, the count is no longer this central's, and the outcome
// cannot be known: the error is store.ErrInDoubt (and ErrFenced: this
// central is done); so it is if the store closes first.
func (s *Store) resolve(commit int64, xid string, commitErr error) error {
	s.log.Warn(logattr.StoreCommit, logattr.ResultKey, logattr.InProgress, logattr.EpochKey, s.epoch, "commit", commit, "xid", xid,
		logattr.ErrorKey, describe(commitErr)+" (outcome unknown - reading back this central's count of commits)")
	if unavailable(commitErr) && s.closing.Err() == nil {
		s.down.lost("committing", commitErr)
	}
	if s.pause != nil {
		s.pause("resolve")
	}
	start := time.Now()
	var lastReport time.Time
	for wait := 50 * time.Millisecond; ; wait = min(2*wait, maxRetryWait) {
		ctx, cancel := context.WithTimeout(s.closing, 5*time.Second)
		count, err := s.readBackCommits(ctx)
		cancel()
		switch {
		case err == nil && count >= commit:
			s.down.answered()
			s.log.Info(logattr.StoreCommit, logattr.ResultKey, logattr.Success, logattr.EpochKey, s.epoch, "commit", commit, "xid", xid,
				logattr.Millis("waited_ms", time.Since(start).Round(time.Millisecond)))
			return nil
		case err == nil:
			s.down.answered()
			s.log.Warn(logattr.StoreCommit, logattr.ResultKey, logattr.Fail, logattr.EpochKey, s.epoch, "commit", commit, "xid", xid,
				logattr.ErrorKey, fmt.Sprintf("not committed - the database counts %d commits of this epoch", count))
			return fmt.Errorf("store: committing: %w (the transaction was not committed)", commitErr)
		case errors.Is(err, pgx.ErrNoRows):
			s.down.answered()
			s.loseLease(errTakenOver)
			err := fmt.Errorf("%w: another central took the lease before this one could read back its commit %d (%w)", store.ErrInDoubt, commit, ErrFenced)
			s.log.Error(logattr.StoreCommit, logattr.ResultKey, logattr.Fail, logattr.EpochKey, s.epoch, "commit", commit, "xid", xid, logattr.ErrorKey, err)
			return err
		case s.closing.Err() != nil:
		case unavailable(err):
			s.down.lost("reading back a commit", err)
		case time.Since(lastReport) >= 5*time.Second:
			lastReport = time.Now()
			s.log.Warn(logattr.StoreCommit, logattr.ResultKey, logattr.InProgress, logattr.EpochKey, s.epoch, "commit", commit, "xid", xid, logattr.ErrorKey, describe(err))
		}
		if sleep(s.closing, wait) != nil {
			err := fmt.Errorf("%w: the store closed before commit %d could be read back (%w): a restarted central reads what was stored", store.ErrInDoubt, commit, store.ErrClosed)
			s.log.Error(logattr.StoreCommit, logattr.ResultKey, logattr.Fail, logattr.EpochKey, s.epoch, "commit", commit, "xid", xid, logattr.ErrorKey, err)
			return err
		}
	}
}

// readBackCommits renews the lease and returns its count of commits, in a
// transaction of its own that must commit; pgx.ErrNoRows if the lease is
// no longer this central's.
func (s *Store) readBackCommits(ctx context.Context) (count int64, err error) {
	err = pgx.BeginFunc(ctx, s.pool, func(tx pgx.Tx) error {
		return tx.QueryRow(ctx, renewSQL+` RETURNING commits`, s.epoch, s.lease).Scan(&count)
	})
	return count, err
}
