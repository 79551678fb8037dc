package logline

import (
	"bytes"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder keeps what was written to it, a write at a time, and says when
// a write came.
type recorder struct {
	mu     sync.Mutex
	writes [][]byte
	n      int // bytes written
	wrote  chan struct{}
}

func newRecorder() *recorder { return &recorder{wrote: make(chan struct{}, 1)} }

func (r *recorder) Write(p []byte) (int, error) {
	r.mu.Lock()
	r.writes = append(r.writes, bytes.Clone(p))
	r.n += len(p)
	r.mu.Unlock()
	select {
	case r.wrote <- struct{}{}:
	default:
	}
	return len(p), nil
}

func (r *recorder) written() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.n
}

func (r *recorder) all() (string, int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	return string(bytes.Join(r.writes, nil)), len(r.writes)
}

func TestBufferedWritesEveryLineWholeAndInOrderInFewerWrites(t *testing.T) {
	rec := newRecorder()
	b := NewBuffered(rec)
	const writers, lines = 8, 500
	var wg sync.WaitGroup
	for w := range writers {
		wg.Go(func() {
			for i := range lines {
				fmt.Fprintf(b, "writer %d line %d\n", w, i)
			}
		})
	}
	wg.Wait()
	if err := b.Flush(); err != nil {
		t.Fatal(err)
	}
	out, writes := rec.all()
	next := make([]int, writers)
	for _, line := range strings.Split(strings.TrimSuffix(out, "\n"), "\n") {
		var w, i int
		if _, err := fmt.Sscanf(line, "writer %d line %d", &w, &i); err != nil || w < 0 || w >= writers || i != next[w] {
			t.Fatalf("line %q out of order or torn (writer %d expected line %d)", line, w, next[min(max(w, 0), writers-1)])
		}
		next[w]++
	}
	for w, n := range next {
		if n != lines {
			t.Errorf("writer %d: %d lines written, want %d", w, n, lines)
		}
	}
	if writes >= writers*lines {
		t.Errorf("%d lines took %d writes: none were gathered", writers*lines, writes)
	}
}

func TestBufferedWritesALineWithoutAFlush(t *testing.T) {
	rec := newRecorder()
	b := NewBuffered(rec)
	b.Write([]byte("action: listen | result: success\n"))
	select {
	case <-rec.wrote:
	case <-time.After(10 * time.Second): // a bound for a loaded machine, not a wait
		t.Fatalf("a line was not written %v after it was logged (Delay is %v)", 10*time.Second, Delay)
	}
	if out, _ := rec.all(); out != "action: listen | result: success\n" {
		t.Fatalf("wrote %q", out)
	}
}

func TestBufferedNeverKeepsMoreThanItsBoundWaiting(t *testing.T) {
	rec := newRecorder()
	b := NewBuffered(rec)
	line := []byte(strings.Repeat("x", 99) + "\n")
	for i := 1; i <= 3*maxPending/len(line); i++ {
		b.Write(line)
		if written := rec.written(); i*len(line)-written >= maxPending {
			t.Fatalf("after %d bytes, %d were written: %d wait, at most %d may", i*len(line), written, i*len(line)-written, maxPending)
		}
	}
}
