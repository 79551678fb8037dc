// Package lottery is the domain of the national lottery: what a bet is, when
// it is valid, and when it wins. It imports none of the project's other
// packages; every one of them builds on it.
package lottery

import (
	"errors"
	"fmt"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// WinningNumber is the number drawn by the central: a bet wins when it
// played this number.
const WinningNumber = 7574

// Field limits of a bet. The name limits are the sizes of the name fields of
// the wire record (docs/protocol.md), so every valid bet can be sent as it is.
const (
	MaxFirstNameBytes = 53
	MaxLastNameBytes  = 52
	MaxNumber         = 9999
	MaxDocument       = 1<<32 - 1
	DateLayout        = "2006-01-02"
	DateLen           = len(DateLayout)
)

// Bet is one bet taken by one agency.
type Bet struct {
	Agency    uint16
	FirstName string
	LastName  string
	Document  uint32
	Birthdate string // YYYY-MM-DD
	Number    uint16
}

// Won reports whether the bet played the winning number.
func (b Bet) Won() bool { return b.Number == WinningNumber }

// Errors returned by Validate; each names the field and the rule broken.
// Use errors.Is to tell them apart.
var (
	ErrAgency    = errors.New("agency out of range")
	ErrFirstName = errors.New("invalid first name")
	ErrLastName  = errors.New("invalid last name")
	ErrDocument  = errors.New("invalid document")
	ErrBirthdate = errors.New("invalid birthdate")
	ErrNumber    = errors.New("invalid number")
)

// Day is a calendar day as the number YYYYMMDD, so that days compare as
// numbers.
type Day int

// DayOf is the day of t, in t's location. Callers take it once per batch
// or file: splitting a time into a date is not free, and every bet needs it.
func DayOf(t time.Time) Day {
	y, m, d := t.Date()
	return Day(y*10000 + int(m)*100 + d)
}

// Validate checks every rule of a bet (docs/protocol.md): the agency is within
// 1..agencies, the names are non-empty valid UTF-8 without control
// characters and fit their fields, the birthdate
// is a real calendar date not after today, and the number is within
// 0..MaxNumber. Every document 0..MaxDocument is valid: the course's own
// files number their bettors from 00000000. today is passed in so that
// tests control the clock.
func (b Bet) Validate(agencies uint16, today Day) error {
	if b.Agency < 1 || b.Agency > agencies {
		return fmt.Errorf("%w: %d is not within 1..%d", ErrAgency, b.Agency, agencies)
	}
	if err := checkName(b.FirstName, MaxFirstNameBytes); err != nil {
		return fmt.Errorf("%w: %v", ErrFirstName, err)
	}
	if err := checkName(b.LastName, MaxLastNameBytes); err != nil {
		return fmt.Errorf("%w: %v", ErrLastName, err)
	}
	if err := CheckBirthdate(b.Birthdate, today); err != nil {
		return fmt.Errorf("%w: %v", ErrBirthdate, err)
	}
	if b.Number > MaxNumber {
		return fmt.Errorf("%w: %d is not within 0..%d", ErrNumber, b.Number, MaxNumber)
	}
	return nil
}

// checkName rejects what cannot be stored and logged faithfully: empty or
// oversized names, invalid UTF-8, and control characters (a newline in a
// name would split a CSV row and a log line).
func checkName(name string, maxBytes int) error {
	switch {
	case name == "":
		return errors.New("empty")
	case len(name) > maxBytes:
		return fmt.Errorf("%d bytes, at most %d fit", len(name), maxBytes)
	}
	if printableASCII(name) {
		return nil // nearly every name: no rune to decode
	}
	for i, r := range name {
		switch {
		case r == utf8.RuneError && !strings.HasPrefix(name[i:], "\uFFFD"):
			return errors.New("not valid UTF-8")
		case r < utf8.RuneSelf && (r < 0x20 || r == 0x7f), r >= utf8.RuneSelf && unicode.IsControl(r):
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// printableASCII says whether every byte of s is printable ASCII (no
// control character, no byte of a multi-byte rune).
func printableASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 || c >= 0x7f {
			return false
		}
	}
	return true
}

// CheckBirthdate reports whether s is a real calendar date in YYYY-MM-DD form
// that is not after today.
func CheckBirthdate(s string, today Day) error {
	day, err := ParseDate(s)
	if err != nil {
		return err
	}
	if day > today {
		return fmt.Errorf("%s is in the future", s)
	}
	return nil
}

// ParseDate reads a real calendar date in YYYY-MM-DD form. It parses by
// hand: it runs for every bet, and time.Parse is several times slower.
func ParseDate(s string) (Day, error) {
	if len(s) != DateLen || s[4] != '-' || s[7] != '-' {
		return 0, fmt.Errorf("%q is not YYYY-MM-DD", s)
	}
	y, okY := digits(s[0:4])
	m, okM := digits(s[5:7])
	d, okD := digits(s[8:10])
	if !okY || !okM || !okD {
		return 0, fmt.Errorf("%q is not YYYY-MM-DD", s)
	}
	if m < 1 || m > 12 || d < 1 || d > daysIn(time.Month(m), y) {
		return 0, fmt.Errorf("%q is not a calendar date", s)
	}
	return Day(y*10000 + m*100 + d), nil
}

// Date splits a day into its year, month and day of the month.
func (d Day) Date() (year int, month time.Month, day int) {
	return int(d) / 10000, time.Month(int(d) / 100 % 100), int(d) % 100
}

// digits parses a run of ASCII digits.
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c < '0' || c > '9' {
			return 0, false
		}
		n = n*10 + int(c-'0')
	}
	return n, true
}

func daysIn(m time.Month, year int) int {
	switch m {
	case time.February:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case time.April, time.June, time.September, time.November:
		return 30
	}
	return 31
}
