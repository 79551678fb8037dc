package env

import (
	"errors"
	"io/fs"
	"os"
)

// checkAppendable refuses a path that exists and is not a regular file (a
// symlink to one is one): a device such as /dev/null or /dev/full, a
// directory, a pipe. what names the path when it is not the key's value
// itself. A path that does not exist is fine (the store creates it); one
// that cannot be looked at is left to the store to report as it opens it.
func checkAppendable(p *problems, key, value, path, what string) {
	info, err := os.Stat(path)
	if err != nil || info.Mode().IsRegular() {
		return
	}
	p.addf(key, value, "%s%s, not a regular file: the store appends to it, syncs it and reads it back at start",
		what, kindOf(info.Mode()))
}

// checkReadable refuses a path that is not a regular file (a symlink to
// one is one) that this process can read.
func checkReadable(p *problems, key, path, why string) {
	info, err := os.Stat(path)
	if err == nil && !info.Mode().IsRegular() {
		p.addf(key, path, "%s, not a regular file: %s", kindOf(info.Mode()), why)
		return
	}
	if err == nil {
		var f *os.File
		if f, err = os.Open(path); err == nil {
			f.Close()
			return
		}
	}
	if errors.Is(err, fs.ErrNotExist) {
		p.addf(key, path, "no such file: %s", why)
		return
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err // the key and the path are named already
	}
	p.addf(key, path, "cannot be read (%v): %s", err, why)
}

// kindOf names what a path that is not a regular file is.
func kindOf(m fs.FileMode) string {
	switch {
	case m.IsDir():
		return "is a directory"
	case m&fs.ModeCharDevice != 0:
		return "is a character device"
	case m&fs.ModeDevice != 0:
		return "is a block device"
	case m&fs.ModeNamedPipe != 0:
		return "is a named pipe"
	case m&fs.ModeSocket != 0:
		return "is a socket"
	}
	return "is a special file"
}

// isDir reports whether path is a directory (or a symlink to one).
func isDir(path string) bool {
	info, err := os.Stat(path)
	return err == nil && info.IsDir()
}
