package postgres

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"

	"quiniela/lottery"
	"quiniela/store"
)

// A round's records: its bets (Scan), which agencies ended, whether and
// when the draw was announced, and its closing instant, each a row of
// its round, read back when the round opens and written in fenced
// transactions.

// querier is a pool or a transaction: a round's records are read by
// either.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
}

// readRecords reads which agencies have ended and whether (and when) the
// draw was announced.
func (r *round) readRecords(ctx context.Context, q querier) error {
	var ended []int32
	var drawAt *time.Time
	err := q.QueryRow(ctx, `SELECT coalesce(array_agg(agency ORDER BY agency), '{}'), (SELECT announced_at FROM draw WHERE round = $1)
		FROM ends WHERE round = $1`, r.n).Scan(&ended, &drawAt)
	if err != nil {
		return dbErr(fmt.Sprintf("reading round %d's records", r.n), err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ended = r.ended[:0]
	for _, a := range ended {
		r.ended = append(r.ended, uint16(a))
	}
	r.drawn, r.drawAt = drawAt != nil, time.Time{}
	if drawAt != nil {
		r.drawAt = *drawAt
	}
	return nil
}

// RecordEnd makes durable that the agency sent its end.
func (r *round) RecordEnd(agency uint16) error {
	if err := r.record(func(ctx context.Context, tx pgx.Tx) error {
		_, err := tx.Exec(ctx, `INSERT INTO ends (round, agency) VALUES ($1, $2) ON CONFLICT DO NOTHING`, r.n, int32(agency))
		return err
	}); err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if i, found := slices.BinarySearch(r.ended, agency); !found {
		r.ended = slices.Insert(r.ended, i, agency)
	}
	return nil
}

// Ended lists the agencies whose end is recorded, in order.
func (r *round) Ended() []uint16 {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.ended)
}

// RecordDraw makes durable that the draw was announced.
func (r *round) RecordDraw() error {
	var at time.Time
	if err := r.record(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO draw (round) VALUES ($1) ON CONFLICT DO NOTHING`, r.n); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT announced_at FROM draw WHERE round = $1`, r.n).Scan(&at)
	}); err != nil {
		return err
	}
	r.mu.Lock()
	r.drawn, r.drawAt = true, at
	r.mu.Unlock()
	return nil
}

// DrawTime is when the draw's announcement was recorded, the zero time
// before.
func (r *round) DrawTime() time.Time {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drawAt
}

// Drawn reports whether the draw's announcement is recorded.
func (r *round) Drawn() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.drawn
}

// FixClosing records closes as the round's closing instant unless one is
// recorded (the round's row of closing), and returns the one recorded: of
// two centrals that fix it at once, the first to commit wins.
func (r *round) FixClosing(closes time.Time) (time.Time, error) {
	var fixed time.Time
	err := r.record(func(ctx context.Context, tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, `INSERT INTO closing (round, closes_at) VALUES ($1, $2) ON CONFLICT DO NOTHING`, r.n, closes); err != nil {
			return err
		}
		return tx.QueryRow(ctx, `SELECT closes_at FROM closing WHERE round = $1`, r.n).Scan(&fixed)
	})
	if err != nil {
		return time.Time{}, err
	}
	return fixed, nil
}

// FixedClosing is the round's closing instant once fixed (the round's row
// of closing), the zero time before.
func (r *round) FixedClosing() (time.Time, error) {
	ctx, cancel := context.WithTimeout(context.Background(), r.db.recordTimeout)
	defer cancel()
	var fixed time.Time
	err := r.db.pool.QueryRow(ctx, `SELECT closes_at FROM closing WHERE round = $1`, r.n).Scan(&fixed)
	if errors.Is(err, pgx.ErrNoRows) {
		return time.Time{}, nil
	}
	if err != nil {
		return time.Time{}, dbErr(fmt.Sprintf("reading round %d's closing instant", r.n), err)
	}
	return fixed, nil
}

// record runs fn, the writing of one of the round's records, in a fenced
// transaction bounded by the record timeout; once the round is closed it
// refuses with store.ErrClosed.
func (r *round) record(fn func(ctx context.Context, tx pgx.Tx) error) error {
	if r.q.Closed() {
		return store.ErrClosed
	}
	return r.db.record(fn)
}

// record runs fn in a fenced transaction bounded by the record timeout.
func (s *Store) record(fn func(ctx context.Context, tx pgx.Tx) error) error {
	ctx, cancel := context.WithTimeout(context.Background(), s.recordTimeout)
	defer cancel()
	return s.fencedTx(ctx, fn)
}

