package postgres

import (
	"encoding/binary"
	"fmt"
	"io"
	"sync"
	"time"

	"quiniela/lottery"
	"quiniela/store/groupcommit"
)

// The rows of a batch are encoded in Submit, in the submitter's goroutine,
// in PostgreSQL's binary COPY format: the writer only reads them in turn
// between a header and a trailer. Text fields go as their bytes, integers
// big-endian, a date as days since 2000-01-01.

// copyColumns is the column list every COPY and every Scan uses, in the
// order of a row's fields.
const copyColumns = "agency, first_name, last_name, document, birthdate, number"

// copySQL is round 1's COPY: its rows leave the round to the column's
// default, 1, so that a single round is stored as it was before rounds.
// roundCopySQL is a later round's, whose rows start with their round.
const (
	copySQL      = "COPY bets (" + copyColumns + ") FROM STDIN (FORMAT binary)"
	roundCopySQL = "COPY bets (round, " + copyColumns + ") FROM STDIN (FORMAT binary)"
)

var (
	copyHeader  = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

const copyFields = 6

// postgresEpoch is day 0 of PostgreSQL's date.
var postgresEpoch = time.Date(2000, 1, 1, 0, 0, 0, 0, time.UTC)

const secondsPerDay = 24 * 60 * 60

// appendCopyRows appends the binary COPY rows of bets to dst, for
// copySQL. It refuses a bet whose birthdate is not YYYY-MM-DD
// (lottery.Bet.Validate never lets one through).
func appendCopyRows(dst []byte, bets []lottery.Bet) ([]byte, error) {
	return appendRows(dst, bets, 1)
}

// copyRows is how round n's batches are encoded: for copySQL in round 1,
// for roundCopySQL in any other.
func copyRows(n int) (encode groupcommit.Encode, sql string) {
	if n == 1 {
		return appendCopyRows, copySQL
	}
	return func(dst []byte, bets []lottery.Bet) ([]byte, error) { return appendRows(dst, bets, n) }, roundCopySQL
}

// appendRows appends the rows of bets, each starting with its round but
// in round 1.
func appendRows(dst []byte, bets []lottery.Bet, round int) ([]byte, error) {
	start := len(dst)
	for _, b := range bets {
		days, err := dateDays(b.Birthdate)
		if err != nil {
			return dst[:start], fmt.Errorf("store: bet of document %d: %w", b.Document, err)
		}
		if round == 1 {
			dst = binary.BigEndian.AppendUint16(dst, copyFields)
		} else {
			dst = binary.BigEndian.AppendUint16(dst, copyFields+1)
			dst = appendInt32(dst, int32(round))
		}
		dst = appendInt32(dst, int32(b.Agency))
		dst = appendText(dst, b.FirstName)
		dst = appendText(dst, b.LastName)
		dst = binary.BigEndian.AppendUint32(dst, 8)
		dst = binary.BigEndian.AppendUint64(dst, uint64(b.Document))
		dst = appendInt32(dst, days)
		dst = appendInt32(dst, int32(b.Number))
	}
	return dst, nil
}

func appendInt32(dst []byte, v int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 4)
	return binary.BigEndian.AppendUint32(dst, uint32(v))
}

func appendText(dst []byte, s string) []byte {
	dst = binary.BigEndian.AppendUint32(dst, uint32(len(s)))
	return append(dst, s...)
}

// dateDays turns YYYY-MM-DD into days since PostgreSQL's epoch, in the
// proleptic Gregorian calendar both Go and PostgreSQL use.
func dateDays(s string) (int32, error) {
	day, err := lottery.ParseDate(s)
	if err != nil {
		return 0, fmt.Errorf("birthdate %w", err)
	}
	y, m, d := day.Date()
	t := time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
	// Seconds, not t.Sub: a Duration holds only ±292 years.
	return int32((t.Unix() - postgresEpoch.Unix()) / secondsPerDay), nil
}

// copyReader reads a group as one binary COPY stream: header, every
// batch's rows, trailer. Once stopped it reads nothing more.
type copyReader struct {
	mu      sync.Mutex
	rows    [][]byte
	header  bool // sent
	part    int  // the batch being read; len(rows): the trailer
	off     int  // within the part
	stopped bool
}

func (r *copyReader) Read(p []byte) (int, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for n < len(p) && !r.stopped {
		var cur []byte
		switch {
		case !r.header:
			cur = copyHeader
		case r.part < len(r.rows):
			cur = r.rows[r.part]
		case r.part == len(r.rows):
			cur = copyTrailer
		default:
			r.stopped = true
			continue
		}
		k := copy(p[n:], cur[r.off:])
		n += k
		r.off += k
		if r.off == len(cur) {
			r.off = 0
			if !r.header {
				r.header = true
			} else {
				r.part++
			}
		}
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// stop waits for a Read in progress and makes every later one read EOF.
func (r *copyReader) stop() {
	r.mu.Lock()
	r.stopped = true
	r.mu.Unlock()
}
