package store

import (
	"bytes"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"

	"quiniela/lottery"
)

func bet(agency uint16, doc uint32) lottery.Bet {
	return lottery.Bet{Agency: agency, FirstName: "Ana", LastName: "Pérez", Document: doc, Birthdate: "1990-01-02", Number: uint16(doc % 10000)}
}

func openTemp(t *testing.T) (*Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bets.csv")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func scanAll(t *testing.T, s *Store) []lottery.Bet {
	t.Helper()
	var got []lottery.Bet
	if err := s.Scan(func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestConcurrentAppendersReadBackExactlyWhatWasAcknowledgedInOrder(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	const callers, batches = 16, 40
	var wg sync.WaitGroup
	errs := make(chan error, callers)
	for c := range callers {
		wg.Go(func() {
			doc := uint32(1)
			for i := range batches {
				batch := make([]lottery.Bet, 1+(c+i)%63)
				for j := range batch {
					batch[j] = bet(uint16(c+1), doc)
					doc++
				}
				if err := s.Append(batch); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}

	next := map[uint16]uint32{}
	want := 0
	for c := range callers {
		next[uint16(c+1)] = 1
		for i := range batches {
			want += 1 + (c+i)%63
		}
	}
	got := scanAll(t, s)
	if len(got) != want {
		t.Fatalf("read back %d bets, want %d", len(got), want)
	}
	for _, b := range got {
		if b.Document != next[b.Agency] {
			t.Fatalf("agency %d: document %d, want %d (order or duplicate broken)", b.Agency, b.Document, next[b.Agency])
		}
		next[b.Agency]++
		if b != bet(b.Agency, b.Document) {
			t.Fatalf("stored %+v differs from what was appended", b)
		}
	}
	st := s.Stats()
	if st.Bets != int64(want) || st.Batches != callers*batches || st.Syncs < 1 || st.Syncs > st.Batches {
		t.Fatalf("stats %+v for %d bets in %d batches", st, want, callers*batches)
	}
}

func TestOpenCutsATornLastLineAndKeepsTheRest(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		contents string
		keep     string
	}{
		{"a half-written row after whole ones is cut", "1,Ana,Pérez,1,1990-01-02,1\n2,Bo,Li,2,1990-01-02,2\n3,Ca", "1,Ana,Pérez,1,1990-01-02,1\n2,Bo,Li,2,1990-01-02,2\n"},
		{"a file holding only a torn row becomes empty", "1,Ana,Pér", ""},
		{"zeros left by a crash after the last row are cut", "1,Ana,Pérez,1,1990-01-02,1\n\x00\x00\x00", "1,Ana,Pérez,1,1990-01-02,1\n"},
		{"a clean file is left alone", "1,Ana,Pérez,1,1990-01-02,1\n", "1,Ana,Pérez,1,1990-01-02,1\n"},
		{"a torn row longer than one read chunk is cut", "1,Ana,Pérez,1,1990-01-02,1\n" + strings.Repeat("x", 10000), "1,Ana,Pérez,1,1990-01-02,1\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			path := filepath.Join(t.TempDir(), "bets.csv")
			if err := os.WriteFile(path, []byte(tt.contents), 0o644); err != nil {
				t.Fatal(err)
			}
			s, err := Open(path, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.Append([]lottery.Bet{bet(4, 4)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(); err != nil {
				t.Fatal(err)
			}
			got, _ := os.ReadFile(path)
			if want := tt.keep + "4,Ana,Pérez,4,1990-01-02,4\n"; string(got) != want {
				t.Fatalf("file is %q, want %q", got, want)
			}
		})
	}
}

func TestASecondOpenerIsRefusedWhileTheLockIsHeld(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	if _, err := Open(path, nil); !errors.Is(err, ErrLocked) {
		t.Fatalf("second Open: %v, want ErrLocked", err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close()
}

func TestNamesWithCommasQuotesAndAccentsRoundTrip(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	bets := []lottery.Bet{
		{Agency: 1, FirstName: "María, José", LastName: `O"Neil`, Document: 7, Birthdate: "1980-12-31", Number: 7574},
		{Agency: 2, FirstName: " Ñandú", LastName: "Fornerón Álvarez", Document: 8, Birthdate: "2000-02-29", Number: 0},
	}
	if err := s.Append(bets); err != nil {
		t.Fatal(err)
	}
	raw, _ := os.ReadFile(path)
	want := "1,\"María, José\",\"O\"\"Neil\",7,1980-12-31,7574\n2,\" Ñandú\",Fornerón Álvarez,8,2000-02-29,0\n"
	if string(raw) != want {
		t.Fatalf("file is %q, want %q", raw, want)
	}
	got := scanAll(t, s)
	if len(got) != 2 || got[0] != bets[0] || got[1] != bets[1] {
		t.Fatalf("read back %+v", got)
	}
}

func TestABatchWithALineBreakIsRefusedWhole(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	bad := bet(1, 2)
	bad.LastName = "Pé\nrez"
	if err := s.Append([]lottery.Bet{bet(1, 1), bad}); err == nil {
		t.Fatal("a line break in a name was stored")
	}
	if raw, _ := os.ReadFile(path); len(raw) != 0 {
		t.Fatalf("half a batch stored: %q", raw)
	}
}

func TestAppendAfterCloseIsRefusedAndCloseIsIdempotent(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Append([]lottery.Bet{bet(1, 1)}); !errors.Is(err, ErrClosed) {
		t.Fatalf("Append after Close: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
}

func TestReadNamesTheLineOfAMalformedRow(t *testing.T) {
	t.Parallel()
	in := "1,Ana,Pérez,1,1990-01-02,1\n1,Ana,Pérez,nope,1990-01-02,1\n"
	n := 0
	err := Read(strings.NewReader(in), func(lottery.Bet) error { n++; return nil })
	if err == nil || !strings.Contains(err.Error(), "line 2") || n != 1 {
		t.Fatalf("got %v after %d rows", err, n)
	}
}

// FuzzReadWriteRead checks, as encoding/csv's own fuzz test does, that what
// reads as bets writes back to rows that read as the same bets.
func FuzzReadWriteRead(f *testing.F) {
	f.Add("1,Ana,Pérez,1,1990-01-02,1\n")
	f.Add("1,Name,Surname,00000000,2000-01-01,7574\n2,Name,Surname,0,2000-01-01,0\n")
	f.Add("2,\"María, José\",\"O\"\"Neil\",7,1980-12-31,7574\r\n")
	f.Add("3,\" a\",b,9,x,10\n4,c,d,1,y,2")
	f.Add("5,\"\\.\",\"\u00a0x\",1,\"\",0\n")
	f.Fuzz(func(t *testing.T, in string) {
		var first []lottery.Bet
		if err := Read(strings.NewReader(in), func(b lottery.Bet) error { first = append(first, b); return nil }); err != nil {
			return
		}
		rows, err := AppendRows(nil, first)
		if err != nil {
			return // a line break inside a quoted field: never written by the store
		}
		var std bytes.Buffer
		w := csv.NewWriter(&std)
		for _, b := range first {
			w.Write(b.AppendAgencyRecord([]string{strconv.Itoa(int(b.Agency))}))
		}
		w.Flush()
		if !bytes.Equal(rows, std.Bytes()) {
			t.Fatalf("rows differ from encoding/csv's:\n%q\n%q", rows, std.Bytes())
		}
		var second []lottery.Bet
		if err := Read(bytes.NewReader(rows), func(b lottery.Bet) error { second = append(second, b); return nil }); err != nil {
			t.Fatalf("rows written from %q do not read: %v", in, err)
		}
		if fmt.Sprint(first) != fmt.Sprint(second) {
			t.Fatalf("read %v, wrote and read %v", first, second)
		}
	})
}

// BenchmarkAppendConcurrent appends full batches from many goroutines and
// reports throughput and how many fsyncs each batch cost (below 1 when
// group commit shares them).
func BenchmarkAppendConcurrent(b *testing.B) {
	for _, callers := range []int{1, 5, 50} {
		b.Run(fmt.Sprintf("callers=%d", callers), func(b *testing.B) {
			s, err := Open(filepath.Join(b.TempDir(), "bets.csv"), nil)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			batch := make([]lottery.Bet, 63)
			for i := range batch {
				batch[i] = bet(1, uint32(i+1))
			}
			b.SetParallelism(callers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Append(batch); err != nil {
						b.Error(err)
						return
					}
				}
			})
			st := s.Stats()
			b.ReportMetric(float64(st.Bets)/b.Elapsed().Seconds(), "bets/s")
			b.ReportMetric(float64(st.Syncs)/float64(st.Batches), "fsyncs/batch")
		})
	}
}

func TestEndsAreDurableAcrossReopenAndATornOneIsCut(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	for _, a := range []uint16{3, 1, 3} {
		if err := s.RecordEnd(a); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEnd(2); !errors.Is(err, ErrClosed) {
		t.Fatalf("RecordEnd after Close: %v", err)
	}
	raw, _ := os.ReadFile(path + EndsSuffix)
	if string(raw) != "3\n1\n" {
		t.Fatalf("journal is %q, want each end once", raw)
	}
	// A crash mid-write leaves a torn line: it is cut, the rest kept.
	os.WriteFile(path+EndsSuffix, []byte("3\n1\n4"), 0o644)
	again, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if got := again.Ended(); fmt.Sprint(got) != "[1 3]" {
		t.Fatalf("ended %v, want [1 3]", got)
	}
}

func TestAMalformedEndsJournalIsRefusedWithItsLine(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bets.csv")
	os.WriteFile(path+EndsSuffix, []byte("1\nfive\n"), 0o644)
	if _, err := Open(path, nil); err == nil || !strings.Contains(err.Error(), "line 2") {
		t.Fatalf("got %v", err)
	}
}

func TestSubmittedBatchesAreStoredInOrderAndCloseAnswersEveryOne(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	var pending []*Pending
	for i := range 200 {
		pending = append(pending, s.Submit([]lottery.Bet{bet(1, uint32(i+1)), bet(1, uint32(i+1001))}))
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	for i, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatalf("batch %d submitted before Close: %v", i, err)
		}
	}
	got := scanAll(t, s)
	if len(got) != 400 {
		t.Fatalf("stored %d bets, want 400", len(got))
	}
	for i := range 200 {
		if got[2*i].Document != uint32(i+1) || got[2*i+1].Document != uint32(i+1001) {
			t.Fatalf("batch %d out of order: %v %v", i, got[2*i].Document, got[2*i+1].Document)
		}
	}
	if err := s.Submit([]lottery.Bet{bet(1, 1)}).Wait(); !errors.Is(err, ErrClosed) {
		t.Fatalf("Submit after Close: %v", err)
	}
}

func TestSubmittingMoreThanTheQueueHoldsWaitsForRoomInsteadOfGrowing(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	batch := make([]lottery.Bet, 63)
	for i := range batch {
		batch[i] = bet(1, uint32(i+1))
	}
	rows, _ := AppendRows(nil, batch)
	n := 3*maxGroupBytes/len(rows) + 1 // three queues' worth, submitted without waiting
	pending := make([]*Pending, 0, n)
	for range n {
		pending = append(pending, s.Submit(batch))
		s.mu.Lock()
		queued := s.queued
		s.mu.Unlock()
		if queued > maxGroupBytes {
			t.Fatalf("%d bytes queued, more than the %d allowed", queued, maxGroupBytes)
		}
	}
	for _, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	if st := s.Stats(); st.Bets != int64(n*63) {
		t.Fatalf("stored %d bets, want %d", st.Bets, n*63)
	}
}

func TestAnEmptyBatchStoresNothingAndSucceeds(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	if err := s.Append(nil); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Syncs != 0 || st.Batches != 0 {
		t.Fatalf("an empty batch cost %+v", st)
	}
}

func TestTheDrawAnnouncementIsDurable(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	if s.Drawn() {
		t.Fatal("a new store says the draw was announced")
	}
	for _, record := range []func() error{func() error { return s.RecordEnd(1) }, s.RecordDraw, s.RecordDraw} {
		if err := record(); err != nil {
			t.Fatal(err)
		}
	}
	s.Close()
	if raw, _ := os.ReadFile(path + EndsSuffix); string(raw) != "1\ndraw\n" {
		t.Fatalf("journal is %q", raw)
	}
	again, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer again.Close()
	if !again.Drawn() || fmt.Sprint(again.Ended()) != "[1]" {
		t.Fatalf("reopened: drawn %v, ended %v", again.Drawn(), again.Ended())
	}
}
