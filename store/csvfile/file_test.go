package csvfile

import (
	"bytes"
	"context"
	"encoding/csv"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"quiniela/lottery"
	"quiniela/store"
	"quiniela/store/storetest"
)

func bet(agency uint16, doc uint32) lottery.Bet {
	return lottery.Bet{Agency: agency, FirstName: "Ana", LastName: "Pérez", Document: doc, Birthdate: "1990-01-02", Number: uint16(doc % 10000)}
}

func openTemp(t *testing.T) (*File, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "bets.csv")
	s, err := Open(path, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close(context.Background()) })
	return s, path
}

var bg = context.Background()

func TestTheCSVFileMeetsTheStoreContract(t *testing.T) {
	t.Parallel()
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "bets.csv")
		return func() (store.Store, error) { return Open(path, nil) }
	})
}

func TestTheCSVRoundsMeetTheRoundsContract(t *testing.T) {
	t.Parallel()
	storetest.RunRounds(t, func(t *testing.T) storetest.RoundsOpener {
		path := filepath.Join(t.TempDir(), "bets.csv")
		return storetest.RoundsOpener{
			Rounds: func() (store.Rounds, error) { return OpenRounds(path, nil), nil },
			Single: func() (store.Store, error) { return Open(path, nil) },
		}
	})
}

