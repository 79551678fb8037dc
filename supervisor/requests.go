package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
	"quiniela/store"
)

// The request rules: what the central does with each frame of an agency,
// and the reply it queues. They run on the session's reader goroutine.

// handle carries out one request and returns its reply in the making.
func (s *session) handle(ctx context.Context, req protocol.Request, acks chan<- *ack) ack {
	if req.Action == protocol.ActionEcho {
		// One echo reply in flight at a time: a peer that sends echoes and
		// never reads them must not have the reader queue 32 of 8 KiB.
		settle(acks)
		out := protocol.AppendHeader(make([]byte, 0, protocol.HeaderSize+len(req.Body)), req.Header)
		return ack{reply: append(out, req.Body...)}
	}
	reply := func(c protocol.Code) ack { return ack{reply: protocol.AppendCode(nil, c)} }
	if code, err := s.checkAgency(ctx, req.Agency); err != nil {
		if req.Action == protocol.ActionBatch {
			s.srv.metrics.batch(code)
		}
		s.warn(actionName(req), logattr.ResultKey, logattr.Fail, logattr.CantidadKey, int(req.Count), logattr.CodeKey, int(code), logattr.ErrorKey, err)
		return reply(code)
	}
	s.srv.book.open().seen(req.Agency)
	if req.Action == protocol.ActionWinners {
		settle(acks) // the winners read what earlier batches changed
		return s.winners(ctx, req)
	}
	r, code, err := s.roundOf(ctx, req)
	if err != nil {
		if req.Action == protocol.ActionBatch {
			s.srv.metrics.batch(code)
		}
		s.warn(actionName(req), logattr.ResultKey, logattr.Fail, logattr.CantidadKey, int(req.Count), logattr.CodeKey, int(code), logattr.ErrorKey, err)
		return reply(code)
	}
	if req.Action == protocol.ActionBatch {
		return s.submitBatch(ctx, r, req)
	}
	settle(acks) // the requests below read what earlier batches changed
	switch req.Action {
	case protocol.ActionStatus:
		// An older connection of this agency may still have batches in the
		// store's hands (a store that hangs, a commit being resolved): the
		// count must wait for them, or the agency resends them. Past the
		// frame's bound, the agency is told to come back (-8).
		if !r.awaitSettled(ctx, req.Agency, s.srv.cfg.FrameTimeout) {
			s.logger().Warn(logattr.ConsultaEstado, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(protocol.CodeStorage),
				logattr.ErrorKey, "batches of an earlier connection of this agency are still being stored")
			return reply(protocol.CodeStorage)
		}
		stored, ended, known := r.status(req.Agency)
		if !known {
			// The store could not say whether a batch (or the end) of this
			// agency was stored: any count would be a guess, and a short
			// one makes the agency send that batch again.
			s.logger().Warn(logattr.ConsultaEstado, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(protocol.CodeStorage),
				logattr.ErrorKey, "the store could not tell whether a batch of this agency was stored; another central, or this one restarted, reads it from the store")
			return reply(protocol.CodeStorage)
		}
		s.logger().Info(logattr.ConsultaEstado, logattr.ResultKey, logattr.Success, logattr.AlmacenadasKey, stored, logattr.FinalizoKey, ended, logattr.RondaKey, r.number)
		st := protocol.Status{Stored: stored, Ended: ended, Round: r.number}
		if req.Count == protocol.RoundSize {
			return ack{reply: protocol.AppendRoundStatus(nil, st)}
		}
		return ack{reply: protocol.AppendStatus(nil, st)}
	case protocol.ActionEnd:
		if r != s.srv.book.open() {
			// A round drawn and followed by another: as an end after the
			// close of the open round, it changes nothing (the draw ran
			// with what was stored), and its store may be closed already.
			s.logger().Info(logattr.FinApuestas, logattr.ResultKey, logattr.Success)
			return reply(protocol.CodeOK)
		}
		// On disk first: a restarted central must know this agency is done.
		if err := r.store.RecordEnd(req.Agency); err != nil {
			if errors.Is(err, store.ErrInDoubt) {
				r.doubt(req.Agency)
			}
			code := protocol.CodeStorage
			if errors.Is(err, store.ErrClosed) {
				code = protocol.CodeShuttingDown
			}
			s.logger().Error(logattr.FinApuestas, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(code), logattr.ErrorKey, err)
			return reply(code)
		}
		// The end's line before the draw's that it may run.
		s.logger().Info(logattr.FinApuestas, logattr.ResultKey, logattr.Success)
		if r.finish(req.Agency, s.srv.logDraw(r, false)) {
			s.srv.recordDraw(r)
		}
		return reply(protocol.CodeOK)
	}
	return reply(protocol.CodeMalformed) // unreachable: the reader checks actions
}

