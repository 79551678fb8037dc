// Package postgres is the central's store (store.Store) in a PostgreSQL
// database: the bets are rows of table bets, each agency's end a row of
// ends, the draw's announcement a row of draw, and the schema is created
// or migrated at Open (schema.go, versioned).
//
// Batches are stored the way the CSV file stores them, through package
// groupcommit: Submit encodes a batch (binary COPY rows) and queues it;
// one writer takes everything queued while it was busy and stores it with
// one COPY in one transaction. Acknowledged means committed. Each stream's batches are
// stored in the order submitted, and a bet's id orders them, so Scan gives
// every agency's bets back in its order.
//
// Several centrals may open one database: exactly one is active, holding
// the lease (table central_lease: an epoch, a holder, an expiry in the
// database's clock); Open waits, standing by, until the lease is free or
// has expired, or the active central is gone (liveness.go), and takes it
// with a new epoch. Every transaction that writes renews the lease only if
// the epoch is still its own, in the same transaction, so a central that
// lost the lease cannot commit anything after the next one took it over:
// it is fenced. Lost says when that happened. The package knows the
// database, not the network.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"quiniela/lottery"
	"quiniela/store"
	"quiniela/store/groupcommit"
)

// ErrFenced is the error of everything a central does once another one has
// taken the lease: it is a store.ErrClosed, so sessions answer "shutting
// down" and agencies move on to the active central.
var ErrFenced = fmt.Errorf("%w: another central took over the database (fenced)", store.ErrClosed)

// DefaultLease is how long a central stays active without renewing its
// lease: a standby takes over at most this long after the active central
// stopped renewing (paused, or cut off from the database), plus one poll.
// A central that died is noticed sooner, by its liveness lock: once its
// last renewal is two renewals old.
const DefaultLease = 3 * time.Second

// recordTimeout bounds the writing of an end or of the draw's announcement,
// and commitTimeout a group's transaction (a few MiB: well under a second
// on a healthy database), so that a database that stops answering without
// closing its connections cannot hold the central forever: every statement
// of the transaction runs under them. A commit cut short by them is
// resolved as any other of unknown outcome. rollbackTimeout bounds the
// rollback of a transaction that failed.
const (
	recordTimeout   = 10 * time.Second
	commitTimeout   = 30 * time.Second
	rollbackTimeout = 5 * time.Second
)

// Options are the store's settings beyond its URL.
type Options struct {
	// Holder names this central in the lease (default host/pid): the
	// standby's log says whom it waits for.
	Holder string
	// Lease is how long the lease lasts unrenewed (default DefaultLease).
	Lease time.Duration
	// Log receives the lease's, recovery's and close's lines; nil discards.
	Log *slog.Logger
	// OnStandby, when set, is called once if Open has to stand by, before
	// it waits: a central lets go of its port there.
	OnStandby func()
}

// Store is an open PostgreSQL store, active: it holds the lease.
type Store struct {
	pool   *pgxpool.Pool
	log    *slog.Logger
	lease  time.Duration
	epoch  int64
	holder string

	q         *groupcommit.Queue // streams, the byte budget, and the one writer
	closing   context.Context    // ended by Close: a wait for an unknown commit gives up
	markClose context.CancelFunc

	mu     sync.Mutex
	ended  []uint16
	drawn  bool
	finish sync.Once

	lost     chan struct{} // closed when the lease is lost
	lostOnce sync.Once
	lostErr  error

	// pause, set by tests, runs in every writing transaction at "begin"
	// (before it) and at "commit" (after its fence, before COMMIT): a test
	// pauses the central there.
	pause func(stage string)
	// recordTimeout is recordTimeout, shortened by tests.
	recordTimeout time.Duration

	onCommit             atomic.Pointer[func(time.Duration)]
	live                 *liveness // the standby's, then the renewer's
	renewStop, renewDone chan struct{}
	stopRenewing         sync.Once
}

