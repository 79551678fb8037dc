package logline

import (
	"io"
	"sync"
	"time"
)

// Buffered gathers the lines written to it within Delay of each other and
// writes them to its writer together, in order: a central logs a line per
// batch stored, and a write each (the reader of its pipe woken each time)
// cost it a tenth of a round's time on two cores. A line waits at most
// Delay, or until the lines waiting fill maxPending; Flush writes what
// waits at once. A binary flushes before it exits: lines of a process
// that dies without (killed with SIGKILL, or a goroutine's panic) are
// lost if they were logged in its last Delay.
type Buffered struct {
	w io.Writer

	writing sync.Mutex // held while writing, so that groups go out in order

	mu      sync.Mutex
	pending []byte      // the lines waiting
	spare   []byte      // the last group's buffer, for the next
	timer   *time.Timer // armed while lines wait
}

// Delay is the longest a line waits to be written: short enough that an
// operator following the log sees nothing late, long enough to gather a
// busy central's lines into a write every millisecond or so.
const Delay = time.Millisecond

// maxPending is how many bytes of lines wait at most: a burst (a thousand
// agencies' lines at once) is written as it comes, and memory stays flat.
const maxPending = 64 << 10

// NewBuffered returns a Buffered writing to w.
func NewBuffered(w io.Writer) *Buffered { return &Buffered{w: w} }

// Write queues p, which is one or more whole lines. It never fails: an
// error of the writer is Flush's.
func (b *Buffered) Write(p []byte) (int, error) {
	b.mu.Lock()
	if len(b.pending) == 0 {
		if b.timer == nil {
			b.timer = time.AfterFunc(Delay, func() { b.Flush() })
		} else {
			b.timer.Reset(Delay)
		}
	}
	b.pending = append(b.pending, p...)
	full := len(b.pending) >= maxPending
	b.mu.Unlock()
	if full {
		b.Flush()
	}
	return len(p), nil
}

// Flush writes every line queued, and returns the writer's error.
func (b *Buffered) Flush() error {
	b.writing.Lock()
	defer b.writing.Unlock()
	b.mu.Lock()
	group := b.pending
	b.pending, b.spare = b.spare[:0], nil
	b.mu.Unlock()
	if len(group) == 0 {
		return nil
	}
	_, err := b.w.Write(group)
	if cap(group) <= maxPending {
		b.mu.Lock()
		b.spare = group[:0]
		b.mu.Unlock()
	}
	return err
}
