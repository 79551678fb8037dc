package csvfile

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"unicode"
	"unicode/utf8"

	"quiniela/lottery"
)

// The file's rows: a bet as a CSV row of the agency's number and its
// fields, written with standard quoting and read back.

// AppendRows appends the CSV rows of bets to dst, quoted exactly as
// encoding/csv quotes them (it is the hot path of every batch, and
// encoding/csv's writer costs several times more). It refuses a bet with a
// line break in a field, which would split its row and defeat torn-line
// recovery; lottery.Bet.Validate never lets one through.
func AppendRows(dst []byte, bets []lottery.Bet) ([]byte, error) {
	start := len(dst)
	dst = slices.Grow(dst, len(bets)*64)
	for _, b := range bets {
		if hasLineBreak(b.FirstName) || hasLineBreak(b.LastName) || hasLineBreak(b.Birthdate) {
			return dst[:start], fmt.Errorf("store: bet of document %d has a line break in a field", b.Document)
		}
		dst = strconv.AppendUint(dst, uint64(b.Agency), 10)
		dst = append(dst, ',')
		dst = appendField(dst, b.FirstName)
		dst = append(dst, ',')
		dst = appendField(dst, b.LastName)
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(b.Document), 10)
		dst = append(dst, ',')
		dst = appendField(dst, b.Birthdate)
		dst = append(dst, ',')
		dst = strconv.AppendUint(dst, uint64(b.Number), 10)
		dst = append(dst, '\n')
	}
	return dst, nil
}

// appendField appends one CSV field, quoted when encoding/csv would quote
// it: it holds a comma, a quote or a line break, begins with a space, or is
// the PostgreSQL end marker \. (quotes inside are doubled).
func appendField(dst []byte, f string) []byte {
	if !needsQuotes(f) {
		return append(dst, f...)
	}
	dst = append(dst, '"')
	for i := 0; i < len(f); i++ {
		if f[i] == '"' {
			dst = append(dst, '"')
		}
		dst = append(dst, f[i])
	}
	return append(dst, '"')
}

func needsQuotes(f string) bool {
	if f == "" {
		return false
	}
	if f == `\.` {
		return true
	}
	for i := 0; i < len(f); i++ {
		switch f[i] {
		case ',', '"', '\r', '\n':
			return true
		}
	}
	r, _ := utf8.DecodeRuneInString(f)
	return unicode.IsSpace(r)
}

func hasLineBreak(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] == '\r' || s[i] == '\n' {
			return true
		}
	}
	return false
}

// Read streams the bets of a bet file from r to fn. A malformed row is an
// error naming its line.
func Read(r io.Reader, fn func(lottery.Bet) error) error {
	cr := csv.NewReader(r)
	cr.FieldsPerRecord = Fields
	cr.ReuseRecord = true
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("store: %w", err)
		}
		b, err := parseRow(rec)
		if err != nil {
			line, _ := cr.FieldPos(0)
			return fmt.Errorf("store: line %d: %w", line, err)
		}
		if err := fn(b); err != nil {
			return err
		}
	}
}

func parseRow(rec []string) (lottery.Bet, error) {
	agency, err := strconv.ParseUint(rec[0], 10, 16)
	if err != nil {
		return lottery.Bet{}, fmt.Errorf("agency %q is not a number", rec[0])
	}
	return lottery.ParseAgencyRecord(uint16(agency), rec[1:])
}
