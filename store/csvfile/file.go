// Package csvfile is the central's default store (store.Store): the bets in
// one CSV file (docs/protocol.md), rows `agency,first_name,last_name,document,
// birthdate,number`, appended, and beside it the journal of agencies that
// have sent their end and of the draw's announcement.
//
// A batch is all-or-nothing and on disk (fsync) before it is reported
// stored, and concurrent appenders share fsyncs: through package
// groupcommit, one writer goroutine writes every batch queued while it was
// busy with one write and one fsync. Submit queues a batch without
// waiting, so one caller can keep several batches in flight; they are
// stored in the order submitted. The rows queued are bounded (a byte
// budget): Submit waits for room, or for its context to end. The file is
// held under an exclusive advisory lock (flock) for the life of the File.
// A torn last line left by a crash is cut off on Open; nothing else in the
// file is ever rewritten. The package knows files, not the network.
package csvfile

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/store"
	"quiniela/store/groupcommit"
)

// ErrLocked is returned by Open when another process holds the file.
var ErrLocked = errors.New("store: file is locked by another process (is another server running on it?)")

// Fields is the number of CSV fields of a stored row.
const Fields = 1 + lottery.AgencyFields

// File is an open bet file. Its methods are safe for concurrent use.
type File struct {
	path string
	file *os.File
	ends *ends
	log  *slog.Logger
	q    *groupcommit.Queue // streams, the byte budget, and the one writer

	finishOnce sync.Once
	err        error // Close's result once finished

	// Owned by the writer goroutine (write), and by Close once it stopped.
	app appender // the file's appends: cut back on a failed write, latched on a failed fsync

	committed atomic.Int64                        // size, for readers
	syncs     atomic.Int64                        // fsyncs of appended data
	onSync    atomic.Pointer[func(time.Duration)] // told each fsync's duration
}

// Stats counts the work of a Store since Open.
type Stats struct {
	Syncs   int64 // fsyncs of appended data
	Batches int64 // batches acknowledged
	Bets    int64 // bets acknowledged
}

// Open opens (creating if needed) the bet file at path, takes its lock, cuts
// off a torn last line, and starts the writer. log receives the recovery
// and close lines; nil discards them.
func Open(path string, log *slog.Logger) (*File, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, syscall.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s", ErrLocked, path)
		}
		return nil, fmt.Errorf("store: locking %s: %w", path, err)
	}
	s := &File{path: path, file: f, log: log}
	s.app = appender{path: path, file: f, observe: func(d time.Duration) {
		if observe := s.onSync.Load(); observe != nil {
			(*observe)(d)
		}
	}}
	if err := s.recover(); err != nil {
		f.Close() // also releases the lock
		return nil, err
	}
	e, torn, err := openEnds(path + EndsSuffix)
	if err != nil {
		f.Close()
		return nil, err
	}
	if torn > 0 {
		log.Warn(logattr.StoreRecover, logattr.ResultKey, logattr.Success, logattr.PathKey, path+EndsSuffix, "torn_bytes_cut", torn)
	}
	s.ends = e
	s.q = groupcommit.New(groupcommit.GroupBytes, AppendRows, s.write)
	return s, nil
}

// openRegular opens (creating if needed) path for appending, and refuses
// it unless it is a regular file, or a symbolic link to one. A device
// would take every write or none (/dev/null would discard the bets and
// acknowledge them), and a directory, FIFO or socket is no place for a
// round: each is refused before it is opened, and checked again once open
// in case it was swapped in between.
func openRegular(path string) (*os.File, os.FileInfo, error) {
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return nil, nil, notRegular(path, info.Mode())
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("store: opening %s: %w", path, err)
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, nil, notRegular(path, info.Mode())
	}
	return f, info, nil
}

func notRegular(path string, mode fs.FileMode) error {
	kind := "an irregular file"
	switch {
	case mode.IsDir():
		kind = "a directory"
	case mode&fs.ModeNamedPipe != 0:
		kind = "a named pipe (FIFO)"
	case mode&fs.ModeSocket != 0:
		kind = "a socket"
	case mode&fs.ModeCharDevice != 0:
		kind = "a character device"
	case mode&fs.ModeDevice != 0:
		kind = "a block device"
	}
	return fmt.Errorf("store: %s is %s, not a regular file: the store keeps its bets and ends only in regular files", path, kind)
}

// recover cuts a torn last line (one without its newline) and makes the
// file's directory entry durable.
func (s *File) recover() error {
	info, err := s.file.Stat()
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	size := info.Size()
	keep, err := lastNewlineEnd(s.file, size)
	if err != nil {
		return fmt.Errorf("store: reading the end of %s: %w", s.path, err)
	}
	if keep < size {
		if err := s.file.Truncate(keep); err != nil {
			return fmt.Errorf("store: cutting the torn last line of %s: %w", s.path, err)
		}
		if err := s.file.Sync(); err != nil {
			return fmt.Errorf("store: syncing %s: %w", s.path, err)
		}
		s.log.Warn(logattr.StoreRecover, logattr.ResultKey, logattr.Success, logattr.PathKey, s.path, "torn_bytes_cut", size-keep)
	}
	s.app.size = keep
	s.committed.Store(keep)
	return syncDir(filepath.Dir(s.path))
}

// lastNewlineEnd returns the offset just past the last '\n' among the first
// size bytes of f (0 when there is none), reading backwards in chunks.
func lastNewlineEnd(f *os.File, size int64) (int64, error) {
	var chunk [4096]byte
	for end := size; end > 0; {
		start := max(end-int64(len(chunk)), 0)
		b := chunk[:end-start]
		if _, err := f.ReadAt(b, start); err != nil {
			return 0, err
		}
		if i := bytes.LastIndexByte(b, '\n'); i >= 0 {
			return start + int64(i) + 1, nil
		}
		end = start
	}
	return 0, nil
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("store: opening directory %s: %w", dir, err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("store: syncing directory %s: %w", dir, err)
	}
	return nil
}

