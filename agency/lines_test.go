package agency

import (
	"bufio"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"testing"

	"quiniela/lottery"
)

// lf joins lines into a file's content, each ended by LF.
func lf(lines ...string) string { return strings.Join(lines, "\n") + "\n" }

// padded is a valid bet line padded with trailing spaces, which the agency
// trims, to n bytes.
func padded(n int) string {
	bet := "Ana,Pérez,77,1990-01-01,5"
	return bet + strings.Repeat(" ", n-len(bet))
}

var reported = regexp.MustCompile(`msg=apuesta_invalida result=fail file=\S+ line=(\d+) error=("(?:[^"\\]|\\.)*"|\S+)`)

func TestLinesTheAgencyCannotReadAreReportedWithTheirNumbersAndTheRestIsSent(t *testing.T) {
	t.Parallel()
	bets := betLines(4)
	tests := []struct {
		name    string
		content string
		sent    int
		reports []string // "line: reason", in order
	}{
		{"a line of a megabyte of commas is too long, and the lines after it keep their numbers",
			lf(bets[0], strings.Repeat(",", 1<<20), bets[1], "only,three,fields", bets[2]), 3,
			[]string{"2: line too long (over 64 KiB)", "4: 3 fields, want 5 (first_name,last_name,document,birthdate,number)"}},
		{"a line of exactly 64 KiB is read",
			lf(bets[0], padded(maxLine), bets[1]), 3, nil},
		{"a line of 64 KiB and one byte is too long",
			lf(bets[0], padded(maxLine+1), bets[1]), 2, []string{"2: line too long (over 64 KiB)"}},
		{"a CRLF line ending does not count in the 64 KiB",
			strings.ReplaceAll(lf(bets[0], padded(maxLine), bets[1]), "\n", "\r\n"), 3, nil},
		{"an unclosed quote spoils its own line only",
			lf(bets[0], `"Ana,Pérez,8,1990-01-01,5`, bets[1], bets[2]), 3,
			[]string{`2: extraneous or missing " in quoted-field`}},
		{"an unclosed quote before a megabyte of text is one line too long",
			lf(bets[0], `"Ana,`+strings.Repeat("x", 1<<20), bets[1]), 2, []string{"2: line too long (over 64 KiB)"}},
		{"a last line too long and without its line ending is reported",
			lf(bets[0], bets[1]) + strings.Repeat(",", maxLine+1), 2, []string{"3: line too long (over 64 KiB)"}},
		{"blank lines count in the numbering",
			lf(bets[0], "", bets[1], "", "bad"), 2, []string{"5: 1 fields, want 5 (first_name,last_name,document,birthdate,number)"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "agency.csv")
			if err := os.WriteFile(path, []byte(tt.content), 0o644); err != nil {
				t.Fatal(err)
			}
			fc := &fakeCentral{}
			log, logs := quiet()
			res, err := New(testConfig(startCentral(t, fc), path, 63), log).Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			var got []string
			for _, m := range reported.FindAllStringSubmatch(logs.String(), -1) {
				reason, err := strconv.Unquote(m[2])
				if err != nil {
					reason = m[2]
				}
				got = append(got, m[1]+": "+reason)
			}
			if !slices.Equal(got, tt.reports) {
				t.Fatalf("reported %q, want %q", got, tt.reports)
			}
			if res.Sent != tt.sent || fc.stored() != tt.sent || res.Skipped != len(tt.reports) {
				t.Fatalf("sent %d, the central holds %d, skipped %d; want %d sent and %d skipped",
					res.Sent, fc.stored(), res.Skipped, tt.sent, len(tt.reports))
			}
		})
	}
}

// writeHuge writes a file of a valid line, a line of 50 MB made of
// filler, a malformed line and 100 valid lines, without holding the
// long line in memory.
func writeHuge(t *testing.T, start string, filler byte) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "agency.csv")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	w := bufio.NewWriter(f)
	bets := betLines(101)
	w.WriteString(bets[0] + "\n" + start)
	chunk := []byte(strings.Repeat(string(filler), 64<<10))
	for range 50 << 20 / len(chunk) {
		w.Write(chunk)
	}
	w.WriteString("\nonly,three,fields\n" + lf(bets[1:]...))
	if err := w.Flush(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	return path
}

