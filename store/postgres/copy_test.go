package postgres

import (
	"encoding/binary"
	"slices"
	"strings"
	"testing"

	"quiniela/lottery"
)

// rowLines is the lines of round 1's row at the start of row.
func rowLines(t *testing.T, row []byte) (agency, count int32, lines string) {
	t.Helper()
	// fields, then agency and count (length and value each), then the
	// lines' length.
	const head = 2 + 8 + 8 + 4
	if len(row) < head || binary.BigEndian.Uint16(row) != rowFields {
		t.Fatalf("not a row of round 1: % x", row)
	}
	n := binary.BigEndian.Uint32(row[head-4:])
	if int(n) != len(row)-head {
		t.Fatalf("the row's lines are %d bytes, its length says %d", len(row)-head, n)
	}
	return int32(binary.BigEndian.Uint32(row[6:])), int32(binary.BigEndian.Uint32(row[14:])), string(row[head:])
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
				agency, count, lines := rowLines(t, rows[:2+8+8+4+int(binary.BigEndian.Uint32(rows[18:]))])
				rows = rows[2+8+8+4+len(lines):]
				sizes = append(sizes, int(count))
				if err := scanBatch(agency, count, lines, func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
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
		agency, count, lines := rowLines(t, row)
		var got []lottery.Bet
		if err := scanBatch(agency, count, lines, func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
			t.Fatalf("%+v was stored as %q, which does not read back: %v", b, lines, err)
		}
		if len(got) != 1 || got[0] != b {
			t.Fatalf("%+v was stored as %q, which reads back as %+v", b, lines, got)
		}
	})
}

// A row written by hand reads back whole, or not at all: never a panic,
// and never bets whose lines would not be stored as read.
func FuzzScanBatch(f *testing.F) {
	f.Add(int32(1), int32(1), "Ana\tPérez\t7\t1990-01-02\t7574\n")
	f.Add(int32(70000), int32(2), "Ana\tPérez\t7\t1990-01-02\t7574\nA\tB\t4294967295\t2000-02-29\t65535\n")
	f.Fuzz(func(t *testing.T, agency, count int32, lines string) {
		var got []lottery.Bet
		err := scanBatch(agency, count, lines, func(b lottery.Bet) error {
			if _, err := appendRows(nil, []lottery.Bet{b}, 1); err != nil {
				t.Fatalf("%q read back as %+v, which would not be stored: %v", lines, b, err)
			}
			got = append(got, b)
			return nil
		})
		if err == nil && len(got) != int(count) {
			t.Fatalf("%q of count %d read back as %d bets", lines, count, len(got))
		}
	})
}
