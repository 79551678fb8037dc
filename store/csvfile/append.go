package csvfile

import (
	"bytes"
	"fmt"
	"os"
	"time"

	"golang.org/x/sys/unix"
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
	iov     [][]byte              // writev's buffers, reused
	failed  error                 // once set, every append and sync refuses with it
}

// append writes the records of bufs, in order, and fsyncs them. When it
// returns nil, they are on disk after the records before them; when it
// returns an error, none of them is in the file (or the appender has
// latched failed).
func (a *appender) append(bufs ...[]byte) error {
	if a.failed != nil {
		return a.failed
	}
	if err := a.write(bufs); err != nil {
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
	for _, b := range bufs {
		a.size += int64(len(b))
	}
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

// write writes bufs through the tests' fault hook when one is set: a
// failed write there leaves half of them in the file, as a full disk may.
func (a *appender) write(bufs [][]byte) error {
	if a.fault != nil {
		if err := a.fault("write"); err != nil {
			all := bytes.Join(bufs, nil)
			a.file.Write(all[:len(all)/2])
			return err
		}
	}
	return a.writev(bufs)
}

// maxIovecs is how many buffers one writev takes (Linux's IOV_MAX).
const maxIovecs = 1024

// writev writes bufs with as few system calls as the kernel allows and
// without copying them into one buffer: a group of batches is written
// from the buffers its rows were encoded in. Copying them first cost
// more than the write itself, most of it in faulting in the fresh
// memory of a buffer as large as the largest group.
func (a *appender) writev(bufs [][]byte) error {
	rc, err := a.file.SyscallConn()
	if err != nil {
		return err
	}
	a.iov = append(a.iov[:0], bufs...) // consumed below; the caller's slice stays whole
	defer clear(a.iov)
	var werr error
	err = rc.Write(func(fd uintptr) bool {
		for iov := a.iov; len(iov) > 0; {
			n, err := unix.Writev(int(fd), iov[:min(len(iov), maxIovecs)])
			if err == unix.EINTR {
				continue
			}
			if err != nil {
				werr = &os.PathError{Op: "write", Path: a.path, Err: err}
				return true
			}
			if n == 0 && len(iov[0]) > 0 {
				werr = &os.PathError{Op: "write", Path: a.path, Err: unix.EIO}
				return true
			}
			for len(iov) > 0 && n >= len(iov[0]) {
				n -= len(iov[0])
				iov = iov[1:]
			}
			if n > 0 {
				iov[0] = iov[0][n:]
			}
		}
		return true
	})
	if werr != nil {
		return werr
	}
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
