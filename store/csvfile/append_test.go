package csvfile

import (
	"bytes"
	"os"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"quiniela/lottery"
)

// appendTarget is one of the store's two appended files, seen through the
// store's own methods: the bet file (a batch) or the ends journal (an end).
type appendTarget struct {
	name   string
	hook   func(s *File, fault func(op string) error)
	append func(s *File, n uint16) error
	// readBack lists the numbers of the records a store opened afresh
	// reads back, in increasing order.
	readBack func(t *testing.T, s *File) []uint16
}

var appendTargets = []appendTarget{
	{
		name: "the bet file",
		hook: func(s *File, fault func(string) error) { s.app.fault = fault },
		append: func(s *File, n uint16) error {
			return s.Append(bg, []lottery.Bet{bet(n, uint32(n))})
		},
		readBack: func(t *testing.T, s *File) []uint16 {
			var got []uint16
			for _, b := range scanAll(t, s) {
				got = append(got, b.Agency)
			}
			slices.Sort(got)
			return got
		},
	},
	{
		name:     "the ends journal",
		hook:     func(s *File, fault func(string) error) { s.ends.app.fault = fault },
		append:   func(s *File, n uint16) error { return s.RecordEnd(n) },
		readBack: func(_ *testing.T, s *File) []uint16 { return s.Ended() },
	},
}

// TestAFailedAppendIsCutBackOrStopsTheFileForGood runs one story on the
// bet file and on the ends journal alike: record 3 is stored, record 1
// fails as the case says, the faults go away, and record 2 is tried.
func TestAFailedAppendIsCutBackOrStopsTheFileForGood(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name   string
		faults map[string]error // while record 1 is appended
		// laterRefused, when set, is what the refusal of record 2, and
		// Close's error, must say; empty: record 2 is stored.
		laterRefused string
		readBack     []uint16
	}{
		{
			name:     "a torn write is cut back, so the next record is not glued to its half",
			faults:   map[string]error{"write": syscall.ENOSPC},
			readBack: []uint16{2, 3}, // not 3 and 12
		},
		{
			name:         "a torn write that cannot be cut back stops every later record",
			faults:       map[string]error{"write": syscall.ENOSPC, "truncate": syscall.EIO},
			laterRefused: "could not be cut back",
			readBack:     []uint16{3}, // the torn half is cut when the file is opened again
		},
		{
			name:         "a failed fsync stops every later record, and no fsync is tried again",
			faults:       map[string]error{"sync": syscall.EIO},
			laterRefused: "failed an fsync",
			readBack:     []uint16{3},
		},
	}
	for _, target := range appendTargets {
		for _, tt := range tests {
			t.Run(target.name+": "+tt.name, func(t *testing.T) {
				t.Parallel()
				s, path := openTemp(t)
				f := &faults{fail: map[string]error{}}
				target.hook(s, f.hook)
				if err := target.append(s, 3); err != nil {
					t.Fatal(err)
				}
				for op, err := range tt.faults {
					f.set(op, err)
				}
				if err := target.append(s, 1); err == nil {
					t.Fatal("record 1 was stored through the faults")
				}
				failed := f.count()
				for op := range tt.faults {
					f.set(op, nil)
				}
				err := target.append(s, 2)
				switch {
				case tt.laterRefused == "" && err != nil:
					t.Fatalf("record 2, once the fault was gone: %v", err)
				case tt.laterRefused != "" && (err == nil || !strings.Contains(err.Error(), tt.laterRefused)):
					t.Fatalf("record 2, after the file failed: %v, want a refusal saying %q", err, tt.laterRefused)
				}
				err = s.Close(bg)
				switch {
				case tt.laterRefused == "" && err != nil:
					t.Fatalf("Close: %v", err)
				case tt.laterRefused != "" && (err == nil || !strings.Contains(err.Error(), tt.laterRefused)):
					t.Fatalf("Close of a failed file: %v, want it to report %q", err, tt.laterRefused)
				}
				if tt.laterRefused != "" {
					if ops := f.since(failed); len(ops) != 0 {
						t.Fatalf("after the failure the file was still asked to %v", ops)
					}
				}
				again, err := Open(path, nil)
				if err != nil {
					t.Fatal(err)
				}
				defer again.Close(bg)
				if got := target.readBack(t, again); !slices.Equal(got, tt.readBack) {
					t.Fatalf("reopened, the store reads back %v, want %v", got, tt.readBack)
				}
			})
		}
	}
}

func TestAnAppendOfMoreBuffersThanOneWritevTakesWritesThemAllInOrder(t *testing.T) {
	t.Parallel()
	path := t.TempDir() + "/records"
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	a := appender{path: path, file: f}
	var bufs [][]byte
	var want []byte
	for i := range 3*maxIovecs + 7 {
		b := []byte(strconv.Itoa(i) + "\n")
		if i%5 == 0 {
			b = nil // an empty buffer is no record and no stop
		}
		bufs = append(bufs, b)
		want = append(want, b...)
	}
	kept := slices.Clone(bufs)
	if err := a.append(bufs...); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) || a.size != int64(len(want)) {
		t.Fatalf("the file holds %d bytes (size %d), want the %d bytes of every buffer in order", len(got), a.size, len(want))
	}
	for i := range bufs {
		if len(bufs[i]) != len(kept[i]) {
			t.Fatalf("buffer %d was cut from %d to %d bytes: the caller's buffers must stay whole", i, len(kept[i]), len(bufs[i]))
		}
	}
}
