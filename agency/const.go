// The agency's limits and defaults, each with its reason. The numbers it
// must agree on with the central are the protocol's: protocol.MaxBatchCount,
// and protocol.MaxInFlight, the least window (the frames the central reads
// ahead of its replies).

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

// maxInFlightBytes bounds the agency's window: the bytes of the frames it
// has sent and not yet had answered. A fixed count of 32 frames of 8 KiB
// capped an agency at 256 KiB per round trip (5 MB/s at 50 ms, 1.3 MB/s at
// 200 ms); the window must hold the link's bandwidth-delay product, and
// 4 MiB is the most the kernel's own send buffer lets TCP keep in flight
// by default (tcp_wmem), so a larger window would only wait in it. Within
// it TCP's own flow and congestion control follow the link. The frames
// themselves are not kept: each costs the agency a few bytes of
// bookkeeping. The central still reads at most protocol.MaxInFlight frames
// ahead of its replies: the rest wait in the sockets and on the wire.
const maxInFlightBytes = 4 << 20

// maxInFlightFrames bounds the window's bookkeeping (32 bytes a frame)
// when batches are small: 4,096 frames of one bet still hold 0.5 MiB.
const maxInFlightFrames = 4096

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
