package csvfile

import (
	"fmt"
	"os"
	"time"
)

// appender appends whole records (a group of rows, a journal line) to one
// file and makes each durable before it reports success. The bet file and
// the ends journal both write through one, so they fail the same way:
//
//   - a failed write may have left part of its bytes (a full disk does):
//     they are cut off, back to the last whole record, so the next record
//     never joins a torn one (a torn "1" and a later "2\n" would read back
//     as agency 12). If the cut fails too, the file's tail is unknown and
//     the appender takes nothing more.
//   - a failed fsync means the kernel may have dropped the unsynced pages
//     (marking them clean), so a later fsync that "succeeds" proves
//     nothing about them: the appender cuts the record off, as far as it
//     can, and takes nothing more, not even another fsync.
//
// Its user serializes its calls (the bet file's one writer, the journal's
// mutex).
type appender struct {
	path    string
	file    *os.File
	fault   func(op string) error // set by tests: stall, or fail a "write", "sync" or "truncate"
	observe func(time.Duration)   // told each fsync's duration; may be nil
	size    int64                 // bytes on disk, whole records only
	failed  error                 // once set, every append and sync refuses with it
}

// append writes b, a whole record or several, and fsyncs it. When it
// returns nil, b is on disk after the records before it; when it returns
// an error, none of b is in the file (or the appender has latched failed).
func (a *appender) append(b []byte) error {
	if a.failed != nil {
		return a.failed
	}
	if err := a.write(b); err != nil {
		if terr := a.truncate(a.size); terr != nil {
			a.failed = fmt.Errorf("store: %s could not be cut back to its last whole line after a failed write (%v), and takes nothing more: %w", a.path, err, terr)
			return a.failed
		}
		return err
	}
	if err := a.sync(); err != nil {
		a.truncate(a.size) // the latch stands either way; this only spares a restart the unacknowledged tail
		return err
	}
	a.size += int64(len(b))
	return nil
}

// sync fsyncs the file unless the appender has latched failed; a failed
// fsync latches it, and sync returns the latched error.
func (a *appender) sync() error {
	if a.failed != nil {
		return a.failed
	}
	err := a.doSync()
	if err != nil {
		a.failed = fmt.Errorf("store: %s failed an fsync (the kernel may have dropped what it held, so no later fsync could vouch for it), and takes nothing more: %w", a.path, err)
		return a.failed
	}
	return nil
}

func (a *appender) doSync() error {
	if a.fault != nil {
		if err := a.fault("sync"); err != nil {
			return err
		}
	}
	start := time.Now()
	err := a.file.Sync()
	if a.observe != nil {
		a.observe(time.Since(start))
	}
	return err
}

// write writes b through the tests' fault hook when one is set: a failed
// write there leaves half of b in the file, as a full disk may.
func (a *appender) write(b []byte) error {
	if a.fault != nil {
		if err := a.fault("write"); err != nil {
			a.file.Write(b[:len(b)/2])
			return err
		}
	}
	_, err := a.file.Write(b)
	return err
}

func (a *appender) truncate(size int64) error {
	if a.fault != nil {
		if err := a.fault("truncate"); err != nil {
			return err
		}
	}
	return a.file.Truncate(size)
}
