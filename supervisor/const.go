package supervisor

import "time"

// DefaultWinnersHold keeps a waiting agency's query open long enough to hear
// of the draw at once, and short enough to stay below any client's reply
// timeout.
const DefaultWinnersHold = time.Second

// filesReserve is the file descriptors kept beside the connections and the
// admin endpoint's: the listeners, the store and its journal (or its
// database connections), and room to accept and refuse.
const filesReserve = 64

// maxAdminConns bounds the admin endpoint's open connections: a scraper
// and a few browsers need a handful. Past it the oldest connection is
// closed to make room, so that the admin port never takes the file
// descriptors the agencies' connections count on, and a peer holding the
// bound's worth of connections cannot keep the operator out.
const maxAdminConns = 64

// maxIdlePerIdentity bounds the connections whose certificate names one
// agency but that do not speak for it (yet): an agency needs one, and one
// more while it reconnects. Past it, that identity's oldest such connection
// is evicted, so that one certificate cannot fill the connection bound.
const maxIdlePerIdentity = 4

// Accept errors that are not the listener closing back off from
// minAcceptBackoff, doubling up to maxAcceptBackoff.
const (
	minAcceptBackoff = 10 * time.Millisecond
	maxAcceptBackoff = time.Second
)

// sendBuffer is each connection's kernel send buffer (SO_SNDBUF, which
// the kernel doubles): what a peer that never reads its replies can pin of
// the central's memory. Left to itself the kernel grows it to megabytes,
// and the write deadline only starts once it is full; the central's
// replies are a few bytes a batch, and the largest (every winner of an
// agency, 256 KiB) still goes out within a frame timeout to any peer that
// reads.
const sendBuffer = 32 << 10

// readBuffer holds several whole frames, so that one read takes in all the
// batches an agency has in flight.
const readBuffer = 32 << 10

// Lines a connection (or the acceptor) may log per second before the rest
// are only counted.
const (
	logBurst    = 5
	logInterval = time.Second
)

// rateSlots is how many intervals the rate history keeps: 240 counters of
// 8 bytes, whatever the round lasts.
const rateSlots = 240

// sessionFailureBackoff is how long the agencies' supervisor pauses after
// too many sessions failed in a row: short, since a failing session is one
// agency's trouble and the others wait behind the pause.
const sessionFailureBackoff = 250 * time.Millisecond

// keptRounds is how many rounds drawn before the open one the central
// keeps in memory (continuous rounds): their winners, for an agency that
// asks after its round was followed, and the operator's history on
// /status. Each costs a few KiB (its counts, winners and rate history);
// older rounds stay in the store only, counted on /status.
const keptRounds = 100
