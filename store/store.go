// Package store is the central's contract with whatever keeps its bets: a
// Store takes batches all-or-nothing, in streams whose stored part is always
// a prefix of what was submitted, and says when each is durable, records
// each agency's end and the draw's announcement, and gives all of it back
// to a restarted central. It holds no backend of its own: csvfile (the
// default, one CSV file) implements it, and storetest is the conformance
// suite every implementation must pass. It knows bets, not the network.
package store

import (
	"context"
	"errors"
	"time"

	"quiniela/lottery"
)

// Store keeps the central's bets and the records of its round. Its methods
// are safe for concurrent use.
type Store interface {
	// NewStream returns a new stream for one submitter (a connection of an
	// agency) to hand its batches to the store.
	NewStream() Stream

	// RecordEnd makes durable that the agency sent its end; a repeated end
	// changes nothing.
	RecordEnd(agency uint16) error
	// Ended lists the agencies whose end is recorded, in increasing order.
	Ended() []uint16
	// RecordDraw makes durable that the draw was announced, and when.
	RecordDraw() error
	// Drawn reports whether the draw's announcement is recorded.
	Drawn() bool
	// DrawTime is when the draw's announcement was recorded: the zero
	// time before, or when the store did not keep it (an older store).
	DrawTime() time.Time
	// FixClosing makes closes the round's closing instant, durably, unless
	// one is recorded already, and returns the one recorded: the first
	// call fixes it for every later one, after a restart too, and for any
	// central sharing the store. A round's closing instant is fixed so when
	// the round opens, so that a restarted central, whatever its setting,
	// neither reopens betting nor moves the close.
	FixClosing(closes time.Time) (time.Time, error)
	// FixedClosing is the round's closing instant once fixed, the zero
	// time before: a round's close is its own, whatever a later start's
	// settings say.
	FixedClosing() (time.Time, error)

	// Scan calls fn with every bet stored when it starts, in the order each
	// agency's bets were submitted. A restarted central rebuilds its round
	// from it.
	Scan(fn func(lottery.Bet) error) error

	// Close stops taking batches (Submit refuses with ErrClosed), makes
	// those already submitted durable or refuses them, and releases what
	// the store holds. It returns an error if ctx ends first; once closed,
	// it returns the first result.
	Close(ctx context.Context) error
}

// Rounds keeps one round after another (SERVER_ROUNDS=continuous), each
// round's bets and records apart from every other round's, in a Store of
// its own: round 1 is the store a single-round central uses, so that a
// central switched to continuous rounds carries on its round. Its methods
// are safe for concurrent use.
type Rounds interface {
	// Latest is the number of the newest round the store holds anything
	// of, opened or not: 1 when it holds none.
	Latest() (int, error)
	// Round returns round n's Store (n >= 1), opening it, and creating it
	// when the store holds nothing of it. Calling it again for n returns
	// the same Store. Opening round n may close the rounds before n-1,
	// whose draws are long done: their Stores must not be used after it.
	// Rounds owns every Store it returns: they are closed by its Close,
	// never by the caller.
	Round(n int) (Store, error)
	// Close closes every round's Store still open, as Store.Close does;
	// Round refuses with ErrClosed from then on.
	Close(ctx context.Context) error
}

// Stream is one submitter's sequence of batches. A batch is stored whole or
// not at all, the stream's batches are stored in the order submitted, and
// each only if every earlier one of the stream was: once a batch is
// refused, every later one of the stream is refused too (ErrBroken), so
// what is stored of a stream is always a prefix of what it submitted. A
// stream is used from one goroutine at a time.
type Stream interface {
	// Submit hands a batch to the store and returns without waiting for it
	// to be durable, so that a caller can keep several batches in flight;
	// Pending.Wait says how it ended. Submit may wait while the store has
	// too much queued; if ctx has ended, or ends first, the batch is
	// refused with ctx's error. The bets, and their text, are the
	// caller's again once Submit returns: a store copies what it keeps.
	Submit(ctx context.Context, bets []lottery.Bet) Pending
}

// Pending is a submitted batch.
type Pending interface {
	// Wait blocks until the batch is durable (nil) or refused (an error,
	// and none of it stored). It may be called once.
	Wait() error
}

// ErrClosed is the error of a batch or record refused because the store is
// closing or closed; the central answers it as "shutting down". Any other
// error of a Store is a storage failure.
var ErrClosed = errors.New("store: closed")

// ErrInDoubt is the error of a batch or record whose outcome the store
// could not learn (its commit was cut off, and the store cannot read back
// what became of it): it may have been stored. A central that counts what
// was stored cannot answer an agency's count from that count once one of
// the agency's batches ended so; only a reading of the store can (another
// central's, or its own after a restart).
var ErrInDoubt = errors.New("store: outcome unknown, it may have been stored")

// ErrBroken is the error of a batch refused because an earlier batch of its
// stream was refused.
var ErrBroken = errors.New("store: an earlier batch of this stream was refused")

// Done is a Pending that has already ended with Err: for a batch a Store
// refuses, or stores, without queueing it.
type Done struct{ Err error }

// Wait returns d.Err.
func (d Done) Wait() error { return d.Err }
