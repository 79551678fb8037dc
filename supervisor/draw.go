package supervisor

import (
	"context"
	"sync"
	"time"

	"quiniela/lottery"
)

// draw is the barrier every agency session shares: it counts each agency's
// end once, runs the draw exactly once when all agencies have ended, and
// answers winners queries with the asking agency's winners only.
//
// Winners are collected as bets are stored, so the draw itself reads no
// file: it only opens the barrier.
type draw struct {
	agencies int
	drawn    chan struct{} // closed by the draw

	mu       sync.Mutex
	finished map[uint16]bool
	winners  map[uint16][]uint32
}

func newDraw(agencies int) *draw {
	return &draw{
		agencies: agencies,
		drawn:    make(chan struct{}),
		finished: make(map[uint16]bool, agencies),
		winners:  make(map[uint16][]uint32),
	}
}

// record notes the winners among bets that have just been stored.
func (d *draw) record(bets []lottery.Bet) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for _, b := range bets {
		if b.Won() {
			d.winners[b.Agency] = append(d.winners[b.Agency], b.Document)
		}
	}
}

// hasFinished reports whether the agency has sent its end.
func (d *draw) hasFinished(agency uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finished[agency]
}

// finish counts the agency's end. It reports whether this call ran the draw
// (true exactly once over the barrier's life) and the total of winners.
func (d *draw) finish(agency uint16) (ranDraw bool, winners int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished[agency] {
		return false, 0
	}
	d.finished[agency] = true
	if len(d.finished) < d.agencies {
		return false, 0
	}
	close(d.drawn)
	for _, w := range d.winners {
		winners += len(w)
	}
	return true, winners
}

// done reports whether the draw has happened.
func (d *draw) done() bool {
	select {
	case <-d.drawn:
		return true
	default:
		return false
	}
}

// winnersOf returns the agency's winners once the draw has happened. An
// agency that has ended may be held up to hold for a draw that is about to
// happen, so that it hears of it at once instead of polling; ok is false
// when the draw has not happened by then (or ctx ended first).
func (d *draw) winnersOf(ctx context.Context, agency uint16, hold time.Duration) (docs []uint32, ok bool) {
	if !d.done() && d.hasFinished(agency) && hold > 0 {
		t := time.NewTimer(hold)
		select {
		case <-d.drawn:
		case <-t.C:
		case <-ctx.Done():
		}
		t.Stop()
	}
	if !d.done() {
		return nil, false
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.winners[agency], true
}
