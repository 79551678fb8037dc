package supervisor

import (
	"context"
	"slices"
	"sync"
	"time"

	"quiniela/lottery"
	"quiniela/store"
)

// round is what the central knows of the round, shared by every agency
// session: each agency's stored bets (which an agency asks for to resume)
// and winners, which agencies have ended, and the draw barrier, which runs
// the draw exactly once when all agencies have ended and answers winners
// queries with the asking agency's winners only.
//
// Winners are collected as bets are stored, so the draw itself reads no
// file: it only opens the barrier. A restarted central rebuilds all of it
// from the store (restore).
type round struct {
	agencies int
	number   uint32        // 1, 2, …: one round per store, or one after another
	store    store.Store   // where this round's bets and records go
	drawn    chan struct{} // closed by the draw
	// announced is closed once the draw's announcement was logged and its
	// record written (or its failure logged): the next round opens only
	// then, so that a crash can never leave a round drawn, followed, and
	// never announced.
	announced    chan struct{}
	announceOnce sync.Once

	mu       sync.Mutex
	finished map[uint16]bool
	winners  map[uint16][]uint32
	stored   map[uint16]uint32
	lastSeen map[uint16]time.Time // each agency's last valid frame, for the operator
	drawTime time.Time            // when this central ran (or reopened) the draw
	rate     rateHistory          // bets stored per interval, for the operator
	// inFlight counts each agency's batches handed to the store and not
	// yet answered, on any of its connections; settled is closed and
	// replaced whenever a count drops, to wake awaitSettled.
	inFlight map[uint16]int
	settled  chan struct{}
	// inDoubt holds the agencies a batch or end of which the store could
	// not say was stored or not (store.ErrInDoubt): their count here may
	// be short, so this central never answers it again; a central that
	// reads the store (another one, or this one restarted) does.
	inDoubt map[uint16]bool
	// closes is the round's closing instant (zero: none); from it on,
	// closed refuses every batch not yet handed to the store (admit).
	closes time.Time
	closed bool
	absent []uint16 // the agencies that had not ended when the draw ran
}

func newRound(agencies int, number uint32, st store.Store) *round {
	return &round{
		agencies:  agencies,
		number:    number,
		store:     st,
		drawn:     make(chan struct{}),
		announced: make(chan struct{}),
		finished:  make(map[uint16]bool, agencies),
		winners:   make(map[uint16][]uint32),
		stored:    make(map[uint16]uint32),
		lastSeen:  make(map[uint16]time.Time),
		inFlight:  make(map[uint16]int),
		settled:   make(chan struct{}),
		inDoubt:   make(map[uint16]bool),
	}
}

// admit notes a batch of agency about to be handed to the store, unless
// betting has closed (false); answered notes that the store answered it
// (and, if stored, that record counted it). The check and the count are
// one step, so the close waits for every batch it let through.
func (d *round) admit(agency uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed || d.done() {
		return false
	}
	d.inFlight[agency]++
	return true
}

func (d *round) answered(agency uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.inFlight[agency]--; d.inFlight[agency] <= 0 {
		delete(d.inFlight, agency)
	}
	close(d.settled)
	d.settled = make(chan struct{})
}

// awaitSettled waits until no batch of agency is in the store's hands, on
// any connection, for at most bound: an agency's status must count every
// batch an older connection of it left in flight, or the agency would
// send them again. It reports whether it is so.
func (d *round) awaitSettled(ctx context.Context, agency uint16, bound time.Duration) bool {
	timeout := time.NewTimer(bound)
	defer timeout.Stop()
	for {
		d.mu.Lock()
		n, changed := d.inFlight[agency], d.settled
		d.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-changed:
		case <-timeout.C:
			return false
		case <-ctx.Done():
			return false
		}
	}
}

// record counts n bets of agency that have just been stored, among them
// the winners with these documents.
func (d *round) record(agency uint16, n int, winners []uint32) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.stored[agency] += uint32(n)
	d.winners[agency] = append(d.winners[agency], winners...)
	d.rate.add(time.Now(), n)
}

func (d *round) recordLocked(b lottery.Bet) {
	d.stored[b.Agency]++
	if b.Won() {
		d.winners[b.Agency] = append(d.winners[b.Agency], b.Document)
	}
}

// restore rebuilds the barrier from what the store holds: every stored bet
// and the agencies whose end was recorded. When all have ended, the draw
// had already happened: it is reopened, not run again. It reports how many
// bets the store holds and whether the draw is done.
//
// With a closing instant (closes) that now has reached, betting is closed
// and the draw is done too: it ran, or was due, while the central was
// down.
func (d *round) restore(scan func(func(lottery.Bet) error) error, ended []uint16, closes, now time.Time) (bets int, drawn bool, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if bets, err = d.readLocked(scan, ended); err != nil {
		return bets, false, err
	}
	d.closes = closes
	d.closed = !closes.IsZero() && !now.Before(closes)
	if len(d.finished) >= d.agencies || d.closed {
		d.drawLocked(nil)
		return bets, true, nil
	}
	return bets, false, nil
}

