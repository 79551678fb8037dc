// The central's rounds: the open one, and with continuous rounds the ones
// drawn before it, and the service that draws each round at its close and
// opens the next.

package supervisor

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"time"

	"quiniela/lottery/logattr"
	"quiniela/store"
)

// book is the central's rounds: the open round (the one new bets go to)
// and, with continuous rounds, every round drawn before it, which agencies
// still ask for their winners and the operator sees in /status.
type book struct {
	mu      sync.Mutex
	current *round
	past    []*round      // drawn, oldest first: the last keptRounds
	dropped int           // rounds drawn before those of past
	opened  chan struct{} // closed and replaced whenever a round opens
}

func newBook() *book { return &book{opened: make(chan struct{})} }

// open is the open round: the newest. Before the first is restored it is
// nil; only Serve's restore runs then.
func (b *book) open() *round {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.current
}

// advance makes r the open round, and the open one a past round.
func (b *book) advance(r *round) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current != nil {
		b.past = append(b.past, b.current)
	}
	if n := len(b.past) - keptRounds; n > 0 {
		b.past = slices.Delete(b.past, 0, n)
		b.dropped += n
	}
	b.current = r
	close(b.opened)
	b.opened = make(chan struct{})
}

// find is round n, nil when there is none such.
func (b *book) find(n uint32) *round {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current != nil && b.current.number == n {
		return b.current
	}
	for _, r := range b.past {
		if r.number == n {
			return r
		}
	}
	return nil
}

// lastEnded is the newest round the agency has ended, nil when none.
func (b *book) lastEnded(agency uint16) *round {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.current != nil && b.current.hasFinished(agency) {
		return b.current
	}
	for i := len(b.past) - 1; i >= 0; i-- {
		if b.past[i].hasFinished(agency) {
			return b.past[i]
		}
	}
	return nil
}

// history is the last rounds drawn before the open one, oldest first, and
// how many rounds were drawn before the open one in all.
func (b *book) history() (kept []*round, all int) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return slices.Clone(b.past), b.dropped + len(b.past)
}

// join is the round a new run of an agency joins: the open round. With
// continuous rounds, a round whose draw is done is about to be followed:
// join waits for the next one, for at most bound (false if none opened).
func (s *Server) join(ctx context.Context, bound time.Duration) (*round, bool) {
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		s.book.mu.Lock()
		r, opened := s.book.current, s.book.opened
		s.book.mu.Unlock()
		if !s.continuous || !r.done() {
			return r, true
		}
		select {
		case <-opened:
		case <-timeout.C:
			return r, false
		case <-ctx.Done():
			return r, false
		}
	}
}

// loadRound opens round n of the store and rebuilds it from what the store
// holds (nothing, for a round just opened), fixing its closing instant.
func (s *Server) loadRound(n int, now time.Time) (r *round, bets int, err error) {
	st, err := s.stores.Round(n)
	if err != nil {
		return nil, 0, fmt.Errorf("opening round %d: %w", n, err)
	}
	s.metrics.observeStore(st)
	closes, err := s.closingInstant(st, now)
	if err != nil {
		return nil, 0, err
	}
	r = newRound(s.cfg.Agencies, uint32(n), st)
	bets, _, err = r.restore(st.Scan, st.Ended(), closes, now)
	if err != nil {
		return nil, 0, fmt.Errorf("reading round %d back: %w", n, err)
	}
	if at := st.DrawTime(); r.done() && !at.IsZero() {
		r.setDrawTime(at)
	}
	return r, bets, nil
}

// keeper is the service of the open round's end: it closes betting at the
// round's closing instant and runs the draw if the barrier has not run it
// first, and with continuous rounds opens the next round once a round is
// drawn, however it was.
type keeper struct{ srv *Server }

func (k *keeper) String() string { return "rounds" }

func (k *keeper) Serve(ctx context.Context) error {
	s := k.srv
	for {
		r := s.book.open()
		if !r.done() {
			if err := s.closeAt(ctx, r); err != nil {
				return doneForGood(err)
			}
		}
		if !s.continuous {
			return doneForGood(nil)
		}
		select { // the draw's line and record come before the next round
		case <-r.announced:
		case <-ctx.Done():
			return doneForGood(ctx.Err())
		}
		next, _, err := s.loadRound(int(r.number)+1, time.Now())
		if err != nil {
			// Betting waits for the next round: suture starts this service
			// again after its backoff, which tries again.
			s.log.Error(logattr.Ronda, logattr.ResultKey, logattr.Fail, logattr.RondaKey, r.number+1, logattr.ErrorKey, err)
			return err
		}
		s.book.advance(next)
		s.log.Info(logattr.Ronda, logattr.ResultKey, logattr.Success, logattr.RondaKey, next.number, "hora_cierre", formatClosing(next.closingInstant()))
	}
}

// formatClosing writes a closing instant for a log line, empty for none.
func formatClosing(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.Format(closingForm)
}

// single is the store.Rounds of a central that runs one round: the store
// it was given, which its caller closes.
type single struct{ st store.Store }

func (o single) Latest() (int, error) { return 1, nil }

func (o single) Round(n int) (store.Store, error) {
	if n != 1 {
		return nil, fmt.Errorf("round %d: this central runs one round per store (SERVER_ROUNDS=one)", n)
	}
	return o.st, nil
}

func (o single) Close(context.Context) error { return nil }
