// What a central finds in its store when it starts: the round it carries
// on (and, with continuous rounds, the rounds drawn before it), and the
// draw's announcement.

package supervisor

import (
	"fmt"
	"time"

	"quiniela/lottery/logattr"
)

// announceDraw logs the draw of r (docs/logs.md), then records that it was
// announced, so that a restart reopens it silently. A crash between the two
// can only repeat the announcement, never lose it; the draw's result is the
// same. absent lists the agencies that had not ended: those of a draw at
// the closing time.
func (s *Server) announceDraw(r *round, winners int, afterRestart bool, absent []uint16) {
	s.logDraw(r, afterRestart)(winners, absent)
	s.recordDraw(r)
}

// logDraw is the announcer of r's draw: it logs the sorteo line.
func (s *Server) logDraw(r *round, afterRestart bool) announcer {
	return func(winners int, absent []uint16) {
		s.log.Info(logattr.Sorteo, logattr.ResultKey, logattr.Success, logattr.AgenciasKey, s.cfg.Agencies, logattr.GanadoresKey, winners,
			logattr.TrasReinicioKey, afterRestart, logattr.AusentesKey, absentList(absent), logattr.RondaKey, r.number)
	}
}

// recordDraw records that r's draw was announced, once its line is out.
func (s *Server) recordDraw(r *round) {
	defer r.markAnnounced()
	if err := r.store.RecordDraw(); err != nil {
		s.log.Error(logattr.RecordDraw, logattr.ResultKey, logattr.Fail, logattr.RondaKey, r.number, logattr.ErrorKey, err)
		return
	}
	if at := r.store.DrawTime(); !at.IsZero() {
		r.setDrawTime(at) // the time a restart reads back
	}
}

// restoreRound rebuilds the rounds from the store before anything is
// served, so that a central restarted on an existing store carries on the
// same round: each agency's count and winners, the agencies that ended,
// and a draw already done, which is reopened and never run again. With a
// closing time, it fixes the round's closing instant, and a round whose
// closing instant passed while the central was down is closed and drawn
// now: betting never reopens. With continuous rounds, the rounds before
// the newest are read back too, for their winners and the operator's
// history, and a newest round already drawn is followed by the next one
// as soon as the tree starts (keeper). It logs what it found; a store it
// cannot read is Serve's error.
func (s *Server) restoreRound() error {
	latest, err := s.stores.Latest()
	if err != nil {
		return err
	}
	// The rounds before the last keptRounds stay in the store: the book
	// would drop them at once.
	first := max(1, latest-keptRounds)
	s.book.dropped = first - 1
	for n := first; n < latest; n++ {
		if err := s.restorePast(n); err != nil {
			return err
		}
	}
	now := time.Now()
	r, bets, err := s.loadRound(latest, now)
	if err != nil {
		return err
	}
	s.book.advance(r)
	closes, drawn := r.closingInstant(), r.done()
	switch {
	case closes.IsZero():
	case r.isClosed():
		if !r.store.Drawn() {
			s.log.Info(logattr.Cierre, logattr.ResultKey, logattr.Success, "hora_cierre", closes.Format(closingForm), logattr.TrasReinicioKey, true)
		}
	case !drawn:
		s.log.Info(logattr.Cierre, logattr.ResultKey, logattr.InProgress, "hora_cierre", closes.Format(closingForm), logattr.Millis("restante_ms", closes.Sub(now)))
	}
	ended := r.endedCount()
	if bets > 0 || ended > 0 || latest > 1 {
		s.log.Info(logattr.RestoreState, logattr.ResultKey, logattr.Success, logattr.BetsKey, bets, "agencies_finished", ended, "draw_done", drawn, logattr.RondaKey, r.number)
	}
	if drawn && !s.continuous {
		// Right after a crash this is the same round; on a deployment brought
		// up for a new one, it is the old round's store, and the operator
		// must hear of it rather than see old winners reported.
		s.log.Warn(logattr.RoundFinished, logattr.ResultKey, logattr.Success, logattr.BetsKey, bets,
			"aviso", "this store holds a round whose draw is done, so agencies get its winners and no new bet is taken",
			"hint", "to start a new round, stop the central and empty its store (make docker-storage-reset in the Docker deployment, or remove STORAGE_FILEPATH and the .ends file beside it; with STORAGE_URL, a new database or TRUNCATE batches, ends, draw, closing, rounds), or run continuous rounds (SERVER_ROUNDS=continuous)")
	}
	s.announceIfUnrecorded(r)
	return nil
}

// announceIfUnrecorded announces the draw of a restored round that is
// drawn but whose announcement is not recorded: every end was on disk (or
// its close passed), but the central stopped before the record. It is
// announced again if the central stopped between the line and the record,
// marked as after a restart: never lost.
func (s *Server) announceIfUnrecorded(r *round) {
	switch {
	case !r.done():
	case r.store.Drawn():
		r.markAnnounced()
	default:
		s.announceDraw(r, r.winnersTotal(), true, r.absentees())
	}
}

// restorePast reads back round n, drawn before the newest one: a later
// round opens only once its predecessor is drawn.
func (s *Server) restorePast(n int) error {
	st, err := s.stores.Round(n)
	if err != nil {
		return fmt.Errorf("opening round %d: %w", n, err)
	}
	r := newRound(s.cfg.Agencies, uint32(n), st)
	if _, err := r.restorePast(st.Scan, st.Ended(), st.DrawTime()); err != nil {
		return fmt.Errorf("reading round %d back: %w", n, err)
	}
	s.announceIfUnrecorded(r)
	s.book.advance(r)
	return nil
}
