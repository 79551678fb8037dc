package supervisor

import (
	"math"
	"time"
)

// rateHistory counts the bets this central stored over the round, in
// equal intervals from its first bet on: 1 s each at first. When the round
// outgrows the slots, adjacent intervals are merged in pairs and the
// interval doubles, so that the whole round always fits in rateSlots
// counters (4 minutes at 1 s, an hour at 16 s, a day at 8 min). Bets
// restored from the store are not counted: they were not stored now.
type rateHistory struct {
	start    time.Time // the first bet's (zero before it)
	interval time.Duration
	slots    [rateSlots]uint64
}

// add counts n bets stored at now.
func (h *rateHistory) add(now time.Time, n int) {
	if h.start.IsZero() {
		h.start, h.interval = now, time.Second
	}
	h.slots[h.advance(now)] += uint64(n)
}

// advance merges intervals until now falls within the slots, and returns
// now's slot.
func (h *rateHistory) advance(now time.Time) int {
	i := max(0, int(now.Sub(h.start)/h.interval))
	for i >= rateSlots {
		for j := range rateSlots / 2 {
			h.slots[j] = h.slots[2*j] + h.slots[2*j+1]
		}
		clear(h.slots[rateSlots/2:])
		h.interval *= 2
		i = int(now.Sub(h.start) / h.interval)
	}
	return i
}

// rateJSON is the history as /status gives it: bets per second in each
// interval from start on.
type rateJSON struct {
	Start           *time.Time `json:"start,omitempty"`
	IntervalSeconds float64    `json:"interval_seconds"`
	BetsPerSecond   []float64  `json:"bets_per_second"`
}

// series is the history until end. An interval still under way is left
// out (its rate would read low) unless closed is set: the round is over
// and end is its last moment.
func (h *rateHistory) series(end time.Time, closed bool) rateJSON {
	if h.start.IsZero() {
		return rateJSON{IntervalSeconds: 1, BetsPerSecond: []float64{}}
	}
	last := h.advance(end)
	if closed {
		last++
	}
	start := h.start
	out := rateJSON{Start: &start, IntervalSeconds: h.interval.Seconds(), BetsPerSecond: make([]float64, last)}
	for i := range last {
		out.BetsPerSecond[i] = math.Round(10*float64(h.slots[i])/h.interval.Seconds()) / 10
	}
	return out
}