// Open connects to the database at url, migrates its schema, waits until
// this central may be active (logging that it stands by), and takes the
// lease. It returns ctx's error if ctx ends while standing by.
func Open(ctx context.Context, url string, opts Options) (*Store, error) {
	if opts.Log == nil {
		opts.Log = slog.New(slog.DiscardHandler)
	}
	if opts.Lease <= 0 {
		opts.Lease = DefaultLease
	}
	if opts.Holder == "" {
		host, _ := os.Hostname()
		opts.Holder = host + "/" + strconv.Itoa(os.Getpid())
	}
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("store: STORAGE_URL: %w", err)
	}
	cfg.MaxConns = 4
	if cfg.ConnConfig.ConnectTimeout == 0 || cfg.ConnConfig.ConnectTimeout > 5*time.Second {
		cfg.ConnConfig.ConnectTimeout = 5 * time.Second
	}
	// A central paused between its fencing update and its commit holds the
	// lease row; the database ends such a transaction rather than keep a
	// standby waiting for it.
	cfg.ConnConfig.RuntimeParams["idle_in_transaction_session_timeout"] = strconv.Itoa(int(2 * opts.Lease / time.Millisecond))
	cfg.ConnConfig.RuntimeParams["application_name"] = "quiniela central " + opts.Holder
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	closing, markClose := context.WithCancel(context.Background())
	s := &Store{
		pool: pool, log: opts.Log, lease: opts.Lease, holder: opts.Holder,
		closing: closing, markClose: markClose,
		lost:          make(chan struct{}),
		recordTimeout: recordTimeout,
		renewStop:     make(chan struct{}), renewDone: make(chan struct{}),
		live: &liveness{cfg: cfg.ConnConfig.Copy()},
	}
	if err := s.open(ctx, opts); err != nil {
		s.live.drop()
		pool.Close()
		markClose()
		return nil, err
	}
	s.q = groupcommit.New(groupcommit.GroupBytes, appendCopyRows, s.write)
	go s.renewLoop()
	return s, nil
}

