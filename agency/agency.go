// Package agency is the client side of the lottery: what one betting agency
// does in a round. It streams its bets file (or sends one bet), in batches
// that each must be acknowledged, says it is done, and asks for its winners
// until the draw has happened. It shares only the wire protocol and the bet
// domain with the central, and is handed its settings.
//
// Its files: agency.go (the settings and Run, the loop of sessions),
// session.go (one connection's share of the round), send.go (sending and
// resuming), pipeline.go (batches in flight), betsfile.go and lines.go
// (reading the bets file), winners.go (waiting for the draw), connect.go
// (reaching a central, backoff), client.go (the requests on the wire),
// refusal.go (which failures a new session mends), progress.go and
// result.go (what the agency reports), echo.go (the health check) and
// const.go (the limits and defaults).
package agency

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"time"

	"quiniela/lottery"
	"quiniela/lottery/logattr"
	"quiniela/protocol"
)

// Config holds one agency's settings.
type Config struct {
	ID uint16
	// ServerAddresses are the centrals (host:port), tried in turn: one
	// active and its standbys. A failed connection or session moves the
	// agency on to the next.
	ServerAddresses []string
	BatchMaxAmount  int
	DataFile        string
	// SingleBet, when set, holds the five fields of the one bet to send
	// instead of the file.
	SingleBet      []string
	ConnectTimeout time.Duration // keep retrying to connect this long
	WinnersTimeout time.Duration // keep asking for winners this long
	IOTimeout      time.Duration // longest wait for one reply
	// TLS, when set, is the agency's mutual TLS with the central: its
	// certificate, and the CA of the central's.
	TLS *tls.Config
	// OnProgress, when set, is told how far the file is sent, at most every
	// tenth of a second (a progress bar on a terminal); otherwise an INFO
	// progreso line says so every ProgressEvery (0: 5 s).
	OnProgress    func(Progress)
	ProgressEvery time.Duration
}

// Agency runs one agency's round.
type Agency struct {
	cfg Config
	log *slog.Logger
	now func() time.Time
}

// New returns an agency with the given settings, logging to log.
func New(cfg Config, log *slog.Logger) *Agency {
	if cfg.BatchMaxAmount > protocol.MaxBatchCount {
		log.Warn(logattr.CapBatchMaxAmount, logattr.ResultKey, logattr.Success, "cli_batch_max_amount", cfg.BatchMaxAmount,
			"capped_to", protocol.MaxBatchCount, logattr.ReasonKey, "a larger batch would exceed the 8 KiB frame")
		cfg.BatchMaxAmount = protocol.MaxBatchCount
	}
	return &Agency{cfg: cfg, log: log, now: time.Now}
}

// Run plays the agency's round: send every bet, end, get the winners. A
// broken connection is not the end: the agency reconnects with backoff,
// asks the central what it already holds, and resumes right after it, so
// no bet is lost or stored twice. It gives up when ConnectTimeout passes
// without hearing from the central. On cancellation it stops at once, closing the
// connection and the file, and returns ctx's error.
func (a *Agency) Run(ctx context.Context) (Result, error) {
	var res Result
	if len(a.cfg.ServerAddresses) == 0 {
		return res, errors.New("no central's address to connect to")
	}
	var single *lottery.Bet
	if a.cfg.SingleBet != nil {
		b, err := lottery.ParseAgencyRecord(a.cfg.ID, a.cfg.SingleBet)
		if err == nil {
			err = b.Validate(anyAgency, lottery.DayOf(a.now()))
		}
		if err != nil {
			return res, fmt.Errorf("the single bet is invalid: %w", err)
		}
		single = &b
	} else if f, err := os.Open(a.cfg.DataFile); err != nil {
		return res, fmt.Errorf("opening the bets file: %w", err)
	} else {
		f.Close() // checked early; each session streams it anew
	}

	r := &round{single: single, progress: time.Now(), first: true}
	r.report = progressReport{a: a, start: time.Now(), lastLog: time.Now()}
	wait := minBackoff
	for {
		before := r.progress
		err := a.session(ctx, r, &res)
		switch {
		case err == nil:
			return res, nil
		case ctx.Err() != nil:
			return res, ctx.Err()
		case !retryable(err):
			return res, err
		}
		// Back off between sessions that get nowhere (a central that cannot
		// store, say), and not after one that moved the round on.
		if r.progress != before {
			wait = minBackoff
		}
		pause := jitter(wait)
		if time.Since(r.progress)+pause > a.cfg.ConnectTimeout {
			return res, fmt.Errorf("no progress with the central for %s: %w", a.cfg.ConnectTimeout, err)
		}
		r.central = (r.central + 1) % len(a.cfg.ServerAddresses)
		a.log.Warn(logattr.Reconnect, logattr.ResultKey, logattr.InProgress, logattr.ErrorKey, err)
		if !sleep(ctx, pause) {
			return res, ctx.Err()
		}
		wait = min(2*wait, maxBackoff)
	}
}

// round is what an agency keeps across its sessions.
type round struct {
	single          *lottery.Bet
	progress        time.Time // when the round last moved on: the start, more bets stored, the end, a winners answer
	stored          uint32    // the most bets the central has said it holds
	reportedLine    int       // malformed lines up to here were reported
	winnersDeadline time.Time // set by the first winners query
	first           bool      // no session has heard the central's status yet
	// joined is the round this run joined, as the central numbers them (0
	// until its first status): every later session asks about that round,
	// so that a central that has drawn it and opened the next one never
	// gets this run's bets in the next.
	joined  uint32
	central int // the index of the central to try first
	report  progressReport
}
