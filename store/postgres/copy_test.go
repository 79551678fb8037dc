package postgres

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"quiniela/lottery"
)

// rowColumns is the columns of round 1's row at the start of rows, and
// what follows it.
func rowColumns(t *testing.T, rows []byte) (agency, count int32, names string, fixed, rest []byte) {
	t.Helper()
	// fields, then agency and count (length and value each), then the
	// names' length and the names, then the fixed fields' length and
	// those.
	const head = 2 + 8 + 8 + 4
	if len(rows) < head || binary.BigEndian.Uint16(rows) != rowFields {
		t.Fatalf("not a row of round 1: % x", rows)
	}
	agency, count = int32(binary.BigEndian.Uint32(rows[6:])), int32(binary.BigEndian.Uint32(rows[14:]))
	n := int(binary.BigEndian.Uint32(rows[head-4:]))
	if len(rows) < head+n+4 {
		t.Fatalf("the row's names are %d bytes, its length says %d", len(rows)-head, n)
	}
	names, rows = string(rows[head:head+n]), rows[head+n:]
	m := int(binary.BigEndian.Uint32(rows))
	if len(rows) < 4+m {
		t.Fatalf("the row's fixed fields are %d bytes, their length says %d", len(rows)-4, m)
	}
	return agency, count, names, rows[4 : 4+m], rows[4+m:]
}

func TestBatchesAreStoredARowAnAgencyRunOfAtMostMaxRowBets(t *testing.T) {
	many := make([]lottery.Bet, maxRowBets+2)
	for i := range many {
		many[i] = lottery.Bet{Agency: 3, FirstName: "Ana", LastName: "Pérez", Document: uint32(i), Birthdate: "1990-01-02", Number: uint16(i)}
	}
	many[len(many)-1].Agency = 4
	for _, tt := range []struct {
		name string
		bets []lottery.Bet
		want []int // bets per row
	}{
		{"a batch of one agency is one row", many[:63], []int{63}},
		{"a batch of more than a row holds is split", many[:maxRowBets+1], []int{maxRowBets, 1}},
		{"each agency's run of bets is a row of its own", many[maxRowBets-1:], []int{2, 1}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := appendRows(nil, tt.bets, 1)
			if err != nil {
				t.Fatal(err)
			}
			var got []lottery.Bet
			var sizes []int
			for len(rows) > 0 {
				agency, count, names, fixed, rest := rowColumns(t, rows)
				rows = rest
				sizes = append(sizes, int(count))
				if err := scanBatch(agency, count, names, fixed, func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
					t.Fatal(err)
				}
			}
			if !slices.Equal(sizes, tt.want) || !slices.Equal(got, tt.bets) {
				t.Fatalf("rows of %v bets, reading back %d bets; want rows of %v reading back the %d bets", sizes, len(got), tt.want, len(tt.bets))
			}
		})
	}
}

func TestABetWhoseLineWouldNotReadBackRefusesItsBatchWhole(t *testing.T) {
	good := lottery.Bet{Agency: 1, FirstName: "Ana", LastName: "Pérez", Document: 1, Birthdate: "1990-01-02", Number: 1}
	for _, tt := range []struct {
		name   string
		change func(*lottery.Bet)
		want   string
	}{
		{"a tab in a first name", func(b *lottery.Bet) { b.FirstName = "A\tna" }, `first name "A\tna" holds a control character`},
		{"a line break in a last name", func(b *lottery.Bet) { b.LastName = "Pé\nrez" }, `last name "Pé\nrez" holds a control character`},
		{"a name not UTF-8", func(b *lottery.Bet) { b.LastName = "P\xe9rez" }, `last name "P\xe9rez" is not UTF-8`},
		{"a birthdate not YYYY-MM-DD", func(b *lottery.Bet) { b.Birthdate = "2/1/1990" }, `birthdate "2/1/1990"`},
	} {
		t.Run(tt.name, func(t *testing.T) {
			bad := good
			tt.change(&bad)
			rows, err := appendRows([]byte("before"), []lottery.Bet{good, bad}, 1)
			if err == nil || !strings.Contains(err.Error(), tt.want) || string(rows) != "before" {
				t.Fatalf("encoding %+v: %v, rows %q; want an error saying %q and nothing appended", bad, err, rows, tt.want)
			}
		})
	}
}

// A bet the encoder takes reads back as it was.
func FuzzABetStoredReadsBackAsItWas(f *testing.F) {
	f.Add("Ana", "Pérez", uint32(7), "1990-01-02", uint16(7574))
	f.Add("José María", "O'Brien, Jr.", uint32(0), "0001-01-01", uint16(0))
	f.Fuzz(func(t *testing.T, first, last string, document uint32, birthdate string, number uint16) {
		b := lottery.Bet{Agency: 9, FirstName: first, LastName: last, Document: document, Birthdate: birthdate, Number: number}
		row, err := appendRows(nil, []lottery.Bet{b}, 1)
		if err != nil {
			return
		}
		agency, count, names, fixed, rest := rowColumns(t, row)
		if len(rest) != 0 {
			t.Fatalf("%+v was stored as a row and %d bytes more", b, len(rest))
		}
		var got []lottery.Bet
		if err := scanBatch(agency, count, names, fixed, func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
			t.Fatalf("%+v was stored as %q and % x, which do not read back: %v", b, names, fixed, err)
		}
		if len(got) != 1 || got[0] != b {
			t.Fatalf("%+v was stored as %q and % x, which read back as %+v", b, names, fixed, got)
		}
	})
}

// A row written by hand reads back whole, or not at all: never a panic,
// and never bets that would not be stored as read.
func FuzzScanBatch(f *testing.F) {
	f.Add(int32(1), int32(1), "Ana\tPérez\n", []byte("\x00\x00\x00\x07\x01\x2f\xa6\xc6\x1d\x96"))
	f.Add(int32(70000), int32(2), "Ana\tPérez\nA\tB\n", []byte("\x00\x00\x00\x07\x01\x2f\xa6\xc6\x1d\x96\xff\xff\xff\xff\x01\x31\x2d\xe5\xff\xff"))
	f.Add(int32(1), int32(1), "Ana\tPérez\n", []byte("\x00\x00\x00\x07\xff\xff\xff\xff\x1d\x96"))
	f.Fuzz(func(t *testing.T, agency, count int32, names string, fixed []byte) {
		var got []lottery.Bet
		err := scanBatch(agency, count, names, fixed, func(b lottery.Bet) error {
			if _, err := appendRows(nil, []lottery.Bet{b}, 1); err != nil {
				t.Fatalf("%q and % x read back as %+v, which would not be stored: %v", names, fixed, b, err)
			}
			got = append(got, b)
			return nil
		})
		if err == nil && len(got) != int(count) {
			t.Fatalf("%q and % x of count %d read back as %d bets", names, fixed, count, len(got))
		}
	})
}
