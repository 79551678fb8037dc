// What a round of an agency sums up to: bets held, sent, refused and
// skipped, its winners, and the latency of its acknowledgements.

package agency

import (
	"slices"
	"time"
)

// Result sums up a round.
type Result struct {
	Held     int // bets the central already held when this run began
	Sent     int // bets this run had stored (acknowledged, or found stored on reconnecting)
	Rejected int // bets of batches the central refused
	// NotStored is, when the central refused bets for good (after this
	// agency's end, say), how many valid bets of the file it does not hold.
	NotStored int
	Skipped   int      // malformed or invalid lines of the file
	Winners   []uint32 // documents of this agency's winners

	latencies []time.Duration // from sending each batch to its acknowledgement
}

// Latency returns the q-quantile (0..1) of the batch acknowledgement
// latency, 0 when no batch was sent.
func (r Result) Latency(q float64) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	l := slices.Clone(r.latencies)
	slices.Sort(l)
	return l[min(int(q*float64(len(l))), len(l)-1)]
}