// winners answers a winners query: the winners of the connection's round,
// or, on a connection that has named none, of the newest round the agency
// ended (the open round when it ended none).
func (s *session) winners(ctx context.Context, req protocol.Request) ack {
	r := s.round
	if r == nil {
		if r = s.srv.book.lastEnded(req.Agency); r == nil {
			r = s.srv.book.open()
		}
	}
	docs, ok := r.winnersOf(ctx, req.Agency, s.srv.cfg.WinnersHold)
	if !ok {
		code := protocol.CodeDrawPending
		if ctx.Err() != nil {
			code = protocol.CodeShuttingDown
		}
		s.logger().Debug(logattr.ConsultaGanadores, logattr.ResultKey, logattr.InProgress, logattr.CodeKey, int(code))
		return ack{reply: protocol.AppendCode(nil, code)}
	}
	out, err := protocol.AppendWinners(nil, docs)
	if err != nil {
		s.logger().Error(logattr.ConsultaGanadores, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
		return ack{reply: protocol.AppendCode(nil, protocol.CodeInternal)}
	}
	s.logger().Info(logattr.ConsultaGanadores, logattr.ResultKey, logattr.Success, logattr.CantGanadoresKey, len(docs))
	return ack{reply: out}
}

// roundOf is the round a batch, end or status request is about, binding
// the connection to it: the one a status query names, else the one the
// connection is bound to, else the open round, which a new run joins.
func (s *session) roundOf(ctx context.Context, req protocol.Request) (*round, protocol.Code, error) {
	named := uint32(0)
	if req.Action == protocol.ActionStatus {
		named = protocol.StatusRound(req.Body)
	}
	if s.round != nil {
		if named != 0 && named != s.round.number {
			return nil, protocol.CodeMalformed, fmt.Errorf("a status query of round %d on a connection about round %d", named, s.round.number)
		}
		return s.round, protocol.CodeOK, nil
	}
	var r *round
	if named != 0 {
		if r = s.srv.book.find(named); r == nil {
			return nil, protocol.CodeUnknownRound, fmt.Errorf("round %d is not one this central holds (its open round is %d)", named, s.srv.book.open().number)
		}
	} else {
		var ok bool
		if r, ok = s.srv.join(ctx, s.srv.cfg.FrameTimeout); !ok {
			return nil, protocol.CodeStorage, fmt.Errorf("round %d was drawn and the next has not opened yet", r.number)
		}
	}
	s.round, s.batches = r, r.store.NewStream()
	return r, protocol.CodeOK, nil
}

func actionName(req protocol.Request) logattr.Action {
	switch req.Action {
	case protocol.ActionBatch:
		return logattr.ApuestaRecibida
	case protocol.ActionEnd:
		return logattr.FinApuestas
	case protocol.ActionStatus:
		return logattr.ConsultaEstado
	}
	return logattr.ConsultaGanadores
}

// checkAgency checks the header's agency and binds the connection to it on
// its first agency frame, replacing an older connection of that agency.
func (s *session) checkAgency(ctx context.Context, agency uint16) (protocol.Code, error) {
	if s.srv.cfg.TLS != nil {
		switch cert := uint16(s.certAgency.Load()); {
		case cert == 0:
			return protocol.CodeAgencyMismatch, fmt.Errorf("agency %d asked on a connection with no agency certificate, which may only echo", agency)
		case cert != agency:
			return protocol.CodeAgencyMismatch, fmt.Errorf("agency %d asked on the connection of agency %d's certificate", agency, cert)
		}
	}
	if agency < 1 || int(agency) > s.srv.cfg.Agencies {
		return protocol.CodeUnknownAgency, fmt.Errorf("agency %d is not within 1..%d", agency, s.srv.cfg.Agencies)
	}
	bound := uint16(s.agency.Load())
	if bound == agency {
		return protocol.CodeOK, nil
	}
	if bound != 0 {
		return protocol.CodeAgencyMismatch, fmt.Errorf("header says agency %d on the connection of agency %d", agency, bound)
	}
	s.bindAgency(agency)
	if old := s.srv.conns.bind(agency, s); old != nil {
		s.logger().Info(logattr.SessionReplaced, logattr.ResultKey, logattr.Success, logattr.Addr("older_peer", old.peer))
		s.srv.conns.replace(ctx, old, s.drain+s.srv.cfg.FrameTimeout)
	}
	return protocol.CodeOK, nil
}

// submitBatch validates a whole batch and submits it to the store, or
// refuses all of it.
func (s *session) submitBatch(ctx context.Context, r *round, req protocol.Request) ack {
	fail := func(code protocol.Code, err error) ack {
		s.srv.metrics.batch(code)
		s.warn(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Fail, logattr.CantidadKey, int(req.Count), logattr.CodeKey, int(code), logattr.ErrorKey, err)
		return ack{reply: protocol.AppendCode(nil, code)}
	}
	if r.hasFinished(req.Agency) {
		return fail(protocol.CodeAfterEnd, errors.New("the agency has already sent its end"))
	}
	if r.isClosed() || r.done() {
		return fail(protocol.CodeBettingClosed, betsRefused(r))
	}
	bets, err := s.decoder.Decode(req.Body)
	if err != nil {
		return fail(protocol.CodeMalformed, err)
	}
	today := lottery.DayOf(time.Now())
	for i, b := range bets {
		if b.Agency != req.Agency {
			return fail(protocol.CodeAgencyMismatch, fmt.Errorf("bet %d: agency %d in a batch of agency %d", i+1, b.Agency, req.Agency))
		}
		if err := b.Validate(uint16(s.srv.cfg.Agencies), today); err != nil {
			return fail(protocol.CodeInvalidBet, fmt.Errorf("bet %d (document %d): %w", i+1, b.Document, err))
		}
	}
	// Only what the acker needs is kept: Submit encodes the rows before it
	// returns, so the decoder's bets and text are free again. The round
	// counts the batch in flight, then Submit comes last, so that a batch
	// is never stored without its ack to count it.
	a := ack{batch: req.Header, round: r, read: time.Now()}
	for _, b := range bets {
		if b.Won() {
			a.winners = append(a.winners, b.Document)
		}
	}
	// A W reply counts its winners in a u16: an agency must not get more,
	// counting those of its batches still in flight on this connection.
	if n := r.winnersOfAgency(req.Agency) + int(s.inFlightWinners.Load()) + len(a.winners); n > protocol.MaxWinners {
		return fail(protocol.CodeTooManyWinners, fmt.Errorf("the agency would have %d winners, and a winners reply carries at most %d", n, protocol.MaxWinners))
	}
	// Admitted, or refused if betting closed since the check above.
	if !r.admit(req.Agency) {
		return fail(protocol.CodeBettingClosed, betsRefused(r))
	}
	s.inFlightWinners.Add(int64(len(a.winners)))
	if s.logger().Enabled(context.Background(), slog.LevelDebug) {
		a.logged = cloneBets(bets) // the decoder reuses their text
	}
	a.pending = s.batches.Submit(ctx, bets)
	return a
}

// cloneBets copies bets with text of their own.
func cloneBets(bets []lottery.Bet) []lottery.Bet {
	c := slices.Clone(bets)
	for i := range c {
		c[i].FirstName, c[i].LastName, c[i].Birthdate = strings.Clone(c[i].FirstName), strings.Clone(c[i].LastName), strings.Clone(c[i].Birthdate)
	}
	return c
}

// betsRefused says why round r takes no more bets.
func betsRefused(r *round) error {
	if r.isClosed() {
		return fmt.Errorf("betting closed at round %d's closing time", r.number)
	}
	return fmt.Errorf("round %d has been drawn", r.number)
}
