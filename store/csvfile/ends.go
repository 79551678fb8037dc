package csvfile

import (
	"bufio"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"quiniela/store"
)

// EndsSuffix names the journal of agencies that have sent their end, beside
// the bet file: the CSV alone cannot tell a finished agency from a slow
// one, and a restarted central must know both to run the draw exactly once.
// Its last line is the draw's once the draw has been announced.
const EndsSuffix = ".ends"

// drawLine is the line of the draw's announcement, followed by its instant
// in RFC 3339 with nanoseconds (`draw 2026-12-01T21:00:03Z`); an older
// journal's line has the word alone.
const drawLine = "draw"

// closesPrefix starts the line that fixes the round's closing instant, in
// RFC 3339 with nanoseconds: `closes 2026-12-01T21:00:00-03:00`.
const closesPrefix = "closes "

// ends is the append-only journal of finished agencies: one agency number
// per line, each on disk before RecordEnd returns. It shares the bet file's
// lock. Its appends fail as the bet file's do (appender): a failed write is
// cut back to the last whole line, and a failed fsync, or a failed cut,
// refuses every later record.
type ends struct {
	mu     sync.Mutex
	app    appender
	agency map[uint16]bool
	drawn  bool
	drawAt time.Time // when the draw was announced, zero if not kept
	closes time.Time // the round's closing instant, once fixed
	closed bool
}

func openEnds(path string) (*ends, int64, error) {
	f, info, err := openRegular(path)
	if err != nil {
		return nil, 0, err
	}
	keep, err := lastNewlineEnd(f, info.Size())
	if err == nil && keep < info.Size() {
		if err = f.Truncate(keep); err == nil {
			err = f.Sync()
		}
	}
	if err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("store: recovering %s: %w", path, err)
	}
	e := &ends{app: appender{path: path, file: f, size: keep}, agency: map[uint16]bool{}}
	sc := bufio.NewScanner(io.NewSectionReader(f, 0, keep))
	for line := 1; sc.Scan(); line++ {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), drawLine); ok && (rest == "" || rest[0] == ' ') {
			if rest = strings.TrimSpace(rest); rest != "" {
				t, err := time.Parse(time.RFC3339Nano, rest)
				if err != nil {
					f.Close()
					return nil, 0, fmt.Errorf("store: %s line %d: %q is not the draw's instant", path, line, sc.Text())
				}
				e.drawAt = t
			}
			e.drawn = true
			continue
		}
		if at, ok := strings.CutPrefix(strings.TrimSpace(sc.Text()), closesPrefix); ok {
			t, err := time.Parse(time.RFC3339Nano, at)
			if err != nil {
				f.Close()
				return nil, 0, fmt.Errorf("store: %s line %d: %q is not a closing instant", path, line, sc.Text())
			}
			if e.closes.IsZero() {
				e.closes = t
			}
			continue
		}
		a, err := strconv.ParseUint(strings.TrimSpace(sc.Text()), 10, 16)
		if err != nil || a == 0 {
			f.Close()
			return nil, 0, fmt.Errorf("store: %s line %d: %q is not an agency number", path, line, sc.Text())
		}
		e.agency[uint16(a)] = true
	}
	if err := sc.Err(); err != nil {
		f.Close()
		return nil, 0, fmt.Errorf("store: reading %s: %w", path, err)
	}
	return e, info.Size() - keep, nil
}

// record makes the agency's end durable; a repeated end writes nothing.
func (e *ends) record(agency uint16) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.agency[agency] {
		return nil
	}
	if err := e.appendLine(strconv.Itoa(int(agency))); err != nil {
		return fmt.Errorf("store: recording the end of agency %d: %w", agency, err)
	}
	e.agency[agency] = true
	return nil
}

// recordDraw makes durable that the draw was announced; once is enough.
func (e *ends) recordDraw() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.drawn {
		return nil
	}
	at := time.Now()
	if err := e.appendLine(drawLine + " " + at.Format(time.RFC3339Nano)); err != nil {
		return fmt.Errorf("store: recording the draw: %w", err)
	}
	e.drawn, e.drawAt = true, at
	return nil
}

// fixClosing records closes unless a closing instant is recorded, and
// returns the one recorded.
func (e *ends) fixClosing(closes time.Time) (time.Time, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if !e.closes.IsZero() {
		return e.closes, nil
	}
	if err := e.appendLine(closesPrefix + closes.Format(time.RFC3339Nano)); err != nil {
		return time.Time{}, fmt.Errorf("store: recording the closing time: %w", err)
	}
	e.closes = closes
	return closes, nil
}

func (e *ends) fixedClosing() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.closes
}

// appendLine writes one line and syncs it; e.mu is held.
func (e *ends) appendLine(line string) error {
	if e.closed {
		return store.ErrClosed
	}
	return e.app.append([]byte(line + "\n"))
}

func (e *ends) isDrawn() bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.drawn
}

func (e *ends) drawTime() time.Time {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.drawAt
}

// close syncs and closes the journal; record refuses from then on.
func (e *ends) close() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil
	}
	e.closed = true
	err := e.app.sync() // refuses, without an fsync, if one failed before
	if cerr := e.app.file.Close(); err == nil {
		err = cerr
	}
	return err
}

func (e *ends) list() []uint16 {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []uint16
	for a := range e.agency {
		out = append(out, a)
	}
	slices.Sort(out)
	return out
}
