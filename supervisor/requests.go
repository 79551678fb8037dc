package supervisor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
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
	s.srv.round.seen(req.Agency)
	if req.Action == protocol.ActionBatch {
		return s.submitBatch(ctx, req)
	}
	settle(acks) // the requests below read what earlier batches changed
	switch req.Action {
	case protocol.ActionStatus:
		// An older connection of this agency may still have batches in the
		// store's hands (a store that hangs, a commit being resolved): the
		// count must wait for them, or the agency resends them. Past the
		// frame's bound, the agency is told to come back (-8).
		if !s.srv.round.awaitSettled(ctx, req.Agency, s.srv.cfg.FrameTimeout) {
			s.logger().Warn(logattr.ConsultaEstado, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(protocol.CodeStorage),
				logattr.ErrorKey, "batches of an earlier connection of this agency are still being stored")
			return reply(protocol.CodeStorage)
		}
		stored, ended, known := s.srv.round.status(req.Agency)
		if !known {
			// The store could not say whether a batch (or the end) of this
			// agency was stored: any count would be a guess, and a short
			// one makes the agency send that batch again.
			s.logger().Warn(logattr.ConsultaEstado, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(protocol.CodeStorage),
				logattr.ErrorKey, "the store could not tell whether a batch of this agency was stored; another central, or this one restarted, reads it from the store")
			return reply(protocol.CodeStorage)
		}
		s.logger().Info(logattr.ConsultaEstado, logattr.ResultKey, logattr.Success, logattr.AlmacenadasKey, stored, logattr.FinalizoKey, ended)
		return ack{reply: protocol.AppendStatus(nil, protocol.Status{Stored: stored, Ended: ended})}
	case protocol.ActionEnd:
		// On disk first: a restarted central must know this agency is done.
		if err := s.srv.store.RecordEnd(req.Agency); err != nil {
			if errors.Is(err, store.ErrInDoubt) {
				s.srv.round.doubt(req.Agency)
			}
			code := protocol.CodeStorage
			if errors.Is(err, store.ErrClosed) {
				code = protocol.CodeShuttingDown
			}
			s.logger().Error(logattr.FinApuestas, logattr.ResultKey, logattr.Fail, logattr.CodeKey, int(code), logattr.ErrorKey, err)
			return reply(code)
		}
		ran, winners := s.srv.round.finish(req.Agency)
		s.logger().Info(logattr.FinApuestas, logattr.ResultKey, logattr.Success)
		if ran {
			s.srv.announceDraw(winners, false, nil)
		}
		return reply(protocol.CodeOK)
	case protocol.ActionWinners:
		docs, ok := s.srv.round.winnersOf(ctx, req.Agency, s.srv.cfg.WinnersHold)
		if !ok {
			code := protocol.CodeDrawPending
			if ctx.Err() != nil {
				code = protocol.CodeShuttingDown
			}
			s.logger().Debug(logattr.ConsultaGanadores, logattr.ResultKey, logattr.InProgress, logattr.CodeKey, int(code))
			return reply(code)
		}
		out, err := protocol.AppendWinners(nil, docs)
		if err != nil {
			s.logger().Error(logattr.ConsultaGanadores, logattr.ResultKey, logattr.Fail, logattr.ErrorKey, err)
			return reply(protocol.CodeInternal)
		}
		s.logger().Info(logattr.ConsultaGanadores, logattr.ResultKey, logattr.Success, logattr.CantGanadoresKey, len(docs))
		return ack{reply: out}
	}
	return reply(protocol.CodeMalformed) // unreachable: the reader checks actions
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
func (s *session) submitBatch(ctx context.Context, req protocol.Request) ack {
	fail := func(code protocol.Code, err error) ack {
		s.srv.metrics.batch(code)
		s.warn(logattr.ApuestaRecibida, logattr.ResultKey, logattr.Fail, logattr.CantidadKey, int(req.Count), logattr.CodeKey, int(code), logattr.ErrorKey, err)
		return ack{reply: protocol.AppendCode(nil, code)}
	}
	if s.srv.round.hasFinished(req.Agency) {
		return fail(protocol.CodeAfterEnd, errors.New("the agency has already sent its end"))
	}
	if s.srv.round.isClosed() {
		return fail(protocol.CodeBettingClosed, errors.New("betting closed at the round's closing time"))
	}
	bets, err := protocol.DecodeBatch(s.bets[:0], req.Body)
	s.bets = bets
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
	// returns, so the bets buffer is free again. The round counts the
	// batch in flight, then Submit comes last, so that a batch is never
	// stored without its ack to count it.
	a := ack{batch: req.Header, read: time.Now()}
	for _, b := range bets {
		if b.Won() {
			a.winners = append(a.winners, b.Document)
		}
	}
	// A W reply counts its winners in a u16: an agency must not get more,
	// counting those of its batches still in flight on this connection.
	if n := s.srv.round.winnersOfAgency(req.Agency) + int(s.inFlightWinners.Load()) + len(a.winners); n > protocol.MaxWinners {
		return fail(protocol.CodeTooManyWinners, fmt.Errorf("the agency would have %d winners, and a winners reply carries at most %d", n, protocol.MaxWinners))
	}
	// Admitted, or refused if betting closed since the check above.
	if !s.srv.round.admit(req.Agency) {
		return fail(protocol.CodeBettingClosed, errors.New("betting closed at the round's closing time"))
	}
	s.inFlightWinners.Add(int64(len(a.winners)))
	if s.logger().Enabled(context.Background(), slog.LevelDebug) {
		a.logged = slices.Clone(bets)
	}
	a.pending = s.batches.Submit(ctx, bets)
	return a
}
