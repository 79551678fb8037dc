// What a central finds in its store when it starts: the round it carries
// on, and the draw's announcement.

package supervisor

import (
	"time"

	"quiniela/lottery/logattr"
)

// announceDraw logs the draw (docs/logs.md), then records that it was announced,
// so that a restart reopens it silently. A crash between the two can only
// repeat the announcement, never lose it; the draw's result is the same.
// absent lists the agencies that had not ended: those of a draw at the
// closing time.
func (s *Server) announceDraw(winners int, afterRestart bool, absent []uint16) {
	s.log.Info(logattr.Sorteo, logattr.ResultKey, logattr.Success, logattr.AgenciasKey, s.cfg.Agencies, logattr.GanadoresKey, winners,
		logattr.TrasReinicioKey, afterRestart, logattr.AusentesKey, absentList(absent))
	if err := s.store.RecordDraw(); err != nil {
		s.log.Error(logattr.RecordDraw, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
	}
}

// restoreRound rebuilds the round from the store before anything is
// served, so that a central restarted on an existing store carries on the
// same round: each agency's count and winners, the agencies that ended,
// and a draw already done, which is reopened and never run again. With a
// closing time, it fixes the round's closing instant, and a round whose
// closing instant passed while the central was down is closed and drawn
// now: betting never reopens. It logs what it found; a store it cannot
// read is Serve's error.
func (s *Server) restoreRound() error {
	now := time.Now()
	closes, err := s.closingInstant(now)
	if err != nil {
		return err
	}
	ended := s.store.Ended()
	bets, drawn, err := s.round.restore(s.store.Scan, ended, closes, now)
	if err != nil {
		return err
	}
	switch {
	case closes.IsZero():
	case s.round.isClosed():
		if !s.store.Drawn() {
			s.log.Info(logattr.Cierre, logattr.ResultKey, logattr.Success, "hora_cierre", closes.Format(closingForm), logattr.TrasReinicioKey, true)
		}
	case !drawn:
		s.log.Info(logattr.Cierre, logattr.ResultKey, logattr.InProgress, "hora_cierre", closes.Format(closingForm), logattr.Millis("restante_ms", closes.Sub(now)))
	}
	if bets > 0 || len(ended) > 0 {
		s.log.Info(logattr.RestoreState, logattr.ResultKey, logattr.Success, logattr.BetsKey, bets, "agencies_finished", len(ended), "draw_done", drawn)
	}
	if drawn {
		// Right after a crash this is the same round; on a deployment brought
		// up for a new one, it is the old round's store, and the operator
		// must hear of it rather than see old winners reported.
		s.log.Warn(logattr.RoundFinished, logattr.ResultKey, logattr.Success, logattr.BetsKey, bets,
			"aviso", "this store holds a round whose draw is done, so agencies get its winners and no new bet is taken",
			"hint", "to start a new round, stop the central and empty its store (make docker-storage-reset in the Docker deployment, or remove STORAGE_FILEPATH and the .ends file beside it)")
	}
	if drawn && !s.store.Drawn() {
		// Every end was on disk, but the central stopped before the draw's
		// announcement was recorded: announce it (again, if it stopped
		// between the line and the record), marked as after a restart.
		s.announceDraw(s.round.winnersTotal(), true, s.round.absentees())
	}
	return nil
}
