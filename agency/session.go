// One connection's share of the round: ask the central what it holds,
// send the rest, end, wait for the winners, close.

package agency

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"quiniela/lottery/logattr"
)

// session is one connection's share of the round: learn what the central
// holds, send the rest, end, and wait for the winners.
func (a *Agency) session(ctx context.Context, r *round, res *Result) error {
	conn, addr, err := a.connect(ctx, r, r.progress.Add(a.cfg.ConnectTimeout))
	if err != nil {
		return err
	}
	c := newClient(conn, a.cfg.ID, a.cfg.IOTimeout)
	stop := context.AfterFunc(ctx, c.kill)
	defer stop()
	defer a.closeConn(conn, addr)

	st, err := c.status(r.joined)
	if err != nil {
		return err
	}
	if r.joined == 0 {
		r.joined = st.Round
	}
	if r.first || st.Stored > r.stored {
		r.progress, r.stored = time.Now(), st.Stored
	}
	endedBefore := false // the central held this agency's end before this run
	if r.first {
		r.first = false
		res.Held = int(st.Stored)
		endedBefore = st.Ended
	}
	// What the central holds beyond what it held at the start, this run sent
	// (a batch whose acknowledgement was lost included).
	res.Sent = int(st.Stored) - res.Held
	if st.Stored > 0 || st.Ended {
		a.log.Info(logattr.Reanudar, logattr.ResultKey, logattr.Success, logattr.AlmacenadasKey, st.Stored, logattr.FinalizoKey, st.Ended, logattr.RondaKey, st.Round)
	}
	// After the end too, the bets the central does not hold are sent: it
	// refuses them, and its refusal fails the round with how many bets it
	// lacks. An end the central holds and this run did not send (a stray
	// process with this agency's number, a hostile peer) is no success.
	valid, err := a.sendAll(ctx, c, r, int(st.Stored), res)
	sendErr := err
	if res.Held+res.Sent > int(st.Stored) {
		r.progress = time.Now() // acknowledgements came
	}
	// Betting closed at the central's closing time: the round is over
	// without this agency's end, but the bets it stored take part in the
	// draw, so it still asks for its winners, then fails with how many of
	// its bets the central does not hold.
	closed := bettingClosed(err)
	if err != nil && !closed {
		return err
	}
	switch {
	case closed:
	case endedBefore:
		a.reportEarlierEnd(ctx, int(st.Stored), valid)
	case valid < int(st.Stored) && !st.Ended:
		a.log.Warn(logattr.RondaAnterior, logattr.ResultKey, logattr.Fail, logattr.AlmacenadasKey, st.Stored, "en_archivo", valid, "hint", freshRoundHint)
		return fmt.Errorf("the central holds %d bets of agency %d but %s has only %d valid ones: its store is from another round or file (%s)",
			st.Stored, a.cfg.ID, a.cfg.DataFile, valid, freshRoundHint)
	}
	asked := false // a winners query went out with the end
	if !st.Ended && !closed {
		if err := c.endAndAsk(); err != nil {
			return err
		}
		r.progress, asked = time.Now(), true
	}
	if r.winnersDeadline.IsZero() {
		r.winnersDeadline = time.Now().Add(a.cfg.WinnersTimeout)
	}
	winners, err := a.awaitWinners(ctx, c, r, asked)
	if err != nil {
		return err
	}
	res.Winners = winners
	a.log.Info(logattr.ConsultaGanadores, logattr.ResultKey, logattr.Success, logattr.CantGanadoresKey, len(winners))
	for _, doc := range winners {
		a.log.Debug(logattr.Ganador, logattr.ResultKey, logattr.Success, logattr.DNIKey, doc)
	}
	if closed {
		return sendErr
	}
	return nil
}

// freshRoundHint tells an operator how to start a round afresh when the
// central's store holds an earlier one.
const freshRoundHint = "to start a new round, stop the central and empty its store (make docker-storage-reset in the Docker deployment, or remove its STORAGE_FILEPATH and the .ends file beside it)"

// reportEarlierEnd says so when the central held this agency's end before
// this run sent anything and holds all its bets: an agency restarted after
// its end, or a store left from an earlier round, whose winners are the
// ones that will be reported. A file with fewer valid bets than the central
// holds is warned about.
func (a *Agency) reportEarlierEnd(ctx context.Context, stored, valid int) {
	level := slog.LevelInfo
	if valid != stored {
		level = slog.LevelWarn
	}
	a.log.Log(ctx, level, logattr.RondaAnterior, logattr.ResultKey, logattr.Success, logattr.AlmacenadasKey, stored, "en_archivo", valid,
		"aviso", "the central holds this agency's end from an earlier run, so the winners reported are of the round it holds",
		"hint", freshRoundHint)
}

func (a *Agency) closeConn(conn net.Conn, addr string) {
	if err := conn.Close(); err != nil {
		a.log.Error(logattr.CloseConnection, logattr.ResultKey, logattr.Fail, logattr.Host("", addr), logattr.ErrorKey, err)
		return
	}
	a.log.Info(logattr.CloseConnection, logattr.ResultKey, logattr.Success, logattr.Host("", addr))
}