func (s *Store) open(ctx context.Context, opts Options) error {
	var version int
	var encoding string
	err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_encoding')`).Scan(&version, &encoding)
	if err != nil {
		return fmt.Errorf("store: connecting to the database: %w", err)
	}
	if version < 130000 {
		return fmt.Errorf("store: the database is PostgreSQL %d; this central needs 13 or newer", version/10000)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("store: the database's encoding is %s; names are UTF-8, create it with ENCODING 'UTF8'", encoding)
	}
	from, to, err := migrate(ctx, s.pool)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	if from != to {
		s.log.Info("migrate_store", "result", "success", "from_version", from, "to_version", to)
	}
	if err := s.takeLease(ctx, opts.OnStandby); err != nil {
		return err
	}
	var ended []int32
	err = s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(agency ORDER BY agency), '{}'), EXISTS (SELECT FROM draw) FROM ends`).Scan(&ended, &s.drawn)
	if err != nil {
		s.releaseLease(ctx)
		return fmt.Errorf("store: reading the round's records: %w", err)
	}
	for _, a := range ended {
		s.ended = append(s.ended, uint16(a))
	}
	return nil
}

// The lease's rhythm: the active central renews it every renewEvery, a
// standby asks every standbyPoll whether it may take it.
func (s *Store) renewEvery() time.Duration  { return s.lease / 12 }
func (s *Store) standbyPoll() time.Duration { return s.lease / 15 }

// takeLease waits until the lease is free or expired, or the active
// central is gone (its liveness lock free, its last renewal two renewals
// old), and takes it with the next epoch. A database that cannot be
// reached is waited for too: a standby outlives its database's restart.
func (s *Store) takeLease(ctx context.Context, onStandby func()) error {
	start := time.Now()
	var lastHolder string
	var lastReport time.Time
	for {
		var holder string
		var left time.Duration
		err := s.pool.QueryRow(ctx, `
			WITH taken AS (
				UPDATE central_lease SET epoch = epoch + 1, holder = $1, expires_at = clock_timestamp() + $2::interval
				WHERE expires_at < clock_timestamp()
					OR ($3 AND expires_at < clock_timestamp() + $2::interval - $4::interval)
				RETURNING epoch)
			SELECT coalesce((SELECT epoch FROM taken), 0), holder, greatest(expires_at, clock_timestamp()) - clock_timestamp() FROM central_lease`,
			s.holder, s.lease, s.live.hold(ctx), 2*s.renewEvery()).Scan(&s.epoch, &holder, &left)
		if err == nil && s.epoch != 0 {
			s.log.Info("leadership", "result", "success", "epoch", s.epoch, "holder", s.holder, "waited", time.Since(start).Round(time.Millisecond).String())
			return nil
		}
		s.live.release()
		if onStandby != nil {
			onStandby()
			onStandby = nil
		}
		switch {
		case err == nil && holder != lastHolder:
			lastHolder = holder
			s.log.Info("standby", "result", "in_progress", "active", holder, "lease_left", left.Round(time.Millisecond).String())
		case errors.As(err, new(*pgconn.PgError)):
			return fmt.Errorf("store: taking the lease: %w", err)
		case err != nil && ctx.Err() == nil && time.Since(lastReport) >= 5*time.Second:
			lastReport = time.Now()
			s.log.Warn("standby", "result", "in_progress", "error", fmt.Errorf("the database: %w", err))
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("store: standing by: %w", ctx.Err())
		case <-time.After(s.standbyPoll()):
		}
	}
}

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
		s.log.Error("leadership", "result", "fail", "epoch", s.epoch, "error", why)
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

// renewLoop renews the lease every renewEvery, and keeps the liveness lock. A database that cannot be
// reached is no reason to stop: commits fail meanwhile, and the epoch
// decides once it is back.
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
			s.loseLease(errTakenOver)
			return
		case err != nil && s.closing.Err() == nil && time.Since(lastReport) >= 5*time.Second:
			lastReport = time.Now()
			s.log.Warn("lease_renew", "result", "fail", "epoch", s.epoch, "error", err)
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

// fencedTx runs fn in a transaction that commits only if this central
// still holds the lease; fn runs its statements with the ctx it is given,
// so that ctx bounds the whole transaction. When the commit's outcome is unknown (the
// connection broke while committing), it asks the database what became of
// the transaction, as long as it takes, so that nothing is ever reported
// refused that was stored, or stored that was refused.
func (s *Store) fencedTx(ctx context.Context, fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.pause != nil {
		s.pause("begin")
	}
	if s.fenced() {
		return ErrFenced
	}
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("store: %w", err)
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
		return fmt.Errorf("store: %w", err)
	}
	var xid string
	err = tx.QueryRow(ctx, renewSQL+` RETURNING pg_current_xact_id()::text`, s.epoch, s.lease).Scan(&xid)
	if errors.Is(err, pgx.ErrNoRows) {
		s.loseLease(errTakenOver)
		return ErrFenced
	}
	if err != nil {
		return fmt.Errorf("store: %w", err)
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
		return nil
	case errors.As(err, &pgErr) && pgErr.Severity == "ERROR":
		return fmt.Errorf("store: committing: %w", err)
	}
	return s.resolve(xid, err)
}

// resolve finds out whether transaction xid, whose commit broke with
// commitErr, was committed.
func (s *Store) resolve(xid string, commitErr error) error {
	s.log.Warn("store_commit", "result", "in_progress", "xid", xid, "error", fmt.Errorf("outcome unknown, asking the database: %w", commitErr))
	for {
		var status *string
		ctx, cancel := context.WithTimeout(s.closing, 5*time.Second)
		err := s.pool.QueryRow(ctx, `SELECT pg_xact_status($1::xid8)`, xid).Scan(&status)
		cancel()
		switch {
		case err == nil && status != nil && *status == "committed":
			s.log.Info("store_commit", "result", "success", "xid", xid)
			return nil
		case err == nil && (status == nil || *status == "aborted"):
			return fmt.Errorf("store: committing: %w (the transaction was not committed)", commitErr)
		}
		select {
		case <-s.closing.Done():
			return fmt.Errorf("store: committing: %w (outcome unknown at close: a restarted central reads what was stored)", commitErr)
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// NewStream returns a new stream of batches (store.Stream): Submit
// encodes a batch's COPY rows in the caller's goroutine and queues them
// for the one writer, waiting while the queue holds its budget of rows.
func (s *Store) NewStream() store.Stream { return s.q.NewStream() }

// write stores a group with one COPY in one fenced transaction.
func (s *Store) write(rows [][]byte) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	r := &copyReader{rows: rows}
	err := s.fencedTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Conn().PgConn().CopyFrom(ctx, r, copySQL)
		return err
	})
	// pgx's goroutine that reads r may outlive CopyFrom when the
	// connection breaks; the rows are reused once write returns.
	r.stop()
	if err == nil {
		if observe := s.onCommit.Load(); observe != nil {
			(*observe)(time.Since(start))
		}
	}
	return err
}

// RecordEnd makes durable that the agency sent its end.
func (s *Store) RecordEnd(agency uint16) error {
	if err := s.record(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ends (agency) VALUES ($1) ON CONFLICT DO NOTHING`, int32(agency))
		return err
	}); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if i, found := slices.BinarySearch(s.ended, agency); !found {
		s.ended = slices.Insert(s.ended, i, agency)
	}
	return nil
}