// Path is the file the store writes.
func (s *File) Path() string { return s.path }

// Stats returns the counters since Open.
func (s *File) Stats() Stats {
	st := s.q.Stats()
	return Stats{Syncs: s.syncs.Load(), Batches: st.Batches, Bets: st.Bets}
}

// Append stores one batch on a stream of its own: when it returns nil,
// every bet of it is on disk; when it returns an error, none of it was
// stored.
func (s *File) Append(ctx context.Context, bets []lottery.Bet) error {
	return s.NewStream().Submit(ctx, bets).Wait()
}

// NewStream returns a new stream of batches (store.Stream): Submit
// encodes a batch's rows in the caller's goroutine and queues them for
// the one writer, waiting while the queue holds its budget of rows.
func (s *File) NewStream() store.Stream { return s.q.NewStream() }

// write appends the rows of a group and syncs them. On any failure the
// file is cut back to where the group began, so nothing of it is
// half-stored; after a failed fsync, or a cut that failed, the store
// refuses every later append (see appender).
func (s *File) write(group [][]byte) error {
	if s.app.failed != nil {
		return s.app.failed
	}
	if err := s.app.append(group...); err != nil {
		return fmt.Errorf("store: appending to %s: %w", s.path, err)
	}
	s.syncs.Add(1)
	s.committed.Store(s.app.size)
	return nil
}

// RecordEnd makes durable that the agency has sent its end, before the
// central acknowledges it. A repeated end writes nothing.
func (s *File) RecordEnd(agency uint16) error { return s.ends.record(agency) }

// Ended lists the agencies whose end is recorded, in order.
func (s *File) Ended() []uint16 { return s.ends.list() }

// RecordDraw makes durable that the draw has been announced, so that a
// restarted central reopens it silently instead of announcing it again.
func (s *File) RecordDraw() error { return s.ends.recordDraw() }

// FixClosing records closes as the round's closing instant unless one is
// recorded, and returns the one recorded (a line of the ends journal).
func (s *File) FixClosing(closes time.Time) (time.Time, error) { return s.ends.fixClosing(closes) }

// FixedClosing is the round's closing instant once fixed, the zero time
// before.
func (s *File) FixedClosing() (time.Time, error) { return s.ends.fixedClosing(), nil }

// Drawn reports whether the draw's announcement is recorded.
func (s *File) Drawn() bool { return s.ends.isDrawn() }

// DrawTime is when the draw's announcement was recorded, the zero time
// before (or in a journal written before the instant was kept).
func (s *File) DrawTime() time.Time { return s.ends.drawTime() }

// Close stops taking batches, stores those already submitted, syncs the
// file, releases its lock and closes it, and logs each step. A file or
// journal whose fsync failed earlier is not synced again: Close returns
// that failure (after releasing the lock). If ctx ends
// while queued batches are still being written (a disk that hangs), it
// returns an error and leaves the file open: a later Close may wait again.
// Once closed, Close returns the first result.
func (s *File) Close(ctx context.Context) error {
	if err := s.q.Close(ctx); err != nil {
		err = fmt.Errorf("store: %s: %w", s.path, err)
		s.log.Error(logattr.FlushStore, logattr.ResultKey, logattr.Fail, logattr.PathKey, s.path, logattr.ErrorKey, err)
		return err
	}
	s.finishOnce.Do(func() {
		// After a failed fsync this refuses rather than fsync again: its
		// success would prove nothing, and the flush is not vouched for.
		if err := s.app.sync(); err != nil {
			s.err = err
			s.log.Error(logattr.FlushStore, logattr.ResultKey, logattr.Fail, logattr.PathKey, s.path, logattr.ErrorKey, err)
		} else {
			st := s.Stats()
			s.log.Info(logattr.FlushStore, logattr.ResultKey, logattr.Success, logattr.PathKey, s.path, logattr.BetsKey, st.Bets, "batches", st.Batches, "fsyncs", st.Syncs)
		}
		if err := s.ends.close(); err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("store: closing %s%s: %w", s.path, EndsSuffix, err))
		}
		if err := syscall.Flock(int(s.file.Fd()), syscall.LOCK_UN); err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("store: unlocking %s: %w", s.path, err))
		}
		if err := s.file.Close(); err != nil {
			s.err = errors.Join(s.err, fmt.Errorf("store: closing %s: %w", s.path, err))
		}
		if s.err == nil {
			s.log.Info(logattr.UnlockStore, logattr.ResultKey, logattr.Success, logattr.PathKey, s.path)
		}
	})
	return s.err
}

// Scan calls fn with every bet acknowledged when it starts, in file order,
// reading the file as a stream in constant memory. It may run while others
// append, and after Close.
func (s *File) Scan(fn func(lottery.Bet) error) error {
	f, err := os.Open(s.path)
	if err != nil {
		return fmt.Errorf("store: %w", err)
	}
	defer f.Close()
	return Read(io.LimitReader(f, s.committed.Load()), fn)
}

// QueuedBytes is how many bytes of rows wait for the writer.
func (s *File) QueuedBytes() int64 { return s.q.QueuedBytes() }

// ObserveSyncs has fn told the duration of every fsync of bets.
func (s *File) ObserveSyncs(fn func(time.Duration)) { s.onSync.Store(&fn) }
