package lottery

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

var today = DayOf(time.Date(2026, 11, 28, 15, 0, 0, 0, time.UTC))

func valid() Bet {
	return Bet{Agency: 1, FirstName: "Santiago Lionel", LastName: "Lorca", Document: 30904465, Birthdate: "1999-03-17", Number: 7574}
}

func TestValidate(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		change func(*Bet)
		want   error
	}{
		{"a complete bet is valid", func(*Bet) {}, nil},
		{"accented names are valid", func(b *Bet) { b.FirstName, b.LastName = "Ñandú", "Fornerón" }, nil},
		{"names filling their fields exactly are valid", func(b *Bet) {
			b.FirstName, b.LastName = strings.Repeat("a", MaxFirstNameBytes), strings.Repeat("b", MaxLastNameBytes)
		}, nil},
		{"a bettor born today is valid", func(b *Bet) { b.Birthdate = "2026-11-28" }, nil},
		{"number zero and number 9999 are valid", func(b *Bet) { b.Number = 9999 }, nil},
		{"agency zero is out of range", func(b *Bet) { b.Agency = 0 }, ErrAgency},
		{"an agency beyond AGENCIES is out of range", func(b *Bet) { b.Agency = 6 }, ErrAgency},
		{"an empty first name is refused", func(b *Bet) { b.FirstName = "" }, ErrFirstName},
		{"a first name over 53 bytes is refused", func(b *Bet) { b.FirstName = strings.Repeat("é", 27) }, ErrFirstName},
		{"a first name that is not UTF-8 is refused", func(b *Bet) { b.FirstName = "Jos\xe9" }, ErrFirstName},
		{"a last name over 52 bytes is refused", func(b *Bet) { b.LastName = strings.Repeat("a", 53) }, ErrLastName},
		{"a last name with a newline is refused", func(b *Bet) { b.LastName = "Lor\nca" }, ErrLastName},
		{"a last name with DEL, the one control character above the space, is refused", func(b *Bet) { b.LastName = "Lor\x7fca" }, ErrLastName},
		{"a first name with a tab is refused", func(b *Bet) { b.FirstName = "Santiago\tLionel" }, ErrFirstName},
		{"a first name with a control character beyond ASCII is refused", func(b *Bet) { b.FirstName = "Santiago\u0085" }, ErrFirstName},
		{"a name of printable ASCII only, a tilde last, is valid", func(b *Bet) { b.FirstName = "O'Neil ~" }, nil},
		{"document zero is valid", func(b *Bet) { b.Document = 0 }, nil},
		{"the largest document is valid", func(b *Bet) { b.Document = MaxDocument }, nil},
		{"February 30th is not a date", func(b *Bet) { b.Birthdate = "1999-02-30" }, ErrBirthdate},
		{"a birthdate in another layout is refused", func(b *Bet) { b.Birthdate = "17/03/1999" }, ErrBirthdate},
		{"a birthdate tomorrow is in the future", func(b *Bet) { b.Birthdate = "2026-11-29" }, ErrBirthdate},
		{"number 10000 is out of range", func(b *Bet) { b.Number = 10000 }, ErrNumber},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b := valid()
			tt.change(&b)
			err := b.Validate(5, today)
			if !errors.Is(err, tt.want) || (tt.want == nil) != (err == nil) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestOnlyTheWinningNumberWins(t *testing.T) {
	t.Parallel()
	b := valid()
	if !b.Won() {
		t.Fatal("7574 did not win")
	}
	b.Number = 7573
	if b.Won() {
		t.Fatal("7573 won")
	}
}

func TestParseAgencyRecord(t *testing.T) {
	t.Parallel()
	b, err := ParseAgencyRecord(1, []string{"Santiago Lionel", "Lorca", "30904465", "1999-03-17", "7574"})
	if err != nil || b != valid() {
		t.Fatalf("got %+v, %v", b, err)
	}
	if back := b.AppendAgencyRecord(nil); strings.Join(back, ",") != "Santiago Lionel,Lorca,30904465,1999-03-17,7574" {
		t.Fatalf("record back is %q", back)
	}
	for _, tt := range []struct {
		field string
		want  uint32
	}{
		{"00000000", 0},
		{"0", 0},
		{"00000042", 42},
		{"4294967295", MaxDocument},
		{"04294967295", MaxDocument},
	} {
		b, err := ParseAgencyRecord(1, []string{"Name", "Surname", tt.field, "2000-01-01", "7574"})
		if err != nil || b.Document != tt.want {
			t.Errorf("document %q: got %d, %v; want %d", tt.field, b.Document, err, tt.want)
		}
		if err := b.Validate(5, today); err != nil {
			t.Errorf("document %q: %v", tt.field, err)
		}
	}
	bad := []struct {
		name   string
		fields []string
		want   error
	}{
		{"a document that is not a number", []string{"a", "b", "12x", "1999-03-17", "1"}, ErrDocument},
		{"a negative document", []string{"a", "b", "-3", "1999-03-17", "1"}, ErrDocument},
		{"a document beyond 32 bits", []string{"a", "b", "4294967296", "1999-03-17", "1"}, ErrDocument},
		{"a signed document", []string{"a", "b", "+3", "1999-03-17", "1"}, ErrDocument},
		{"a number beyond 16 bits", []string{"a", "b", "1", "1999-03-17", "70000"}, ErrNumber},
		{"four fields", []string{"a", "b", "1", "1999-03-17"}, nil},
	}
	for _, tt := range bad {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAgencyRecord(1, tt.fields)
			if err == nil || (tt.want != nil && !errors.Is(err, tt.want)) {
				t.Fatalf("got %v, want %v", err, tt.want)
			}
		})
	}
}

func TestCheckBirthdateAgreesWithTheCalendar(t *testing.T) {
	t.Parallel()
	// Days 0..32 of every month of a common year, a leap year, and two
	// century years (only one of them leap) must be judged exactly as
	// time.Parse judges them, with today far enough ahead to allow them all.
	later := DayOf(time.Date(3000, 1, 1, 0, 0, 0, 0, time.UTC))
	for _, y := range []int{1999, 2000, 1900, 2400} {
		for m := 1; m <= 12; m++ {
			for d := 0; d <= 32; d++ {
				s := fmt.Sprintf("%04d-%02d-%02d", y, m, d)
				_, perr := time.Parse(DateLayout, s)
				err := CheckBirthdate(s, later)
				if (perr == nil) != (err == nil) {
					t.Fatalf("%s: CheckBirthdate says %v, time.Parse says %v", s, err, perr)
				}
			}
		}
	}
	for _, s := range []string{"2000-02-29", "1996-02-29", "2026-11-28"} {
		if err := CheckBirthdate(s, today); err != nil {
			t.Errorf("%s: %v", s, err)
		}
	}
	for _, s := range []string{"1900-02-29", "2100-02-28", "1999-13-01", "+999-01-01", "1999-1-011", "1999/01/01"} {
		if err := CheckBirthdate(s, today); err == nil {
			t.Errorf("%s accepted", s)
		}
	}
}

func TestANameHoldingTheReplacementCharacterIsValidUTF8(t *testing.T) {
	t.Parallel()
	b := valid()
	b.FirstName = "Jos\uFFFD"
	if err := b.Validate(5, today); err != nil {
		t.Fatalf("a literal U+FFFD was refused: %v", err)
	}
}
