package postgres

import (
	"context"
	"errors"
	"fmt"
	"math"
	"quiniela/lottery"
	"quiniela/store"
	"slices"
	"time"

	"github.com/jackc/pgx/v5"
)

// The round's records: its bets (Scan), which agencies ended, and whether
// the draw was announced, read back when the store opens and written in
// fenced transactions.

// readRecords reads which agencies have ended and whether the draw was
// announced.
func (s *Store) readRecords(ctx context.Context) error {
	var ended []int32
	var drawAt *time.Time
	err := s.pool.QueryRow(ctx, `SELECT coalesce(array_agg(agency ORDER BY agency), '{}'), (SELECT announced_at FROM draw) FROM ends`).Scan(&ended, &drawAt)
	if err != nil {
		return dbErr("reading the round's records", err)
	}
	s.ended = s.ended[:0]
	for _, a := range ended {
		s.ended = append(s.ended, uint16(a))
	}
	s.drawn, s.drawAt = drawAt != nil, time.Time{}
	if drawAt != nil {
		s.drawAt = *drawAt
	}
	return nil
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
	var at time.Time
	if err := s.record(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO draw DEFAULT VALUES ON CONFLICT DO NOTHING`); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT announced_at FROM draw`).Scan(&at)
	}); err != nil {
		return err
	}
	s.mu.Lock()
	s.drawn, s.drawAt = true, at
	s.mu.Unlock()
	return nil
}

// DrawTime is when the draw's announcement was recorded, the zero time
// before.
func (s *Store) DrawTime() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.drawAt
}

// FixClosing records closes as the round's closing instant unless one is
// recorded (the one row of closing), and returns the one recorded: of two
// centrals that fix it at once, the first to commit wins.
func (s *Store) FixClosing(closes time.Time) (time.Time, error) {
	var fixed time.Time
	err := s.record(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO closing (closes_at) VALUES ($1) ON CONFLICT DO NOTHING`, closes); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT closes_at FROM closing`).Scan(&fixed)
	})
	if err != nil {
		return time.Time{}, err
	}
	return fixed, nil
}

// FixedClosing is the round's closing instant once fixed (the one row of
// closing), the zero time before.
func (s *Store) FixedClosing() (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), s.recordTimeout)
	defer cancel()
	var fixed time.Time
	err := s.pool.QueryRow(ctx, `SELECT closes_at FROM closing`).Scan(&fixed)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, dbErr("reading the round's closing instant", err)
	}
	return fixed, nil
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
		return dbErr("reading the bets", err)
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
		return dbErr("reading the bets", err)
	}
	return nil
}
