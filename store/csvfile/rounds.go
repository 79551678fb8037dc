package csvfile

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"quiniela/store"
)

// roundInfix names a later round's file beside the first: bets.csv holds
// round 1, bets.round-2.csv round 2, each with its own ends journal
// (bets.round-2.csv.ends).
const roundInfix = ".round-"

// closeOldRound bounds the close of a round two behind the newest: its
// draw is long done, so nothing is queued and the close is one fsync.
const closeOldRound = 10 * time.Second

// Rounds is the CSV store of continuous rounds (store.Rounds): a File per
// round, round 1 at the path a single-round central uses and round n
// beside it (RoundPath). It keeps the newest two rounds open: opening
// round n closes every round before n-1.
type Rounds struct {
	path string
	log  *slog.Logger

	mu     sync.Mutex
	open   map[int]*File
	closed bool // Close was called: no round opens any more
}

// OpenRounds returns the rounds kept at path (round 1's file) and beside
// it. It opens no file: Round does.
func OpenRounds(path string, log *slog.Logger) *Rounds {
	return &Rounds{path: path, log: log, open: map[int]*File{}}
}

// RoundPath is the file of round n (n >= 1) of the rounds kept at path:
// path itself for round 1, and for round n the same name with .round-n
// before its extension.
func RoundPath(path string, n int) string {
	if n <= 1 {
		return path
	}
	ext := filepath.Ext(path)
	return strings.TrimSuffix(path, ext) + roundInfix + strconv.Itoa(n) + ext
}

// Latest is the newest round with a file: the highest n of the files named
// by RoundPath, 1 when there is none (round 1's file may not exist yet).
func (r *Rounds) Latest() (int, error) {
	dir, base := filepath.Split(r.path)
	ext := filepath.Ext(base)
	prefix := strings.TrimSuffix(base, ext) + roundInfix
	entries, err := os.ReadDir(filepath.Clean(dir + "."))
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return 0, fmt.Errorf("store: listing the rounds beside %s: %w", r.path, err)
	}
	latest := 1
	for _, e := range entries {
		// Both cuts must match: a name without the prefix (7.csv) is not
		// a round's, whatever it ends with.
		digits, hasPrefix := strings.CutPrefix(e.Name(), prefix)
		digits, hasExt := strings.CutSuffix(digits, ext)
		if !hasPrefix || !hasExt {
			continue
		}
		n, err := strconv.Atoi(digits)
		if err != nil || n < 2 || strconv.Itoa(n) != digits {
			continue // not a round's file (bets.round-2.csv.ends, bets.round-x.csv)
		}
		latest = max(latest, n)
	}
	return latest, nil
}

// Round opens round n's file (creating it) and closes the rounds before
// n-1. Once the rounds are closed it refuses with store.ErrClosed: a file
// opened then would hold its lock with no one to close it.
func (r *Rounds) Round(n int) (store.Store, error) {
	if n < 1 {
		return nil, fmt.Errorf("store: round %d: rounds are numbered from 1", n)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil, fmt.Errorf("store: opening round %d: %w", n, store.ErrClosed)
	}
	if f, ok := r.open[n]; ok {
		return f, nil
	}
	f, err := Open(RoundPath(r.path, n), r.log)
	if err != nil {
		return nil, err
	}
	r.open[n] = f
	for old, f := range r.open {
		if old < n-1 {
			// No shutdown's lines: the round's file was closed for good
			// long ago, as far as an operator is concerned. A failure is
			// still logged; the new round is open either way.
			f.log = slog.New(quietHandler{f.log.Handler()})
			ctx, cancel := context.WithTimeout(context.Background(), closeOldRound)
			f.Close(ctx)
			cancel()
			delete(r.open, old)
		}
	}
	return f, nil
}

// quietHandler passes on only the lines of WARNING and above.
type quietHandler struct{ slog.Handler }

func (h quietHandler) Enabled(ctx context.Context, l slog.Level) bool {
	return l >= slog.LevelWarn && h.Handler.Enabled(ctx, l)
}

// Close closes every round still open, and returns their errors; Round
// refuses from then on.
func (r *Rounds) Close(ctx context.Context) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	var errs []error
	for n, f := range r.open {
		if err := f.Close(ctx); err != nil {
			errs = append(errs, fmt.Errorf("round %d: %w", n, err))
		}
	}
	return errors.Join(errs...)
}
