// Package postgres is the central's store (store.Store) in a PostgreSQL
// database: each batch of bets is a row of table batches (view bets reads
// them back a row a bet), each agency's end a row of ends, the draw's
// announcement a row of draw, each of its round, and the
// schema is created or migrated at Open (schema.go, versioned). A Store
// is round 1, a single round's store, and keeps continuous rounds too
// (store.Rounds, rounds.go), all in the one database under the one lease.
//
// Batches are stored the way the CSV file stores them, through package
// groupcommit: Submit encodes a batch (binary COPY rows, copy.go) and
// queues it; the round's writer takes everything queued while it was busy
// and stores it with one COPY in one transaction. Acknowledged means
// committed. Each stream's batches are stored in the order submitted, and
// a batch's id orders them, so Scan gives every agency's bets back in its
// order.
//
// Several centrals may open one database: exactly one is active, holding
// the lease (table central_lease: an epoch, a holder, an expiry in the
// database's clock); Open waits, standing by, until the lease is free or
// has expired, or the active central is gone (liveness.go), and takes it
// with a new epoch. Every transaction that writes renews the lease only if
// the epoch is still its own, in the same transaction, so a central that
// lost the lease cannot commit anything after the next one took it over:
// it is fenced. Lost says when that happened.
//
// Each writing transaction also counts itself in the lease's row
// (commits), so that a commit whose reply never came is resolved by what
// the transaction itself wrote, read back afterwards: a transaction id
// proves nothing once the database has crashed or failed over, since the
// node that answers then may have handed the same id to another
// transaction. A commit that cannot be resolved so is reported
// store.ErrInDoubt, never as stored or refused. A database that goes away
// (a restart, a failover) is waited out, by the active central and the
// standby alike (database.go). The package knows the database, not the
// network.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"quiniela/lottery/logattr"
	"quiniela/store"
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
// closing its connections (a primary whose machine froze: its kernel still
// answers TCP) cannot hold the central forever: every statement of the
// transaction runs under them. A commit cut short by them is resolved as
// any other of unknown outcome. commitTimeout was 30 s: a frozen primary
// then held every batch for as long as an agency waits without progress
// (CLI_CONNECT_TIMEOUT, 30 s by default). rollbackTimeout bounds the
// rollback of a transaction that failed.
const (
	recordTimeout   = 10 * time.Second
	commitTimeout   = 10 * time.Second
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
	// WaitForDatabase makes Open wait for a database it cannot reach, as
	// it waits for one that goes away once reached. Without it, a database
	// that does not answer Open's first question fails Open at once, so a
	// wrong URL is refused at start: a central that lost its lease, and so
	// knows the URL to be right, stands by again with it.
	WaitForDatabase bool
}

// Store is an open PostgreSQL store, active: it holds the lease. It is
// round 1's store (store.Store), a single round's, and the rounds'
// (store.Rounds, rounds.go).
type Store struct {
	*round // round 1

	pool   *pgxpool.Pool
	log    *slog.Logger
	lease  time.Duration
	epoch  int64
	holder string

	closing   context.Context // ended by Close: a wait for an unknown commit gives up
	markClose context.CancelFunc
	finish    sync.Once

	roundsMu     sync.Mutex
	rounds       map[int]*round // the rounds open, by number
	roundsClosed bool           // Close was called: Round opens none
	// stored counts what the rounds closed so far stored, for Close's line.
	stored struct{ groups, batches, bets atomic.Int64 }

	lost     chan struct{} // closed when the lease is lost
	lostOnce sync.Once
	lostErr  error

	// pause, set by tests, runs in every writing transaction at "begin"
	// (before it) and at "commit" (after its fence, before COMMIT): a test
	// pauses the central there.
	pause func(stage string)
	// recordTimeout is recordTimeout, shortened by tests.
	recordTimeout time.Duration

	// txTurn lets one writing transaction run at a time (a channel, so
	// that waiting for it honours a context): a commit's outcome is read
	// back from the lease's count of commits, which no other transaction
	// of this central may move before it is resolved.
	txTurn chan struct{}
	// down notes the database's outages, for one warning each way.
	down *outage

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
	plainOnThisMachine(&cfg.ConnConfig.Config, url)
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
		txTurn:        make(chan struct{}, 1),
		down:          &outage{log: opts.Log, forget: pool.Reset},
		renewStop:     make(chan struct{}), renewDone: make(chan struct{}),
		live: &liveness{cfg: cfg.ConnConfig.Copy()},
	}
	s.round = newRound(s, 1)
	if err := s.open(ctx, opts); err != nil {
		s.live.drop()
		go pool.Close() // see closePool
		markClose()
		return nil, err
	}
	s.round.start()
	s.rounds = map[int]*round{1: s.round}
	go s.renewLoop()
	return s, nil
}

