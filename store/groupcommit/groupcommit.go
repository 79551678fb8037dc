// Package groupcommit is the write path the stores share: streams of
// batches (store.Stream), each batch encoded by its submitter into the
// backend's rows, queued under a byte budget, and handed to one writer
// goroutine that stores everything queued while it was busy in one go (one
// write and fsync for the CSV file, one transaction for PostgreSQL). It
// keeps the contract's promises about streams: a batch whole or not at
// all, a stream's batches in the order submitted, and none after one that
// was refused. The backend says only how to encode a batch and how to
// store a group. It knows bets and bytes, not files or the network.
package groupcommit

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"

	"golang.org/x/sync/semaphore"

	"quiniela/lottery"
	"quiniela/store"
)

// Encode appends a batch's rows, in the backend's format, to dst. An error
// refuses the batch whole.
type Encode func(dst []byte, bets []lottery.Bet) ([]byte, error)

// Write stores a group: the rows of its batches, in order, whole or not at
// all. It must not keep the rows once it returns: their buffers are
// reused.
type Write func(rows [][]byte) error

// GroupBytes is the stores' bound on one group's rows, and on the rows
// waiting for the writer: Submit waits while that much is queued, so that
// the central's memory stays flat however many agencies send at once.
const GroupBytes = 4 << 20

// Queue is a backend's write path. Its methods are safe for concurrent
// use.
type Queue struct {
	encode   Encode
	write    Write
	maxGroup int

	// admission is the byte budget of the rows queued: Submit takes a
	// batch's bytes, the writer gives them back as it takes the batch.
	admission *semaphore.Weighted
	closing   context.Context // ended by Close: waiting Submits give up
	markClose context.CancelFunc
	buffers   sync.Pool

	mu        sync.Mutex
	queue     []*batch      // submitted, not yet taken by the writer
	closed    bool          // Close was called: Submit refuses
	wake      chan struct{} // cap 1: the queue has work, or Close was called
	stopped   chan struct{} // closed when the writer has returned
	closeOnce sync.Once

	queued                atomic.Int64 // bytes of rows waiting for the writer
	batches, bets, groups atomic.Int64 // stored
	rows                  [][]byte     // the writer's: the group being written
}

// batch is one submitted batch; it is its own store.Pending.
type batch struct {
	stream *stream
	n      uint64  // its number in the stream
	buf    *[]byte // rows' buffer, back to the pool once written
	rows   []byte
	bets   int
	weight int64      // bytes taken from the admission budget
	done   chan error // buffered: the writer never blocks on it
}

// Wait blocks until the batch is stored (nil) or refused (an error, and
// none of it stored). It may be called once.
func (b *batch) Wait() error { return <-b.done }

// New starts a queue whose writer stores groups of at most maxGroupBytes
// of rows (a larger batch goes alone), and that holds at most that much
// waiting.
func New(maxGroupBytes int, encode Encode, write Write) *Queue {
	closing, markClose := context.WithCancel(context.Background())
	q := &Queue{
		encode: encode, write: write, maxGroup: maxGroupBytes,
		admission: semaphore.NewWeighted(int64(maxGroupBytes)),
		closing:   closing, markClose: markClose,
		wake:    make(chan struct{}, 1),
		stopped: make(chan struct{}),
	}
	q.buffers.New = func() any { b := make([]byte, 0, 8<<10); return &b }
	go q.writeLoop()
	return q
}

// stream is one submitter's batches (store.Stream), numbered from 1 in the
// order submitted.
type stream struct {
	q    *Queue
	last uint64 // the number of the last batch submitted; the submitter's own
	// brokenAt is the number of the first batch refused (0: none yet), by
	// Submit or by the writer when the batch's group failed. Batches
	// numbered after it are refused; those before it are still written.
	brokenAt atomic.Uint64
}

// breakAt records that batch n was refused, keeping the earliest.
func (st *stream) breakAt(n uint64) {
	for {
		at := st.brokenAt.Load()
		if at != 0 && at <= n || st.brokenAt.CompareAndSwap(at, n) {
			return
		}
	}
}

// refuses reports whether batch n comes after a refused one.
func (st *stream) refuses(n uint64) bool {
	at := st.brokenAt.Load()
	return at != 0 && n > at
}

// NewStream returns a new stream of batches.
func (q *Queue) NewStream() store.Stream { return &stream{q: q} }

// Submit encodes a batch, in the caller's goroutine so that encoding runs
// in parallel, and queues it for the writer (see store.Stream). While the
// queue holds its budget of rows, it waits for room; if ctx ends (or the
// queue is closed) first, the batch is refused whole, and the stream
// broken.
func (st *stream) Submit(ctx context.Context, bets []lottery.Bet) store.Pending {
	st.last++
	if st.refuses(st.last) {
		return store.Done{Err: store.ErrBroken}
	}
	p := st.q.submit(ctx, st, st.last, bets)
	if d, refused := p.(store.Done); refused && d.Err != nil {
		st.breakAt(st.last)
	}
	return p
}

