// The agency's limits and defaults, each with its reason. The numbers it
// must agree on with the central (the batch cap, the pipelining window)
// are the protocol's: protocol.MaxBatchCount, protocol.MaxInFlight.

package agency

import (
	"math"
	"time"
)

// Backoff between connection attempts and between winners queries.
const (
	minBackoff = 10 * time.Millisecond
	maxBackoff = time.Second
)

// retryReport spaces the INFO lines of a connection being retried.
const retryReport = 5 * time.Second

// anyAgency bounds the agency number when an agency validates its own bets:
// only the central knows AGENCIES.
const anyAgency = math.MaxUint16

// coalesce is how many frames (about 8 KiB each) go out in one write.
const coalesce = 4

// maxLine is the longest line of a bets file, its line ending aside, that
// the agency reads. A bet takes a few hundred bytes at most, so a longer
// line is malformed; the bound keeps the file's memory constant whatever
// the file holds.
const maxLine = 64 << 10

// The progress reports: the callback (a progress bar) at most every
// progressCallEvery, the INFO line every Config.ProgressEvery, or
// defaultProgressEvery when it is 0.
const (
	progressCallEvery    = 100 * time.Millisecond
	defaultProgressEvery = 5 * time.Second
)

// replyBuffer reads the replies: the acknowledgements of every batch in
// flight (a few bytes each) come in one read.
const replyBuffer = 4 << 10