func (s *Store) open(ctx context.Context, opts Options) error {
	// Before the lease: the database's version and encoding, and the
	// schema. A database that goes away meanwhile is waited for, once it
	// has answered (or from the start, with WaitForDatabase).
	reached := opts.WaitForDatabase
	for wait := s.standbyPoll(); ; wait = min(2*wait, maxRetryWait) {
		err := s.prepare(ctx, &reached)
		if err == nil {
			s.down.answered()
			break
		}
		if ctx.Err() != nil {
			return fmt.Errorf("store: standing by: %w", ctx.Err())
		}
		if !reached || !unavailable(err) {
			return err
		}
		s.down.lost("opening the store", err)
		if err := sleep(ctx, wait); err != nil {
			return fmt.Errorf("store: standing by: %w", err)
		}
	}
	if err := s.takeLease(ctx, opts.OnStandby); err != nil {
		return err
	}
	for wait := s.standbyPoll(); ; wait = min(2*wait, maxRetryWait) {
		err := s.readRecords(ctx, s.pool)
		if err == nil {
			s.down.answered()
			return nil
		}
		if ctx.Err() != nil || !unavailable(err) {
			s.releaseLease(context.Background())
			return err
		}
		s.down.lost("reading the round's records", err)
		if sleep(ctx, wait) != nil {
			s.releaseLease(context.Background())
			return fmt.Errorf("store: %w", ctx.Err())
		}
	}
}

// maxRetryWait is the longest pause between two attempts to reach a
// database that went away: a failover's new primary is found within it.
const maxRetryWait = time.Second

// sleep waits d, or returns ctx's error when ctx ends first.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// prepare checks the database's version and encoding, and migrates its
// schema. It sets reached once the database has answered (an error of its
// own is an answer: it is there, starting up, say).
func (s *Store) prepare(ctx context.Context, reached *bool) error {
	var version int
	var encoding string
	err := s.pool.QueryRow(ctx, `SELECT current_setting('server_version_num')::int, current_setting('server_encoding')`).Scan(&version, &encoding)
	var pgErr *pgconn.PgError
	if err == nil || errors.As(err, &pgErr) || answeredAsReplica(err) {
		*reached = true
	}
	if err != nil {
		return dbErr("connecting to the database", err)
	}
	if version < 130000 {
		return fmt.Errorf("store: the database is PostgreSQL %d; this central needs 13 or newer", version/10000)
	}
	if encoding != "UTF8" {
		return fmt.Errorf("store: the database's encoding is %s; names are UTF-8, create it with ENCODING 'UTF8'", encoding)
	}
	from, to, err := migrate(ctx, s.pool)
	if err != nil {
		if unavailable(err) || errors.As(err, &pgErr) {
			return dbErr("migrating the schema", err)
		}
		return fmt.Errorf("store: %w", err)
	}
	if from != to {
		s.log.Info(logattr.MigrateStore, logattr.ResultKey, logattr.Success, "from_version", from, "to_version", to)
	}
	return nil
}

// answeredAsReplica reports whether a server answered but was refused as
// read-only by target_session_attrs=read-write: a failover under way (its
// primary lost, its replica not yet promoted), not a wrong address. pgx
// says so only in words.
func answeredAsReplica(err error) bool {
	return err != nil && strings.Contains(err.Error(), "ValidateConnect failed")
}

// write stores a group of rows with one COPY (sql) in one fenced
// transaction.
func (s *Store) write(sql string, rows [][]byte) error {
	start := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), commitTimeout)
	defer cancel()
	r := &copyReader{rows: rows}
	err := s.fencedTx(ctx, func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Conn().PgConn().CopyFrom(ctx, r, sql)
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

// Close stops taking batches, in every round, commits those already
// submitted, gives the lease up (a standby takes over at once rather than
// when it expires), and closes the connections. It returns an error only
// if ctx ends before the queued batches are answered; a later Close may
// wait again.
func (s *Store) Close(ctx context.Context) error {
	s.markClose()
	if err := s.closeRounds(ctx); err != nil {
		s.log.Error(logattr.FlushStore, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
		return err
	}
	s.finish.Do(func() {
		s.stopRenewal()
		s.log.Info(logattr.FlushStore, logattr.ResultKey, logattr.Success, logattr.BetsKey, s.stored.bets.Load(),
			"batches", s.stored.batches.Load(), "commits", s.stored.groups.Load())
		if !s.fenced() {
			s.releaseLease(ctx)
		}
		s.closePool(ctx)
		s.down.closed()
	})
	return nil
}

// closePool closes the pool's connections, waiting for them until ctx
// ends: pgx gives a connection it gave up on (a query that timed out on a
// database that froze, say) up to 15 s to hear back from the server,
// which a database that does not answer never does, and the shutdown of
// a central has a bound of its own. What is left closes in the
// background.
func (s *Store) closePool(ctx context.Context) {
	closed := make(chan struct{})
	go func() {
		s.pool.Close()
		close(closed)
	}()
	select {
	case <-closed:
	case <-ctx.Done():
	}
}

// ObserveSyncs has fn told how long each group's commit took: a commit is
// this store's point of durability, as an fsync is the file's.
func (s *Store) ObserveSyncs(fn func(time.Duration)) { s.onCommit.Store(&fn) }
