// Batches in flight: a writer and an acker that keep up to a window of
// batches (maxInFlightBytes of frames) sent ahead of their
// acknowledgements.

package agency

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"quiniela/lottery"
	"quiniela/protocol"
)

// flight is a batch sent and not yet acknowledged.
type flight struct {
	bets int
	sent time.Time
}

// pipeline sends batches without waiting for each acknowledgement: a
// writer (the caller of send) and an acker goroutine that reads the
// replies in order, finishing together. A batch counts as sent only once
// acknowledged.
type pipeline struct {
	a       *Agency
	c       *client
	res     *Result
	flights chan flight
	failed  chan struct{} // closed when the acker stops early
	out     []byte        // frames not yet written, the last one perhaps being built
	sealed  int           // the length of out's whole frames
	unsent  []int         // their bet counts
	batch   protocol.BatchBuilder
	g       errgroup.Group
	once    sync.Once
}

func (a *Agency) startPipeline(c *client, res *Result) *pipeline {
	p := &pipeline{a: a, c: c, res: res, flights: make(chan flight, window(a.cfg.BatchMaxAmount)), failed: make(chan struct{}),
		out: make([]byte, 0, coalesce*frameSize(a.cfg.BatchMaxAmount))}
	p.g.Go(p.ack)
	return p
}

// window is how many frames of batches of up to batchMax bets fit in
// maxInFlightBytes (at most maxInFlightFrames), and never fewer than the
// central reads ahead.
func window(batchMax int) int {
	return max(protocol.MaxInFlight, min(maxInFlightFrames, maxInFlightBytes/frameSize(batchMax)))
}

// frameSize is the size of a frame of batchMax bets. The frames that go
// out together are built in one buffer of coalesce of them, allocated
// once: grown a bet at a time instead, it cost an agency about forty
// pages of fresh memory, each a page fault.
func frameSize(batchMax int) int { return protocol.HeaderSize + protocol.BetSize*max(1, batchMax) }

// ack reads one reply per flight. On the first failure it stops the
// writer (closes failed). After a refusal for good the connection still
// works, and the central answers every frame written: the replies of the
// batches in flight are read on, so that what it stored is known exactly.
// A broken connection, or a central going away, is given up at once: ack
// unblocks a write in progress, and the next session asks the central
// what it holds.
func (p *pipeline) ack() error {
	var failure error
	broken := false
	for f := range p.flights {
		if broken {
			continue // let the writer finish its sends
		}
		code, err := p.c.readCode()
		if err == nil && code != protocol.CodeOK {
			err = refusal(fmt.Sprintf("a batch of %d bets", f.bets), code)
			if !isGoingAway(err) {
				p.res.Rejected += f.bets
			}
		}
		if err == nil {
			p.res.Sent += f.bets
			p.res.latencies = append(p.res.latencies, time.Since(f.sent))
			continue
		}
		if !refusedForGood(err) {
			p.c.kill()
			broken = true
		}
		if failure == nil { // a later failure does not replace the first
			failure = err
			close(p.failed)
		}
	}
	return failure
}

// add encodes b into the batch being built, which endBatch queues. b's
// text may be reused once add returns.
func (p *pipeline) add(b lottery.Bet) error {
	out, err := p.batch.Add(p.out, p.c.agency, b)
	p.out = out
	return err
}

// building is how many bets the batch being built holds.
func (p *pipeline) building() int { return p.batch.Count() }

// endBatch queues the batch being built. Frames go out together, up to
// coalesce at a time (one write instead of several), and always before
// the next batch could block on a full window, so that the central has
// every frame it is waited on for. A batch counts as sent once
// acknowledged.
func (p *pipeline) endBatch() error {
	select {
	case <-p.failed:
		return p.finish()
	default:
	}
	n := p.batch.Count()
	if n == 0 {
		return nil
	}
	p.batch.Finish(p.out)
	p.sealed = len(p.out)
	p.unsent = append(p.unsent, n)
	if len(p.unsent) >= coalesce || len(p.flights)+len(p.unsent) >= cap(p.flights) {
		return p.flush()
	}
	return nil
}

// send queues one batch of bets.
func (p *pipeline) send(batch []lottery.Bet) error {
	for _, b := range batch {
		if err := p.add(b); err != nil {
			return err
		}
	}
	return p.endBatch()
}

// flush writes the queued frames and hands them to the acker.
func (p *pipeline) flush() error {
	if len(p.unsent) == 0 {
		return nil
	}
	if err := p.c.write(p.out); err != nil {
		p.c.kill() // the connection is broken: wake the acker
		if aerr := p.finish(); aerr != nil {
			return aerr // the acker's reason comes first
		}
		return err
	}
	// Every frame written is handed to the acker, which takes flights
	// until finish, failed or not: after a refusal it reads their replies.
	sent := time.Now()
	for _, n := range p.unsent {
		p.flights <- flight{bets: n, sent: sent}
	}
	p.out, p.sealed, p.unsent = p.out[:0], 0, p.unsent[:0]
	return nil
}

// close sends what is queued, waits for every acknowledgement, and returns
// the first failure.
func (p *pipeline) close() error {
	select {
	case <-p.failed:
		return p.finish()
	default:
	}
	// A batch still being built is dropped: it is only after a failure
	// or a cancellation, and its frame has no count yet.
	p.out, p.batch = p.out[:p.sealed], protocol.BatchBuilder{}
	if err := p.flush(); err != nil {
		return err // flush has finished the pipeline
	}
	return p.finish()
}

// finish waits for the acknowledgements of the frames written and returns
// the acker's failure, if any. Frames still queued are dropped: the
// connection is done.
func (p *pipeline) finish() error {
	p.once.Do(func() { close(p.flights) })
	return p.g.Wait()
}