// restorePast rebuilds a round whose draw is done and which a later one
// followed: its counts, winners and ends, drawn at drawTime (zero: not
// known). It reports how many bets the store holds of it.
func (d *round) restorePast(scan func(func(lottery.Bet) error) error, ended []uint16, drawTime time.Time) (bets int, err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if bets, err = d.readLocked(scan, ended); err != nil {
		return bets, err
	}
	d.drawLocked(nil)
	d.drawTime = drawTime
	return bets, nil
}

// readLocked counts every stored bet and the recorded ends of a round
// being restored; d.mu is held.
func (d *round) readLocked(scan func(func(lottery.Bet) error) error, ended []uint16) (bets int, err error) {
	err = scan(func(b lottery.Bet) error {
		d.recordLocked(b)
		bets++
		return nil
	})
	if err != nil {
		return bets, err
	}
	for _, a := range ended {
		if a >= 1 && int(a) <= d.agencies { // AGENCIES may have shrunk since
			d.finished[a] = true
		}
	}
	return bets, nil
}

// markAnnounced notes that the draw's announcement is done.
func (d *round) markAnnounced() { d.announceOnce.Do(func() { close(d.announced) }) }

// setDrawTime sets when the draw ran: a restored round's, as its store
// recorded it.
func (d *round) setDrawTime(at time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drawTime = at
}

// winnersOfAgency counts the agency's stored winners.
func (d *round) winnersOfAgency(agency uint16) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.winners[agency])
}

// doubt notes that a batch or end of the agency may or may not have been
// stored: its count is no longer known here.
func (d *round) doubt(agency uint16) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.inDoubt[agency] = true
}

// status is what the central holds of the agency; known is false once the
// agency's count is in doubt.
func (d *round) status(agency uint16) (stored uint32, ended, known bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.stored[agency], d.finished[agency], !d.inDoubt[agency]
}

// hasFinished reports whether the agency has sent its end.
func (d *round) hasFinished(agency uint16) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.finished[agency]
}

// announcer logs a draw as it runs, with the round's winners and the
// agencies that had not ended.
type announcer func(winners int, absent []uint16)

// finish counts the agency's end. It reports whether this call ran the
// draw (true exactly once over the barrier's life), which it announces
// first (see drawLocked).
func (d *round) finish(agency uint16, announce announcer) (ranDraw bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.finished[agency] {
		return false
	}
	d.finished[agency] = true
	if len(d.finished) < d.agencies || d.done() {
		return false // an end after the close: the draw has run
	}
	d.drawLocked(announce)
	return true
}

// drawLocked opens the barrier and notes the agencies that had not ended;
// d.mu is held and the draw has not happened. A draw that runs now is
// announced (the sorteo line) before the barrier opens, so that the line
// comes before every winners answer it releases; one restored from the
// store (announce nil) is announced, if ever, before anything is served.
func (d *round) drawLocked(announce announcer) {
	d.absent = d.absent[:0]
	for a := uint16(1); int(a) <= d.agencies; a++ {
		if !d.finished[a] {
			d.absent = append(d.absent, a)
		}
	}
	if announce != nil {
		announce(d.winnersTotalLocked(), slices.Clone(d.absent))
	}
	close(d.drawn)
	d.drawTime = time.Now()
}

// endedCount counts the agencies whose end is recorded.
func (d *round) endedCount() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.finished)
}

// winnersTotal counts the winners of every agency.
func (d *round) winnersTotal() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.winnersTotalLocked()
}

func (d *round) winnersTotalLocked() (n int) {
	for _, w := range d.winners {
		n += len(w)
	}
	return n
}

// done reports whether the draw has happened.
func (d *round) done() bool {
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
func (d *round) winnersOf(ctx context.Context, agency uint16, hold time.Duration) (docs []uint32, ok bool) {
	if !d.done() && (d.hasFinished(agency) || d.isClosed()) && hold > 0 {
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

// closingInstant is the round's closing instant, zero for none.
func (d *round) closingInstant() time.Time {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closes
}

// isClosed reports whether betting has closed.
func (d *round) isClosed() bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.closed
}

// closeBetting closes betting: admit refuses every later batch.
func (d *round) closeBetting() {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.closed = true
}

// awaitAllSettled waits until no batch of any agency is in the store's
// hands, or ctx ends (false).
func (d *round) awaitAllSettled(ctx context.Context) bool {
	for {
		d.mu.Lock()
		n, changed := len(d.inFlight), d.settled
		d.mu.Unlock()
		if n == 0 {
			return true
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return false
		}
	}
}

// drawAtClose runs the draw at the close unless it has run (the last
// agency ended first), announcing it first (see drawLocked). It reports
// whether this call ran it.
func (d *round) drawAtClose(announce announcer) (ran bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.done() {
		return false
	}
	d.drawLocked(announce)
	return true
}

// absentees is the agencies that had not ended when the draw ran.
func (d *round) absentees() []uint16 {
	d.mu.Lock()
	defer d.mu.Unlock()
	return slices.Clone(d.absent)
}