func (q *Queue) submit(ctx context.Context, st *stream, n uint64, bets []lottery.Bet) store.Pending {
	if err := ctx.Err(); err != nil {
		return store.Done{Err: err}
	}
	if len(bets) == 0 {
		return store.Done{}
	}
	buf := q.buffers.Get().(*[]byte)
	rows, err := q.encode((*buf)[:0], bets)
	if err != nil {
		q.buffers.Put(buf)
		return store.Done{Err: err}
	}
	*buf = rows
	b := &batch{stream: st, n: n, buf: buf, rows: rows, bets: len(bets), weight: int64(min(len(rows), q.maxGroup)), done: make(chan error, 1)}
	if err := q.admit(ctx, b.weight); err != nil {
		q.buffers.Put(buf)
		return store.Done{Err: err}
	}
	q.mu.Lock()
	if q.closed {
		q.mu.Unlock()
		q.admission.Release(b.weight)
		q.buffers.Put(buf)
		return store.Done{Err: store.ErrClosed}
	}
	q.queue = append(q.queue, b)
	q.queued.Add(b.weight)
	q.mu.Unlock()
	select {
	case q.wake <- struct{}{}:
	default: // already signalled
	}
	return b
}

// admit takes n bytes of the queue's budget, waiting for room until ctx
// ends or the queue is closed.
func (q *Queue) admit(ctx context.Context, n int64) error {
	if q.admission.TryAcquire(n) {
		return nil // the common case: no context to watch
	}
	ctx, cancel := context.WithCancelCause(ctx)
	defer cancel(nil)
	stop := context.AfterFunc(q.closing, func() { cancel(store.ErrClosed) })
	defer stop()
	if err := q.admission.Acquire(ctx, n); err != nil {
		return fmt.Errorf("store: waiting for room in the queue: %w", context.Cause(ctx))
	}
	return nil
}

// writeLoop is the only caller of write. Each time it wakes it takes the
// whole queue (up to maxGroup bytes) and stores it as one group. After
// Close it stores what was queued before, then returns.
func (q *Queue) writeLoop() {
	defer close(q.stopped)
	var group []*batch
	for range q.wake {
		for {
			q.mu.Lock()
			size, n := 0, 0
			var weight int64
			for n < len(q.queue) && (n == 0 || size+len(q.queue[n].rows) <= q.maxGroup) {
				size += len(q.queue[n].rows)
				weight += q.queue[n].weight
				n++
			}
			group = append(group[:0], q.queue[:n]...)
			q.queue = q.queue[n:]
			if len(q.queue) == 0 {
				q.queue = nil // let the backing array go
			}
			closed := q.closed
			q.queued.Add(-weight)
			q.mu.Unlock()
			q.admission.Release(weight)
			if len(group) == 0 {
				if closed {
					return
				}
				break
			}
			q.writeGroup(group)
			clear(group)
		}
	}
}

// writeGroup writes the group's batches but those of broken streams, and
// answers each. A failed write breaks the stream of every batch in it, so
// that no later batch of theirs is stored after a hole.
func (q *Queue) writeGroup(group []*batch) {
	live := group[:0:0]
	q.rows = q.rows[:0]
	for _, b := range group {
		if b.stream.refuses(b.n) {
			q.answer(b, store.ErrBroken)
			continue
		}
		live = append(live, b)
		q.rows = append(q.rows, b.rows)
	}
	if len(live) == 0 {
		return
	}
	err := q.write(q.rows)
	clear(q.rows)
	if err == nil {
		q.groups.Add(1)
	}
	for _, b := range live {
		if err != nil {
			b.stream.breakAt(b.n)
		} else {
			q.batches.Add(1)
			q.bets.Add(int64(b.bets))
		}
		q.answer(b, err)
	}
}

func (q *Queue) answer(b *batch, err error) {
	q.buffers.Put(b.buf)
	b.buf, b.rows = nil, nil
	b.done <- err
}

// Close stops taking batches (Submit refuses with store.ErrClosed) and
// waits until every batch queued before is answered, or ctx ends: then it
// returns an error, and a later Close may wait again.
func (q *Queue) Close(ctx context.Context) error {
	q.closeOnce.Do(func() {
		q.mu.Lock()
		q.closed = true
		q.mu.Unlock()
		q.markClose() // a Submit waiting for room refuses now
		select {
		case q.wake <- struct{}{}:
		default:
		}
	})
	select {
	case <-q.stopped:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("store: the queued batches were not written in time: %w", ctx.Err())
	}
}

// Closed reports whether Close was called.
func (q *Queue) Closed() bool {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.closed
}

// QueuedBytes is how many bytes of rows wait for the writer.
func (q *Queue) QueuedBytes() int64 { return q.queued.Load() }

// Stats counts what was stored since New.
type Stats struct {
	Groups  int64 // groups written
	Batches int64 // batches acknowledged
	Bets    int64 // bets acknowledged
}

// Stats returns the counters since New.
func (q *Queue) Stats() Stats {
	return Stats{Groups: q.groups.Load(), Batches: q.batches.Load(), Bets: q.bets.Load()}
}