// Scan calls fn with every bet of the round committed when it starts, in
// the order of the batches' ids and their lines: each agency's in the
// order submitted.
func (r *round) Scan(fn func(lottery.Bet) error) error {
	ctx := context.Background()
	// Without an index (it would slow every insert), the round's rows are
	// found by reading every round's, and their order comes from a sort.
	rows, err := r.db.pool.Query(ctx, `SELECT id, `+batchColumns+` FROM batches WHERE round = $1 ORDER BY id`, r.n)
	if err != nil {
		return dbErr("reading the bets", err)
	}
	defer rows.Close()
	var (
		id            int64
		agency, count int32
		names         string
		fixed         []byte
	)
	for rows.Next() {
		if err := rows.Scan(&id, &agency, &count, &names, &fixed); err != nil {
			return fmt.Errorf("store: reading the bets: %w", err)
		}
		if err := scanBatch(agency, count, names, fixed, fn); err != nil {
			return fmt.Errorf("store: batch id %d: %w", id, err)
		}
	}
	if err := rows.Err(); err != nil {
		return dbErr("reading the bets", err)
	}
	return nil
}

// scanBatch calls fn with each bet of a batch's row. The store writes
// only rows that read back; one written by hand may not, and must not
// wrap around or be read in part without a word.
func scanBatch(agency, count int32, names string, fixed []byte, fn func(lottery.Bet) error) error {
	if agency < 0 || agency > math.MaxUint16 {
		return fmt.Errorf("agency %d is out of range", agency)
	}
	if count < 0 {
		return fmt.Errorf("its column bets says %d", count)
	}
	if count > maxRowBets {
		return fmt.Errorf("its column bets says %d, more than a row of this store ever holds (%d: view bets would number them twice)", count, maxRowBets)
	}
	if len(fixed) != int(count)*fixedSize {
		return fmt.Errorf("its column fixed holds %d bytes, and its column bets says %d bets (%d bytes)", len(fixed), count, int(count)*fixedSize)
	}
	birthdates, err := formatBirthdates(fixed)
	if err != nil {
		return err
	}
	n := 0
	for line := range strings.Lines(names) {
		if n == int(count) {
			return fmt.Errorf("it holds names for more bets than its column bets says (%d)", count)
		}
		text, ended := strings.CutSuffix(line, string(lineEnd))
		first, last, separated := strings.Cut(text, string(nameSeparator))
		if !ended || !separated {
			return fmt.Errorf("line %d of its names is not a first and a last name separated by a tab and ended by a line break", n+1)
		}
		f := fixed[n*fixedSize:]
		b := lottery.Bet{
			Agency:    uint16(agency),
			FirstName: first,
			LastName:  last,
			Document:  binary.BigEndian.Uint32(f),
			Birthdate: birthdates[n*lottery.DateLen : (n+1)*lottery.DateLen],
			Number:    binary.BigEndian.Uint16(f[documentSize+birthdateSize:]),
		}
		n++
		if err := checkNames(b); err != nil {
			return fmt.Errorf("bet %d: %w", n, err)
		}
		if _, err := lottery.ParseDate(b.Birthdate); err != nil {
			return fmt.Errorf("bet %d: birthdate %w", n, err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
	if n != int(count) {
		return fmt.Errorf("it holds names for %d bets, and its column bets says %d", n, count)
	}
	return nil
}

// formatBirthdates returns the birthdates of a row's fixed fields as
// YYYY-MM-DD, one after the other in one string (one allocation a row,
// not one a bet). A number that has more than four digits of year is
// refused; a calendar date is checked by the caller.
func formatBirthdates(fixed []byte) (string, error) {
	out := make([]byte, 0, len(fixed)/fixedSize*lottery.DateLen)
	for i := 0; i+fixedSize <= len(fixed); i += fixedSize {
		day := binary.BigEndian.Uint32(fixed[i+documentSize:])
		if day > 9999_12_31 {
			return "", fmt.Errorf("bet %d: birthdate %d is not a day as YYYYMMDD", i/fixedSize+1, day)
		}
		out = appendDigits(out, day/10000, 4)
		out = append(out, '-')
		out = appendDigits(out, day/100%100, 2)
		out = append(out, '-')
		out = appendDigits(out, day%100, 2)
	}
	return string(out), nil
}

// appendDigits appends v's last width digits, with leading zeros.
func appendDigits(dst []byte, v uint32, width int) []byte {
	start := len(dst)
	dst = append(dst, make([]byte, width)...)
	for i := len(dst) - 1; i >= start; i-- {
		dst[i] = byte('0' + v%10)
		v /= 10
	}
	return dst
}
