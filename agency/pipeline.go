package agency

import (
	"fmt"
	"sync"
	"time"

	"golang.org/x/sync/errgroup"

	"quiniela/lottery"
	"quiniela/protocol"
)

// maxInFlight is how many batches an agency sends ahead of their
// acknowledgements: enough to keep the central's disk busy with several of
// its batches per fsync, few enough to bound memory on both sides.
const maxInFlight = 32

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
	g       errgroup.Group
	once    sync.Once
}

func (a *Agency) startPipeline(c *client, res *Result) *pipeline {
	p := &pipeline{a: a, c: c, res: res, flights: make(chan flight, maxInFlight), failed: make(chan struct{})}
	p.g.Go(p.ack)
	return p
}

// ack reads one reply per flight. On a failure it stops the writer: it
// unblocks a write in progress and closes failed.
func (p *pipeline) ack() error {
	for f := range p.flights {
		code, err := p.c.readCode()
		if err == nil && code != protocol.CodeOK {
			err = refusal(fmt.Sprintf("a batch of %d bets", f.bets), code)
			if !isGoingAway(err) {
				p.res.Rejected += f.bets
			}
		}
		if err != nil {
			p.c.kill()
			close(p.failed)
			for range p.flights { // let the writer finish its sends
			}
			return err
		}
		p.res.Sent += f.bets
		p.res.latencies = append(p.res.latencies, time.Since(f.sent))
	}
	return nil
}

// send writes one batch and returns once it is on its way; it blocks while
// maxInFlight batches await their acknowledgement.
func (p *pipeline) send(batch []lottery.Bet) error {
	select {
	case <-p.failed:
		return p.close()
	default:
	}
	sent := time.Now()
	if err := p.c.sendBatch(batch); err != nil {
		p.c.kill() // the connection is broken: wake the acker
		if cerr := p.close(); cerr != nil {
			return cerr // the acker's reason comes first
		}
		return err
	}
	select {
	case p.flights <- flight{bets: len(batch), sent: sent}:
		return nil
	case <-p.failed:
		return p.close()
	}
}

// close waits for every acknowledgement and returns the first failure.
func (p *pipeline) close() error {
	p.once.Do(func() { close(p.flights) })
	return p.g.Wait()
}