func scanAll(t *testing.T, s *File) []lottery.Bet {
	t.Helper()
	var got []lottery.Bet
	if err := s.Scan(func(b lottery.Bet) error { got = append(got, b); return nil }); err != nil {
		t.Fatal(err)
	}
	return got
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
			if err := s.Append(bg, []lottery.Bet{bet(4, 4)}); err != nil {
				t.Fatal(err)
			}
			if err := s.Close(bg); err != nil {
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
	if err := s.Close(bg); err != nil {
		t.Fatal(err)
	}
	again, err := Open(path, nil)
	if err != nil {
		t.Fatalf("Open after Close: %v", err)
	}
	again.Close(bg)
}

func TestNamesWithCommasQuotesAndAccentsRoundTrip(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	bets := []lottery.Bet{
		{Agency: 1, FirstName: "María, José", LastName: `O"Neil`, Document: 7, Birthdate: "1980-12-31", Number: 7574},
		{Agency: 2, FirstName: " Ñandú", LastName: "Fornerón Álvarez", Document: 8, Birthdate: "2000-02-29", Number: 0},
	}
	if err := s.Append(bg, bets); err != nil {
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
	if err := s.Append(bg, []lottery.Bet{bet(1, 1), bad}); err == nil {
		t.Fatal("a line break in a name was stored")
	}
	if raw, _ := os.ReadFile(path); len(raw) != 0 {
		t.Fatalf("half a batch stored: %q", raw)
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
			defer s.Close(bg)
			batch := make([]lottery.Bet, 63)
			for i := range batch {
				batch[i] = bet(1, uint32(i+1))
			}
			b.SetParallelism(callers)
			b.ResetTimer()
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					if err := s.Append(bg, batch); err != nil {
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
	if err := s.Close(bg); err != nil {
		t.Fatal(err)
	}
	if err := s.RecordEnd(2); !errors.Is(err, store.ErrClosed) {
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
	defer again.Close(bg)
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

func TestAnEmptyBatchStoresNothingAndSucceeds(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	if err := s.Append(bg, nil); err != nil {
		t.Fatal(err)
	}
	if st := s.Stats(); st.Syncs != 0 || st.Batches != 0 {
		t.Fatalf("an empty batch cost %+v", st)
	}
}

func TestCloseIsBoundedWhenTheDiskHangs(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	release := make(chan struct{})
	writing := make(chan struct{})
	s.app.fault = func(op string) error {
		if op == "write" {
			close(writing)
			<-release
		}
		return nil
	}
	p := s.NewStream().Submit(bg, []lottery.Bet{bet(1, 1)})
	<-writing
	ctx, cancel := context.WithTimeout(bg, 20*time.Millisecond)
	defer cancel()
	if err := s.Close(ctx); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Close with the committer stuck: %v, want DeadlineExceeded", err)
	}
	close(release)
	if err := s.Close(bg); err != nil {
		t.Fatalf("Close once the disk answers: %v", err)
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("the batch being written: %v", err)
	}
	if raw, _ := os.ReadFile(path); string(raw) != "1,Ana,Pérez,1,1990-01-02,1\n" {
		t.Fatalf("file is %q", raw)
	}
}

func TestBatchesInFlightShareFsyncs(t *testing.T) {
	t.Parallel()
	s, _ := openTemp(t)
	var pending []store.Pending
	stream := s.NewStream()
	for i := range 300 {
		pending = append(pending, stream.Submit(bg, []lottery.Bet{bet(1, uint32(i))}))
	}
	for _, p := range pending {
		if err := p.Wait(); err != nil {
			t.Fatal(err)
		}
	}
	// The committer takes every batch queued while it was busy: with 300
	// submitted at once, it cannot need one fsync each.
	if st := s.Stats(); st.Batches != 300 || st.Bets != 300 || st.Syncs < 1 || st.Syncs >= st.Batches {
		t.Fatalf("stats %+v for 300 one-bet batches in flight", st)
	}
}

// faults is an appender's fault hook: it fails each "write", "sync" or
// "truncate" while an error is set for it, and logs every operation it
// is asked about.
type faults struct {
	mu   sync.Mutex
	fail map[string]error
	ops  []string
}

func (f *faults) set(op string, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.fail[op] = err
}

func (f *faults) hook(op string) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.ops = append(f.ops, op)
	return f.fail[op]
}

// since returns the operations asked about from the n-th on.
func (f *faults) since(n int) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return slices.Clone(f.ops[n:])
}

func (f *faults) count() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return len(f.ops)
}

func TestAFailedWriteCutsTheFileBackAndBreaksTheStreamsInIt(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	f := &faults{fail: map[string]error{}}
	s.app.fault = f.hook
	one, two := s.NewStream(), s.NewStream()
	if err := one.Submit(bg, []lottery.Bet{bet(1, 1)}).Wait(); err != nil {
		t.Fatal(err)
	}
	f.set("write", syscall.ENOSPC)
	if err := one.Submit(bg, []lottery.Bet{bet(1, 2), bet(1, 3)}).Wait(); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("a batch written to a full disk: %v", err)
	}
	f.set("write", nil) // room again: stream one must still not get a hole
	if err := one.Submit(bg, []lottery.Bet{bet(1, 4)}).Wait(); !errors.Is(err, store.ErrBroken) {
		t.Fatalf("the batch after the failed one: %v, want ErrBroken", err)
	}
	if err := two.Submit(bg, []lottery.Bet{bet(2, 1)}).Wait(); err != nil {
		t.Fatalf("another stream after the disk has room: %v", err)
	}
	raw, _ := os.ReadFile(path)
	if want := "1,Ana,Pérez,1,1990-01-02,1\n2,Ana,Pérez,1,1990-01-02,1\n"; string(raw) != want {
		t.Fatalf("file is %q, want %q (half a batch left, or a hole)", raw, want)
	}
}

func TestBatchesQueuedBehindAFailedOneOfTheirStreamAreRefused(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	release := make(chan struct{})
	writing := make(chan struct{}, 1)
	var once sync.Once
	s.app.fault = func(op string) error {
		if op != "write" {
			return nil
		}
		first := false
		once.Do(func() { first = true })
		if first {
			writing <- struct{}{}
			<-release // hold the committer while more batches queue
			return syscall.EIO
		}
		return nil
	}
	stream := s.NewStream()
	failing := stream.Submit(bg, []lottery.Bet{bet(1, 1)})
	<-writing
	var behind []store.Pending
	for i := range 5 {
		behind = append(behind, stream.Submit(bg, []lottery.Bet{bet(1, uint32(i+2))}))
	}
	close(release)
	if err := failing.Wait(); !errors.Is(err, syscall.EIO) {
		t.Fatalf("the failed batch: %v", err)
	}
	for i, p := range behind {
		if err := p.Wait(); !errors.Is(err, store.ErrBroken) {
			t.Fatalf("batch %d queued behind the failed one: %v, want ErrBroken", i, err)
		}
	}
	if raw, _ := os.ReadFile(path); len(raw) != 0 {
		t.Fatalf("a batch after the failed one was stored: %q", raw)
	}
}

func TestAFailedFsyncStopsTheStoreTakingBets(t *testing.T) {
	t.Parallel()
	s, path := openTemp(t)
	f := &faults{fail: map[string]error{}}
	s.app.fault = f.hook
	f.set("sync", syscall.EIO)
	if err := s.Append(bg, []lottery.Bet{bet(1, 1)}); !errors.Is(err, syscall.EIO) {
		t.Fatalf("a batch whose fsync failed: %v", err)
	}
	f.set("sync", nil)
	// The page cache is in an unknown state: nothing may be acknowledged
	// on top of it, on any stream.
	if err := s.Append(bg, []lottery.Bet{bet(2, 1)}); err == nil || !strings.Contains(err.Error(), "failed an fsync") {
		t.Fatalf("a batch after a failed fsync: %v", err)
	}
	if raw, _ := os.ReadFile(path); len(raw) != 0 {
		t.Fatalf("file is %q, want nothing stored", raw)
	}
}
