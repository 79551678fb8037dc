// Package lottery is the domain of the national lottery: what a bet is, when
// it is valid, and when it wins. It imports none of the project's other
// packages; every one of them builds on it.
package lottery

import (
	"errors"
	"fmt"
	"time"
	"unicode"
	"unicode/utf8"
)

// WinningNumber is the number drawn by the central: a bet wins when it
// played this number.
const WinningNumber = 7574

// Field limits of a bet. The name limits are the sizes of the name fields of
// the wire record (SPEC §4), so every valid bet can be sent as it is.
const (
	MaxFirstNameBytes = 53
	MaxLastNameBytes  = 52
	MaxNumber         = 9999
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

// Validate checks every rule of a bet (SPEC §4): the agency is within
// 1..agencies, the names are non-empty valid UTF-8 without control
// characters and fit their fields, the document is positive, the birthdate
// is a real calendar date not after today, and the number is within
// 0..MaxNumber. today is passed in so that tests control the clock.
func (b Bet) Validate(agencies uint16, today time.Time) error {
	if b.Agency < 1 || b.Agency > agencies {
		return fmt.Errorf("%w: %d is not within 1..%d", ErrAgency, b.Agency, agencies)
	}
	if err := checkName(b.FirstName, MaxFirstNameBytes); err != nil {
		return fmt.Errorf("%w: %v", ErrFirstName, err)
	}
	if err := checkName(b.LastName, MaxLastNameBytes); err != nil {
		return fmt.Errorf("%w: %v", ErrLastName, err)
	}
	if b.Document == 0 {
		return fmt.Errorf("%w: must be greater than 0", ErrDocument)
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
	case !utf8.ValidString(name):
		return errors.New("not valid UTF-8")
	}
	for _, r := range name {
		if unicode.IsControl(r) {
			return fmt.Errorf("control character %U", r)
		}
	}
	return nil
}

// CheckBirthdate reports whether s is a real calendar date in YYYY-MM-DD form
// that is not after today (in today's location).
func CheckBirthdate(s string, today time.Time) error {
	if len(s) != DateLen {
		return fmt.Errorf("%q is not YYYY-MM-DD", s)
	}
	d, err := time.ParseInLocation(DateLayout, s, today.Location())
	if err != nil {
		return fmt.Errorf("%q is not a calendar date", s)
	}
	y, m, dd := today.Date()
	if d.After(time.Date(y, m, dd, 0, 0, 0, 0, today.Location())) {
		return fmt.Errorf("%s is in the future", s)
	}
	return nil
}
