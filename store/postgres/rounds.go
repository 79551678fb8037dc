package postgres

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"time"

	"github.com/jackc/pgx/v5"

	"quiniela/store"
	"quiniela/store/groupcommit"
)

// Continuous rounds (store.Rounds): every round's rows are in the one
// database, told apart by their round column, and every round is written
// by the central that holds the one lease. A round is a store.Store of
// its own, with its own queue of batches, whose writer's transactions
// take turns with every other round's (txTurn) and are fenced and counted
// as any other: exactly-once holds across rounds and failovers alike. The
// Store itself is round 1, so that a single-round central is what it was.

// round is one round of the store: its queue of batches, stored as its
// rows, and its records. It shares its Store's connections, lease and
// fencing, and its Close leaves them open.
type round struct {
	db   *Store
	n    int
	q    *groupcommit.Queue // the round's streams, byte budget and writer
	copy string             // the COPY its writer stores a group with

	mu     sync.Mutex
	ended  []uint16
	drawn  bool
	drawAt time.Time

	counted sync.Once // its queue's counts added to its Store's, once closed
}

// newRound returns round n of s, its records not yet read and its queue
// not yet started.
func newRound(s *Store, n int) *round { return &round{db: s, n: n} }

// start starts the round's queue and writer.
func (r *round) start() {
	encode, sql := copyRows(r.n)
	r.copy = sql
	r.q = groupcommit.New(groupcommit.GroupBytes, encode, r.write)
}

// NewStream returns a new stream of the round's batches (store.Stream):
// Submit encodes a batch's COPY rows in the caller's goroutine and queues
// them for the round's writer, waiting while its queue holds its budget
// of rows.
func (r *round) NewStream() store.Stream { return r.q.NewStream() }

// write stores a group of the round's rows.
func (r *round) write(rows [][]byte) error { return r.db.write(r.copy, rows) }

// Close closes the round alone: it stops taking the round's batches and
// records (store.ErrClosed), and waits until the batches already
// submitted are answered, or ctx ends (a later Close may wait again). The
// connections, the lease and every other round stay open: the Store's
// Close closes them, and this round's too.
func (r *round) Close(ctx context.Context) error {
	if err := r.q.Close(ctx); err != nil {
		return err
	}
	r.counted.Do(func() {
		st := r.q.Stats()
		r.db.stored.groups.Add(st.Groups)
		r.db.stored.batches.Add(st.Batches)
		r.db.stored.bets.Add(st.Bets)
	})
	return nil
}

// closeOldRound bounds the close of a round two behind the newest, as
// Round opens the newest: its draw is long done, so nothing is queued.
const closeOldRound = 10 * time.Second

// Round returns round n's store (n >= 1), sharing this Store's
// connections and lease, after recording in a fenced transaction that
// the round was opened (table rounds: Latest is then n, after a restart
// too, even with nothing stored in it) and reading its records in the
// same one. Asked again, it returns the same store. Opening round n
// closes the rounds before n-1, round 1's part of this Store included,
// whose draws are long done; asked for later, such a round is opened
// afresh. The Store's Close closes every round; a round's own Close
// closes that round alone.
func (s *Store) Round(n int) (store.Store, error) {
	if n < 1 {
		return nil, fmt.Errorf("store: round %d: rounds are numbered from 1", n)
	}
	s.roundsMu.Lock()
	r, open := s.rounds[n]
	closed := s.roundsClosed
	s.roundsMu.Unlock()
	switch {
	case closed:
		return nil, fmt.Errorf("store: opening round %d: %w", n, store.ErrClosed)
	case open:
		return r, nil
	}
	// Not under roundsMu: a database that stops answering holds Round up
	// to the record timeout, and must not hold QueuedBytes with it.
	r = newRound(s, n)
	err := s.record(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO rounds (round) VALUES ($1) ON CONFLICT DO NOTHING`, n); err != nil {
			return err
		}
		return r.readRecords(ctx, tx)
	})
	if err != nil {
		return nil, fmt.Errorf("store: opening round %d: %w", n, err)
	}
	s.roundsMu.Lock()
	defer s.roundsMu.Unlock()
	switch other, open := s.rounds[n]; {
	case s.roundsClosed:
		return nil, fmt.Errorf("store: opening round %d: %w", n, store.ErrClosed)
	case open: // opened meanwhile by another caller
		return other, nil
	}
	r.start()
	s.rounds[n] = r
	for old, o := range s.rounds {
		if old < n-1 {
			ctx, cancel := context.WithTimeout(context.Background(), closeOldRound)
			err := o.Close(ctx)
			cancel()
			if err == nil { // else the Store's Close waits for it again
				delete(s.rounds, old)
			}
		}
	}
	return r, nil
}

// Latest is the newest round opened (table rounds) or holding a record,
// 1 when there is none. The bets are not read: without an index, finding
// their newest round would read them all, and a round's bets are stored
// only through its store, which Round opens after recording the round.
func (s *Store) Latest() (int, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.recordTimeout)
	defer cancel()
	var n int
	err := s.pool.QueryRow(ctx, `SELECT greatest(1, (SELECT max(round) FROM rounds), (SELECT max(round) FROM ends),
		(SELECT max(round) FROM draw), (SELECT max(round) FROM closing))`).Scan(&n)
	if err != nil {
		return 0, dbErr("reading the latest round", err)
	}
	return n, nil
}

// closeRounds closes every round still open, and keeps Round from
// opening another one.
func (s *Store) closeRounds(ctx context.Context) error {
	s.roundsMu.Lock()
	s.roundsClosed = true
	open := slices.Collect(maps.Values(s.rounds))
	s.roundsMu.Unlock()
	// Round 1's part of the Store, closed already if Round closed it.
	for _, r := range append(open, s.round) {
		if err := r.Close(ctx); err != nil {
			return fmt.Errorf("round %d: %w", r.n, err)
		}
	}
	return nil
}

// QueuedBytes is how many bytes of rows, of every round, wait for their
// writer.
func (s *Store) QueuedBytes() int64 {
	s.roundsMu.Lock()
	defer s.roundsMu.Unlock()
	var n int64
	for _, r := range s.rounds {
		n += r.q.QueuedBytes()
	}
	return n
}