// Ended lists the agencies whose end is recorded, in order.
func (s *Store) Ended() []uint16 {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.ended)
}

// RecordDraw makes durable that the draw was announced.
func (s *Store) RecordDraw() error {
	if err := s.record(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO draw DEFAULT VALUES ON CONFLICT DO NOTHING`)
		return err
	}); err != nil {
		return err
	}
	s.mu.Lock()
	s.drawn = true
	s.mu.Unlock()
	return nil
}

// Drawn reports whether the draw's announcement is recorded.
func (s *Store) Drawn() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drawn
}

// record runs fn, the writing of a record, in a fenced transaction bounded
// by the record timeout.
func (s *Store) record(fn func(ctx context.Context, tx pgx.Tx) error) error {
	if s.q.Closed() {
		return store.ErrClosed
	}
	ctx, cancel := context.WithTimeout(context.Background(), s.recordTimeout)
	defer cancel()
	return s.fencedTx(ctx, fn)
}

// Scan calls fn with every bet committed when it starts, in id order:
// each agency's in the order submitted.
func (s *Store) Scan(fn func(lottery.Bet) error) error {
	ctx := context.Background()
	// Without an index on id (it would slow every insert), the order comes
	// from a sort.
	rows, err := s.pool.Query(ctx, `SELECT id, `+copyColumns+` FROM bets ORDER BY id`)
	if err != nil {
		return fmt.Errorf("store: reading the bets: %w", err)
	}
	defer rows.Close()
	var (
		id             int64
		agency, number int32
		document       int64
		birthdate      time.Time
		b              lottery.Bet
	)
	for rows.Next() {
		if err := rows.Scan(&id, &agency, &b.FirstName, &b.LastName, &document, &birthdate, &number); err != nil {
			return fmt.Errorf("store: reading the bets: %w", err)
		}
		// Rows this store wrote are always in range; one written by hand
		// may not be, and must not wrap around.
		if agency < 0 || agency > math.MaxUint16 || document < 0 || document > math.MaxUint32 || number < 0 || number > math.MaxUint16 {
			return fmt.Errorf("store: bet id %d is out of range (agency %d, document %d, number %d)", id, agency, document, number)
		}
		b.Agency, b.Document, b.Number = uint16(agency), uint32(document), uint16(number)
		b.Birthdate = birthdate.Format(time.DateOnly)
		if err := fn(b); err != nil {
			return err
		}
	}
	if err := rows.Err(); err != nil {
		return fmt.Errorf("store: reading the bets: %w", err)
	}
	return nil
}

// Close stops taking batches, commits those already submitted, gives the
// lease up (a standby takes over at once rather than when it expires),
// and closes the connections. It returns an error only if ctx ends before
// the queued batches are answered; a later Close may wait again.
func (s *Store) Close(ctx context.Context) error {
	s.markClose()
	if err := s.q.Close(ctx); err != nil {
		s.log.Error("flush_store", "result", "fail", "error", err)
		return err
	}
	s.finish.Do(func() {
		s.stopRenewal()
		st := s.q.Stats()
		s.log.Info("flush_store", "result", "success", "bets", st.Bets, "batches", st.Batches, "commits", st.Groups)
		if !s.fenced() {
			s.releaseLease(ctx)
		}
		s.pool.Close()
	})
	return nil
}

// releaseLease gives the lease up, so that a standby takes over at once
// rather than when it expires.
func (s *Store) releaseLease(ctx context.Context) {
	if _, err := s.pool.Exec(ctx, `UPDATE central_lease SET expires_at = '-infinity' WHERE epoch = $1`, s.epoch); err != nil {
		// Not a failure of the round: the lease expires on its own.
		s.log.Warn("release_lease", "result", "fail", "epoch", s.epoch, "error", err)
		return
	}
	s.log.Info("release_lease", "result", "success", "epoch", s.epoch)
}

// QueuedBytes is how many bytes of rows wait for the writer.
func (s *Store) QueuedBytes() int64 { return s.q.QueuedBytes() }

// ObserveSyncs has fn told how long each group's commit took: a commit is
// this store's point of durability, as an fsync is the file's.
func (s *Store) ObserveSyncs(fn func(time.Duration)) { s.onCommit.Store(&fn) }