// Not parallel: it counts the bytes the whole process allocates.
func TestAHugeLineIsReadPastInConstantMemory(t *testing.T) {
	tests := []struct {
		name   string
		start  string
		filler byte
	}{
		{"a 50 MB line of commas", "", ','},
		{"an unclosed quote followed by 50 MB of text", `"Ana,`, 'x'},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			path := writeHuge(t, tt.start, tt.filler)
			log, logs := quiet()
			a := New(testConfig("unused", path, 63), log)
			var res Result
			var docs []uint32
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			valid, err := a.eachBet(context.Background(), &round{}, &res, func(_ int, b lottery.Bet, _, _ int64) error {
				docs = append(docs, b.Document)
				return nil
			})
			runtime.ReadMemStats(&after)
			if err != nil {
				t.Fatal(err)
			}
			if allocated := after.TotalAlloc - before.TotalAlloc; allocated > 1<<20 {
				t.Errorf("reading the file allocated %d KiB, want under 1 MiB whatever its longest line", allocated>>10)
			}
			if valid != 101 || docs[0] != 1000 || docs[100] != 1100 {
				t.Errorf("%d valid bets, want the 101 around the long line", valid)
			}
			for _, want := range []string{`line=2 error="line too long (over 64 KiB)"`, `line=3 error="3 fields`} {
				if !strings.Contains(logs.String(), want) {
					t.Errorf("no %q in the log:\n%s", want, logs)
				}
			}
		})
	}
}

// FuzzFieldsOfALineAreThoseEncodingCSVReads checks the reader of one line
// at a time against a fresh csv.Reader per line: the same fields, or the
// same parse error, line after line through the one reader.
func FuzzFieldsOfALineAreThoseEncodingCSVReads(f *testing.F) {
	f.Add("Ana,Pérez,1,1990-01-01,5", `"Ana,Pérez,8,1990-01-01,5`)
	f.Add(`  Ana , "Pé""rez" ,1 , 1990-01-01,5`, "")
	f.Add(`a"b,c`, `"a"b,c`)
	f.Add("\r", `""`)
	f.Add(",,,,", " \t ")
	f.Fuzz(func(t *testing.T, first, second string) {
		fr := newFieldReader()
		for _, line := range []string{first, second, first} {
			if strings.Contains(line, "\n") {
				return // the line reader hands over one line at a time
			}
			got, gotErr := fr.fields([]byte(line))
			cr := csv.NewReader(strings.NewReader(line))
			cr.FieldsPerRecord = -1
			cr.TrimLeadingSpace = true
			want, wantErr := cr.Read()
			var perr *csv.ParseError
			if errors.As(wantErr, &perr) {
				wantErr = perr.Err
			}
			if fmt.Sprint(gotErr) != fmt.Sprint(wantErr) || wantErr == nil && !slices.Equal(got, want) {
				t.Fatalf("line %q: got %q, %v; encoding/csv reads %q, %v", line, got, gotErr, want, wantErr)
			}
		}
	})
}

// BenchmarkReadingAnAgencyFile reads a file the size of the course's
// largest (27,000 bets) and checks every bet.
func BenchmarkReadingAnAgencyFile(b *testing.B) {
	path := filepath.Join(b.TempDir(), "agency.csv")
	if err := os.WriteFile(path, []byte(lf(betLines(27000)...)), 0o644); err != nil {
		b.Fatal(err)
	}
	log, _ := quiet()
	a := New(testConfig("unused", path, 63), log)
	b.ReportAllocs()
	for b.Loop() {
		n, err := a.eachBet(context.Background(), &round{}, &Result{}, func(int, lottery.Bet, int64, int64) error { return nil })
		if err != nil || n != 27000 {
			b.Fatal(n, err)
		}
	}
}
