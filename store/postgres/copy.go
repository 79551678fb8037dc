package postgres

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"sync"
	"unicode/utf8"

	"quiniela/lottery"
	"quiniela/store/groupcommit"
)

// A batch is one row of table batches (schema version 6): its agency, how
// many bets it holds, and its bets in two columns: names, a line a bet of
// its first and last name separated by a tab, and fixed, fixedSize bytes a
// bet of its other fields (view bets reads them back a row a bet). A row a
// bet cost the database about 3 µs a row, nearly all of a round's time on
// two cores; a row a batch costs it a row's overhead once in 63. What is
// left is a cost a byte (about 11 µs a KiB, docs/benchmarks.md), so the
// fields that are numbers are stored as numbers: 31 bytes a bet of the
// course's files rather than 46 as lines of text (version 5).
//
// The rows are encoded in Submit, in the submitter's goroutine, in
// PostgreSQL's binary COPY format: the writer only reads them in turn
// between a header and a trailer.

// batchColumns is the column list every COPY and every Scan uses, in the
// order of a row's fields.
const batchColumns = "agency, bets, names, fixed"

// copySQL is round 1's COPY: its rows leave the round to the column's
// default, 1, so that a single round is stored as it was before rounds.
// roundCopySQL is a later round's, whose rows start with their round.
const (
	copySQL      = "COPY batches (" + batchColumns + ") FROM STDIN (FORMAT binary)"
	roundCopySQL = "COPY batches (round, " + batchColumns + ") FROM STDIN (FORMAT binary)"
)

var (
	copyHeader  = []byte("PGCOPY\n\xff\r\n\x00\x00\x00\x00\x00\x00\x00\x00\x00")
	copyTrailer = []byte{0xff, 0xff}
)

// rowFields is a row's count of fields in round 1's COPY; a later round's
// rows have one more, their round.
const rowFields = 4

// A bet's fixed fields, big-endian: its document, its birthdate as the
// number YYYYMMDD (lottery.Day), and its number.
const (
	documentSize  = 4
	birthdateSize = 4
	numberSize    = 2
	fixedSize     = documentSize + birthdateSize + numberSize
)

// maxRowBets is the most bets one row holds: view bets numbers a bet by
// its row's id times 65,536 plus its line. A batch of more (no agency
// sends one: a frame holds 8 KiB) is stored as several rows.
const maxRowBets = 1<<16 - 1

// The separators of a row's names: no name holds either (the lottery
// refuses control characters, and so does checkText).
const (
	nameSeparator = '\t'
	lineEnd       = '\n'
)

// copyRows is how round n's batches are encoded: for copySQL in round 1,
// for roundCopySQL in any other.
func copyRows(n int) (encode groupcommit.Encode, sql string) {
	sql = roundCopySQL
	if n == 1 {
		sql = copySQL
	}
	return func(dst []byte, bets []lottery.Bet) ([]byte, error) { return appendRows(dst, bets, n) }, sql
}

// appendRows appends the rows of bets to dst: a row for each run of one
// agency's bets, of at most maxRowBets, each starting with its round but
// in round 1. It refuses the batch whole if a bet would not read back as
// it was (a control character in a name, a birthdate not YYYY-MM-DD:
// lottery.Bet.Validate lets neither through).
func appendRows(dst []byte, bets []lottery.Bet, round int) ([]byte, error) {
	start := len(dst)
	for len(bets) > 0 {
		n := 1
		for n < len(bets) && n < maxRowBets && bets[n].Agency == bets[0].Agency {
			n++
		}
		var err error
		if dst, err = appendRow(dst, bets[:n], round); err != nil {
			return dst[:start], err
		}
		bets = bets[n:]
	}
	return dst, nil
}

// appendRow appends one row: bets are one agency's.
func appendRow(dst []byte, bets []lottery.Bet, round int) ([]byte, error) {
	if round == 1 {
		dst = binary.BigEndian.AppendUint16(dst, rowFields)
	} else {
		dst = binary.BigEndian.AppendUint16(dst, rowFields+1)
		dst = appendInt32(dst, int32(round))
	}
	dst = appendInt32(dst, int32(bets[0].Agency))
	dst = appendInt32(dst, int32(len(bets)))
	length := len(dst)
	dst = binary.BigEndian.AppendUint32(dst, 0) // the names' length, once known
	for _, b := range bets {
		if err := checkNames(b); err != nil {
			return dst, fmt.Errorf("store: bet of document %d: %w", b.Document, err)
		}
		dst = append(dst, b.FirstName...)
		dst = append(dst, nameSeparator)
		dst = append(dst, b.LastName...)
		dst = append(dst, lineEnd)
	}
	binary.BigEndian.PutUint32(dst[length:], uint32(len(dst)-length-4))
	dst = binary.BigEndian.AppendUint32(dst, uint32(fixedSize*len(bets)))
	for _, b := range bets {
		day, err := lottery.ParseDate(b.Birthdate)
		if err != nil {
			return dst, fmt.Errorf("store: bet of document %d: birthdate %w", b.Document, err)
		}
		dst = binary.BigEndian.AppendUint32(dst, b.Document)
		dst = binary.BigEndian.AppendUint32(dst, uint32(day))
		dst = binary.BigEndian.AppendUint16(dst, b.Number)
	}
	return dst, nil
}

func appendInt32(dst []byte, v int32) []byte {
	dst = binary.BigEndian.AppendUint32(dst, 4)
	return binary.BigEndian.AppendUint32(dst, uint32(v))
}

// checkNames reports what would keep b's names from reading back as they
// are: a name the database would refuse (not UTF-8) or that holds a
// separator. A batch the database refused would fail its whole group,
// other agencies' batches with it.
func checkNames(b lottery.Bet) error {
	if err := checkText(b.FirstName); err != nil {
		return fmt.Errorf("first name %q %w", b.FirstName, err)
	}
	if err := checkText(b.LastName); err != nil {
		return fmt.Errorf("last name %q %w", b.LastName, err)
	}
	return nil
}

var errControl = errors.New("holds a control character")

// checkText refuses a control character (the separators among them) and
// text that is not UTF-8.
func checkText(s string) error {
	ascii := true
	for i := 0; i < len(s); i++ {
		switch c := s[i]; {
		case c < 0x20 || c == 0x7f:
			return errControl
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	if !ascii && !utf8.ValidString(s) {
		return errors.New("is not UTF-8")
	}
	return nil
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
